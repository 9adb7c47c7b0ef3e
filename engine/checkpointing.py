"""Checkpoints a run resumes from exactly, and the files a trainer keeps beside them.

A trainer owns one :class:`Checkpointer` (``trainer.checkpointer``), built from explicit parts:
the :class:`~hgclip.engine.model_registry.ModelRegistry` whose models it writes, the training
loader (sampler position, generator), the grad scaler and what a checkpoint must match (trainer
name, backbone). The trainer then *declares* the rest to it:

* :meth:`Checkpointer.add_state`: trainer state an exact resume needs besides the models
  (the best validation result, PromptSRC's prompt aggregation), saved in ``run_state["trainer_state"]``;
* :meth:`Checkpointer.add_artifact`: a file derived once from the run's data and kept beside the
  checkpoints (HGCLIP's node prototypes): built before training or the first use, saved with
  every checkpoint, loaded with a model directory.

Besides the weights a checkpoint holds the optimizer, scheduler, epoch, iteration, the RNG
states of every process, the sampler position, the loader generator, the grad scaler, the
declared state and the run's input fingerprints (``inputs``: what a resume compares). Where the
files go, their names, digests and the best/last selection are
:mod:`hgclip.runtime.run_dir`'s. Only rank 0 writes; every rank takes part in gathering the
RNG states and reads what rank 0 read.
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..runtime import distributed as dist
from ..runtime.rng import capture_rng_state, restore_rng_state
from ..runtime.run_dir import (
    BEST_FILE,
    CheckpointError,
    ResumePoint,
    check_backbone,
    check_state_dict,
    check_trainer,
    checkpoint_path,
    file_digest,
    list_resume_points,
    prune_resume_points,
    read_verified,
    remove_stale_temporaries,
    resume_point_name,
    write_checkpoint,
)
from .model_registry import ModelRegistry

RUN_STATE_FORMAT = 1


@dataclass
class Artifact:
    """A file a trainer derives once from its data and keeps beside its checkpoints (see :meth:`Checkpointer.add_artifact`)."""

    path: Callable[[str], str]
    build: Callable[[], Any]
    save: Callable[[str, Any], None]
    load: Callable[[str], Any]
    use: Callable[[Any], None]
    value: Any = None


class Checkpointer:
    """Save, prune, resume and load the registered models, the declared state and the declared artifacts."""

    def __init__(self, models: ModelRegistry, output_dir: str, *, trainer_name: str, backbone_id: dict,
                 loader: Any, scaler: Any, max_epoch: int, checkpoint_freq: int) -> None:
        """``checkpoint_freq``: keep every such epoch's checkpoint (``TRAIN.CHECKPOINT_FREQ``; 0: only the last)."""
        self.models = models
        self.output_dir = output_dir
        self.trainer_name = trainer_name
        self.backbone_id = backbone_id
        self.loader = loader
        self.scaler = scaler
        self.max_epoch = max_epoch
        self.checkpoint_freq = checkpoint_freq
        self._states: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {}
        self._artifacts: list[Artifact] = []
        #: sha256 of every file :meth:`load` loaded (models by name, artifacts by file name): what an evaluation records
        self.loaded_files: dict[str, str] = {}
        #: the run's input fingerprints (set by the trainer before training), saved in every checkpoint
        self.inputs: Optional[dict] = None
        #: after :meth:`resume`: the checkpoint resumed from, and the inputs it recorded (None: an older checkpoint)
        self.resumed_from: str = ""
        self.resumed_inputs: Optional[dict] = None

    # ------------------------------------------------------------------ declarations
    def add_state(self, name: str, get: Callable[[], Any], set: Callable[[Any], None]) -> None:
        """Save ``get()`` under ``name`` in every checkpoint; a resume calls ``set(saved)`` when the checkpoint has it."""
        if name in self._states:
            raise KeyError(f"checkpointed state {name!r} is already declared")
        self._states[name] = (get, set)

    def add_artifact(self, path: Callable[[str], str], build: Callable[[], Any], save: Callable[[str, Any], None],
                     load: Callable[[str], Any], use: Callable[[Any], None]) -> None:
        """Declare a file kept beside the checkpoints; ``path(run_dir)`` names it (a :mod:`~hgclip.runtime.run_dir` name).

        ``build()`` derives the value from this run's data, once, when nothing loaded it
        (:meth:`ensure_artifacts`); ``save(file, value)`` writes it with every checkpoint (rank 0);
        ``load(file)`` reads and checks a saved one (every rank) when a model directory is loaded;
        ``use(value)`` hands a built or loaded value to the model.
        """
        self._artifacts.append(Artifact(path, build, save, load, use))

    def ensure_artifacts(self) -> None:
        """Build every artifact that nothing built or loaded yet (the trainer calls it before training and each use)."""
        for artifact in self._artifacts:
            if artifact.value is None:
                artifact.value = artifact.build()
                artifact.use(artifact.value)

    # ------------------------------------------------------------------ saving
    def _run_state(self) -> dict:
        """RNG states of every process, sampler position, loader generator, grad scaler, declared state."""
        sampler = getattr(self.loader, "batch_sampler", None)
        generator = getattr(self.loader, "generator", None)
        return {
            "format": RUN_STATE_FORMAT,
            "world_size": dist.world_size(),
            "rng": dist.all_gather_objects(capture_rng_state()),
            "sampler": sampler.state_dict() if hasattr(sampler, "state_dict") else None,
            "loader_generator": generator.get_state() if generator is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "trainer_state": {name: get() for name, (get, _) in self._states.items()},
        }

    def save(self, directory: str, filename: str, epochs_done: int, batches_done: int = 0,
             val_result: Optional[float] = None, is_best: bool = False) -> None:
        """Write ``filename`` (a :func:`~hgclip.runtime.run_dir.resume_point_name` or ``BEST_FILE``) for every model,
        a copy as the best one when ``is_best``, and the artifacts built so far."""
        names = self.models.get_model_names()
        if not names:
            return
        run_state = self._run_state()  # every rank takes part (RNG states are gathered)
        if dist.is_main():
            for position, name in enumerate(names):
                model, optim, sched = self.models.registered(name)
                state = {
                    "state_dict": model.state_dict(),
                    "epoch": epochs_done,
                    "batch": batches_done,
                    "optimizer": optim.state_dict() if optim is not None else None,
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "val_result": val_result,
                    "trainer": self.trainer_name,
                    "backbone": self.backbone_id,
                }
                if position == 0:
                    state["run_state"] = run_state
                    if self.inputs is not None:
                        state["inputs"] = self.inputs
                model_dir = osp.join(directory, name)
                path = write_checkpoint(state, model_dir, filename, update_pointer=filename != BEST_FILE)
                print(f"Checkpoint saved to {path}")
                if is_best and filename != BEST_FILE:
                    write_checkpoint(state, model_dir, BEST_FILE, update_pointer=False)
            for artifact in self._artifacts:
                if artifact.value is not None:
                    artifact.save(artifact.path(directory), artifact.value)
        dist.barrier()

    def prune(self) -> None:
        """Keep Dassl's files (last epoch, every ``checkpoint_freq`` epochs) and the two newest resume points."""
        if not dist.is_main():
            return
        freq = self.checkpoint_freq
        keep = {resume_point_name(e) for e in range(1, self.max_epoch + 1)
                if e == self.max_epoch or (freq > 0 and e % freq == 0)}
        for name in self.models.get_model_names():
            prune_resume_points(osp.join(self.output_dir, name), keep)

    # ------------------------------------------------------------------ resuming
    def resume(self, directory: str) -> Optional[ResumePoint]:
        """Restore the newest valid resume point in ``directory`` and return it (None: train from scratch).

        A truncated or corrupt file is reported in one line and the previous one is tried.
        A checkpoint written by another trainer or for other shapes is an error. Artifacts are
        not read: the trainer has built them before resuming, as an uninterrupted run did.
        """
        names = self.models.get_model_names()
        model_dirs = {name: osp.join(directory, name) for name in names}
        if dist.is_main():
            for model_dir in model_dirs.values():
                remove_stale_temporaries(model_dir)
        listed = [{p.filename: p for p in list_resume_points(d)} for d in model_dirs.values()]
        common = sorted(p for p in listed[0].values() if all(p.filename in other for other in listed)) if listed else []
        if not common:
            print("No checkpoint found, train from scratch")
            return None
        for point in reversed(common):
            checkpoints, problem = dist.compute_on_main(lambda p=point: self._read_resume_point(model_dirs, p))
            if problem is not None:
                print(f"Skipping {problem}; trying the previous checkpoint")
                continue
            print(f"Found checkpoint at {directory} (will resume training)")
            self._load_resume_point(checkpoints, model_dirs, point)
            return point
        print(f"No readable checkpoint in {directory}, train from scratch")
        return None

    def _read_resume_point(self, model_dirs: dict, point: ResumePoint) -> tuple[Optional[dict], Optional[str]]:
        checkpoints = {}
        for name, model_dir in model_dirs.items():
            path = osp.join(model_dir, point.filename)
            try:
                checkpoint = read_verified(path)
            except CheckpointError as error:
                return None, str(error)
            check_trainer(checkpoint, path, self.trainer_name)
            check_backbone(checkpoint, path, self.backbone_id)
            checkpoints[name] = checkpoint
        return checkpoints, None

    def _load_resume_point(self, checkpoints: dict, model_dirs: dict, point: ResumePoint) -> None:
        for name, checkpoint in checkpoints.items():
            path = osp.join(model_dirs[name], point.filename)
            model, optim, sched = self.models.registered(name)
            check_state_dict(model, checkpoint["state_dict"], path)
            model.load_state_dict(checkpoint["state_dict"])
            if optim is not None and checkpoint.get("optimizer") is not None:
                optim.load_state_dict(checkpoint["optimizer"])
            if sched is not None and checkpoint.get("scheduler") is not None:
                sched.load_state_dict(checkpoint["scheduler"])
        run_state = next(iter(checkpoints.values())).get("run_state")
        first = osp.join(next(iter(model_dirs.values())), point.filename)
        self.resumed_from, self.resumed_inputs = first, next(iter(checkpoints.values())).get("inputs")
        if run_state is None:
            print(f"{first} holds no RNG or sampler state (an older checkpoint): "
                  "training continues, but not exactly as an uninterrupted run would")
        else:
            self._restore_run_state(run_state)
        print(f"Resuming from {first}: {point.epochs_done} epoch(s) and {point.batches_done} iteration(s) done")

    def _restore_run_state(self, run_state: dict) -> None:
        states = run_state["rng"]
        if len(states) == dist.world_size():
            restore_rng_state(states[dist.rank()])
        else:
            print(f"The checkpoint was written by {len(states)} process(es), this run has {dist.world_size()}: "
                  "every process continues from rank 0's random state")
            restore_rng_state(states[0])
        sampler = getattr(self.loader, "batch_sampler", None)
        if run_state.get("sampler") is not None and hasattr(sampler, "load_state_dict"):
            sampler.load_state_dict(run_state["sampler"])
        generator = getattr(self.loader, "generator", None)
        if run_state.get("loader_generator") is not None and generator is not None:
            generator.set_state(run_state["loader_generator"])
        if self.scaler is not None and run_state.get("scaler") is not None:
            self.scaler.load_state_dict(run_state["scaler"])
        saved = run_state.get("trainer_state") or {}
        for name, (_, set_state) in self._states.items():
            if name in saved:
                set_state(saved[name])

    # ------------------------------------------------------------------ loading a model directory
    def loadable_files(self, directory: str, epoch: Optional[int] = None) -> dict[str, str]:
        """The files :meth:`load` would read from ``directory``, under the names :attr:`loaded_files` gives them
        (models by name, artifacts by file name), read nothing: what tells whether an evaluation's recorded model
        is still the one there. A model without a checkpoint is left out."""
        files = {}
        for name in self.models.get_model_names():
            try:
                files[name] = checkpoint_path(osp.join(directory, name), epoch)
            except FileNotFoundError:
                continue
        for artifact in self._artifacts:
            path = artifact.path(directory)
            if osp.isfile(path):
                files[osp.basename(path)] = path
        return files

    def load(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load the models (Dassl layout), then the artifacts, from ``directory``, whatever the current class set.

        ``epoch=None`` loads the best model when there is one, otherwise the newest
        (:func:`hgclip.runtime.run_dir.checkpoint_path`). A checkpoint of another trainer or
        backbone, or a parameter that cannot transfer, fails with one line. A missing artifact
        is built from this run's data when first needed. The sha256 of each file loaded goes to
        :attr:`loaded_files`.
        """
        self.loaded_files = {}
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        for name in self.models.get_model_names():
            model_dir = osp.join(directory, name)

            def read(model_dir: str = model_dir) -> tuple[str, dict, str]:
                path = checkpoint_path(model_dir, epoch)
                return path, read_verified(path), file_digest(path)

            path, checkpoint, digest = dist.compute_on_main(read)
            self.loaded_files[name] = digest
            check_trainer(checkpoint, path, self.trainer_name)
            check_backbone(checkpoint, path, self.backbone_id)
            model, _, _ = self.models.registered(name)
            check_state_dict(model, checkpoint["state_dict"], path)
            print(f"Loading weights to {name} from {path} (epoch = {checkpoint.get('epoch')})")
            model.load_state_dict(checkpoint["state_dict"], strict=True)
        for artifact in self._artifacts:
            path = artifact.path(directory)
            if not osp.isfile(path):
                print(f"No {osp.basename(path)} in {directory}: it is built from this run's data when first needed")
                continue
            self.loaded_files[osp.basename(path)] = file_digest(path)
            artifact.value = artifact.load(path)
            artifact.use(artifact.value)


__all__ = ["Artifact", "Checkpointer", "RUN_STATE_FORMAT"]
