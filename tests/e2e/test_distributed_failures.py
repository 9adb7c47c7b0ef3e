"""How a torchrun run of 2 gloo processes ends when something goes wrong on one of them: one line each, no
traceback. ``hgclip-torchrun`` (``python -m hgclip.cli.launch``) is what the scripts' ``NPROC`` runs use."""
from __future__ import annotations

import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

from run_helpers import REPO, environment, make_image_folder, run_train, train_args


def _truncate(path: str) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def test_an_unreadable_test_image_of_rank_1_is_one_line_from_rank_1(hiershapes_root, tmp_path):
    """The default check (exists) passes a truncated image; reading it at test time, on the rank whose shard
    holds it, stops the run with one line naming the file (and rank 0 one line saying it lost that process)."""
    root = str(tmp_path / "data")
    make_image_folder(hiershapes_root, root)
    leaf = osp.join(root, "odd", "images", "test", "red circle")
    victim = osp.join(leaf, sorted(os.listdir(leaf))[1])  # test sample 1: rank 1's shard (ShardSampler)
    _truncate(victim)
    result = run_train(train_args(root, str(tmp_path / "out"), "OPTIM.MAX_EPOCH", "1"), nproc=2)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output and "[rank" not in output, output[-3000:]
    errors = _error_lines(result.stderr)
    expected = (f"error: {victim}: cannot read this image (OSError: image file is truncated); expected a "
                "readable image file: fix or remove it (DATASET.CHECK_IMAGES decode finds every such image before training)")
    cut = errors[0].endswith(" [...]") and expected.startswith(errors[0][: -len(" [...]")])  # the one-line limit
    assert errors[0] == expected or cut, errors
    assert all(line.startswith("error: another process of this run stopped (gloo: ") for line in errors[1:]), errors
    assert len(errors) <= 2


def _launch(args: list[str]) -> subprocess.Popen:
    """hgclip-torchrun with 2 processes in its own process group (as a terminal's job), stdout read line by line."""
    command = [sys.executable, "-m", "hgclip.cli.launch", "--standalone", "--nproc_per_node=2",
               osp.join(REPO, "train.py"), *args]
    return subprocess.Popen(command, cwd=REPO, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, bufsize=1, start_new_session=True)


def _wait_for(process: subprocess.Popen, pattern: str, timeout: float = 240) -> str:
    """Read the run's output until a line matches ``pattern``; returns what was read."""
    seen, deadline = [], time.monotonic() + timeout
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if re.search(pattern, line) or time.monotonic() > deadline:
            break
    assert re.search(pattern, "".join(seen)), "".join(seen)[-3000:]
    return "".join(seen)


def _worker(launcher: int, rank: int) -> int:
    """The pid of the worker of ``rank`` started by the launcher's agent (a child of the launcher)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = handle.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{entry}/environ", "rb") as handle:
                env = handle.read().split(b"\0")
        except (OSError, IndexError):
            continue
        if parent == str(launcher) and f"RANK={rank}".encode() in env:
            return int(entry)
    raise AssertionError(f"no worker of rank {rank} under process {launcher}")


def _long_run(tmp_path, odd_dataset_root) -> list[str]:
    return train_args(odd_dataset_root, str(tmp_path / "out"), "OPTIM.MAX_EPOCH", "20", "TRAIN.PRINT_FREQ", "1")


def test_ctrl_c_to_hgclip_torchrun_exits_130_with_one_line(odd_dataset_root, tmp_path):
    process = _launch(_long_run(tmp_path, odd_dataset_root))
    try:
        _wait_for(process, r"epoch \[1/20\] batch \[2/")
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the launcher and its workers
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "SignalException" not in stderr, stderr[-3000:]
    assert _error_lines(stderr) == ["error: interrupted (Ctrl-C); run the same command again to continue from the "
                                    "newest checkpoint"], stderr[-3000:]


def test_a_killed_rank_leaves_rank_0_with_one_line(odd_dataset_root, tmp_path):
    process = _launch(_long_run(tmp_path, odd_dataset_root))
    try:
        _wait_for(process, r"epoch \[1/20\] batch \[2/")
        os.kill(_worker(process.pid, 1), signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0
    assert "Traceback" not in stderr and "[rank0]" not in stderr, stderr[-3000:]
    errors = _error_lines(stderr)
    assert "error: process rank 1 exited with code 137 (SIGKILL); see its output above" in errors, stderr[-3000:]
    others = [line for line in errors if "rank 1 exited" not in line]
    assert len(others) <= 1 and all(re.fullmatch(r"error: another process of this run stopped \(gloo: Connection "
                                                 r"(closed|reset) by peer\); its own output, or the launcher's, says why",
                                                 line) for line in others), stderr[-3000:]
