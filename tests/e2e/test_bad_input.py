"""The bad-input matrix, through ``train.py`` in a subprocess: each case ends with ONE line on stderr naming the
file, line or key and what was expected, exit code 2, no traceback, no config dump on the terminal, and
nothing already in the output directory changed. A few inputs that look odd but are fine are accepted."""
from __future__ import annotations

import json
import os
import os.path as osp
import re
import shutil
from dataclasses import dataclass, field
from typing import Callable

import pytest
from run_helpers import FOLDER, REPO, make_image_folder, results, run_train, train_args

HIERSHAPES_CONFIG = osp.join(REPO, "configs", "datasets", "hiershapes.yaml")
HGCLIP_TINY = osp.join(REPO, "configs", "trainers", "HGCLIP", "tiny_hiershapes.yaml")
HEADER = "levels: family > shape > object\n"


def hiershapes_args(root: str, out: str, *opts: str, trainer: str = "HGCLIP") -> list[str]:
    """A one-epoch run without warm-up (one warm-up epoch of one would add a warning line to stderr)."""
    return ["--root", root, "--seed", "1", "--trainer", trainer, "--dataset-config-file", HIERSHAPES_CONFIG,
            "--config-file", HGCLIP_TINY if trainer == "HGCLIP" else _tiny_config(trainer),
            "--output-dir", out, "MODEL.BACKBONE.NAME", "tiny-random", "DATASET.NUM_SHOTS", "2",
            "OPTIM.MAX_EPOCH", "1", "OPTIM.WARMUP_EPOCH", "0", "TRAIN.PRINT_FREQ", "1000", *opts]


def with_flags(args: list[str], *flags: str) -> list[str]:
    """``flags`` placed before the ``KEY VALUE`` options (argparse reads everything after them as options)."""
    cut = next(i for i, arg in enumerate(args) if re.match(r"^[A-Z_]+\.", arg))
    return args[:cut] + list(flags) + args[cut:]


def replace_flag(args: list[str], flag: str, value: str) -> list[str]:
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


def _tiny_config(trainer: str) -> str:
    from hgclip import project  # noqa: F401  (registers the trainers under their table names)
    from hgclip.engine.named_configs import trainer_config

    return trainer_config(trainer, "tiny")


def named_config(args: list[str], name: str) -> list[str]:
    """``args`` with ``--config NAME`` in place of ``--config-file PATH``."""
    args = list(args)
    at = args.index("--config-file")
    args[at:at + 2] = ["--config", name]
    return args


