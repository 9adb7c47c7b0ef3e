"""The run directory: every file name a run writes, what each holds, and what "finished" means.

This is the one module that knows the layout of an output directory (readers and writers
elsewhere call it, so the names below appear nowhere else):

* ``config.yaml`` records the resolved config of the run. A later run into the same
  directory whose config differs in a key that changes results stops with one line
  naming the keys (Dassl would silently resume the old checkpoint and label its results
  with the new settings). Keys that cannot change results are ignored
  (:data:`IGNORED_KEYS`, and the ``TRAINER.<NAME>`` sections of other trainers).
* ``run.lock`` holds the pid of the process using the directory; a second process stops
  with one line. A lock whose process is gone (a killed run) is taken over.
* ``results.json`` (the evaluator's, :data:`RESULTS_FILE`), ``prototypes.pt`` (HGCLIP's),
  ``tensorboard/`` and ``log.txt``.
* a registered model's folder (``prompt_learner/``, :data:`LEARNER_NAME`) holds its checkpoints:

  - ``model.pth.tar-<E>``: the state after epoch ``E`` (Dassl's name);
  - ``model.pth.tar-<E>-iter<I>``: the state after ``I`` iterations of epoch ``E``
    (written every ``TRAIN.CHECKPOINT_FREQ_ITERS`` iterations);
  - ``model-best.pth.tar`` (``TEST.FINAL_MODEL best_val``), ``checkpoint`` (Dassl's pointer
    to the newest resume point) and ``checkpoints.sha256`` (``sha256sum -c`` format: the
    digest of every file, checked before a file is trusted).

  Every file is written atomically. Each checkpoint holds Dassl's keys (``state_dict``,
  ``epoch``, ``optimizer``, ``scheduler``, ``val_result``) plus ``trainer`` (the class that
  wrote it), ``batch`` (iterations into the next epoch), ``run_state`` (RNG states,
  sampler position, grad scaler, trainer state: see :mod:`hgclip.engine.trainer`) and ``inputs``
  (the fingerprints of ``inputs.json``, so a resume compares them even where that file is gone).
  :func:`read_verified` turns every way a file can be bad (truncated, corrupt, not a
  checkpoint) into a one-line :class:`CheckpointError`; :func:`checkpoint_path` is the
  best/last selection of an evaluation.

A run is finished (:func:`run_finished`) when it has its ``results.json`` and, for a
trainer with parameters, its learner's ``checkpoint`` pointer. ``--overwrite``
(:func:`clear_run`) starts a training directory afresh: its checkpoints, results and
tensorboard logs are deleted (``log.txt`` files are kept). Every output belongs to the run that
wrote it: a run deletes the earlier evaluation outputs it would replace before it starts
(:func:`clear_evaluation_outputs`), and ``inputs.json`` (:func:`check_recorded_inputs`) tells
whether the files a directory was run on still have the contents they had.
"""
from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import torch
import yaml

from ..common.config_io import flatten
from ..common.errors import InputError
from ..common.fileio import atomic_write_bytes, atomic_write_text

# ---------------------------------------------------------------------- file names
CONFIG_FILE = "config.yaml"
LOCK_FILE = "run.lock"
SWEEP_LOCK_FILE = "sweep.lock"  # held by the sweep job running this directory's chain (train.py takes run.lock)
RESULTS_FILE = "results.json"
LOG_FILE = "log.txt"  # what train.py printed (its arguments, the config, the training log)
PROTOTYPES_FILE = "prototypes.pt"  # HGCLIP's node prototypes, beside the checkpoints
TENSORBOARD_DIR = "tensorboard"
LEARNER_NAME = "prompt_learner"  # the one registered model of every trainer here (its folder's name)
POINTER_FILE = "checkpoint"
BEST_FILE = "model-best.pth.tar"
DIGEST_FILE = "checkpoints.sha256"
_EPOCH_PREFIX = "model.pth.tar-"
_EPOCH_FILE = re.compile(r"^model\.pth\.tar-(\d+)$")
_ITER_FILE = re.compile(r"^model\.pth\.tar-(\d+)-iter(\d+)$")
_TMP_PREFIX = ".tmp-"
_CHECKPOINT_MARKERS = (POINTER_FILE, BEST_FILE)


# ---------------------------------------------------------------------- finished runs
def run_finished(run_dir: str, has_parameters: bool = True) -> bool:
    """True when ``run_dir`` has its ``results.json`` and, for a trainer with parameters, its learner checkpoint."""
    if not os.path.isfile(os.path.join(run_dir, RESULTS_FILE)):
        return False
    return not has_parameters or os.path.isfile(learner_pointer(run_dir))


