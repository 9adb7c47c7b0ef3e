"""cli/compare.py and evaluation/comparison_report.py: seed aggregation, Table-1 markdown, CSV, PNG, CLI, skip logic."""
from __future__ import annotations

import csv
import io
import json
import os
import os.path as osp
import subprocess

import pytest
from run_helpers import REPO

from hgclip.cli import compare, run_reuse, sweep_job  # noqa: E402
from hgclip.evaluation.aggregate import base_new_summary, compare_summary, harmonic_mean, seed_summary
from hgclip.evaluation.comparison_report import comparison_csv, comparison_markdown, comparison_png, format_cell, write_reports

LEVELS = ["family", "shape", "object"]
REGISTERED = ["CoOp", "IVLP", "HGCLIP", "ZeroshotCLIP"]
DATASETS = ["cifar100", "hiershapes"]


def fake_results(trainer: str, seed: int, top1: list[float], full: float = 50.0, shots: int = 16,
                 subsample: str = "all") -> dict:
    """A results.json as the Hierarchical evaluator writes it (only the fields readers use)."""
    return {
        "trainer": trainer, "dataset": "HierShapes", "subsample": subsample, "seed": seed, "num_shots": shots,
        "levels": list(LEVELS), "num_samples": 100, "accuracy": top1[-1],
        "per_level": {lvl: {"top1": v, "top5": None, "macro_f1": v - 1, "num_classes": 4 * 2 ** i}
                      for i, (lvl, v) in enumerate(zip(LEVELS, top1))},
        "full_path_accuracy": full, "path_consistency": 90.0, "mistake_severity": 1.5,
        "hierarchical_distance_at_1": 0.5,
    }


def header_cells(table: str) -> list[str]:
    return [cell.strip() for cell in table.splitlines()[0].strip("|").split("|")]


