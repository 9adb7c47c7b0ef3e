"""The one owner of a run's output directory, whichever entry point drives the trainer.

``train.py``, a CoOp/MaPLe checkout's own ``train.py`` (``build_trainer(cfg)``, then ``trainer.train()``,
or ``trainer.load_model(dir)`` + ``trainer.test()``), the ``hgclip-*`` commands and the Python API all
reach the same trainer methods; each trainer holds a :class:`RunDirectory` (``trainer.run_directory``)
and its ``train()``, ``load_model()`` and ``test()`` go through it, so every route gets the same
guarantees:

* **one process per directory**: a session (:meth:`RunDirectory.training`, :meth:`RunDirectory.evaluation`)
  takes ``run.lock`` and releases it at its end, also on error; a ``test()`` inside ``train()`` is part of
  the training's session (no second lock);
* **one config per directory**: a training refuses a directory (and a ``RESUME`` directory) recorded with
  another config; an evaluation refuses a model recorded with other method keys
  (:func:`~hgclip.runtime.run_dir.check_model_config`) and reports the model's own description (shots,
  seed, training classes) in ``results.json``;
* **one set of inputs**: ``inputs.json`` is compared on every training (the output directory's, the
  resumed directory's and the resumed checkpoint's record) and every evaluation, then written;
* **one run's outputs**: ``OVERWRITE_OUTPUT_DIR`` (``train.py --overwrite``) clears what an earlier run left;
  an evaluation into a training directory evaluates that training's own model with its settings, so the
  directory never holds results of other settings beside its ``config.yaml``; ``results.json`` is written
  last (by the evaluator).

Under ``torchrun`` rank 0 owns the files and the lock; its decisions reach every rank through
:func:`hgclip.runtime.distributed.agree`. File names and the record formats are :mod:`hgclip.runtime.run_dir`'s.
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Callable, Iterator, Optional

from ..config import read_key
from ..runtime import distributed as dist
from ..runtime import run_dir
from ..runtime.run_dir import RunDirError, RunLock

#: The config key ``train.py --overwrite`` sets (a checkout passes it as ``OVERWRITE_OUTPUT_DIR True``).
OVERWRITE_KEY = "OVERWRITE_OUTPUT_DIR"
#: What an evaluation reports from the model's recorded config rather than its own: results.json key -> config key
MODEL_DESCRIPTION = {"num_shots": "DATASET.NUM_SHOTS", "seed": "SEED", "trained_on_classes": "DATASET.SUBSAMPLE_CLASSES"}


def _lookup(flat_config: dict, dotted: str) -> Any:
    node: Any = flat_config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _same_dir(a: str, b: str) -> bool:
    return bool(a) and bool(b) and os.path.realpath(a) == os.path.realpath(b)


#: realpath -> the lock this process took ahead of its trainer (:func:`reserved`); sessions into it use it
_RESERVED: dict[str, RunLock] = {}


@contextlib.contextmanager
def reserved(output_dir: str) -> Iterator[None]:
    """Hold ``output_dir``'s lock from now until the end of the block, before anything is written there.

    ``train.py`` reserves the directory before it opens ``log.txt``, so a second process is refused before
    it writes anything (and a read-only directory is named by its lock file); the trainer's sessions in
    this process then run under this lock instead of taking their own.
    """
    if not output_dir:
        yield
        return
    lock, key = RunLock(output_dir), os.path.realpath(output_dir)
    dist.agree(lock.acquire)  # rank 0 holds it; the others stop with its message
    _RESERVED[key] = lock
    try:
        yield
    finally:
        _RESERVED.pop(key, None)
        lock.release()


class RunDirectory:
    """A trainer's output directory: lock, recorded config and inputs, clearing, and what results describe."""

    def __init__(self, cfg: Any, trainer_key: str) -> None:
        self.cfg = cfg
        self.path: str = cfg.OUTPUT_DIR or ""
        self.trainer_key = trainer_key
        self.lock = RunLock(self.path) if self.path else None
        #: set by ``train.py --overwrite`` (the config key); a checkout's ``train.py`` gets the safe default
        self.overwrite = bool(read_key(cfg, OVERWRITE_KEY))
        self.session: Optional[str] = None  # "training" or "evaluation" while one is open
        #: the directory whose model the trainer holds ("" = none loaded; set by load_model and by a training)
        self.model_dir: Optional[str] = None

    # ------------------------------------------------------------------ sessions
    @contextlib.contextmanager
    def _session(self, kind: str, claim: Callable[[], None]) -> Iterator[None]:
        if self.session is not None or not self.path:  # nested (a training's own test), or nowhere to write
            yield
            return
        self.session = kind
        try:
            dist.agree(claim)  # rank 0 takes the lock and decides; every rank stops with its message
            yield
        finally:
            self.session = None
            if self.lock is not None:
                self.lock.release()

    def training(self) -> contextlib.AbstractContextManager:
        """``train()``: the lock, then the recorded configs (output directory, ``RESUME``) or ``--overwrite``."""
        return self._session("training", self._claim_training)

    def evaluation(self, fingerprints: Callable[[], dict]) -> contextlib.AbstractContextManager:
        """A ``test()`` outside a training: the lock, the recorded config and inputs, then this evaluation's record.

        ``fingerprints()`` gives what the numbers depend on (hierarchy, test images, CLIP, model files)."""
        return self._session("evaluation", lambda: self._claim_evaluation(fingerprints()))

    def _locked(self, claim: Callable[[], None]) -> None:
        if os.path.realpath(self.path) in _RESERVED:  # train.py took it before opening the log
            claim()
            return
        assert self.lock is not None
        self.lock.acquire()
        try:
            claim()
        except BaseException:
            self.lock.release()
            raise

    def check_recorded(self, inputs: dict) -> None:
        """Write nothing: stop in one line unless the directory's recorded config and inputs are this run's
        (under the lock, so a run in progress is not judged half-written). ``inputs``: the training's fingerprints
        (a superset of an evaluation's: only the names a record holds are compared)."""
        def check() -> None:
            run_dir.check_recorded_config(self.path, self.cfg, self.trainer_key)
            run_dir.check_recorded_inputs(self.path, inputs)

        with self._session("check", lambda: self._locked(check)):
            pass

    def _clear(self, clear: Callable[[str], list]) -> None:
        """``--overwrite``: remove what ``clear`` removes from the directory, and say what went."""
        removed = clear(self.path)
        if removed:
            print(f"--overwrite: removed {', '.join(removed)} from {self.path}")

    # ------------------------------------------------------------------ training
    def _claim_training(self) -> None:
        def claim() -> None:
            if self.overwrite:
                self._clear(run_dir.clear_run)
            else:
                run_dir.check_recorded_config(self.path, self.cfg, self.trainer_key)
            resume = self.resume_dir()
            if resume:
                run_dir.check_recorded_config(resume, self.cfg, self.trainer_key, resuming=True)

        self._locked(claim)

    def resume_dir(self) -> str:
        """``RESUME`` when it names another directory than the output directory, else ""."""
        resume = self.cfg.RESUME or ""
        return resume if resume and not _same_dir(resume, self.path) else ""

    def check_training_inputs(self, inputs: dict) -> None:
        """Before resuming: the inputs recorded in the output directory and in the directory resumed from."""
        def check() -> None:
            compared = run_dir.check_recorded_inputs(self.path, inputs) if self.path else False
            resume = self.resume_dir()
            if resume:
                compared = run_dir.check_recorded_inputs(resume, inputs, resuming=True) or compared
            self._unrecorded = not compared

        self._unrecorded = False
        dist.agree(check)

    def check_resumed_inputs(self, checkpoint: str, recorded: Optional[dict], inputs: dict) -> None:
        """After resuming: the inputs the resumed checkpoint recorded (kept even when ``inputs.json`` is not)."""
        def check() -> None:
            if recorded is None:
                if getattr(self, "_unrecorded", False):
                    print(f"Note: {checkpoint} and its directory hold no record of their inputs (no inputs.json; an "
                          "older run): nothing to compare them with, so training continues and records this run's "
                          "inputs from now on")
                return
            changed = run_dir.changed_inputs(recorded, inputs)
            if changed:
                raise RunDirError(f"{checkpoint}: this checkpoint was trained on other inputs: {', '.join(changed)} "
                                  "changed since (same paths, other contents); train afresh (a new --output-dir, or "
                                  "--overwrite) instead of resuming it")

        dist.agree(check)

    def record_training(self, inputs: dict) -> None:
        """Once resumed: the earlier evaluation outputs go, the config and inputs are recorded (rank 0)."""
        if not (dist.is_main() and self.path):
            return
        removed = run_dir.clear_evaluation_outputs(self.path)  # they describe another model
        if removed:
            print(f"Removed the earlier evaluation outputs {', '.join(removed)} from {self.path}: this run writes its own")
        run_dir.record_config(self.path, self.cfg)
        run_dir.record_inputs(self.path, inputs)

    def trained(self) -> None:
        """The trainer now holds this directory's model (a later ``test()`` evaluates it)."""
        self.model_dir = self.path

    # ------------------------------------------------------------------ evaluation
    def check_model(self, model_dir: str) -> dict:
        """``load_model(model_dir)`` outside a training: the method keys must be the model's; returns what the
        results should say about the model (its shots, seed, training classes; {} without a record)."""
        description: dict = {}

        def check() -> None:
            recorded = run_dir.check_model_config(model_dir, self.cfg, self.trainer_key)
            if recorded is None:
                print(f"Note: {model_dir} has no {run_dir.CONFIG_FILE}: the evaluation cannot check that its settings "
                      "are the model's")
                return
            description.update({name: _lookup(recorded, key) for name, key in MODEL_DESCRIPTION.items()})
            try:
                with open(run_dir.results_path(model_dir), encoding="utf-8") as handle:
                    description["num_shots_used"] = json.load(handle).get("num_shots_used")
            except (OSError, ValueError):
                description["num_shots_used"] = None  # the eval command's data would not tell the model's

        self.model_dir = model_dir
        dist.agree(check)
        return description

    def _claim_evaluation(self, inputs: dict) -> None:
        def claim() -> None:
            if run_dir.holds_checkpoints(self.path) and run_dir.read_recorded_config(self.path) is not None:
                self._claim_training_directory(inputs)
                return
            if self.overwrite:
                self._clear(run_dir.clear_evaluation_outputs)
            else:
                run_dir.check_recorded_config(self.path, self.cfg, self.trainer_key)
                run_dir.check_recorded_inputs(self.path, inputs)
            run_dir.record_config(self.path, self.cfg, note="evaluation only (--eval-only)")
            run_dir.record_inputs(self.path, inputs)

        self._locked(claim)

    def _claim_training_directory(self, inputs: dict) -> None:
        """An evaluation into a training's directory re-evaluates that training: its own model, its config, its
        inputs (``--overwrite`` clears only its evaluation outputs), so its results always match its config.yaml."""
        if not _same_dir(self.model_dir or "", self.path):
            raise RunDirError(f"{self.path} holds a training run: an evaluation into it evaluates its own model "
                              f"(--model-dir {self.path}), not {self.model_dir or 'no model'}; use another --output-dir")
        try:
            run_dir.check_recorded_config(self.path, self.cfg, self.trainer_key)
            run_dir.check_recorded_inputs(self.path, inputs, skip=("model",) if self.overwrite else ())
        except RunDirError as error:
            reason = str(error).split("; use a new --output-dir")[0]
            raise RunDirError(f"{reason}; an evaluation into a training directory uses the training's settings and "
                              "inputs (--overwrite does not change them): evaluate into another --output-dir") from None
        if self.overwrite:
            self._clear(run_dir.clear_evaluation_outputs)
        run_dir.record_inputs(self.path, inputs, keep_recorded=True)  # the training's record, plus the model's


__all__ = ["MODEL_DESCRIPTION", "OVERWRITE_KEY", "RunDirectory", "reserved"]