def learner_pointer(run_dir: str) -> str:
    """The learner's ``checkpoint`` pointer file in ``run_dir`` (present once a training run saved a model)."""
    return os.path.join(run_dir, LEARNER_NAME, POINTER_FILE)


#: (stem, extension) of every file an evaluation writes: ``<stem>.<ext>`` for the test split,
#: ``<stem>_<split>.<ext>`` for another (results, confusions, the per-level plot, confusion
#: matrices, per-sample predictions, the HTML report)
CMAT_STEM, PREDICTIONS_STEM, HTML_REPORT_STEM = "cmat", "predictions", "report"
EVALUATION_OUTPUTS = (("results", "json"), ("confusions", "json"), ("per_level", "png"), (CMAT_STEM, "json"),
                      (PREDICTIONS_STEM, "jsonl"), (HTML_REPORT_STEM, "html"))


def evaluation_output_name(stem: str, extension: str, split: str = "test") -> str:
    """``results.json`` for the test split, ``results_<split>.json`` for another."""
    split = split or "test"
    return f"{stem}.{extension}" if split == "test" else f"{stem}_{split}.{extension}"


def evaluation_outputs(split: str = "test") -> list[str]:
    """The names of every file an evaluation of ``split`` may write."""
    return [evaluation_output_name(stem, extension, split) for stem, extension in EVALUATION_OUTPUTS]


def _is_evaluation_output(name: str) -> bool:
    return any(name == f"{stem}.{ext}" or (name.startswith(f"{stem}_") and name.endswith(f".{ext}"))
               for stem, ext in EVALUATION_OUTPUTS)


def clear_evaluation_outputs(output_dir: str, split: Optional[str] = None) -> list[str]:
    """Delete the evaluation outputs in ``output_dir`` (of ``split`` only, or of every split); return their names.

    A run does this before it writes its own: should it crash midway, no file of an earlier
    evaluation is left beside its outputs as if this run had produced it (issue 18, item 5).
    """
    if not os.path.isdir(output_dir):
        return []
    wanted = set(evaluation_outputs(split)) if split is not None else None
    removed = []
    for name in sorted(os.listdir(output_dir)):
        path = os.path.join(output_dir, name)
        if (name in wanted if wanted is not None else _is_evaluation_output(name)) and os.path.isfile(path):
            os.remove(path)
            removed.append(name)
    return removed


INPUTS_FILE = "inputs.json"  # content fingerprints of what the numbers depend on (see check_recorded_inputs)


def results_path(run_dir: str) -> str:
    return os.path.join(run_dir, RESULTS_FILE)


def log_path(run_dir: str) -> str:
    return os.path.join(run_dir, LOG_FILE)


def prototypes_path(run_dir: str) -> str:
    return os.path.join(run_dir, PROTOTYPES_FILE)


def tensorboard_dir(run_dir: str) -> str:
    return os.path.join(run_dir, TENSORBOARD_DIR)


# ---------------------------------------------------------------------- checkpoints
class CheckpointError(InputError):
    """A checkpoint file that cannot be used (the message names it and says why)."""


@dataclass(frozen=True, order=True)
class ResumePoint:
    """Where a checkpoint leaves training: ``epochs_done`` full epochs plus ``batches_done`` iterations."""

    epochs_done: int
    batches_done: int
    filename: str = field(compare=False)


def resume_point_name(epochs_done: int, batches_done: int = 0) -> str:
    """``model.pth.tar-<E>`` after epoch E; ``model.pth.tar-<E>-iter<I>`` inside epoch E (1-based)."""
    if batches_done == 0:
        return f"{_EPOCH_PREFIX}{epochs_done}"
    return f"{_EPOCH_PREFIX}{epochs_done + 1}-iter{batches_done}"


def parse_resume_point(filename: str) -> Optional[ResumePoint]:
    match = _EPOCH_FILE.match(filename)
    if match:
        return ResumePoint(int(match.group(1)), 0, filename)
    match = _ITER_FILE.match(filename)
    if match:
        return ResumePoint(int(match.group(1)) - 1, int(match.group(2)), filename)
    return None


