"""report.html and comparison.html in a real headless Chromium (issue 19, item 3).

Each page must open from disk with no network, without a console message or a script error, and
draw what it promises: the tree of a HierShapes run (with example images of its confusions) and of
a 1,000-node hierarchy whose class names try to inject HTML, fully expanded; a screenshot of each
must show a drawn page, not a blank one. ``.ci/run`` installs Chromium from the system's package
manager; where none is installed these tests skip and say so.
"""
from __future__ import annotations

import contextlib
import functools
import io
import os
import os.path as osp
import re
import shutil
import subprocess

import pytest
import torch
from run_helpers import REPO, check_ok, run_train
from yacs.config import CfgNode

from hgclip.benchmarks.bench_metrics import synthetic_batches, synthetic_hierarchy
from hgclip.evaluation import Hierarchical
from hgclip.evaluation.comparison_report import write_reports
from hgclip.hierarchy import Hierarchy

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 45  # one browser start and page load takes 2-3 s on 2 busy cores
HOSTILE = "</script><img src=x onerror=alert(1)>"


@functools.lru_cache(maxsize=None)
def browser() -> str:
    """The first Chromium on PATH that starts; else the test skips, saying why."""
    for name in BROWSERS:
        path = shutil.which(name)
        if not path:
            continue
        try:
            version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as error:
            pytest.skip(f"headless Chromium not usable: {path} --version failed ({error})")
        if version.returncode != 0:
            pytest.skip(f"headless Chromium not usable: {path} --version exited {version.returncode}: "
                        f"{version.stderr.strip()[-200:]}")
        return path
    pytest.skip(f"headless Chromium not installed: none of {', '.join(BROWSERS)} is on PATH "
                "(.ci/run installs the Debian package 'chromium' where apt-get can)")


def open_page(path: str, tmp_path, *flags: str, fragment: str = "") -> subprocess.CompletedProcess:
    """Chromium, headless, on ``file://path`` with its own profile; console messages go to stderr."""
    profile = tmp_path / f"profile-{len(os.listdir(tmp_path))}"
    command = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               "--no-default-browser-check", "--disable-extensions", f"--user-data-dir={profile}",
               "--enable-logging=stderr", "--v=0", *flags, f"file://{osp.abspath(path)}{fragment}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert not console, "the page wrote to the console:\n" + "\n".join(console)
    return result


def rendered_dom(path: str, tmp_path, fragment: str = "") -> tuple[str, dict]:
    """The page's DOM after its script ran, and the markers the script set on ``<body>``."""
    dom = open_page(path, tmp_path, "--dump-dom", fragment=fragment).stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    markers = dict(re.findall(r'data-([a-z]+)="([^"]*)"', body))
    errors = re.search(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, flags=re.S).group(1)
    assert "error" not in markers and not errors, f"the page reported an error: {errors}"
    assert markers.get("ready") == "1", markers
    return dom, markers


def check_screenshot(path: str, tmp_path) -> None:
    """A 1200x900 screenshot of the page: written, and a drawn page (many colours), not a blank one."""
    from PIL import Image

    shot = tmp_path / f"{osp.basename(path)}.png"
    open_page(path, tmp_path, f"--screenshot={shot}", "--window-size=1200,900", "--hide-scrollbars")
    with Image.open(shot) as image:
        assert image.size == (1200, 900)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50, f"{shot}: {len(colours or [])} colours, a blank page"
    reddish_or_greenish = sum(count for count, (r, g, b) in colours if abs(r - g) > 40 and b < min(r, g))
    assert reddish_or_greenish > 200, "no node or cell coloured by its accuracy"


@pytest.fixture(scope="session")
def chromium() -> str:
    return browser()


@pytest.fixture(scope="module")
def hiershapes_run(chromium, hiershapes_root, tmp_path_factory) -> str:
    """A real evaluation on the embedded HierShapes: zero-shot tiny CLIP (random weights), predictions saved."""
    out = str(tmp_path_factory.mktemp("hiershapes_report") / "run")
    check_ok(run_train([
        "--root", hiershapes_root, "--seed", "1", "--trainer", "ZeroshotCLIP", "--eval-only", "--output-dir", out,
        "--dataset-config-file", osp.join(REPO, "configs", "datasets", "hiershapes.yaml"),
        "--config-file", osp.join(REPO, "configs", "trainers", "ZeroshotCLIP", "tiny.yaml"),
        "MODEL.BACKBONE.NAME", "tiny-random", "TEST.SAVE_PREDICTIONS", "True",
    ]))
    return out


