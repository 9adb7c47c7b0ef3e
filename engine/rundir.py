"""An output directory knows what it holds: the config it was trained with, and who is using it.

* ``config.yaml`` records the resolved config of the run. A later run into the same
  directory whose config differs in a key that changes results stops with one line
  naming the keys (Dassl would silently resume the old checkpoint and label its results
  with the new settings). Keys that cannot change results are ignored
  (:data:`IGNORED_KEYS`, and the ``TRAINER.<NAME>`` sections of other trainers).
* ``run.lock`` holds the pid of the process using the directory; a second process stops
  with one line. A lock whose process is gone (a killed run) is taken over.
* ``--overwrite`` starts a training directory afresh: its checkpoints, results and
  tensorboard logs are deleted (``log.txt`` files are kept).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from typing import Any, Optional

import yaml

from ..common.config_io import flatten
from ..common.errors import InputError
from ..common.fileio import atomic_write_text

CONFIG_FILE = "config.yaml"
LOCK_FILE = "run.lock"

#: Keys that do not change a run's results (where it writes, how often it prints or checkpoints,
#: how it loads data, where caches and weights are looked up); a re-run may change them freely.
IGNORED_KEYS = (
    "OUTPUT_DIR",
    "RESUME",
    "VERBOSE",
    "DATASET.ROOT",
    "DATASET.VERIFY_IMAGES",
    "DATALOADER.NUM_WORKERS",
    "DATALOADER.TEST.BATCH_SIZE",
    "TRAIN.PRINT_FREQ",
    "TRAIN.CHECKPOINT_FREQ",
    "TRAIN.CHECKPOINT_FREQ_ITERS",
    "TEST.NO_TEST",
    "TEST.PER_CLASS_RESULT",
    "TEST.COMPUTE_CMAT",
    "MODEL.BACKBONE.DOWNLOAD_ROOT",
    "TRAINER.HGCLIP.PROTOTYPES.CACHE_DIR",
    "TRAINER.HGCLIP.PROTOTYPES.BATCH_SIZE",
)

_RESULT_FILES = ("results.json",)
_CHECKPOINT_MARKERS = ("checkpoint", "model-best.pth.tar")


class RunDirError(InputError):
    """The output directory cannot be used for this run (the message says why and what to do)."""


# ---------------------------------------------------------------------- recorded config
def _as_plain(cfg: Any) -> dict:
    """The config as YAML would read it back (tuples become lists, ...): what is recorded and compared."""
    return yaml.safe_load(cfg.dump()) or {}


def _ignored(key: str, trainer_key: str) -> bool:
    if key in IGNORED_KEYS:
        return True
    parts = key.split(".")
    # another trainer's section (TRAINER.COOP.* in an HGCLIP run) cannot change this run
    return len(parts) > 2 and parts[0] == "TRAINER" and parts[1] != trainer_key


def differing_keys(recorded: dict, current: dict, trainer_key: str) -> list[str]:
    """Result-changing keys whose values differ (keys present in only one of the two are not compared)."""
    old, new = flatten(recorded), flatten(current)
    return sorted(key for key in new if key in old and old[key] != new[key] and not _ignored(key, trainer_key))


def read_recorded_config(output_dir: str) -> Optional[dict]:
    path = os.path.join(output_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            recorded = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise RunDirError(f"{path}: unreadable recorded config ({' '.join(str(error).split())[:120]}); "
                          "delete it or pass --overwrite") from None
    if not isinstance(recorded, dict):
        raise RunDirError(f"{path}: expected a recorded config (a YAML mapping); delete it or pass --overwrite")
    return recorded


def check_recorded_config(output_dir: str, cfg: Any, trainer_key: str) -> None:
    """Stop unless the config recorded in ``output_dir`` (if any) agrees with ``cfg`` on every result-changing key."""
    recorded = read_recorded_config(output_dir)
    if recorded is None:
        return
    current = _as_plain(cfg)
    keys = differing_keys(recorded, current, trainer_key)
    if keys:
        old, new = flatten(recorded), flatten(current)
        shown = ", ".join(f"{k} ({old[k]!r} -> {new[k]!r})" for k in keys[:6])
        more = f" and {len(keys) - 6} more" if len(keys) > 6 else ""
        raise RunDirError(
            f"{os.path.join(output_dir, CONFIG_FILE)}: this directory was run with another config: {shown}{more}; "
            "use a new --output-dir, or pass --overwrite to start it afresh"
        )


def record_config(output_dir: str, cfg: Any, note: str = "") -> str:
    """Write ``cfg`` to ``output_dir/config.yaml`` atomically (with a header saying what it is)."""
    header = (
        "# The resolved config of the run in this directory (written by train.py).\n"
        "# A re-run here must agree on every key except: " + ", ".join(IGNORED_KEYS)
        + " and other trainers' sections.\n" + (f"# {note}\n" if note else "")
    )
    path = os.path.join(output_dir, CONFIG_FILE)
    atomic_write_text(path, header + yaml.safe_dump(_as_plain(cfg), sort_keys=True))
    return path


def holds_checkpoints(output_dir: str) -> bool:
    """Whether some sub-folder of ``output_dir`` holds Dassl checkpoints (a training run wrote here)."""
    if not os.path.isdir(output_dir):
        return False
    for name in os.listdir(output_dir):
        sub = os.path.join(output_dir, name)
        if os.path.isdir(sub) and any(os.path.exists(os.path.join(sub, m)) for m in _CHECKPOINT_MARKERS):
            return True
    return False


def clear_run(output_dir: str) -> list[str]:
    """``--overwrite``: delete the checkpoints, results, recorded config and tensorboard logs; keep log files."""
    removed = []
    if not os.path.isdir(output_dir):
        return removed
    for name in sorted(os.listdir(output_dir)):
        path = os.path.join(output_dir, name)
        if os.path.isdir(path):
            is_model_dir = any(os.path.exists(os.path.join(path, m)) for m in _CHECKPOINT_MARKERS) or any(
                entry.startswith("model.pth.tar-") for entry in os.listdir(path))
            if is_model_dir or name == "tensorboard":
                shutil.rmtree(path)
                removed.append(name + "/")
        elif name in _RESULT_FILES or name == CONFIG_FILE or (name.startswith("results_") and name.endswith(".json")):
            os.remove(path)
            removed.append(name)
    return removed


# ---------------------------------------------------------------------- lock
def _process_start_time(pid: int) -> Optional[str]:
    """Linux: the process's start time (field 22 of /proc/<pid>/stat), which tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """``run.lock`` in an output directory, held by this process until :meth:`release`."""

    def __init__(self, output_dir: str) -> None:
        self.path = os.path.join(output_dir, LOCK_FILE)
        self.held = False

    def _content(self) -> str:
        pid = os.getpid()
        return json.dumps({"pid": pid, "host": socket.gethostname(), "start": _process_start_time(pid),
                           "since": time.strftime("%Y-%m-%d %H:%M:%S")})

    def _holder(self) -> Optional[dict]:
        """The recorded holder if it still runs, else None (stale)."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                info = json.loads(handle.read() or "{}")
        except (OSError, ValueError):
            info = {}
        pid = info.get("pid")
        if not isinstance(pid, int):
            # being written this very moment, or garbage: stale only once it is old
            try:
                age = time.time() - os.path.getmtime(self.path)
            except OSError:
                return None
            return None if age > 10 else {"pid": "?", "host": "?"}
        if info.get("host") not in (None, socket.gethostname()):
            return info  # another machine's process: cannot be checked from here
        if not _alive(pid):
            return None
        start = info.get("start")
        if start is not None and _process_start_time(pid) not in (None, start):
            return None  # the pid was reused by another process
        return info

    def acquire(self) -> "RunLock":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None:
                    raise RunDirError(
                        f"{os.path.dirname(self.path)} is in use by process {holder.get('pid')} on "
                        f"{holder.get('host')} (lock {self.path}); wait for it to finish or use another --output-dir"
                    ) from None
                print(f"Taking over the stale lock {self.path} (its process is no longer running)")
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self._content())
            self.held = True
            return self
        raise RunDirError(f"{self.path}: could not take the lock (another process keeps taking it)")

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            with open(self.path, encoding="utf-8") as handle:
                info = json.loads(handle.read() or "{}")
            if info.get("pid") == os.getpid():
                os.remove(self.path)
        except (OSError, ValueError):
            pass