def list_resume_points(model_dir: str) -> list[ResumePoint]:
    """The resume points in ``model_dir``, oldest first."""
    if not os.path.isdir(model_dir):
        return []
    points = [parse_resume_point(name) for name in os.listdir(model_dir)]
    return sorted(point for point in points if point is not None)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: str) -> str:
    """sha256 of a file's contents: what an evaluation records of the model files it loaded."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_digests(model_dir: str) -> dict[str, str]:
    path = os.path.join(model_dir, DIGEST_FILE)
    digests: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                parts = line.strip().split(None, 1)
                if len(parts) == 2:
                    digests[parts[1].lstrip("*")] = parts[0]
    except (OSError, UnicodeDecodeError):
        return {}
    return digests


def _write_digests(model_dir: str, digests: dict[str, str]) -> None:
    present = {name: value for name, value in sorted(digests.items()) if os.path.isfile(os.path.join(model_dir, name))}
    atomic_write_text(os.path.join(model_dir, DIGEST_FILE), "".join(f"{v}  {k}\n" for k, v in present.items()))


def write_checkpoint(state: dict, model_dir: str, filename: str, update_pointer: bool = True) -> str:
    """Save ``state`` to ``model_dir/filename`` atomically, record its digest, and (optionally) point to it."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    path = os.path.join(model_dir, filename)
    atomic_write_bytes(path, data)
    digests = read_digests(model_dir)
    digests[filename] = _digest(data)
    _write_digests(model_dir, digests)
    if update_pointer:
        atomic_write_text(os.path.join(model_dir, POINTER_FILE), filename + "\n")
    return path


