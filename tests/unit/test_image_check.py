"""The one image check: ``DATASET.CHECK_IMAGES exists`` (default, no image is opened) or ``decode`` (every image
decoded), ``DATASET.SKIP_UNREADABLE`` honoured by both, and the removed ``DATASET.VERIFY_IMAGES`` named in one line."""
from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
from dataset_fixtures import make_cfg, put_image, write_coop_split
from PIL import Image

from hgclip.common.errors import InputError, is_input_error
from hgclip.datasets import image_check
from hgclip.datasets.coop_datasets import OxfordPets
from hgclip.datasets.image_check import ImageCheck, UnreadableImageError, check_dataset_images
from hgclip.runtime.dassl_api import Datum, build_dataset

IMAGES = 2 * 37  # OxfordPets fixture: 2 training images for each of its 37 classes


@pytest.fixture
def pets_root(tmp_path):
    write_coop_split(tmp_path, OxfordPets, per_split={"train": 2, "val": 1, "test": 1})
    return tmp_path


def _train_image(root, classname: str) -> str:
    with open(os.path.join(str(root), "oxford_pets", "split_zhou_OxfordPets.json"), encoding="utf-8") as handle:
        relpath = next(row[0] for row in json.load(handle)["train"] if row[2] == classname)
    return os.path.join(str(root), "oxford_pets", "images", relpath)


def _truncate(path: str) -> str:
    """Replace ``path`` by a 64x64 image of its format cut short: its header parses, its pixels do not decode."""
    noise = np.random.RandomState(0).randint(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, "PNG" if path.endswith(".png") else "JPEG")
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) * 6 // 10)
    with Image.open(path):  # the header is intact: only decoding finds the damage
        pass
    return path


def _no_image_may_be_opened(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the default image check opened an image")

    monkeypatch.setattr(image_check.Image, "open", refuse)


def test_the_default_check_opens_no_image(pets_root, monkeypatch):
    _no_image_may_be_opened(monkeypatch)
    assert len(build_dataset(make_cfg("OxfordPets", pets_root)).train_x) == IMAGES


def test_a_corrupt_but_present_image_passes_the_default_and_fails_decode_in_one_line(pets_root):
    corrupt = _truncate(_train_image(pets_root, "beagle"))
    assert len(build_dataset(make_cfg("OxfordPets", pets_root)).train_x) == IMAGES
    assert len(build_dataset(make_cfg("OxfordPets", pets_root, CHECK_IMAGES="header")).train_x) == IMAGES
    with pytest.raises(UnreadableImageError) as error:
        build_dataset(make_cfg("OxfordPets", pets_root, CHECK_IMAGES="decode"))
    message = str(error.value)
    assert message.startswith(f"{corrupt}: cannot read this image, listed in ") and "\n" not in message
    assert "(OSError: image file is truncated" in message and "SKIP_UNREADABLE" in message
    assert is_input_error(error.value) and isinstance(error.value, OSError)


@pytest.mark.parametrize("mode,damage,reason", [("exists", lambda path: open(path, "wb").close(), "empty file"),
                                                ("exists", os.remove, "not found"),
                                                ("decode", _truncate, "OSError: image file is truncated")])
def test_skip_unreadable_works_in_both_modes(pets_root, capsys, mode, damage, reason):
    bad = _train_image(pets_root, "pug")
    damage(bad)
    dataset = build_dataset(make_cfg("OxfordPets", pets_root, CHECK_IMAGES=mode, SKIP_UNREADABLE=True))
    assert len(dataset.train_x) == IMAGES - 1 and bad not in {item.impath for item in dataset.train_x}
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "skipped" in line)
    assert f"skipped 1 unusable image(s) (DATASET.SKIP_UNREADABLE); first: {bad} (" in line and reason in line


def _foreign_dataset(folder, count: int = 6) -> SimpleNamespace:
    """A dataset this project did not read (a checkout's own): plain Datum lists, no ``image_check``."""
    items = [Datum(impath=put_image(os.path.join(str(folder), f"{i}.png")), label=i % 2, classname=str(i % 2))
             for i in range(count)]
    return SimpleNamespace(train_x=items[:4], val=[], test=items[4:])


def _cfg(**keys):
    dataset = SimpleNamespace(NAME="Foreign", **keys)
    dataset.get = lambda key, default=None: getattr(dataset, key, default)
    return SimpleNamespace(DATASET=dataset)


