"""HierShapes generator: determinism, layout, label order, reuse, and that pixels carry the class."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from hgclip.embedded import hiershapes
from hgclip.embedded.hiershapes import HierShapesError, ensure_hiershapes, leaf_paths, load_split

SMALL = {"train": 2, "val": 1, "test": 1}


@pytest.fixture(scope="module")
def medium_dir(tmp_path_factory) -> str:
    """Enough images per class for a pixel-level classifier, still a few seconds to build."""
    return ensure_hiershapes(str(tmp_path_factory.mktemp("hs_medium")), seed=0, split_sizes={"train": 16, "val": 1, "test": 8})


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
    a = ensure_hiershapes(str(tmp_path / "a"), seed=3, split_sizes=SMALL)
    b = ensure_hiershapes(str(tmp_path / "b"), seed=3, split_sizes=SMALL)
    c = ensure_hiershapes(str(tmp_path / "c"), seed=4, split_sizes=SMALL)
    assert _read(os.path.join(a, "split.json")) == _read(os.path.join(b, "split.json"))
    rels = [rel for rel, _, _ in json.loads(_read(os.path.join(a, "split.json")))["train"]][::7]
    for rel in rels:
        assert _read(os.path.join(a, "images", rel)) == _read(os.path.join(b, "images", rel))
    assert any(_read(os.path.join(a, "images", rel)) != _read(os.path.join(c, "images", rel)) for rel in rels)


def test_layout_counts_and_hierarchy(tmp_path):
    root = ensure_hiershapes(str(tmp_path), seed=0, split_sizes=SMALL)
    assert root == os.path.join(str(tmp_path), "hiershapes")
    lines = [ln for ln in open(os.path.join(root, "hierarchy.txt"), encoding="utf-8").read().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "levels: family > shape > object"
    paths = [tuple(part.strip() for part in ln.split(">")) for ln in lines[1:]]
    assert paths == leaf_paths()
    assert len(paths) == 32 and all(len(p) == 3 for p in paths)
    assert len({p[0] for p in paths}) == 4 and len({p[1] for p in paths}) == 8
    assert all(p[2].endswith(" " + p[1]) for p in paths)

    split = json.load(open(os.path.join(root, "split.json"), encoding="utf-8"))
    for name, per_class in SMALL.items():
        labels = [label for _, label, _ in split[name]]
        assert sorted(set(labels)) == list(range(32))
        assert all(labels.count(lab) == per_class for lab in range(32))
        assert all(cname == paths[label][2] for _, label, cname in split[name])
    meta = json.load(open(os.path.join(root, "meta.json"), encoding="utf-8"))
    assert meta["seed"] == 0 and meta["version"] == hiershapes.GENERATOR_VERSION
    assert meta["images_per_class"] == SMALL and meta["image_size"] == 64
    assert not [d for d in os.listdir(str(tmp_path)) if d.startswith(".")], "temporary build dir left behind"


def test_colour_first_order_gives_base_and_new_every_shape():
    paths = leaf_paths()
    shapes = {p[1] for p in paths}
    base, new = paths[:16], paths[16:]
    assert {p[1] for p in base} == shapes and {p[1] for p in new} == shapes
    assert not {p[2].split()[0] for p in base} & {p[2].split()[0] for p in new}
    assert {p[0] for p in base} == {p[0] for p in new}


def test_images_are_real_pngs_of_the_right_size(tmp_path):
    root = ensure_hiershapes(str(tmp_path), seed=0, split_sizes=SMALL)
    for path, _, _ in load_split(root)["test"][::5]:
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as img:
            assert img.format == "PNG" and img.mode == "RGB" and img.size == (64, 64)


def test_existing_dataset_is_reused(tmp_path, monkeypatch):
    root = ensure_hiershapes(str(tmp_path), seed=0, split_sizes=SMALL)
    marker = os.path.join(root, "images", "marker")
    open(marker, "w").close()
    monkeypatch.setattr(hiershapes, "_generate", lambda *a, **k: pytest.fail("regenerated an existing dataset"))
    assert ensure_hiershapes(str(tmp_path), seed=0, split_sizes=SMALL) == root
    assert os.path.exists(marker)


def test_meta_mismatch_is_a_clear_error(tmp_path):
    ensure_hiershapes(str(tmp_path), seed=0, split_sizes=SMALL)
    with pytest.raises(HierShapesError, match=r"meta\.json.*seed=0 \(asked 1\).*delete"):
        ensure_hiershapes(str(tmp_path), seed=1, split_sizes=SMALL)
    meta_path = os.path.join(str(tmp_path), "hiershapes", "meta.json")
    meta = json.load(open(meta_path, encoding="utf-8"))
    meta["version"] = -1
    json.dump(meta, open(meta_path, "w", encoding="utf-8"))
    with pytest.raises(HierShapesError, match="version=-1"):
        ensure_hiershapes(str(tmp_path), seed=0, split_sizes=SMALL)
    os.remove(meta_path)
    with pytest.raises(HierShapesError, match="no meta.json"):
        ensure_hiershapes(str(tmp_path), seed=0, split_sizes=SMALL)


def _shape_features(path: str) -> np.ndarray:
    """Mean hue of the saturated pixels, their area, and their radial profile (rotation-invariant)."""
    with Image.open(path) as img:
        hsv = np.asarray(img.convert("HSV"), dtype=np.float32) / 255.0
    mask = hsv[..., 1] > 0.35
    if mask.sum() < 3:
        return np.zeros(13)
    hue = hsv[..., 0][mask] * 2 * np.pi
    ys, xs = np.nonzero(mask)
    dist = np.hypot(ys - ys.mean(), xs - xs.mean()) / np.sqrt(mask.sum())
    profile = np.histogram(dist, bins=8, range=(0.0, 1.6))[0] / mask.sum()
    return np.concatenate([[np.cos(hue).mean(), np.sin(hue).mean(), mask.mean()], profile, [dist.mean(), dist.std()]])


def test_pixels_distinguish_fine_classes(medium_dir):
    split = load_split(medium_dir)
    x_train = np.stack([_shape_features(p) for p, _, _ in split["train"]])
    y_train = np.array([label for _, label, _ in split["train"]])
    x_test = np.stack([_shape_features(p) for p, _, _ in split["test"]])
    y_test = np.array([label for _, label, _ in split["test"]])
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    centroids = np.stack([x_train[y_train == c].mean(0) for c in range(32)])
    pred = ((x_test[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
    accuracy = float((pred == y_test).mean())
    assert accuracy > 10 * (1 / 32), f"nearest-centroid accuracy {accuracy:.3f} too close to chance"
    # Colour alone caps fine accuracy at 1/8 of the shapes: shape must be visible too.
    assert float((pred % 8 == y_test % 8).mean()) > 0.5