def read_verified(path: str) -> dict:
    """The checkpoint at ``path`` on the CPU, or a one-line :class:`CheckpointError` saying why it cannot be used.

    ``weights_only=False``: Dassl checkpoints hold non-tensor entries (scheduler and RNG
    state). Only load files you trust.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as handle:
        data = handle.read()
    expected = read_digests(os.path.dirname(path)).get(os.path.basename(path))
    if expected is not None and _digest(data) != expected:
        raise CheckpointError(f"{path}: truncated or corrupt ({len(data)} bytes, sha256 differs from "
                              f"{DIGEST_FILE}); expected a complete checkpoint")
    try:
        checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as error:
        reason = " ".join(str(error).split())[:160]
        raise CheckpointError(f"{path}: truncated or corrupt, not a readable checkpoint ({len(data)} bytes: "
                              f"{reason})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        found = sorted(checkpoint)[:6] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(f"{path}: not a Dassl checkpoint (expected a dict with 'state_dict', found {found})")
    return checkpoint


def check_trainer(checkpoint: dict, path: str, trainer: str) -> None:
    """Refuse a checkpoint written by another trainer (recorded in ``checkpoint['trainer']``)."""
    written_by = checkpoint.get("trainer")
    if written_by is not None and written_by != trainer:
        raise CheckpointError(f"{path}: written by trainer {written_by}, but this run's trainer is {trainer}; "
                              f"expected a {trainer} checkpoint")


def check_backbone(checkpoint: dict, path: str, backbone: dict) -> None:
    """Refuse a checkpoint trained on other CLIP weights (``checkpoint['backbone']``: name and fingerprint).

    Checkpoints written before the backbone was recorded are accepted as they are; those that recorded the
    older fingerprint of three tensors (``backbone['legacy_weights']``) are compared with that one.
    """
    written_for = checkpoint.get("backbone")
    accepted = {backbone.get("weights"), backbone.get("legacy_weights")} - {None} or {None}  # None: nothing to tell
    if isinstance(written_for, dict) and written_for.get("weights") not in accepted:
        raise CheckpointError(f"{path}: trained on backbone {written_for.get('name')} (weights {written_for.get('weights')}), "
                              f"but this run loads {backbone.get('name')} (weights {backbone.get('weights')}); "
                              "evaluate it with the backbone it was trained on (MODEL.BACKBONE)")


def check_state_dict(module: torch.nn.Module, state_dict: dict, path: str) -> None:
    """One-line errors for a state dict that does not fit ``module`` (names and shapes)."""
    expected = module.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} parameter(s) such as {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unknown parameter(s) such as {unexpected[:3]}")
        raise CheckpointError(f"{path}: does not fit this model ({'; '.join(parts)}); "
                              "expected a checkpoint of the same trainer and settings")
    for key, value in state_dict.items():
        if tuple(expected[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{path}: parameter {key!r} has shape {tuple(value.shape)} in the checkpoint but "
                f"{tuple(expected[key].shape)} here (a different setting such as the prompt length, or "
                "class-specific parameters that cannot transfer to another class set)"
            )


def remove_stale_temporaries(model_dir: str) -> None:
    """Delete half-written files a killed run left (atomic writes go through ``.tmp-*`` files)."""
    if not os.path.isdir(model_dir):
        return
    for name in os.listdir(model_dir):
        if name.startswith(_TMP_PREFIX):
            try:
                os.remove(os.path.join(model_dir, name))
            except OSError:
                pass


def prune_resume_points(model_dir: str, keep: Iterable[str], keep_newest: int = 2) -> list[str]:
    """Delete resume points other than ``keep`` and the ``keep_newest`` newest ones; return what was deleted.

    The two newest stay so that a truncated newest file still leaves one to fall back on.
    """
    points = list_resume_points(model_dir)
    kept = set(keep) | {point.filename for point in points[-keep_newest:]}
    removed = []
    for point in points:
        if point.filename not in kept:
            os.remove(os.path.join(model_dir, point.filename))
            removed.append(point.filename)
    if removed:
        _write_digests(model_dir, read_digests(model_dir))
    return removed


def checkpoint_path(model_dir: str, epoch: Optional[int], fall_back_to_latest: bool = True) -> str:
    """The checkpoint an evaluation loads: the one of ``epoch`` if given, else ``model-best.pth.tar``, else
    (``fall_back_to_latest``; Dassl has no such fallback) the newest one, named by the ``checkpoint`` pointer."""
    if epoch is not None:
        path = os.path.join(model_dir, resume_point_name(epoch))
    elif os.path.isfile(os.path.join(model_dir, BEST_FILE)) or not fall_back_to_latest:
        path = os.path.join(model_dir, BEST_FILE)
    else:
        path = latest_checkpoint(model_dir)
        if path is None:
            raise FileNotFoundError(f"{model_dir}: no checkpoint found (expected {BEST_FILE} or a '{POINTER_FILE}' file)")
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Model not found at "{path}"')
    return path


def latest_checkpoint(model_dir: str) -> Optional[str]:
    """The newest checkpoint in ``model_dir`` as its ``checkpoint`` pointer names it, or None without a pointer."""
    pointer = os.path.join(model_dir, POINTER_FILE)
    if not os.path.isfile(pointer):
        return None
    with open(pointer, encoding="utf-8", errors="replace") as handle:
        name = handle.readline().strip()
    if not name:
        raise CheckpointError(f"{pointer}:1: expected the name of a checkpoint file, found nothing")
    return os.path.join(model_dir, name)


# ---------------------------------------------------------------------- recorded config
#: Keys that do not change a run's results (where it writes, how often it prints or checkpoints,
#: how it loads data, where caches and weights are looked up); a re-run may change them freely.
IGNORED_KEYS = (
    "OUTPUT_DIR",
    "RESUME",
    "VERBOSE",
    "DATASET.ROOT",
    "DATALOADER.NUM_WORKERS",
    "DATALOADER.TEST.BATCH_SIZE",
    "TRAIN.PRINT_FREQ",
    "TRAIN.CHECKPOINT_FREQ",
    "TRAIN.CHECKPOINT_FREQ_ITERS",
    "TEST.NO_TEST",
    "TEST.PER_CLASS_RESULT",
    "TEST.COMPUTE_CMAT",
    "TEST.SAVE_PREDICTIONS",
    "TEST.HTML_REPORT",
    "MODEL.BACKBONE.DOWNLOAD_ROOT",
    "TRAINER.HGCLIP.PROTOTYPES.CACHE_DIR",
    "TRAINER.HGCLIP.PROTOTYPES.BATCH_SIZE",
    "OVERWRITE_OUTPUT_DIR",
)

#: Keys of a trainer's section that a dataset config sets (the dataset's own prompt words, e.g.
#: ``TRAINER.HGCLIP.CTX_INIT``): a cross-dataset evaluation uses the target dataset's, so they do not
#: belong to the model (what the model learned replaces the first words anyway).
DATASET_SIDE_TRAINER_KEYS = ("CTX_INIT",)
#: What shapes a model besides its trainer's ``TRAINER.<KEY>`` section: the backbone and how images reach it.
MODEL_KEY_PREFIXES = ("MODEL.", "INPUT.")


class RunDirError(InputError):
    """The output directory cannot be used for this run (the message says why and what to do)."""


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


def is_method_key(key: str, trainer_key: str) -> bool:
    """A key that shapes the trained model (its trainer, its ``TRAINER.<KEY>`` section, backbone and input):
    an evaluation of the model must use the value it was trained with."""
    if _ignored(key, trainer_key):
        return False
    if key == "TRAINER.NAME" or key.startswith(MODEL_KEY_PREFIXES):
        return True
    section = f"TRAINER.{trainer_key}."
    return key.startswith(section) and key[len(section):] not in DATASET_SIDE_TRAINER_KEYS


def differing_method_keys(recorded: dict, current: dict, trainer_key: str) -> list[str]:
    """The method keys (:func:`is_method_key`) whose values differ, in sorted order."""
    old, new = flatten(recorded), flatten(current)
    return sorted(key for key in new if key in old and old[key] != new[key] and is_method_key(key, trainer_key))


def check_model_config(model_dir: str, cfg: Any, trainer_key: str) -> Optional[dict]:
    """The config recorded with the model in ``model_dir`` (None without one), once ``cfg`` agrees with it on
    every method key; otherwise one line naming the first differing key with both values.

    An evaluation with another attention weight or GNN setting builds another model around the loaded
    weights and reports its (meaningless) numbers as the model's.
    """
    recorded = read_recorded_config(model_dir)
    if recorded is None:
        return None
    keys = differing_method_keys(recorded, _as_plain(cfg), trainer_key)
    if keys:
        old, new = flatten(recorded), flatten(_as_plain(cfg))
        first = keys[0]
        more = f" (and {len(keys) - 1} more: {', '.join(keys[1:4])}{', ...' if len(keys) > 4 else ''})" if len(keys) > 1 else ""
        raise RunDirError(
            f"{os.path.join(model_dir, CONFIG_FILE)}: the model was trained with {first} {old[first]!r}, this "
            f"evaluation sets {new[first]!r}{more}; evaluate it with the settings it was trained with "
            f"(TRAINER.NAME, TRAINER.{trainer_key}.*, MODEL.*, INPUT.* must match)"
        )
    return recorded


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


def check_recorded_config(output_dir: str, cfg: Any, trainer_key: str, resuming: bool = False) -> None:
    """Stop unless the config recorded in ``output_dir`` (if any) agrees with ``cfg`` on every result-changing key.

    ``resuming``: ``output_dir`` is another run's directory given to ``--resume``, whose model this run
    would continue (and, if that run had finished, evaluate under this run's settings).
    """
    recorded = read_recorded_config(output_dir)
    if recorded is None:
        return
    current = _as_plain(cfg)
    keys = differing_keys(recorded, current, trainer_key)
    if keys:
        old, new = flatten(recorded), flatten(current)
        shown = ", ".join(f"{k} ({old[k]!r} -> {new[k]!r})" for k in keys[:6])
        more = f" and {len(keys) - 6} more" if len(keys) > 6 else ""
        if resuming:
            raise RunDirError(
                f"{os.path.join(output_dir, CONFIG_FILE)}: --resume continues a run made with another config: "
                f"{shown}{more}; resume it with its own config, or train afresh without --resume"
            )
        raise RunDirError(
            f"{os.path.join(output_dir, CONFIG_FILE)}: this directory was run with another config: {shown}{more}; "
            "use a new --output-dir, or pass --overwrite to start it afresh"
        )


def read_recorded_inputs(output_dir: str) -> Optional[dict]:
    """The fingerprints recorded in ``output_dir/inputs.json``, or None when it has none."""
    path = os.path.join(output_dir, INPUTS_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            recorded = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise RunDirError(f"{path}: unreadable ({error}); use a new --output-dir, or pass --overwrite") from None
    if not isinstance(recorded, dict):
        raise RunDirError(f"{path}: expected a JSON object of fingerprints; use a new --output-dir, or pass --overwrite")
    return recorded


def changed_inputs(recorded: dict, inputs: dict, skip: Iterable[str] = ()) -> list[str]:
    """The names in both whose fingerprints differ (``skip``: names not compared)."""
    return [name for name, value in inputs.items() if name in recorded and name not in skip and recorded[name] != value]


def check_recorded_inputs(output_dir: str, inputs: dict, resuming: bool = False, skip: Iterable[str] = ()) -> bool:
    """Stop unless the inputs recorded in ``output_dir`` (if any) have the fingerprints ``inputs`` has now;
    return whether there was a record to compare with.

    The recorded config names the files; this tells whether their contents are still those the
    directory's model and results came from (an edited hierarchy file at the same path, another
    split list, other CLIP weights, another few-shot draw). ``resuming``: ``output_dir`` is the run
    that ``--resume`` continues.
    """
    recorded = read_recorded_inputs(output_dir)
    if recorded is None:
        return False
    changed = changed_inputs(recorded, inputs, skip)
    if changed and resuming:
        raise RunDirError(f"{os.path.join(output_dir, INPUTS_FILE)}: --resume continues a run made on other inputs: "
                          f"{', '.join(changed)} changed since (same paths, other contents); train afresh without --resume")
    if changed:
        raise RunDirError(f"{os.path.join(output_dir, INPUTS_FILE)}: this directory was run on other inputs: "
                          f"{', '.join(changed)} changed since (same paths, other contents); use a new --output-dir, "
                          "or pass --overwrite to start it afresh")
    return True


def record_inputs(output_dir: str, inputs: dict, keep_recorded: bool = False) -> str:
    """Write the inputs' fingerprints beside the recorded config (atomically).

    ``keep_recorded``: an evaluation into a training directory adds what it evaluated (the checkpoint it
    loaded) to the training's record instead of dropping the fingerprints of what the model was trained on.
    """
    path = os.path.join(output_dir, INPUTS_FILE)
    recorded: dict = {}
    if keep_recorded:
        try:
            with open(path, encoding="utf-8") as handle:
                loaded = json.load(handle)
            recorded = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            recorded = {}
    atomic_write_text(path, json.dumps({**recorded, **inputs}, indent=1, sort_keys=True) + "\n")
    return path


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
    """``--overwrite``: delete the checkpoints, every evaluation output, the recorded config and tensorboard logs.

    Log files are kept (they are appended to); nothing else of a previous run stays beside the new one.
    """
    removed = []
    if not os.path.isdir(output_dir):
        return removed
    for name in sorted(os.listdir(output_dir)):
        path = os.path.join(output_dir, name)
        if os.path.isdir(path):
            is_model_dir = any(os.path.exists(os.path.join(path, m)) for m in _CHECKPOINT_MARKERS) or any(
                entry.startswith(_EPOCH_PREFIX) for entry in os.listdir(path))
            if is_model_dir or name == TENSORBOARD_DIR:
                shutil.rmtree(path)
                removed.append(name + "/")
        elif name in (CONFIG_FILE, INPUTS_FILE, PROTOTYPES_FILE) or _is_evaluation_output(name):
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


class RunLock:
    """``run.lock`` in an output directory, held by this process until :meth:`release`.

    The lock is the operating system's (``flock`` on the open file), not the file's existence: it
    is released when its process ends, however it ends, so a killed run never leaves a lock that
    must be guessed stale, and two processes that start together cannot both take it. The file
    holds the holder's pid and host, for the message another process prints.
    """

    def __init__(self, output_dir: str, name: str = LOCK_FILE) -> None:
        self.path = os.path.join(output_dir, name)
        self.held = False
        self._fd: Optional[int] = None

    def _content(self) -> str:
        pid = os.getpid()
        return json.dumps({"pid": pid, "host": socket.gethostname(), "start": _process_start_time(pid),
                           "since": time.strftime("%Y-%m-%d %H:%M:%S")})

    def _recorded_holder(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as handle:
                info = json.loads(handle.read() or "{}")
        except (OSError, ValueError):
            info = {}
        return info if isinstance(info, dict) else {}

    def acquire(self) -> "RunLock":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                holder = self._recorded_holder()
                raise RunDirError(
                    f"{os.path.dirname(self.path)} is in use by process {holder.get('pid', '?')} on "
                    f"{holder.get('host', '?')} (lock {self.path}); wait for it to finish or use another --output-dir"
                ) from None
            try:
                same_file = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same_file = False
            if not same_file:  # its holder released (and removed) it between our open and our lock
                os.close(fd)
                continue
            previous = self._recorded_holder()
            if previous.get("pid") not in (None, os.getpid()):
                print(f"Taking over the stale lock {self.path} (its process {previous.get('pid')} is no longer running)")
            os.ftruncate(fd, 0)
            os.write(fd, self._content().encode("utf-8"))
            self._fd, self.held = fd, True
            return self
        raise RunDirError(f"{self.path}: could not take the lock (another process keeps taking it)")

    def release(self) -> None:
        if not self.held or self._fd is None:
            return
        self.held = False
        try:
            os.remove(self.path)  # while still locked: whoever opened the old file sees it is gone and retries
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None
