"""The installed route: the wheel holds the package and its data, and its commands write only where they run."""
from __future__ import annotations

import json
import os
import os.path as osp

from wheel_route import (
    build_wheel,
    changed,
    export_tree,
    imported_from,
    listing,
    make_venv,
    run_command,
    site_packages,
    venv_env,
    wheel_problems,
)


def test_installed_wheel_runs_from_an_empty_folder_and_writes_only_there(tmp_path):
    wheel = build_wheel(export_tree(str(tmp_path / "src")), str(tmp_path / "dist"))
    assert wheel_problems(wheel) == []
    bin_dir = make_venv(str(tmp_path / "venv"), wheel)
    run_dir, cache = tmp_path / "empty", tmp_path / "cache"
    run_dir.mkdir()
    env = venv_env(bin_dir, home_cache=str(cache))
    env["HGCLIP_NUM_THREADS"] = "1"
    site = site_packages(bin_dir)
    assert imported_from(bin_dir, str(run_dir), env).startswith(site + os.sep), "the system's hgclip shadows the wheel"
    before = listing(site)

    config = run_command(["hgclip-config", "HGCLIP", "tiny"], str(run_dir), env).stdout.strip()
    assert config == osp.join(site, "hgclip", "configs", "trainers", "HGCLIP", "tiny_hiershapes.yaml")
    out = run_command(["hgclip-base2new", "--trainer", "HGCLIP", "--shots", "2",
                       "MODEL.BACKBONE.NAME", "tiny-random", "OPTIM.MAX_EPOCH", "1"], str(run_dir), env).stdout
    summary = out.strip().splitlines()[-1]
    assert summary == "summary: output/base2new/summary/hiershapes/shots_2/HGCLIP/tiny_hiershapes/summary.json"
    assert json.loads((run_dir / summary[len("summary: "):]).read_text())["levels"] == ["family", "shape", "object"]

    assert sorted(os.listdir(run_dir)) == ["data", "output"]
    assert changed(before, listing(site)) == [], "a run wrote into site-packages"
    assert not cache.exists() or not os.listdir(cache), "the random tiny CLIP needs no cache"