def test_the_engine_checks_datasets_not_read_here_in_both_modes(tmp_path, monkeypatch, capsys):
    dataset = _foreign_dataset(tmp_path)
    corrupt = _truncate(dataset.train_x[1].impath)
    with monkeypatch.context() as patched:
        _no_image_may_be_opened(patched)
        check_dataset_images(_cfg(), dataset)  # the default: a stat per image
    assert len(dataset.train_x) == 4
    with pytest.raises(UnreadableImageError, match=rf"^{corrupt}: cannot read this image, listed in the train split "
                                                   r"of Foreign \(OSError"):
        check_dataset_images(_cfg(CHECK_IMAGES="decode"), dataset)
    check_dataset_images(_cfg(CHECK_IMAGES="decode", SKIP_UNREADABLE=True), dataset)
    assert corrupt not in {item.impath for item in dataset.train_x} and len(dataset.train_x) == 3
    assert "Foreign: skipped 1 unusable image(s)" in capsys.readouterr().out


def test_datasets_read_here_are_not_checked_twice(monkeypatch):
    monkeypatch.setattr(image_check, "image_problem", lambda *a: pytest.fail("checked again"))
    dataset = SimpleNamespace(image_check=ImageCheck(), train_x=[SimpleNamespace(impath="/no/such.png")])
    check_dataset_images(_cfg(CHECK_IMAGES="decode"), dataset)


def test_decode_reports_the_first_bad_image_in_list_order(tmp_path):
    dataset = _foreign_dataset(tmp_path, count=40)
    first, later = _truncate(dataset.test[3].impath), _truncate(dataset.test[30].impath)
    with pytest.raises(UnreadableImageError, match=rf"^{first}: "):
        check_dataset_images(_cfg(CHECK_IMAGES="decode"), dataset)
    assert later != first


def test_the_removed_verify_images_key_names_its_replacement(tmp_path):
    from hgclip.common.config_io import merge_config_file, merge_config_list
    from hgclip.project import get_cfg

    with pytest.raises(InputError, match=r"^command line: Key DATASET\.VERIFY_IMAGES was renamed to "
                                         r"DATASET\.CHECK_IMAGES; .*CHECK_IMAGES decode"):
        merge_config_list(get_cfg(), ["DATASET.VERIFY_IMAGES", "True"])
    old = tmp_path / "old.yaml"
    old.write_text("DATASET:\n  VERIFY_IMAGES: False\n")
    with pytest.raises(InputError, match=r"old\.yaml: Key DATASET\.VERIFY_IMAGES was renamed to DATASET\.CHECK_IMAGES"):
        merge_config_file(get_cfg(), str(old))
    assert "VERIFY_IMAGES" not in get_cfg().DATASET


@pytest.mark.parametrize("workers", [0, 1])
def test_an_image_that_fails_in_the_loader_is_one_line_naming_it(tmp_path, workers):
    """A truncated image passes the default check; the loader that reads it (in a worker or not) names it."""
    import torchvision.transforms as T
    from trainer_helpers import make_cfg as trainer_cfg

    from hgclip.engine.loaders import build_eval_loader

    good, bad = str(tmp_path / "good.png"), str(tmp_path / "bad.png")
    for path in (good, bad):
        Image.fromarray(np.full((32, 32, 3), 120, dtype=np.uint8)).save(path)
    with open(bad, "r+b") as handle:
        handle.truncate(os.path.getsize(bad) // 2)
    assert ImageCheck().problem(bad) == ""  # exists: the default passes it
    cfg = trainer_cfg("CoOp", str(tmp_path / "data"), str(tmp_path / "out"), "DATALOADER.NUM_WORKERS", str(workers))
    items = [Datum(impath=good, label=0, classname="a"), Datum(impath=bad, label=0, classname="a")]
    loader = build_eval_loader(cfg, items, T.Compose([T.Resize((32, 32)), T.ToTensor()]))
    with pytest.raises(image_check.ImageReadError) as error:
        list(loader)
    assert str(error.value) == (f"{bad}: cannot read this image (OSError: image file is truncated); expected a "
                                "readable image file: fix or remove it (DATASET.CHECK_IMAGES decode finds every "
                                "such image before training)")
    assert is_input_error(error.value) and error.value.rank_local


def test_an_unrelated_loader_failure_keeps_its_traceback(tmp_path):
    from hgclip.datasets.image_check import read_failure

    path = str(tmp_path / "fine.png")
    Image.new("RGB", (8, 8)).save(path)
    assert read_failure(path) is None  # a readable image: the loader re-raises the original error
