"""A dataset added by config alone (HierConfigDataset), and dataset configs setting trainer keys."""
from __future__ import annotations

import json
import os.path as osp

import pytest
from dataset_fixtures import make_cfg, put_image
from run_helpers import REPO, run_train

from hgclip.cli import train
from hgclip.datasets.templates import dataset_templates_path
from hgclip.runtime.dassl_api import build_dataset

HIERARCHY = "levels: order > bird\nsongbirds > blue_jay\nsongbirds > robin\nraptors > red-kite\nraptors > barn owl\n"
CLASSES = ("blue_jay", "robin", "red kite", "barn owl")  # spelled differently from the file on purpose


def write_folders(root: str, with_val: bool) -> None:
    """``<root>/birds/{hierarchy.txt, images/{train,val,test}/<class>/}``."""
    with open(osp.join(root, "birds_hierarchy.txt"), "w") as handle:
        handle.write(HIERARCHY)
    for split, count in {"train": 3, "test": 2, **({"val": 1} if with_val else {})}.items():
        for name in CLASSES:
            for i in range(count):
                put_image(osp.join(root, "birds", "images", split, name, f"{i}.png"))


def write_csv(root: str) -> str:
    """``<root>/shots/{photos/*.png, list.csv}``: a flat folder and a CSV list of (path, class, split)."""
    lines = ["path,class,split,photographer"]
    for index, name in enumerate(CLASSES):
        for split, count in (("train", 2), ("val", 1), ("test", 1)):
            for i in range(count):
                relpath = f"photos/{index}_{split}_{i}.png"
                put_image(osp.join(root, "shots", relpath))
                lines.append(f"{relpath},{name},{split},someone")
    path = osp.join(root, "shots", "list.csv")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    with open(osp.join(root, "shots", "tree.txt"), "w") as handle:
        handle.write(HIERARCHY)
    return path


def write_dataset_config(path: str, display: str, image_root: str, hierarchy: str, split_file: str = "",
                         templates_file: str = "") -> str:
    with open(path, "w") as handle:
        handle.write(
            "DATASET:\n"
            '  NAME: "HierConfigDataset"\n'
            f'  DISPLAY_NAME: "{display}"\n'
            f'  TEMPLATES_FILE: "{templates_file}"\n'
            "  HIERCONFIG:\n"
            f'    IMAGE_ROOT: "{image_root}"\n'
            f'    SPLIT_FILE: "{split_file}"\n'
            f'    HIERARCHY: "{hierarchy}"\n'
            "TRAINER:\n"
            "  HGCLIP:\n"
            '    CTX_INIT: "a photo of a bird"\n'
        )
    return path


def run_zero_shot(root: str, dataset_config: str, output_dir: str) -> dict:
    """``train.py --eval-only`` with ZeroshotCLIP on a random tiny CLIP: the whole route a user runs."""
    train.main([
        "--root", root, "--seed", "1", "--trainer", "ZeroshotCLIP", "--eval-only", "--output-dir", output_dir,
        "--dataset-config-file", dataset_config,
        "--config-file", osp.join(REPO, "configs", "trainers", "ZeroshotCLIP", "tiny.yaml"),
        "MODEL.BACKBONE.NAME", "tiny-random",
    ])
    with open(osp.join(output_dir, "results.json")) as handle:
        return json.load(handle)


def test_two_datasets_by_config_alone_through_train_py(tmp_path):
    root = str(tmp_path)
    write_folders(root, with_val=False)
    write_csv(root)
    templates = osp.join(root, "bird_templates.json")
    with open(templates, "w") as handle:
        json.dump({"templates": ["a photo of a {}, a type of bird."]}, handle)
    folders = write_dataset_config(osp.join(root, "birds.yaml"), "Birds", "birds/images", "birds_hierarchy.txt",
                                   templates_file=templates)
    listed = write_dataset_config(osp.join(root, "shots.yaml"), "BirdShots", "shots", "shots/tree.txt",
                                  split_file="shots/list.csv")

    first = run_zero_shot(root, folders, osp.join(root, "out", "birds"))
    second = run_zero_shot(root, listed, osp.join(root, "out", "shots"))
    assert first["dataset"] == "Birds" and second["dataset"] == "BirdShots"  # no collision in results
    assert first["levels"] == second["levels"] == ["order", "bird"]
    assert first["num_samples"] == 4 * 2 and second["num_samples"] == 4
    assert first["per_level"]["bird"]["num_classes"] == 4
    log = open(osp.join(root, "out", "birds", "log.txt")).read()
    assert f"Zero-shot templates: {templates}" in log  # the dataset config's own templates
    log = open(osp.join(root, "out", "shots", "log.txt")).read()
    assert "Zero-shot templates: " + osp.join(REPO, "configs", "templates", "default.json") in log