def test_hiershapes_run_report_opens_and_shows_its_tree(hiershapes_run, tmp_path):
    path = osp.join(hiershapes_run, "report.html")
    dom, markers = rendered_dom(path, tmp_path)
    assert int(markers["rendered"]) == 4  # the 4 families; the levels below open on a click
    for family in ("round", "angular", "spiky", "elongated"):
        assert f">{family}<" in dom
    assert "ZeroshotCLIP on HierShapes" in dom and "Per level" in dom and "Most confused pairs" in dom
    assert "shots" not in dom and "training images" not in dom  # zero-shot: nothing learned from training images
    assert dom.count('class="legend"') == 2  # beside the coloured level table and the tree
    assert '<th class="text">true</th>' in dom and "<th>count</th>" in dom  # headers aligned with their column
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', dom)) >= 4  # example images of the confusions
    expanded, markers = rendered_dom(path, tmp_path, fragment="#expand-all")
    assert int(markers["rendered"]) == 4 + 8 + 32  # every node of family > shape > object
    check_screenshot(path, tmp_path)


def test_thousand_node_report_opens_expands_and_escapes_names(chromium, tmp_path):
    tree = synthetic_hierarchy()  # 10 / 40 / 150 / 800 nodes; the first top-level node gets a hostile name
    first = tree.paths[0][0]
    h = Hierarchy(tree.level_names, [(HOSTILE if path[0] == first else path[0],) + path[1:] for path in tree.paths])
    assert h.num_nodes == 1000 and h.node_names[0] == HOSTILE
    cfg = CfgNode({"OUTPUT_DIR": str(tmp_path / "run"), "TRAINER": CfgNode({"NAME": "HGCLIP"}),
                   "DATASET": CfgNode({"NAME": "Synthetic"}),
                   "TEST": CfgNode({"EVALUATOR": "Hierarchical", "HTML_REPORT": True, "CONFUSIONS_TOP_K": 10})})
    evaluator = Hierarchical(cfg, hierarchy=h, tree_metrics=False)
    for logits, labels in synthetic_batches(h, 5000, 500):
        evaluator.process(logits, labels)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
    path = str(tmp_path / "run" / "report.html")

    dom, markers = rendered_dom(path, tmp_path, fragment="#expand-all")
    assert int(markers["rendered"]) == 1000
    assert dom.count("<details") == 200 and dom.count('class="leaf"') == 800  # inner nodes open, leaves as rows
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in dom  # the name, shown as text
    assert not re.search(r"<img[^>]*src=\"?x", dom)  # and no element made of it
    _, collapsed = rendered_dom(path, tmp_path)
    assert int(collapsed["rendered"]) == 10  # collapsed below the first level: 10 rows drawn
    check_screenshot(path, tmp_path)


def test_comparison_page_opens(chromium, tmp_path):

    def stats(values: list) -> dict:
        tensor = torch.tensor(values, dtype=torch.float64)
        return {"mean": float(tensor.mean()), "std": float(tensor.std(unbiased=False)), "n": len(values),
                "seeds": [1, 2][:len(values)], "values": values}

    comparison = {"dataset": "hiershapes", "levels": ["family", "shape", "object"], "seeds": [1, 2], "trainers": {
        name: {"per_level": {level: stats([base - 10 * i, base - 10 * i + 4]) for i, level in enumerate(["family", "shape", "object"])},
               "full_path": stats([base - 35, base - 30]), "metrics": {}, "config": "tiny"}
        for name, base in (("CoOp", 90.0), ("HGCLIP", 95.0), (HOSTILE, 60.0))
    }}
    path = write_reports(comparison, str(tmp_path / "compare"))["html"]
    dom, markers = rendered_dom(path, tmp_path)
    assert int(markers["rendered"]) == 4 * 3  # 3 levels + full path, 3 methods
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in dom and not re.search(r"<img[^>]*src=\"?x", dom)
    assert '<td class="best">' in dom
    assert dom.count('class="legend"') == 1
    check_screenshot(path, tmp_path)