def write_json(directory: str, payload: dict) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(osp.join(directory, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(payload, handle)


@pytest.fixture
def comparison() -> dict:
    runs = {
        "ZeroshotCLIP": [fake_results("ZeroshotCLIP", s, [40.0, 30.0, 10.0], 5.0) for s in (1, 2)],
        "CoOp": [fake_results("CoOp", 1, [80.0, 70.0, 60.0], 50.0), fake_results("CoOp", 2, [90.0, 72.0, 64.0], 52.0)],
        "HGCLIP": [fake_results("HGCLIP", 1, [84.0, 75.0, 60.0], 55.0),
                   fake_results("HGCLIP", 2, [86.0, 77.0, 62.0], 57.0)],
    }
    return compare_summary("hiershapes", runs, {t: "tiny" for t in runs})


# ---------------------------------------------------------------- aggregation
def test_seed_summary_mean_std_and_values():
    summary = seed_summary([fake_results("CoOp", 1, [80.0, 70.0, 60.0], 40.0),
                            fake_results("CoOp", 2, [90.0, 74.0, 62.0], 44.0)])
    assert summary["levels"] == LEVELS and summary["seeds"] == [1, 2]
    family = summary["per_level"]["family"]
    assert family["mean"] == pytest.approx(85.0) and family["std"] == pytest.approx(5.0)  # population std
    assert family["n"] == 2 and family["values"] == [80.0, 90.0]
    assert summary["full_path"]["mean"] == pytest.approx(42.0)


def test_compare_summary_rejects_other_levels_and_skips_empty():
    other = fake_results("CoOp", 1, [1.0, 2.0, 3.0])
    other["levels"] = ["a", "b", "c"]
    other["per_level"] = dict(zip(["a", "b", "c"], other["per_level"].values()))
    with pytest.raises(ValueError, match="levels"):
        compare_summary("d", {"HGCLIP": [fake_results("HGCLIP", 1, [1.0, 2.0, 3.0])], "CoOp": [other]})
    summary = compare_summary("d", {"HGCLIP": [fake_results("HGCLIP", 1, [1.0, 2.0, 3.0])], "CoOp": []})
    assert list(summary["trainers"]) == ["HGCLIP"]


def test_hm_of_averages_is_not_average_of_hms():
    base = [fake_results("X", 1, [90.0] * 3, 90.0, subsample="base"), fake_results("X", 2, [10.0] * 3, 10.0)]
    new = [fake_results("X", 1, [10.0] * 3, 10.0, subsample="new"), fake_results("X", 2, [90.0] * 3, 90.0)]
    summary = base_new_summary(base, new)
    assert summary["per_level"]["shape"]["hm"] == pytest.approx(50.0)  # HM(50, 50)
    average_of_hms = (harmonic_mean(90, 10) + harmonic_mean(10, 90)) / 2
    assert average_of_hms == pytest.approx(18.0)
    assert summary["full_path"]["hm"] == pytest.approx(50.0)


# ---------------------------------------------------------------- markdown / csv / png
def test_markdown_layout_bold_and_columns(comparison):
    text = comparison_markdown([comparison])
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["Dataset", "Level", "ZeroshotCLIP", "CoOp", "HGCLIP"]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [r[1] for r in rows] == ["l1 (family)", "l2 (shape)", "l3 (object)", "full path"]
    assert rows[0][0] == "hiershapes" and all(r[0] == "" for r in rows[1:])
    assert rows[0][2] == "40.00 ± 0.00"
    assert rows[0][3] == "**85.00 ± 5.00**" and rows[0][4] == "**85.00 ± 1.00**"  # tied means: both bold
    assert rows[1][4] == "**76.00 ± 1.00**" and rows[1][3] == "71.00 ± 1.00"
    assert rows[2][3] == "**62.00 ± 2.00**" and rows[2][4] == "61.00 ± 1.00"
    assert rows[3][4] == "**56.00 ± 1.00**"
    for row in rows:
        assert sum("**" in cell for cell in row) >= 1
    assert "mean over seeds 1, 2" in text and "HGCLIP: tiny" in text


def test_markdown_ties_are_all_bold_and_one_seed_has_no_std():
    runs = {"CoOp": [fake_results("CoOp", 1, [80.0, 70.0, 60.0])],
            "HGCLIP": [fake_results("HGCLIP", 1, [80.0, 71.0, 59.0])]}
    text = comparison_markdown([compare_summary("hiershapes", runs)])
    row = next(line for line in text.splitlines() if "l1 (family)" in line)
    assert row.count("**80.00**") == 2 and "±" not in text.split("\n\n")[0]
    assert "std omitted: one seed" in text
    assert format_cell(None) == "-"


def test_markdown_several_datasets_like_table_1(comparison):
    other = dict(comparison, dataset="cifar100")
    text = comparison_markdown([comparison, other], notes=False)
    first_column = [line.strip("|").split("|")[0].strip() for line in text.splitlines()[2:]]
    assert [c for c in first_column if c] == ["hiershapes", "cifar100"]


def test_csv_long_format(comparison):
    rows = list(csv.DictReader(io.StringIO(comparison_csv([comparison]))))
    assert len(rows) == 3 * (len(LEVELS) + 1)
    coop_family = next(r for r in rows if r["trainer"] == "CoOp" and r["level"] == "family")
    assert coop_family["dataset"] == "hiershapes" and coop_family["metric"] == "top1"
    assert float(coop_family["mean"]) == 85.0 and float(coop_family["std"]) == 5.0
    assert coop_family["n_seeds"] == "2" and coop_family["level_index"] == "1"
    assert float(coop_family["seed1"]) == 80.0 and float(coop_family["seed2"]) == 90.0
    full = next(r for r in rows if r["trainer"] == "HGCLIP" and r["level"] == "full path")
    assert full["metric"] == "full_path_accuracy" and float(full["mean"]) == 56.0


def test_png_is_a_real_chart(comparison, tmp_path):
    from PIL import Image

    data = comparison_png(comparison)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    paths = write_reports(comparison, str(tmp_path / "out"))
    assert sorted(osp.basename(p) for p in paths.values()) == ["comparison.csv", "comparison.html", "comparison.md",
                                                               "comparison.png"]
    assert osp.getsize(paths["png"]) > 1000
    with Image.open(paths["png"]) as image:
        assert image.format == "PNG" and image.mode in ("RGB", "RGBA")
        width, height = image.size
        assert width >= 600 and height >= 400
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 10  # bars, text and axes, not a blank canvas
    assert not [f for f in os.listdir(tmp_path / "out") if f.startswith(".tmp")]  # atomic writes left no temp file


# ---------------------------------------------------------------- command line
def test_parse_plan_defaults_to_every_registered_trainer_in_paper_order():
    plan = compare.parse_plan([], REGISTERED, DATASETS)
    assert plan.dataset == "hiershapes" and plan.seeds == [1] and plan.opts == []
    assert plan.trainers == ["ZeroshotCLIP", "CoOp", "IVLP", "HGCLIP"]
    everything = ["HGCLIP", "PromptSRC", "CoOp", "MaPLe", "VPT", "Custom", "KgCoOp", "CoCoOp", "ZeroshotCLIP", "IVLP"]
    assert compare.parse_plan([], everything, DATASETS).trainers == list(compare.PAPER_ORDER)
    assert compare.parse_plan(["Custom", "HGCLIP"], everything, DATASETS).trainers == ["HGCLIP", "Custom"]


def test_parse_plan_dataset_trainers_seeds_and_opts():
    plan = compare.parse_plan(["cifar100", "HGCLIP", "CoOp", "1", "2", "3", "--", "OPTIM.MAX_EPOCH", "1"],
                              REGISTERED, DATASETS)
    assert plan.dataset == "cifar100" and plan.trainers == ["CoOp", "HGCLIP"]
    assert plan.seeds == [1, 2, 3] and plan.opts == ["OPTIM.MAX_EPOCH", "1"]
    assert compare.parse_plan(["2"], REGISTERED, DATASETS).seeds == [2]


@pytest.mark.parametrize("tokens, message", [
    (["NoSuchTrainer"], "unknown argument 'NoSuchTrainer'"),
    (["CoOp", "cifar100"], "must be the first argument"),
    (["1", "CoOp"], "after the seeds"),
    (["1", "1"], "given twice"),
    (["CoOp", "--", "OPTIM.MAX_EPOCH"], "KEY VALUE pairs"),
])
def test_parse_plan_errors_are_one_line(tokens, message):
    with pytest.raises(SystemExit, match=message) as error:
        compare.parse_plan(tokens, REGISTERED, DATASETS)
    assert "\n" not in str(error.value)


def test_trainer_variant_cells_follow_their_trainer():
    variants = list(compare.available_variants())
    assert "ProTeCt" in variants
    plan = compare.parse_plan(["HGCLIP+ProTeCt", "CoOp+ProTeCt", "HGCLIP", "CoOp", "1"], REGISTERED, DATASETS, variants)
    assert plan.trainers == ["CoOp", "CoOp+ProTeCt", "HGCLIP", "HGCLIP+ProTeCt"]
    with pytest.raises(SystemExit, match="unknown variant 'Nope' in 'CoOp\\+Nope': expected one of .*ProTeCt"):
        compare.parse_plan(["CoOp+Nope"], REGISTERED, DATASETS, variants)
    with pytest.raises(SystemExit, match="unknown argument 'Nobody\\+ProTeCt'"):
        compare.parse_plan(["Nobody+ProTeCt"], REGISTERED, DATASETS, variants)


def test_a_variant_cell_runs_its_trainer_with_the_variant_keys(fake_env):
    fake, output = fake_env
    paths = compare.main(["--output", output, "HGCLIP", "HGCLIP+ProTeCt", "1"])
    assert sorted(fake.calls) == [("HGCLIP", 1), ("HGCLIP", 1)]
    run_dir = osp.join(output, "compare", "hiershapes", "HGCLIP+ProTeCt", "tiny_hiershapes", "seed1")
    assert osp.isfile(osp.join(run_dir, "results.json"))
    assert header_cells(open(paths["md"], encoding="utf-8").read()) == ["Dataset", "Level", "HGCLIP", "HGCLIP+ProTeCt"]
    ns = compare.build_parser().parse_args(["--output", output])
    ns.root, ns.shots = "data", 16
    args = compare.train_args(ns, compare.Plan("hiershapes", ["HGCLIP+ProTeCt"], [1]), "HGCLIP+ProTeCt",
                              compare.config_for("HGCLIP", "hiershapes", {}), 1)
    assert args[args.index("--trainer") + 1] == "HGCLIP" and args[args.index("--output-dir") + 1] == run_dir
    assert args[args.index("LOSS.PROTECT.NODE_WEIGHT") + 1] == "0.5"
    assert args[args.index("LOSS.PROTECT.TREECUT_WEIGHT") + 1] == "1.0"


def test_a_finished_run_recorded_with_another_config_is_not_reused(fake_env):
    fake, output = fake_env
    compare.main(["--output", output, "HGCLIP+ProTeCt", "1"])
    run_dir = osp.join(output, "compare", "hiershapes", "HGCLIP+ProTeCt", "tiny_hiershapes", "seed1")
    with open(osp.join(run_dir, "config.yaml"), "w", encoding="utf-8") as handle:  # as if made with NODE_WEIGHT 0.25
        handle.write("LOSS:\n  PROTECT:\n    NODE_WEIGHT: 0.25\n")
    with pytest.raises(SystemExit, match="LOSS.PROTECT.NODE_WEIGHT \\(0.25 -> 0.5\\).*delete that run"):
        compare.main(["--output", output, "HGCLIP+ProTeCt", "1"])


def test_config_for_embedded_paper_and_env(monkeypatch):
    trainers = osp.join(REPO, "configs", "trainers")

    def config_for(*args) -> str:
        return osp.realpath(compare.config_for(*args))

    assert config_for("CoOp", "hiershapes", {}) == osp.join(trainers, "CoOp", "tiny_hiershapes.yaml")
    assert config_for("ZeroshotCLIP", "hiershapes", {}) == osp.join(trainers, "ZeroshotCLIP", "tiny.yaml")
    assert config_for("ZeroshotCLIP", "cifar100", {}) == osp.join(trainers, "ZeroshotCLIP", "vit_b16.yaml")
    assert config_for("HGCLIP", "cifar100", {}) == osp.join(trainers, "HGCLIP", "vit_b16_ep50_paper.yaml")
    override = osp.join(trainers, "CoOp", "vit_b16_ep50.yaml")
    assert config_for("CoOp", "cifar100", {"CFG_CoOp": override}) == override
    assert config_for("CoOp", "hiershapes", {"CFG_COOP": override}) == override
    assert config_for("CoOp", "hiershapes", {"CFG_COOP": "vit_b16_ep50"}) == override  # a name of CoOp's
    with pytest.raises(SystemExit, match="CFG_CoOp=nowhere.yaml: trainer CoOp has no config 'nowhere.yaml'"):
        compare.config_for("CoOp", "cifar100", {"CFG_CoOp": "nowhere.yaml"})
    with pytest.raises(SystemExit, match="set CFG_Nobody"):
        compare.config_for("Nobody", "cifar100", {})


class FakeRuns:
    """Stands in for the runner's process of one run (sweep_job._execute): records each call and writes what a
    finished run leaves."""

    def __init__(self, fail: tuple[str, ...] = ()):
        self.calls: list[tuple[str, int]] = []
        self.fail = fail

    def __call__(self, run, options, label):
        args = list(run.argv)
        get = lambda flag: args[args.index(flag) + 1]  # noqa: E731
        trainer, seed, out = get("--trainer"), int(get("--seed")), get("--output-dir")
        assert args[args.index("DATASET.SUBSAMPLE_CLASSES") + 1] == "all"
        self.calls.append((trainer, seed))
        if trainer in self.fail:
            raise sweep_job.JobFailed(f"[{label}] train.py failed with exit code 1")
        write_json(out, fake_results(trainer, seed, [50.0 + seed, 40.0 + seed, 30.0 + seed], shots=int(
            get("DATASET.NUM_SHOTS"))))
        if trainer != "ZeroshotCLIP":
            os.makedirs(osp.join(out, "prompt_learner"), exist_ok=True)
            open(osp.join(out, "prompt_learner", "checkpoint"), "w").close()


@pytest.fixture
def fake_env(monkeypatch, tmp_path):
    monkeypatch.setattr(compare, "registered_trainers", lambda: list(REGISTERED))
    for var in ("SHOTS", "CFG_CoOp", "CFG_COOP", "CFG_HGCLIP", "CFG_ZeroshotCLIP", "CFG_ZEROSHOTCLIP"):
        monkeypatch.delenv(var, raising=False)
    fake = FakeRuns()
    monkeypatch.setattr(sweep_job, "_execute", fake)
    monkeypatch.setattr(run_reuse, "stale_runs", lambda runs: [])  # fake runs record no inputs
    return fake, str(tmp_path / "output")


def test_main_skips_finished_runs(fake_env, capsys):
    fake, output = fake_env
    base = osp.join(output, "compare", "hiershapes")
    # finished CoOp seed 1 (results + checkpoint); HGCLIP seed 1 has results but no checkpoint: not finished
    write_json(osp.join(base, "CoOp", "tiny_hiershapes", "seed1"), fake_results("CoOp", 1, [99.0, 98.0, 97.0]))
    os.makedirs(osp.join(base, "CoOp", "tiny_hiershapes", "seed1", "prompt_learner"))
    open(osp.join(base, "CoOp", "tiny_hiershapes", "seed1", "prompt_learner", "checkpoint"), "w").close()
    write_json(osp.join(base, "HGCLIP", "tiny_hiershapes", "seed1"), fake_results("HGCLIP", 1, [1.0, 1.0, 1.0]))
    write_json(osp.join(base, "ZeroshotCLIP", "tiny", "seed1"), fake_results("ZeroshotCLIP", 1, [5.0, 5.0, 5.0]))

    paths = compare.main(["--output", output, "HGCLIP", "CoOp", "ZeroshotCLIP", "1", "2", "--", "OPTIM.MAX_EPOCH", "1"])
    assert sorted(fake.calls) == [("CoOp", 2), ("HGCLIP", 1), ("HGCLIP", 2), ("ZeroshotCLIP", 2)]
    out = capsys.readouterr().out
    assert "[CoOp seed 1] finished run found" in out and "[ZeroshotCLIP seed 1] finished run found" in out
    assert paths["png"] == osp.join(base, "comparison.png") and f"png: {paths['png']}\n" in out
    assert out.rstrip().endswith(f"html: {paths['html']}") and osp.isfile(paths["html"])
    table = open(paths["md"], encoding="utf-8").read()
    assert header_cells(table) == ["Dataset", "Level", "ZeroshotCLIP", "CoOp", "HGCLIP"]
    assert "**75.50 ± 23.50**" in table  # CoOp (99+52)/2

    fake.calls.clear()  # everything is finished now: a second run trains nothing
    compare.main(["--output", output, "HGCLIP", "CoOp", "ZeroshotCLIP", "1", "2"])
    assert fake.calls == []


def test_main_embedded_shots_and_protocol_check(fake_env, monkeypatch):
    fake, output = fake_env
    monkeypatch.setenv("SHOTS", "4")
    compare.main(["--output", output, "CoOp"])
    results = json.load(open(osp.join(output, "compare", "hiershapes", "CoOp", "tiny_hiershapes", "seed1",
                                      "results.json")))
    assert results["num_shots"] == 4
    monkeypatch.delenv("SHOTS")
    with pytest.raises(SystemExit, match="num_shots is 4, this comparison needs 16"):
        compare.main(["--output", output, "CoOp"])
    # a finished run made with another backbone is not silently reused either
    run_dir = osp.join(output, "compare", "hiershapes", "HGCLIP", "tiny_hiershapes", "seed1")
    write_json(run_dir, dict(fake_results("HGCLIP", 1, [1.0, 2.0, 3.0]), backbone="tiny-random"))
    os.makedirs(osp.join(run_dir, "prompt_learner"))
    open(osp.join(run_dir, "prompt_learner", "checkpoint"), "w").close()
    with pytest.raises(SystemExit, match="backbone is 'tiny-random', this comparison needs 'tiny'"):
        compare.main(["--output", output, "HGCLIP"])
    compare.main(["--output", output, "HGCLIP", "--", "MODEL.BACKBONE.NAME", "tiny-random"])
    assert ("HGCLIP", 1) not in fake.calls


def test_main_continues_after_a_failed_run(fake_env, capsys):
    fake, output = fake_env
    fake.fail = ("CoOp",)
    with pytest.raises(SystemExit) as error:
        compare.main(["--output", output, "CoOp", "HGCLIP", "1"])
    assert error.value.code == 1
    assert ("HGCLIP", 1) in fake.calls
    out = capsys.readouterr().out
    assert "1 run(s) failed; no column for CoOp" in out
    table = open(osp.join(output, "compare", "hiershapes", "comparison.md"), encoding="utf-8").read()
    assert header_cells(table) == ["Dataset", "Level", "HGCLIP"]


def test_main_no_run_reports_missing(fake_env):
    fake, output = fake_env
    with pytest.raises(SystemExit, match="no run finished"):
        compare.main(["--output", output, "--no-run", "CoOp"])
    assert fake.calls == []


def test_missing_config_fails_before_any_run(fake_env, monkeypatch):
    fake, output = fake_env
    monkeypatch.setenv("CFG_CoOp", "/nonexistent/vit_b16_ep50_paper.yaml")
    with pytest.raises(SystemExit, match="vit_b16_ep50_paper.yaml does not exist"):
        compare.main(["--output", output, "cifar100", "HGCLIP", "CoOp"])
    assert fake.calls == []


def test_every_compared_trainer_has_its_paper_and_tiny_configs():
    for trainer in compare.PAPER_ORDER:
        assert osp.isfile(compare.config_for(trainer, "hiershapes", {})), trainer
        assert osp.isfile(compare.config_for(trainer, "cifar100", {})), trainer


# ---------------------------------------------------------------- end to end
@pytest.mark.slow
def test_compare_sh_end_to_end(tmp_path, hiershapes_root):
    env = dict(os.environ, OUTPUT=str(tmp_path / "output"), DATA=hiershapes_root)
    proc = subprocess.run(
        ["bash", "scripts/compare.sh", "hiershapes", "CoOp", "ZeroshotCLIP", "1", "--",
         "MODEL.BACKBONE.NAME", "tiny-random", "OPTIM.MAX_EPOCH", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    base = tmp_path / "output" / "compare" / "hiershapes"
    for name in ("comparison.md", "comparison.csv", "comparison.png", "comparison.html"):
        assert (base / name).stat().st_size > 0
    assert (base / "CoOp" / "tiny_hiershapes" / "seed1" / "prompt_learner" / "checkpoint").is_file()
    table = (base / "comparison.md").read_text()
    assert header_cells(table) == ["Dataset", "Level", "ZeroshotCLIP", "CoOp"] and "l1 (family)" in table
    rows = list(csv.DictReader(io.StringIO((base / "comparison.csv").read_text())))
    assert {r["trainer"] for r in rows} == {"ZeroshotCLIP", "CoOp"}
    again = subprocess.run(["bash", "scripts/compare.sh", "hiershapes", "CoOp", "ZeroshotCLIP", "1", "--",
                            "MODEL.BACKBONE.NAME", "tiny-random", "OPTIM.MAX_EPOCH", "1"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count("finished run found") == 2
    other = subprocess.run(["bash", "scripts/compare.sh", "hiershapes", "CoOp", "1", "--",  # 20 epochs this time
                            "MODEL.BACKBONE.NAME", "tiny-random"], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=600)
    assert other.returncode == 1 and "OPTIM.MAX_EPOCH (1 -> 20); delete that run" in other.stderr
    stale = subprocess.run(["bash", "scripts/compare.sh", "hiershapes", "CoOp", "1"],  # default backbone: tiny
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert stale.returncode == 1 and "backbone is 'tiny-random', this comparison needs 'tiny'" in stale.stderr


# ---------------------------------------------------------------- variants: protocol keys, no-op cells, user files
def test_a_variant_that_sets_a_protocol_key_is_refused_before_any_run(fake_env, tmp_path):
    fake, output = fake_env
    (tmp_path / "variants").mkdir()
    (tmp_path / "variants" / "Shots.yaml").write_text("DATASET:\n  NUM_SHOTS: 2\nLOSS:\n  PROTECT:\n    NODE_WEIGHT: 0.5\n")
    with pytest.raises(SystemExit, match=r"Shots.yaml: sets DATASET.NUM_SHOTS, which the comparison fixes") as error:
        compare.main(["--output", output, "--variants", str(tmp_path / "variants"), "CoOp", "CoOp+Shots", "1"])
    assert "\n" not in str(error.value) and fake.calls == []


def test_a_variant_that_changes_nothing_for_its_trainer_is_refused(fake_env):
    fake, output = fake_env
    with pytest.raises(SystemExit, match=r"ZeroshotCLIP\+ProTeCt: the variant changes nothing for ZeroshotCLIP "
                                         r"\(it does not train") as error:
        compare.main(["--output", output, "ZeroshotCLIP", "ZeroshotCLIP+ProTeCt", "1"])
    assert "\n" not in str(error.value) and fake.calls == []
    compare.main(["--output", output, "ZeroshotCLIP", "ZeroshotCLIP+CHiLS", "1"])  # a test-time key does change it
    assert sorted(fake.calls) == [("ZeroshotCLIP", 1), ("ZeroshotCLIP", 1)]


def test_a_users_variant_folder_is_searched_first(fake_env, tmp_path, monkeypatch):
    fake, output = fake_env
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "Strong.yaml").write_text("LOSS:\n  PROTECT:\n    NODE_WEIGHT: 2.0\n")
    (mine / "ProTeCt.yaml").write_text("LOSS:\n  PROTECT:\n    NODE_WEIGHT: 0.75\n")  # shadows the package's
    paths = compare.main(["--output", output, "--variants", str(mine), "HGCLIP", "HGCLIP+Strong", "HGCLIP+ProTeCt", "1"])
    assert header_cells(open(paths["md"], encoding="utf-8").read())[2:] == ["HGCLIP", "HGCLIP+Strong", "HGCLIP+ProTeCt"]
    monkeypatch.setenv("HGCLIP_VARIANTS", str(mine))
    assert compare.available_variants()["Strong"] == str(mine / "Strong.yaml")
    assert compare.available_variants()["CHiLS"].endswith(osp.join("configs", "variants", "CHiLS.yaml"))
    ns = compare.build_parser().parse_args(["--output", output])
    ns.root, ns.shots, ns.variant_files = "data", 16, compare.available_variants()
    args = compare.train_args(ns, compare.Plan("hiershapes", ["HGCLIP+ProTeCt"], [1]), "HGCLIP+ProTeCt",
                              compare.config_for("HGCLIP", "hiershapes", {}), 1)
    assert args[args.index("LOSS.PROTECT.NODE_WEIGHT") + 1] == "0.75"
    with pytest.raises(SystemExit, match="is not a folder of variant YAML files"):
        compare.available_variants([str(tmp_path / "nowhere")])


def test_a_finished_run_made_on_other_inputs_is_not_reused(hiershapes_root, tmp_path, capsys):
    """Issue 24, item 7: after a hierarchy edit at the same path, compare reused the run and one table mixed two
    taxonomies. Now ``train.py --check-inputs`` compares the run's inputs.json first."""
    import shutil

    hierarchy = tmp_path / "hierarchy.txt"
    shutil.copy(osp.join(hiershapes_root, "hiershapes", "hierarchy.txt"), hierarchy)
    command = ["--root", hiershapes_root, "--output", str(tmp_path / "out"), "ZeroshotCLIP", "1", "--",
               "MODEL.BACKBONE.NAME", "tiny-random", "DATASET.HIERARCHY_FILE", str(hierarchy)]
    compare.main(command)
    compare.main(command)  # same inputs: reused
    assert "[ZeroshotCLIP seed 1] finished run found" in capsys.readouterr().out
    text = hierarchy.read_text()
    first_family = next(line for line in text.splitlines()
                        if ">" in line and ":" not in line and not line.startswith("#")).split(">")[0].strip()
    hierarchy.write_text(text.replace(f"{first_family} >", f"{first_family}ish >"))  # the same leaves, renamed family
    with pytest.raises(SystemExit, match=r"\[ZeroshotCLIP seed 1\] finished run not reused: .*inputs.json: this "
                                         r"directory was run on other inputs: hierarchy changed") as error:
        compare.main(command)
    assert "\n" not in str(error.value)