def test_class_folders_route(tmp_path):
    root = str(tmp_path)
    write_folders(root, with_val=True)
    dataset = build_dataset(make_cfg("HierConfigDataset", root, DISPLAY_NAME="Birds", HIERCONFIG__IMAGE_ROOT="birds/images",
                                     HIERCONFIG__HIERARCHY="birds_hierarchy.txt", NUM_SHOTS=1, SUBSAMPLE_CLASSES="new"))
    assert dataset.full_hierarchy.leaf_names == ("blue jay", "robin", "red kite", "barn owl")  # file order
    assert dataset.hierarchy.leaf_names == ("red kite", "barn owl") and dataset.hierarchy.names_at_level(0) == ["raptors"]
    assert len(dataset.train_x) == 2 and len(dataset.val) == 2 and len(dataset.test) == 4
    assert dataset.dataset_dir == osp.join(root, "birds", "images")


def test_csv_and_json_list_routes(tmp_path):
    root = str(tmp_path)
    csv_path = write_csv(root)
    common = dict(DISPLAY_NAME="BirdShots", HIERCONFIG__IMAGE_ROOT="shots", HIERCONFIG__HIERARCHY="shots/tree.txt")
    from_csv = build_dataset(make_cfg("HierConfigDataset", root, HIERCONFIG__SPLIT_FILE="shots/list.csv", **common))
    assert (len(from_csv.train_x), len(from_csv.val), len(from_csv.test)) == (8, 4, 4)
    assert from_csv.hierarchy.level_sizes == (2, 4)

    rows = [line.split(",")[:3] for line in open(csv_path).read().splitlines()[1:]]
    with open(osp.join(root, "shots", "list.json"), "w") as handle:
        json.dump([{"path": p, "class": c, "split": s} for p, c, s in rows], handle)
    from_json = build_dataset(make_cfg("HierConfigDataset", root, HIERCONFIG__SPLIT_FILE="shots/list.json", **common))
    assert [(d.impath, d.label) for d in from_json.train_x] == [(d.impath, d.label) for d in from_csv.train_x]


def test_config_dataset_errors(tmp_path):
    root = str(tmp_path)
    csv_path = write_csv(root)
    common = dict(HIERCONFIG__IMAGE_ROOT="shots", HIERCONFIG__HIERARCHY="shots/tree.txt", HIERCONFIG__SPLIT_FILE="shots/list.csv")
    with pytest.raises(ValueError, match="set DATASET.DISPLAY_NAME"):
        build_dataset(make_cfg("HierConfigDataset", root, **common))
    text = open(csv_path).read().replace(",robin,", ",magpie,")
    open(csv_path, "w").write(text)
    with pytest.raises(ValueError) as error:
        build_dataset(make_cfg("HierConfigDataset", root, DISPLAY_NAME="X", **common))
    message = str(error.value)
    assert "'magpie'" in message and "'robin'" in message and "tree.txt" in message and "\n" not in message
    with pytest.raises(FileNotFoundError, match=r"shots/nope\.csv not found; expected DATASET\.HIERCONFIG\.IMAGE_ROOT"):
        build_dataset(make_cfg("HierConfigDataset", root, DISPLAY_NAME="X", **dict(common, HIERCONFIG__SPLIT_FILE="shots/nope.csv")))


def test_dataset_yaml_trainer_keys_beat_the_trainer_yaml_but_not_the_command_line():
    def cfg_for(trainer: str, config: str, *opts: str, dataset: str = "stanford_cars.yaml"):
        dataset_args = ["--dataset-config-file", osp.join(REPO, "configs", "datasets", dataset)] if dataset else []
        args = train.build_parser().parse_args([
            "--trainer", trainer, *dataset_args, "--config-file", osp.join(REPO, "configs", "trainers", trainer, config),
            *opts,
        ])
        return train.setup_cfg(args)

    hgclip = cfg_for("HGCLIP", "vit_b16_c4_ep5_batch4_4+4ctx.yaml")
    assert hgclip.TRAINER.HGCLIP.CTX_INIT == "a photo of a car"  # the trainer YAML says "a photo of a"
    assert hgclip.TRAINER.HGCLIP.N_CTX_TEXT == 4  # the trainer YAML's other keys stay
    cli = cfg_for("HGCLIP", "vit_b16_c4_ep5_batch4_4+4ctx.yaml", "TRAINER.HGCLIP.CTX_INIT", "a photo of the")
    assert cli.TRAINER.HGCLIP.CTX_INIT == "a photo of the"
    coop = cfg_for("CoOp", "vit_b16_ep50.yaml")
    assert coop.TRAINER.COOP == cfg_for("CoOp", "vit_b16_ep50.yaml", dataset="").TRAINER.COOP  # other trainers untouched


def test_templates_are_looked_up_by_display_name(tmp_path):
    cfg = make_cfg("ImageNetA", tmp_path)
    assert dataset_templates_path(cfg) == osp.join(REPO, "configs", "templates", "ImageNetA.json")
    cfg.DATASET.DISPLAY_NAME = "ImageNet"
    assert dataset_templates_path(cfg) == osp.join(REPO, "configs", "templates", "ImageNet.json")
    cfg.DATASET.TEMPLATES_FILE = str(tmp_path / "absent.json")
    with pytest.raises(FileNotFoundError, match="DATASET.TEMPLATES_FILE"):
        dataset_templates_path(cfg)
    assert dataset_templates_path(cfg, override=osp.join(REPO, "configs", "templates", "default.json")).endswith("default.json")