@dataclass
class Env:
    """What a case may use: the session's HierShapes root, a scratch folder, ready-made checkpoints."""

    hiershapes: str
    tmp: str
    checkpoints: dict = field(default_factory=dict)
    held_locks: list = field(default_factory=list)

    def file(self, name: str, content) -> str:
        path = osp.join(self.tmp, name)
        with open(path, "wb") as handle:
            handle.write(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    def image_folder(self, **kwargs) -> str:
        root = osp.join(self.tmp, "data")
        make_image_folder(self.hiershapes, root, **kwargs)
        return root


def _hierarchy_case(text) -> Callable:
    return lambda env, out: hiershapes_args(env.hiershapes, out, "DATASET.HIERARCHY_FILE", env.file("h.txt", text))


def _leaf_lines(hiershapes: str) -> list[str]:
    with open(osp.join(hiershapes, "hiershapes", "hierarchy.txt"), encoding="utf-8") as handle:
        lines = [line for line in handle.read().splitlines() if line and not line.startswith("#")]
    assert lines[0].startswith("levels:")
    return lines[1:]


def _missing_split(env: Env, out: str) -> list[str]:
    root = osp.join(env.tmp, "data")
    dataset = osp.join(root, "hiershapes")
    os.makedirs(dataset)
    for name in ("meta.json", "hierarchy.txt"):
        shutil.copy(osp.join(env.hiershapes, "hiershapes", name), dataset)
    return hiershapes_args(root, out)


def _corrupt_image(split: str) -> Callable:
    def case(env: Env, out: str) -> list[str]:
        root = env.image_folder()
        leaf_dir = osp.join(root, FOLDER, "images", split, "red circle")
        victim = osp.join(leaf_dir, sorted(os.listdir(leaf_dir))[0])
        with open(victim, "r+b") as handle:
            handle.truncate(os.path.getsize(victim) // 2)
        return train_args(root, out, "DATASET.NUM_SHOTS", "-1", "DATASET.CHECK_IMAGES", "decode")  # the full check
    return case


def _truncated_image_default_check(env: Env, out: str) -> list[str]:
    """A truncated test image under the default check (exists): found when the test loader reads it, after training."""
    root = env.image_folder()
    leaf_dir = osp.join(root, FOLDER, "images", "test", "red circle")
    victim = osp.join(leaf_dir, sorted(os.listdir(leaf_dir))[0])
    with open(victim, "r+b") as handle:
        handle.truncate(os.path.getsize(victim) // 2)
    return train_args(root, out, "OPTIM.MAX_EPOCH", "1")


def _zero_byte_image(env: Env, out: str) -> list[str]:
    root = env.image_folder()
    leaf_dir = osp.join(root, FOLDER, "images", "train", "red circle")
    open(osp.join(leaf_dir, sorted(os.listdir(leaf_dir))[0]), "w").close()
    return train_args(root, out, "DATASET.NUM_SHOTS", "-1")  # the default check (one stat per image)


def _missing_listed_image(env: Env, out: str) -> list[str]:
    """A split file that lists an image that is not there (HierShapes' split.json, copied)."""
    root = osp.join(env.tmp, "shapes")
    shutil.copytree(osp.join(env.hiershapes, "hiershapes"), osp.join(root, "hiershapes"))
    with open(osp.join(root, "hiershapes", "split.json"), encoding="utf-8") as handle:
        first = json.load(handle)["train"][0][0]
    os.remove(osp.join(root, "hiershapes", "images", first))
    return hiershapes_args(root, out)


def _empty_class(env: Env, out: str) -> list[str]:
    root = env.image_folder()
    shutil.rmtree(osp.join(root, FOLDER, "images", "test", "red circle"))
    return train_args(root, out)


def _empty_split(env: Env, out: str) -> list[str]:
    root = env.image_folder()
    test_dir = osp.join(root, FOLDER, "images", "test")
    shutil.rmtree(test_dir)
    os.makedirs(test_dir)
    return train_args(root, out)


def _recorded_config(env: Env, out: str) -> list[str]:
    from hgclip.cli import train
    from hgclip.runtime.run_dir import record_config

    old = hiershapes_args(env.hiershapes, out, "DATASET.NUM_SHOTS", "4", "OPTIM.LR", "0.5")
    record_config(out, train.setup_cfg(train.build_parser().parse_args(old)))
    return hiershapes_args(env.hiershapes, out)


def _lock_held(env: Env, out: str) -> list[str]:
    from hgclip.runtime.run_dir import RunLock

    env.held_locks.append(RunLock(out).acquire())  # this test process holds it for the run
    return hiershapes_args(env.hiershapes, out)


def _eval_only(name: str) -> Callable:
    return lambda env, out: with_flags(hiershapes_args(env.hiershapes, out), "--eval-only",
                                       "--model-dir", env.checkpoints[name])


def _other_backbone(env: Env, out: str) -> list[str]:
    """An HGCLIP checkpoint of the tiny random CLIP, evaluated on CLIP weights of the same shapes but another seed."""
    import torch

    from hgclip.embedded.tiny_clip import build_tiny_clip

    with torch.random.fork_rng():
        torch.manual_seed(1)
        weights = osp.join(env.tmp, "other_clip.pt")
        torch.save(build_tiny_clip(pretrained=False).state_dict(), weights)
    args = hiershapes_args(env.hiershapes, out, "MODEL.BACKBONE.NAME", "ViT-B/16", "MODEL.BACKBONE.PATH", weights)
    return with_flags(args, "--eval-only", "--model-dir", env.checkpoints["HGCLIP"])


# (case id, how to build the arguments, what the one line must say)
CASES: list[tuple[str, Callable, str]] = [
    # hierarchy files
    ("hierarchy-two-parents", _hierarchy_case(HEADER + "round > circle > red circle\nangular > circle > blue circle\n"),
     r"h\.txt:3: node 'circle' at level 'shape' has two parents"),
    ("hierarchy-ragged-depth", _hierarchy_case(HEADER + "round > circle > red circle\nround > blue circle\n"),
     r"h\.txt:3: expected 3 names \(family > shape > object\), got 2"),
    ("hierarchy-duplicate-leaf", _hierarchy_case(HEADER + "round > circle > red circle\nround > circle > red circle\n"),
     r"h\.txt:3: duplicate leaf 'red circle'"),
    ("hierarchy-empty-name", _hierarchy_case(HEADER + "round >  > red circle\n"),
     r"h\.txt:2: empty name at level 2 \(shape\)"),
    ("hierarchy-binary-garbage", _hierarchy_case(bytes(range(256)) * 4),
     r"h\.txt: binary data .*expected a UTF-8 text hierarchy file"),
    ("hierarchy-leaves-not-classes", _hierarchy_case(HEADER + "round > circle > red circle\nround > circle > mauve circle\n"),
     r"DATASET\.HIERARCHY_FILE .*h\.txt: leaves differ from the dataset; missing 31 of the dataset's classes"),
    # configs
    ("config-unknown-key-in-file", lambda env, out: replace_flag(
        hiershapes_args(env.hiershapes, out), "--config-file", env.file("cfg.yaml", "OPTIM:\n  LRR: 0.1\n")),
     r"cfg\.yaml: unknown config key OPTIM\.LRR \(did you mean OPTIM\.LR\?\)"),
    ("config-unknown-key-on-command-line", lambda env, out: hiershapes_args(env.hiershapes, out, "OPTIM.LRR", "0.1"),
     r"command line: unknown config key OPTIM\.LRR"),
    ("config-removed-key", lambda env, out: hiershapes_args(env.hiershapes, out, "DATASET.VERIFY_IMAGES", "False"),
     r"command line: Key DATASET\.VERIFY_IMAGES was renamed to DATASET\.CHECK_IMAGES; .*CHECK_IMAGES exists"),
    ("config-wrong-type", lambda env, out: hiershapes_args(env.hiershapes, out, "DATALOADER.TRAIN_X.BATCH_SIZE", "abc"),
     r"command line: config key DATALOADER\.TRAIN_X\.BATCH_SIZE expects int \(its value so far: 16\), got abc \(str\)"),
    ("config-yaml-syntax-error", lambda env, out: replace_flag(
        hiershapes_args(env.hiershapes, out), "--config-file",
        env.file("bad.yaml", "OPTIM:\n  LR: [0.1\nTRAIN:\n  PRINT_FREQ: 5\n")),
     r"bad\.yaml:\d+: YAML syntax error"),
    ("config-level-weights-length", lambda env, out: hiershapes_args(
        env.hiershapes, out, "TRAINER.HGCLIP.LEVEL_WEIGHTS", "[1.0, 2.0]"),
     r"TRAINER\.HGCLIP\.LEVEL_WEIGHTS has 2 values but the hierarchy has 3 levels"),
    ("config-level-weights-negative", lambda env, out: hiershapes_args(
        env.hiershapes, out, "TRAINER.HGCLIP.LEVEL_WEIGHTS", "[1.0, -1.0, 2.0]"),
     r"TRAINER\.HGCLIP\.LEVEL_WEIGHTS must hold finite weights >= 0"),
    # values that would run but mean nothing (issue 18, item 6 and the tracebacks)
    ("config-max-epoch-zero", lambda env, out: hiershapes_args(env.hiershapes, out, "OPTIM.MAX_EPOCH", "0"),
     r"OPTIM\.MAX_EPOCH is 0: expected at least 1 epoch to train"),
    ("config-max-epoch-negative", lambda env, out: hiershapes_args(env.hiershapes, out, "OPTIM.MAX_EPOCH", "-2"),
     r"OPTIM\.MAX_EPOCH is -2: expected at least 1 epoch"),
    ("config-num-shots-zero", lambda env, out: hiershapes_args(env.hiershapes, out, "DATASET.NUM_SHOTS", "0"),
     r"DATASET\.NUM_SHOTS is 0: expected a number of images per class >= 1, or -1"),
    ("config-num-shots-negative", lambda env, out: hiershapes_args(env.hiershapes, out, "DATASET.NUM_SHOTS", "-3"),
     r"DATASET\.NUM_SHOTS is -3"),
    ("config-lr-zero", lambda env, out: hiershapes_args(env.hiershapes, out, "OPTIM.LR", "0.0"),
     r"OPTIM\.LR is 0\.0: expected a learning rate > 0"),
    ("config-lr-negative", lambda env, out: hiershapes_args(env.hiershapes, out, "OPTIM.LR", "-0.1"),
     r"OPTIM\.LR is -0\.1: expected a learning rate > 0"),
    ("config-lr-nan", lambda env, out: replace_flag(  # YAML reads .nan and .inf as floats
        hiershapes_args(env.hiershapes, out), "--config-file", env.file("nan.yaml", "OPTIM:\n  LR: .nan\n")),
     r"OPTIM\.LR is nan: expected a finite number"),
    ("config-lr-inf", lambda env, out: replace_flag(
        hiershapes_args(env.hiershapes, out), "--config-file", env.file("inf.yaml", "OPTIM:\n  LR: .inf\n")),
     r"OPTIM\.LR is inf: expected a finite number"),
    ("config-lambda-attn-nan", lambda env, out: replace_flag(
        hiershapes_args(env.hiershapes, out), "--config-file",
        env.file("attn.yaml", "TRAINER:\n  HGCLIP:\n    LAMBDA_ATTN: .nan\n")),
     r"TRAINER\.HGCLIP\.LAMBDA_ATTN is nan: expected a finite number"),
    ("config-lambda-attn-negative", lambda env, out: hiershapes_args(env.hiershapes, out, "TRAINER.HGCLIP.LAMBDA_ATTN",
                                                                     "-0.5"),
     r"TRAINER\.HGCLIP\.LAMBDA_ATTN is -0\.5: expected a loss weight >= 0"),
    ("config-n-ctx-vision-negative", lambda env, out: hiershapes_args(env.hiershapes, out, "TRAINER.HGCLIP.N_CTX_VISION",
                                                                      "-1"),
     r"TRAINER\.HGCLIP\.N_CTX_VISION is -1: expected a number of prompt tokens or prompted layers >= 0"),
    ("config-gnn-heads-zero", lambda env, out: hiershapes_args(env.hiershapes, out, "TRAINER.HGCLIP.TEXT_GNN.HEADS", "0"),
     r"TRAINER\.HGCLIP\.TEXT_GNN\.HEADS is 0: expected attention heads >= 1"),
    ("config-gnn-hidden-dim-negative", lambda env, out: hiershapes_args(
        env.hiershapes, out, "TRAINER.HGCLIP.IMAGE_GNN.HIDDEN_DIM", "-8"),
     r"TRAINER\.HGCLIP\.IMAGE_GNN\.HIDDEN_DIM is -8: expected a width"),
    ("config-gnn-layers-negative", lambda env, out: hiershapes_args(env.hiershapes, out, "TRAINER.HGCLIP.TEXT_GNN.LAYERS",
                                                                    "-1"),
     r"TRAINER\.HGCLIP\.TEXT_GNN\.LAYERS is -1: expected graph layers >= 1"),
    ("config-batch-size-zero", lambda env, out: hiershapes_args(env.hiershapes, out, "DATALOADER.TRAIN_X.BATCH_SIZE", "0"),
     r"DATALOADER\.TRAIN_X\.BATCH_SIZE is 0: expected a batch size >= 1"),
    ("config-test-batch-size-negative", lambda env, out: hiershapes_args(
        env.hiershapes, out, "DATALOADER.TEST.BATCH_SIZE", "-1"),
     r"DATALOADER\.TEST\.BATCH_SIZE is -1: expected a batch size >= 1"),
    ("config-bad-decoding", lambda env, out: hiershapes_args(env.hiershapes, out, "TEST.DECODING", "greedy"),
     r"TEST\.DECODING is 'greedy': expected one of independent, bottom_up, top_down, path, chils, chils_hat, chils_supagg"),
    ("config-directory-as-config-file", lambda env, out: replace_flag(
        hiershapes_args(env.hiershapes, out), "--config-file", env.tmp),
     r"is a directory; expected a YAML config file"),
    ("config-duplicate-yaml-key", lambda env, out: replace_flag(
        hiershapes_args(env.hiershapes, out), "--config-file", env.file("dup.yaml", "OPTIM:\n  LR: 0.1\n  LR: 0.2\n")),
     r"dup\.yaml:3: key 'LR' is given twice \(first on line 2\)"),
    ("config-error-line-is-cut", lambda env, out: hiershapes_args(env.hiershapes, out, "DATASET.NAME", "X" * 600),
     r"DATASET\.NAME 'X+ \[\.\.\.\]$"),
    # CLIP weights
    ("weights-vit-b16-missing-offline", lambda env, out: hiershapes_args(
        env.hiershapes, out, "MODEL.BACKBONE.NAME", "ViT-B/16", "MODEL.BACKBONE.DOWNLOAD_ROOT", env.tmp + "/clip"),
     r"Could not download ViT-B/16 weights .*Put ViT-B-16\.pt in .*clip"),
    ("weights-garbage-path", lambda env, out: hiershapes_args(
        env.hiershapes, out, "MODEL.BACKBONE.NAME", "ViT-B/16", "MODEL.BACKBONE.PATH", env.file("w.pt", "garbage")),
     r"MODEL\.BACKBONE\.PATH: could not load CLIP weights from .*w\.pt"),
    ("config-unknown-named-config", lambda env, out: named_config(hiershapes_args(env.hiershapes, out), "vit_b32"),
     r"trainer HGCLIP has no config 'vit_b32' \(no such name or file\); expected a role \(tiny, base2new, paper\), "
     r"a name \(tiny_hiershapes, .*vit_b16_ep50_paper\) or a YAML path"),
    ("config-unknown-trainer", lambda env, out: replace_flag(hiershapes_args(env.hiershapes, out), "--trainer",
                                                             "HGCLIPP"),
     r"TRAINER\.NAME \(--trainer\) 'HGCLIPP' is not a registered trainer \(did you mean HGCLIP\?\); "
     r"registered: ZeroshotCLIP, CoOp, .*HGCLIP"),
    ("config-unknown-dataset", lambda env, out: hiershapes_args(env.hiershapes, out, "DATASET.NAME", "HierShape"),
     r"DATASET\.NAME 'HierShape' is not a registered dataset \(did you mean HierShapes\?\)"),
    ("config-eval-only-without-model-dir", lambda env, out: with_flags(hiershapes_args(env.hiershapes, out),
                                                                       "--eval-only"),
     r"--eval-only needs --model-dir for trainer HGCLIP"),
    # data
    ("data-missing-root-inside-repository", lambda env, out: hiershapes_args("", out)[2:],
     r"DATASET\.ROOT is empty \(--root not given\): HierShapes would be generated into .*inside the repository"),
    ("data-missing-split-file", _missing_split, r"split file not found: .*hiershapes/split\.json"),
    ("data-corrupt-train-image", _corrupt_image("train"),
     r"images/train/red circle/.*\.png: cannot read this image, listed in the train split of HierImageFolder"),
    ("data-corrupt-test-image", _corrupt_image("test"),
     r"images/test/red circle/.*\.png: cannot read this image, listed in the test split of HierImageFolder"),
    ("data-zero-byte-image", _zero_byte_image,
     r"images/train/red circle/.*\.png: cannot read this image, listed in the train split of HierImageFolder \(empty file\)"),
    ("data-missing-listed-image", _missing_listed_image, r"hiershapes/split\.json:train\[0\]: image not found: .*/train_0000\.png"),
    ("data-empty-class", _empty_class, r"1 class\(es\) have no images in the test split: 'red circle'"),
    ("data-split-without-images", _empty_split, r"the test split has no images"),
    # checkpoints
    ("checkpoint-of-another-trainer", _eval_only("CoOp"),
     r"model\.pth\.tar-1: written by trainer CoOp, but this run's trainer is HGCLIP"),
    ("checkpoint-of-another-backbone", _other_backbone,
     r"model\.pth\.tar-1: trained on backbone tiny-random \(weights \w+\), but this run loads ViT-B/16 \(weights \w+\)"),
    ("checkpoint-mismatching-shapes", _eval_only("HGCLIP-2ctx"),
     r"model\.pth\.tar-1: parameter '.*' has shape .* in the checkpoint but .* here"),
    ("checkpoint-truncated", _eval_only("HGCLIP-truncated"),
     r"model\.pth\.tar-1: truncated or corrupt"),
    # the output directory
    ("rundir-recorded-config-differs", _recorded_config,
     r"config\.yaml: this directory was run with another config: DATASET\.NUM_SHOTS \(4 -> 2\), OPTIM\.LR \(0\.5 -> "
     r"0\.02\); use a new --output-dir, or pass --overwrite"),
    ("rundir-in-use", _lock_held, r"is in use by process \d+ on .*wait for it to finish or use another --output-dir"),
]


@pytest.fixture(scope="module")
def checkpoints(hiershapes_root, tmp_path_factory) -> dict:
    """Learner checkpoints to evaluate: CoOp's, HGCLIP's with 2 text context tokens, and a truncated HGCLIP one."""
    from trainer_helpers import make_trainer

    made = {}
    for name, trainer, opts in [("CoOp", "CoOp", ()), ("HGCLIP", "HGCLIP", ()),
                                ("HGCLIP-2ctx", "HGCLIP", ("TRAINER.HGCLIP.N_CTX_TEXT", "2")),
                                ("HGCLIP-truncated", "HGCLIP", ())]:
        out = str(tmp_path_factory.mktemp("ckpt") / name)
        make_trainer(trainer, hiershapes_root, out, *opts).save_model(0, out)
        made[name] = out
    path = osp.join(made["HGCLIP-truncated"], "prompt_learner", "model.pth.tar-1")
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 3)
    return made


def _snapshot(folder: str) -> dict:
    files = {}
    for base, _, names in os.walk(folder):
        for name in names:
            path = osp.join(base, name)
            with open(path, "rb") as handle:
                files[osp.relpath(path, folder)] = handle.read()
    return files


@pytest.mark.parametrize("case_id,build,expected", CASES, ids=[case[0] for case in CASES])
def test_bad_input_gives_one_line_and_exit_code_2(case_id, build, expected, hiershapes_root, checkpoints, tmp_path):
    _check_case(build, expected, hiershapes_root, checkpoints, tmp_path)


#: Cases also run by a real ``python train.py`` (the matrix above runs forks of an import server, run_helpers):
#: one that stops while reading the config, one once the dataset and the model are built
FRESH_PROCESS_CASES = ("config-unknown-key-on-command-line", "checkpoint-truncated")


@pytest.mark.parametrize("case_id,build,expected", [case for case in CASES if case[0] in FRESH_PROCESS_CASES],
                         ids=list(FRESH_PROCESS_CASES))
def test_bad_input_in_a_fresh_train_py_process(case_id, build, expected, hiershapes_root, checkpoints, tmp_path):
    _check_case(build, expected, hiershapes_root, checkpoints, tmp_path, fresh=True)


def _check_case(build, expected, hiershapes_root, checkpoints, tmp_path, fresh=False):
    env = Env(hiershapes_root, str(tmp_path), checkpoints)
    out = str(tmp_path / "out")
    os.makedirs(out)
    with open(osp.join(out, "results.json"), "w", encoding="utf-8") as handle:
        handle.write('{"written": "by an earlier run"}\n')
    args = build(env, out)
    before = _snapshot(out)

    result = run_train(args, fresh=fresh)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("error: ") and re.search(expected, lines[0]), lines[0]
    assert "** Config **" not in result.stdout, "the config dump belongs in log.txt"
    after = _snapshot(out)
    assert {name: data for name, data in after.items() if not name.startswith("log.txt")} == before, \
        "the failed run changed what was already in its output directory"


def test_a_truncated_image_read_after_training_is_one_error_line(hiershapes_root, tmp_path):
    """The default check (exists) passes a truncated test image; the test loader reads it after training and the
    run stops with one error line naming it, exit code 2 (progress bars may precede it on stderr)."""
    env = Env(hiershapes_root, str(tmp_path), {})
    out = str(tmp_path / "out")
    result = run_train(_truncated_image_default_check(env, out))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    # the line is cut at the one-line limit when the path is long (a temporary folder of an xdist worker)
    assert len(errors) == 1 and re.search(
        r"images/test/red circle/test_0000\.png: cannot read this image \(OSError: image file is truncated\); expected "
        r"a readable image file: fix or remove it \(DATASET\.CHECK_IMAGES decode finds every such image before "
        r"(training\)|\[\.\.\.\])$", errors[0]), errors


# ---------------------------------------------------------------- odd but valid
def test_hierarchy_file_with_bom_and_crlf_is_accepted(hiershapes_root, tmp_path):
    leaves = _leaf_lines(hiershapes_root)
    text = "\ufeff# exported on Windows\r\n" + HEADER.replace("\n", "\r\n") + "\r\n".join(leaves) + "\r\n"
    path = tmp_path / "windows.txt"
    path.write_bytes(text.encode("utf-8"))
    out = str(tmp_path / "out")
    args = hiershapes_args(hiershapes_root, out, "DATASET.HIERARCHY_FILE", str(path), trainer="ZeroshotCLIP")
    result = run_train(with_flags(args, "--eval-only"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert results(out)["num_samples"] == 32 * 30


def test_more_shots_than_a_class_has_warns_and_records_the_shots_used(hiershapes_root, tmp_path):
    root = osp.join(str(tmp_path), "data")
    make_image_folder(hiershapes_root, root)
    out = str(tmp_path / "out")
    result = run_train(with_flags(train_args(root, out, "DATASET.NUM_SHOTS", "100", trainer="ZeroshotCLIP"),
                                  "--eval-only"))
    assert result.returncode == 0, result.stderr[-2000:]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "DATASET.NUM_SHOTS 100 is more than some classes" in warnings[0], result.stderr
    recorded = results(out)
    assert recorded["num_shots"] == 100 and recorded["num_shots_used"] == {"min": 4, "max": 4}


def test_missing_root_outside_the_repository_says_where_it_generates(tmp_path, monkeypatch, capsys):
    from hgclip.datasets.hiershapes import dataset_root

    monkeypatch.chdir(tmp_path)
    assert dataset_root("") == str(tmp_path)
    assert f"using HierShapes in {tmp_path / 'hiershapes'} (generated there if missing)" in capsys.readouterr().out
    assert dataset_root("/data") == "/data"


def test_debug_shows_the_traceback(hiershapes_root, tmp_path):
    result = run_train(with_flags(hiershapes_args(hiershapes_root, str(tmp_path / "out"), "OPTIM.LRR", "0.1"), "--debug"),
                       fresh=True)  # the interpreter's own traceback and exit status
    assert result.returncode != 0 and "Traceback" in result.stderr and "unknown config key OPTIM.LRR" in result.stderr
