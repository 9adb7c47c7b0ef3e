"""scripts/eval_decoders.sh: replaying a run's arguments per decoder, the comparison table, end to end."""
from __future__ import annotations

import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from run_helpers import REPO

from hgclip.cli import eval_decoders  # noqa: E402
from hgclip.evaluation.decoding import DECODINGS

LOG = """Setting fixed seed: 1
** Arguments **
backbone: 
config_file: configs/trainers/HGCLIP/tiny_hiershapes.yaml
dataset_config_file: configs/datasets/hiershapes.yaml
eval_only: False
head: 
load_epoch: None
model_dir: 
no_train: False
opts: ['MODEL.BACKBONE.NAME', 'tiny-random', 'DATASET.NUM_SHOTS', '2']
output_dir: /somewhere/seed1
resume: 
root: /data
seed: 1
source_domains: None
target_domains: None
trainer: HGCLIP
transforms: None
************
** Config **
"""


def test_read_run_arguments_and_replayed_command(tmp_path):
    (tmp_path / "log.txt").write_text(LOG)
    arguments = eval_decoders.read_run_arguments(str(tmp_path))
    assert arguments["trainer"] == "HGCLIP" and arguments["seed"] == 1 and arguments["source_domains"] is None
    assert arguments["opts"] == ["MODEL.BACKBONE.NAME", "tiny-random", "DATASET.NUM_SHOTS", "2"]
    args = eval_decoders.eval_args(arguments, str(tmp_path), "/out", "path", "", ["DATASET.SUBSAMPLE_CLASSES", "new"],
                                   None)
    assert args == [
        "--root", "/data", "--seed", "1", "--trainer", "HGCLIP",
        "--config-file", osp.join(REPO, "configs/trainers/HGCLIP/tiny_hiershapes.yaml"),
        "--dataset-config-file", osp.join(REPO, "configs/datasets/hiershapes.yaml"),
        "--eval-only", "--model-dir", str(tmp_path), "--output-dir", "/out/path",
        "MODEL.BACKBONE.NAME", "tiny-random", "DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", "new",
        "TEST.DECODING", "path",
    ]
    other = eval_decoders.eval_args(arguments, str(tmp_path), "/out", "top_down", "configs/datasets/cifar100.yaml",
                                    [], 3)
    assert other[other.index("--dataset-config-file") + 1] == osp.join(REPO, "configs/datasets/cifar100.yaml")
    assert other[other.index("--load-epoch") + 1] == "3"


def test_bad_model_dirs_are_one_line_errors(tmp_path):
    with pytest.raises(SystemExit, match=r"log.txt: not found \(is .* a train.py --output-dir\?\)"):
        eval_decoders.read_run_arguments(str(tmp_path))
    (tmp_path / "log.txt").write_text("no arguments here\n")
    with pytest.raises(SystemExit, match="no '\\*\\* Arguments \\*\\*' block"):
        eval_decoders.read_run_arguments(str(tmp_path))
    (tmp_path / "log.txt").write_text("** Arguments **\ntrainer: HGCLIP\nconfig_file: x.yaml\nopts: [unclosed\n")
    with pytest.raises(SystemExit, match=r"log.txt:4: opts: cannot read the value"):
        eval_decoders.read_run_arguments(str(tmp_path))
    (tmp_path / "log.txt").write_text("** Arguments **\ntrainer: HGCLIP\nconfig_file: missing.yaml\n************\n")
    arguments = eval_decoders.read_run_arguments(str(tmp_path))
    with pytest.raises(SystemExit, match="config-file 'missing.yaml' not found"):
        eval_decoders.eval_args(arguments, str(tmp_path), "/out", "path", "", [], None)
    with pytest.raises(SystemExit, match="options after '--' must be KEY VALUE pairs"):
        eval_decoders.main([str(tmp_path), "--", "TEST.DECODING"])


def test_comparison_rows():
    runs = {d: {"levels": ["a"], "per_level": {"a": {"top1": 50.0 + i, "top5": None, "macro_f1": 10.0}},
                "accuracy": 50.0 + i, "full_path_accuracy": 50.0 + i, "mistake_severity": 1.25}
            for i, d in enumerate(DECODINGS)}
    headers, rows = eval_decoders.comparison_rows(runs)
    assert headers == ["metric", "independent", "bottom_up", "top_down", "path", "chils", "chils_hat", "chils_supagg"]
    assert rows[0] == ["valid paths guaranteed", "no", "no", "yes", "yes", "no", "no", "no"]
    assert rows[1] == ["accuracy (%)", "50.00", "51.00", "52.00", "53.00", "54.00", "55.00", "56.00"]
    assert ["mistake_severity", *["1.25"] * 7] in rows  # a height: no unit


@pytest.mark.slow
def test_eval_decoders_sh_end_to_end(tmp_path, hiershapes_root):
    """A tiny HGCLIP checkpoint (random tiny CLIP, 2 shots, 1 epoch) evaluated under every decoder."""
    env = dict(os.environ, HGCLIP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    model_dir = tmp_path / "run"
    subprocess.run(
        [sys.executable, "train.py", "--root", hiershapes_root, "--seed", "1", "--trainer", "HGCLIP",
         "--dataset-config-file", "configs/datasets/hiershapes.yaml",
         "--config-file", "configs/trainers/HGCLIP/tiny_hiershapes.yaml", "--output-dir", str(model_dir),
         "MODEL.BACKBONE.NAME", "tiny-random", "DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1"],
        cwd=REPO, env=env, check=True, capture_output=True, timeout=900,
    )
    proc = subprocess.run(["bash", "scripts/eval_decoders.sh", str(model_dir)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out_dir = model_dir / "decoders"
    assert proc.stdout.strip().splitlines()[-1] == f"table: {out_dir / 'decoders.md'}"
    header = next(line for line in proc.stdout.splitlines() if line.startswith("| metric"))
    assert [c.strip() for c in header.strip("|").split("|")] == ["metric", *DECODINGS]
    for key in ("hierarchical_consistent_accuracy (%)", "mean_treecut_accuracy (%)", "hierarchical_f1 (%)",
                "hierarchical_distance_at_5", "path_consistency (%)"):
        assert f"| {key}" in proc.stdout, key

    trained = json.loads((model_dir / "results.json").read_text())
    runs = {d: json.loads((out_dir / d / "results.json").read_text()) for d in DECODINGS}
    for decoder, run in runs.items():
        assert run["decoding"] == decoder and run["num_samples"] == trained["num_samples"]
        assert (out_dir / decoder / "confusions.json").is_file()
    # the checkpoint is the trained model: independent decoding reproduces the run's own test numbers
    for key in ("accuracy", "full_path_accuracy", "hierarchical_consistent_accuracy", "mean_treecut_accuracy"):
        assert runs["independent"][key] == trained[key], key
    for decoder in ("top_down", "path"):
        assert runs[decoder]["path_consistency"] == 100.0
    # MTA reads the model's node scores, not the decoding
    assert len({run["mean_treecut_accuracy"] for run in runs.values()}) == 1
    table = json.loads((out_dir / "decoders.json").read_text())
    assert list(table["results"]) == list(DECODINGS)