def zero_shot_args(root: str, dataset_config: str, output_dir: str, *opts: str) -> list[str]:
    return ["--root", root, "--seed", "1", "--trainer", "ZeroshotCLIP", "--eval-only", "--output-dir", output_dir,
            "--dataset-config-file", dataset_config,
            "--config-file", osp.join(REPO, "configs", "trainers", "ZeroshotCLIP", "tiny.yaml"),
            "MODEL.BACKBONE.NAME", "tiny-random", *opts]


def test_an_image_in_train_and_test_or_listed_twice_is_refused_through_train_py(tmp_path):
    """Issue 18, item 4: overlap and duplicate rows stop the run with one line naming the file and the rows."""
    root = str(tmp_path)
    csv_path = write_csv(root)
    lines = open(csv_path).read().splitlines()  # line 2: photos/0_train_0.png (train), line 3: 0_train_1.png
    config = write_dataset_config(osp.join(root, "shots.yaml"), "BirdShots", "shots", "shots/tree.txt",
                                  split_file="shots/list.csv")
    overlap = lines + [lines[1].replace(",train,", ",test,")]  # line 18: the first train image again, as test
    duplicate = lines + [lines[2]]  # line 18: the second train image again
    for case, rows, expected in (
        ("overlap", overlap, "1 image(s) listed in more than one split: 'photos/0_train_0.png' (line 2 train, line 18 test)"),
        ("duplicate", duplicate,
         "1 image(s) listed more than once in one split: 'photos/0_train_1.png' (line 3 train, line 18 train)"),
    ):
        with open(csv_path, "w") as handle:
            handle.write("\n".join(rows) + "\n")
        out = osp.join(root, "out", case)
        result = run_train(zero_shot_args(root, config, out))
        assert result.returncode == 2, result.stderr[-2000:]
        error = result.stderr.strip().splitlines()
        assert len(error) == 1 and "Traceback" not in result.stderr, result.stderr
        assert csv_path in error[0] and expected in error[0] and "DATASET.HIERCONFIG.ALLOW_DUPLICATES True" in error[0]
        assert not osp.exists(osp.join(out, "results.json"))

    # the documented way out keeps the rows as listed: the duplicate test row is counted twice
    with open(csv_path, "w") as handle:
        handle.write("\n".join(lines + [lines[4]]) + "\n")  # line 18: a test image again
    out = osp.join(root, "out", "allowed")
    result = run_train(zero_shot_args(root, config, out, "DATASET.HIERCONFIG.ALLOW_DUPLICATES", "True"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 image(s) listed more than once (0 in more than one split), kept as listed" in result.stdout
    with open(osp.join(out, "results.json")) as handle:
        assert json.load(handle)["num_samples"] == 4 + 1


def test_a_csv_list_with_a_bom_is_read_and_one_not_in_utf8_is_named(tmp_path):
    """Spreadsheet programs write a UTF-8 byte-order mark (accepted); a Latin-1 file is one line naming it."""
    root = str(tmp_path)
    csv_path = write_csv(root)
    config = write_dataset_config(osp.join(root, "shots.yaml"), "BirdShots", "shots", "shots/tree.txt",
                                  split_file="shots/list.csv")
    text = open(csv_path, encoding="utf-8").read()
    with open(csv_path, "wb") as handle:
        handle.write(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = run_train(zero_shot_args(root, config, osp.join(root, "out", "bom")))
    assert result.returncode == 0, result.stderr[-2000:]

    with open(csv_path, "wb") as handle:
        handle.write(text.replace("someone", "Ren\u00e9e").encode("latin-1"))
    result = run_train(zero_shot_args(root, config, osp.join(root, "out", "latin1")))
    error = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(error) == 1, result.stderr[-2000:]
    assert csv_path in error[0] and "not UTF-8 text" in error[0]


def test_an_image_listed_again_through_a_symlink_is_refused_through_train_py(tmp_path):
    """Issue "one product on every route", item 7: a CSV listing one image twice, once through a symlink to it
    (or to its folder), passed: paths were compared after normpath, not realpath."""
    import os

    root = str(tmp_path)
    csv_path = write_csv(root)
    lines = open(csv_path).read().splitlines()  # line 2: photos/0_train_0.png (train)
    os.symlink(osp.join(root, "shots", "photos"), osp.join(root, "shots", "linked"))  # the same folder again
    config = write_dataset_config(osp.join(root, "shots.yaml"), "BirdShots", "shots", "shots/tree.txt",
                                  split_file="shots/list.csv")
    with open(csv_path, "w") as handle:  # line 18: the first train image through the link, as a test image
        handle.write("\n".join(lines + [lines[1].replace("photos/", "linked/").replace(",train,", ",test,")]) + "\n")
    out = osp.join(root, "out")
    result = run_train(zero_shot_args(root, config, out))
    error = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(error) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "1 image(s) listed in more than one split: 'photos/0_train_0.png' (line 2 train, line 18 test)" in error[0]
    assert not osp.exists(osp.join(out, "results.json"))
