"""The built-in engine's data side: Datum/DatasetBase, few-shot sampling, transforms, DatasetWrapper."""
from __future__ import annotations

import pickle
import random

import pytest
from PIL import Image

from hgclip.runtime.builtin.config import get_cfg_default
from hgclip.runtime.builtin.data import DatasetBase, DatasetWrapper, Datum, build_transform
from hgclip.runtime.builtin.utils import read_image


def _write_images(directory, labels, size=(20, 12)):
    """One small PNG per label; returns Datum objects (classname = f"class{label}")."""
    directory.mkdir(parents=True, exist_ok=True)
    items = []
    for i, label in enumerate(labels):
        path = directory / f"{i:03d}.png"
        Image.new("RGB", size, color=(40 * label % 256, 10 * i % 256, 90)).save(path)
        items.append(Datum(impath=str(path), label=label, domain=i % 2, classname=f"class{label}"))
    return items


@pytest.fixture
def items(tmp_path):
    # 3 classes with 5, 3 and 1 images; label 1 appears first on purpose
    return _write_images(tmp_path / "imgs", [1, 0, 0, 0, 0, 0, 1, 1, 2])


def _cfg(**input_overrides):
    cfg = get_cfg_default()
    cfg.DATALOADER.NUM_WORKERS = 0
    for key, value in input_overrides.items():
        setattr(cfg.INPUT, key, value)
    return cfg


def test_datum_is_read_only_and_checks_the_file(items, tmp_path):
    datum = items[0]
    assert (datum.label, datum.domain, datum.classname) == (1, 0, "class1")
    with pytest.raises(AttributeError):
        datum.label = 5
    with pytest.raises(FileNotFoundError, match="no image file"):
        Datum(impath=str(tmp_path / "nope.png"), label=0)
    copy = pickle.loads(pickle.dumps(datum))  # few-shot caches pickle Datum lists
    assert (copy.impath, copy.label, copy.classname) == (datum.impath, datum.label, datum.classname)
    assert read_image(datum.impath).mode == "RGB"


def test_dataset_base_classes_come_from_train_x(items):
    dataset = DatasetBase(train_x=items[:8], test=items)  # class 2 only in test
    assert dataset.num_classes == 2
    assert dataset.lab2cname == {0: "class0", 1: "class1"}
    assert dataset.classnames == ["class0", "class1"]
    assert dataset.val is None and dataset.train_u is None
    with pytest.raises(ValueError, match="empty"):
        DatasetBase(train_x=[])


def test_split_dataset_by_label_and_domain(items):
    dataset = DatasetBase(train_x=items)
    groups = dataset.split_dataset_by_label(items)
    assert list(groups) == [1, 0, 2]  # order of first appearance
    assert {k: len(v) for k, v in groups.items()} == {0: 5, 1: 3, 2: 1}
    domains = dataset.split_dataset_by_domain(items)
    assert sum(len(v) for v in domains.values()) == len(items)


def test_generate_fewshot_dataset_counts_and_repeat(items):
    dataset = DatasetBase(train_x=items)
    random.seed(0)
    two_shot = dataset.generate_fewshot_dataset(items, num_shots=2)
    counts = DatasetBase.split_dataset_by_label(two_shot)
    assert {k: len(v) for k, v in counts.items()} == {1: 2, 0: 2, 2: 1}  # class 2 keeps its only image
    assert len({id(x) for x in two_shot}) == len(two_shot)

    repeated = dataset.generate_fewshot_dataset(items, num_shots=4, repeat=True)
    counts = DatasetBase.split_dataset_by_label(repeated)
    assert {k: len(v) for k, v in counts.items()} == {1: 4, 0: 4, 2: 4}

    train, val = dataset.generate_fewshot_dataset(items, items[:4], num_shots=1)
    assert len(train) == 3 and len(val) == 2
    assert dataset.generate_fewshot_dataset(items, num_shots=-1) is items

    random.seed(5)
    first = dataset.generate_fewshot_dataset(items, num_shots=2)
    random.seed(5)
    assert dataset.generate_fewshot_dataset(items, num_shots=2) == first  # global RNG decides


def test_train_transforms_give_the_configured_size(items):
    cfg = _cfg(SIZE=(16, 16), INTERPOLATION="bicubic")
    image = Image.open(items[0].impath).convert("RGB")
    for choices in (
        ["random_resized_crop", "random_flip", "normalize"],
        ["random_crop", "colorjitter", "randomgrayscale", "cutout", "normalize"],
        ["random_translation", "gaussian_blur", "gaussian_noise", "instance_norm"],
        ["center_crop"],
        [],
    ):
        out = build_transform(cfg, is_train=True, choices=choices)(image)
        assert out.shape == (3, 16, 16), choices


def test_test_transform_resizes_shorter_edge_then_center_crops(items):
    cfg = _cfg(SIZE=(8, 8), TRANSFORMS=("normalize",), INTERPOLATION="nearest")
    tfm = build_transform(cfg, is_train=False)
    names = [type(t).__name__ for t in tfm.transforms]
    assert names == ["Resize", "CenterCrop", "ToTensor", "Normalize"]
    assert tfm.transforms[0].size == 8
    assert tfm(Image.open(items[0].impath).convert("RGB")).shape == (3, 8, 8)


def test_transform_errors_and_no_transform():
    with pytest.raises(ValueError, match="unknown transform 'random_blur'.*random_flip"):
        build_transform(_cfg(TRANSFORMS=("random_blur",)), is_train=True)
    with pytest.raises(ValueError, match="INPUT.INTERPOLATION"):
        build_transform(_cfg(INTERPOLATION="lanczos"), is_train=False)
    assert build_transform(_cfg(NO_TRANSFORM=True), is_train=True) is None


def test_dataset_wrapper_img0_k_transforms_and_transform_lists(items):
    cfg = _cfg(SIZE=(8, 8), TRANSFORMS=("random_flip", "normalize"))
    cfg.DATALOADER.RETURN_IMG0 = True
    cfg.DATALOADER.K_TRANSFORMS = 2
    tfm = build_transform(cfg, is_train=True)
    sample = DatasetWrapper(cfg, items, transform=tfm, is_train=True)[3]
    assert isinstance(sample["img"], list) and len(sample["img"]) == 2
    assert sample["img0"].shape == (3, 8, 8) and sample["index"] == 3
    sample = DatasetWrapper(cfg, items, transform=[tfm, tfm], is_train=False)[0]
    assert sample["img"].shape == sample["img2"].shape == (3, 8, 8)
    with pytest.raises(ValueError, match="K_TRANSFORMS"):
        DatasetWrapper(cfg, items, transform=None, is_train=True)
