"""Run ``train.py`` for real (a subprocess, or torchrun) on small datasets built from HierShapes images.

:func:`make_image_folder` writes a ``HierImageFolder`` dataset (the real on-disk layout:
``hierarchy.txt`` + ``images/<split>/<leaf>/*.png``) by copying HierShapes images, with
chosen numbers per class; by default its test split has 95 images, which does not divide
by 2 processes.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Optional, Sequence, Union

from fork_server import ForkedProcess, ForkServer, wait_for_line

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FOLDER = "odd"  # DATASET.HIERIMAGEFOLDER.DIR of the datasets below


def make_image_folder(hiershapes_root: str, root: str, per_class: Optional[dict] = None, short_test_leaves: int = 1,
                      folder: str = FOLDER) -> str:
    """``<root>/<folder>``: every HierShapes leaf with ``per_class`` train/val/test images (test one short for
    the first ``short_test_leaves`` leaves); returns the dataset folder."""
    from hgclip.embedded.hiershapes import load_split

    per_class = per_class or {"train": 4, "val": 2, "test": 3}
    source = osp.join(hiershapes_root, "hiershapes")
    target = osp.join(root, folder)
    os.makedirs(target, exist_ok=True)
    shutil.copy(osp.join(source, "hierarchy.txt"), osp.join(target, "hierarchy.txt"))
    split = load_split(source)
    for name, count in per_class.items():
        taken: dict[int, int] = {}
        for path, label, classname in split[name]:
            limit = count - (1 if name == "test" and label < short_test_leaves else 0)
            if taken.get(label, 0) >= limit:
                continue
            taken[label] = taken.get(label, 0) + 1
            leaf_dir = osp.join(target, "images", name, classname)
            os.makedirs(leaf_dir, exist_ok=True)
            shutil.copy(path, osp.join(leaf_dir, osp.basename(path)))
    return target


def train_args(root: str, output_dir: str, *opts: str, trainer: str = "HGCLIP", folder: str = FOLDER) -> list[str]:
    """A small, fast HGCLIP run on the image-folder dataset (2 shots, 2 epochs of 8 batches, random tiny CLIP)."""
    from hgclip import project  # noqa: F401  (registers the trainers under their table names)
    from hgclip.engine.named_configs import trainer_config

    config = trainer_config(trainer, "tiny")
    return [
        "--root", root, "--seed", "1", "--trainer", trainer,
        "--dataset-config-file", osp.join(REPO, "configs", "datasets", "hier_image_folder.yaml"),
        "--config-file", config, "--output-dir", output_dir,
        "DATASET.HIERIMAGEFOLDER.DIR", folder, "MODEL.BACKBONE.NAME", "tiny-random", "DATASET.NUM_SHOTS", "2",
        "OPTIM.MAX_EPOCH", "2", "OPTIM.LR", "0.05", "OPTIM.WARMUP_EPOCH", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "8",
        "TRAIN.PRINT_FREQ", "1000", *opts,
    ]


def environment(**extra: str) -> dict:
    env = dict(os.environ, HGCLIP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("PYTHONWARNINGS", None)
    env.update(extra)
    return env


def fresh_processes() -> bool:
    """``HGCLIP_TEST_FRESH_PROCESSES=1``: every run a real ``python train.py`` (not a fork of the import server)."""
    return os.environ.get("HGCLIP_TEST_FRESH_PROCESSES", "") not in ("", "0")


_SERVER: Optional[ForkServer] = None


def forkable(env: dict) -> bool:
    """Whether a run with ``env`` may be a fork of the import server (not with HGCLIP_TEST_FRESH_PROCESSES=1, nor
    with other import-time variables than the server's, e.g. another HGCLIP_ENGINE)."""
    return not fresh_processes() and fork_server().accepts(env)


def fork_server() -> ForkServer:
    """This test process's ``train.py`` server (:mod:`fork_server`), started on first use."""
    global _SERVER
    if _SERVER is None:
        _SERVER = ForkServer(environment())
    return _SERVER


def run_train(args: Sequence[str], nproc: int = 1, cwd: str = REPO, timeout: int = 900,
              env: Optional[dict] = None, fresh: bool = False) -> subprocess.CompletedProcess:
    """``python train.py args`` (or ``torchrun --nproc_per_node nproc`` as the scripts run it), output captured.

    A single process is a fork of this test process's import server (:mod:`fork_server`): a process of
    its own that skips the interpreter's and torch's start; ``fresh=True`` starts a real ``python train.py``."""
    if nproc > 1:
        command = [sys.executable, "-m", "hgclip.cli.launch", "--standalone", f"--nproc_per_node={nproc}",
                   osp.join(REPO, "train.py"), *args]
    elif fresh or not forkable(env or environment()):
        command = [sys.executable, osp.join(REPO, "train.py"), *args]
    else:
        return fork_server().run(args, cwd=cwd, env=env or environment(), timeout=timeout)
    return subprocess.run(command, cwd=cwd, env=env or environment(), capture_output=True, text=True, timeout=timeout)


def run_train_killed_at(args: Sequence[str], marker: str, timeout: int = 60) -> int:
    """``python train.py args``, killed with SIGKILL as soon as a line of its output matches ``marker`` (a regex);
    returns its exit status (``-SIGKILL`` when the line came)."""
    pattern = re.compile(marker)
    if forkable(environment()):
        with tempfile.TemporaryDirectory(prefix="train-run-") as folder:
            out = osp.join(folder, "stdout")
            server = fork_server()
            pid = server.start(args, out, os.devnull, env=environment())
            try:
                if wait_for_line(out, pattern, lambda: server.poll(pid) is not None):
                    os.kill(pid, signal.SIGKILL)
            finally:
                code = server.wait(pid, timeout=timeout)
        return code
    with subprocess.Popen([sys.executable, osp.join(REPO, "train.py"), *args], cwd=REPO, env=environment(),
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if pattern.search(line.rstrip()):
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=timeout)
    return process.returncode


def run_python(*command: str, timeout: int = 900, env: Optional[dict] = None, cwd: str = REPO
               ) -> subprocess.CompletedProcess:
    """``python *command`` (``SCRIPT ARGS``, ``-c CODE ARGS`` or ``-m MODULE ARGS``) with ``env``
    (:func:`environment`), output captured: a fork of the import server, as :func:`run_train` (the project's
    modules come imported), or a real process with ``HGCLIP_TEST_FRESH_PROCESSES=1``."""
    env = env or environment()
    if not forkable(env):
        return subprocess.run([sys.executable, *command], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
    kind = {"-c": "code", "-m": "module"}.get(command[0], "script")
    target, args = (command[1], command[2:]) if kind != "script" else (osp.join(cwd, command[0]), command[1:])
    return fork_server().run(args, cwd=cwd, env=env, timeout=timeout, kind=kind, target=target)


def popen_python(code: str, *args: str) -> Union[subprocess.Popen, ForkedProcess]:
    """``subprocess.Popen([python, "-c", code, *args], stdin=PIPE, stdout=PIPE, text=True)``: ``stdin``,
    ``stdout``, ``communicate`` and ``wait`` (a fork of the import server, as :func:`run_train`)."""
    if not forkable(environment()):
        return subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
    return fork_server().popen_code(code, args, env=environment())


def check_ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def results(run_dir: str) -> dict:
    with open(osp.join(run_dir, "results.json"), encoding="utf-8") as handle:
        return json.load(handle)


METRIC_KEYS = ("accuracy", "full_path_accuracy", "path_consistency", "mistake_severity", "hierarchical_distance_at_1")


def metrics(run: dict) -> dict:
    """The numbers of a results.json that a run's training decides (per level and path metrics)."""
    flat = {key: run[key] for key in METRIC_KEYS}
    for level, values in run["per_level"].items():
        for key, value in values.items():
            flat[f"{level}.{key}"] = value
    return flat
