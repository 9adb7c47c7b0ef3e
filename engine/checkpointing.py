"""Checkpoints of the registered models that a run resumes from exactly (the trainer's side).

What a checkpoint holds besides the weights is decided here: optimizer, scheduler, epoch,
iteration, the RNG states of every process, the sampler position, the loader generator,
the grad scaler and the trainer's own state (:meth:`CheckpointedModels.trainer_state`).
Where the files go, their names, digests and the best/last selection are
:mod:`hgclip.runtime.run_dir`'s. Only rank 0 writes; every rank takes part in gathering the
RNG states and reads what rank 0 read.

The class expects the trainer's ``cfg``, ``output_dir``, ``max_epoch``, ``best_result``,
``train_loader_x``, ``scaler`` and ``model`` (see :class:`hgclip.engine.trainer.HierarchicalCLIPTrainer`).
"""
from __future__ import annotations

import os.path as osp
from typing import Optional

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


class CheckpointedModels(ModelRegistry):
    """Save, prune, resume and load the registered models (Dassl's method names and layout)."""

    _resume_batch = 0  # iterations of the first epoch already done (resuming mid-epoch)
    #: sha256 of every model file :meth:`load_model` loaded, by model name (what an evaluation-only run records)
    loaded_files: dict[str, str] = {}

    def trainer_state(self) -> dict:
        """What a checkpoint must hold besides the models for an exact resume (subclasses extend it)."""
        return {"best_result": self.best_result}

    def load_trainer_state(self, state: dict) -> None:
        """Restore what :meth:`trainer_state` returned."""
        self.best_result = state.get("best_result", self.best_result)

    def _run_state(self) -> dict:
        """RNG states of every process, sampler position, loader generator, grad scaler, trainer state."""
        loader = self.train_loader_x
        sampler = getattr(loader, "batch_sampler", None)
        return {
            "format": RUN_STATE_FORMAT,
            "world_size": dist.world_size(),
            "rng": dist.all_gather_objects(capture_rng_state()),
            "sampler": sampler.state_dict() if hasattr(sampler, "state_dict") else None,
            "loader_generator": loader.generator.get_state() if getattr(loader, "generator", None) is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "trainer_state": self.trainer_state(),
        }

    def save_model(self, epoch: int, directory: str, is_best: bool = False, val_result: Optional[float] = None,
                   model_name: str = "") -> None:
        """Dassl's ``save_model`` (the file after epoch ``epoch + 1``, or ``model_name``), with everything a resume needs."""
        self._write_checkpoints(directory, model_name or resume_point_name(epoch + 1), epoch + 1, 0, val_result, is_best)

    def _write_checkpoints(self, directory: str, filename: str, epochs_done: int, batches_done: int,
                           val_result: Optional[float] = None, is_best: bool = False) -> None:
        names = self.get_model_names()
        if not names:
            return
        run_state = self._run_state()  # every rank takes part (RNG states are gathered)
        if dist.is_main():
            for position, name in enumerate(names):
                optim, sched = self._optims[name], self._scheds[name]
                state = {
                    "state_dict": self._models[name].state_dict(),
                    "epoch": epochs_done,
                    "batch": batches_done,
                    "optimizer": optim.state_dict() if optim is not None else None,
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "val_result": val_result,
                    "trainer": type(self).__name__,
                    "backbone": self.backbone_id,
                }
                if position == 0:
                    state["run_state"] = run_state
                model_dir = osp.join(directory, name)
                path = write_checkpoint(state, model_dir, filename, update_pointer=filename != BEST_FILE)
                print(f"Checkpoint saved to {path}")
                if is_best and filename != BEST_FILE:
                    write_checkpoint(state, model_dir, BEST_FILE, update_pointer=False)
        dist.barrier()

    def prune_checkpoints(self) -> None:
        """Keep Dassl's files (last epoch, every CHECKPOINT_FREQ epochs) and the two newest resume points."""
        if not dist.is_main():
            return
        freq = int(self.cfg.TRAIN.CHECKPOINT_FREQ)
        keep = {resume_point_name(e) for e in range(1, self.max_epoch + 1)
                if e == self.max_epoch or (freq > 0 and e % freq == 0)}
        for name in self.get_model_names():
            prune_resume_points(osp.join(self.output_dir, name), keep)

    def resume_model_if_exist(self, directory: str) -> int:
        """Continue from the newest valid resume point in ``directory``; return the epochs already done.

        A truncated or corrupt file is reported in one line and the previous one is tried.
        A checkpoint written by another trainer or for other shapes is an error.
        """
        names = self.get_model_names()
        model_dirs = {name: osp.join(directory, name) for name in names}
        if dist.is_main():
            for model_dir in model_dirs.values():
                remove_stale_temporaries(model_dir)
        listed = [{p.filename: p for p in list_resume_points(d)} for d in model_dirs.values()]
        common = sorted(p for p in listed[0].values() if all(p.filename in other for other in listed)) if listed else []
        if not common:
            print("No checkpoint found, train from scratch")
            return 0
        for point in reversed(common):
            checkpoints, problem = dist.compute_on_main(lambda p=point: self._read_resume_point(model_dirs, p))
            if problem is not None:
                print(f"Skipping {problem}; trying the previous checkpoint")
                continue
            print(f"Found checkpoint at {directory} (will resume training)")
            self._load_resume_point(checkpoints, model_dirs, point)
            return point.epochs_done
        print(f"No readable checkpoint in {directory}, train from scratch")
        return 0

    def _read_resume_point(self, model_dirs: dict, point: ResumePoint) -> tuple[Optional[dict], Optional[str]]:
        checkpoints = {}
        for name, model_dir in model_dirs.items():
            path = osp.join(model_dir, point.filename)
            try:
                checkpoint = read_verified(path)
            except CheckpointError as error:
                return None, str(error)
            check_trainer(checkpoint, path, type(self).__name__)
            check_backbone(checkpoint, path, self.backbone_id)
            checkpoints[name] = checkpoint
        return checkpoints, None

    def _load_resume_point(self, checkpoints: dict, model_dirs: dict, point: ResumePoint) -> None:
        for name, checkpoint in checkpoints.items():
            path = osp.join(model_dirs[name], point.filename)
            check_state_dict(self._models[name], checkpoint["state_dict"], path)
            self._models[name].load_state_dict(checkpoint["state_dict"])
            if self._optims[name] is not None and checkpoint.get("optimizer") is not None:
                self._optims[name].load_state_dict(checkpoint["optimizer"])
            if self._scheds[name] is not None and checkpoint.get("scheduler") is not None:
                self._scheds[name].load_state_dict(checkpoint["scheduler"])
        run_state = next(iter(checkpoints.values())).get("run_state")
        first = osp.join(next(iter(model_dirs.values())), point.filename)
        if run_state is None:
            print(f"{first} holds no RNG or sampler state (an older checkpoint): "
                  "training continues, but not exactly as an uninterrupted run would")
        else:
            self._restore_run_state(run_state)
        self._resume_batch = point.batches_done
        clear = getattr(self.model, "clear_cache", None)
        if clear is not None:
            clear()
        print(f"Resuming from {first}: {point.epochs_done} epoch(s) and {point.batches_done} iteration(s) done")

    def _restore_run_state(self, run_state: dict) -> None:
        states = run_state["rng"]
        if len(states) == dist.world_size():
            restore_rng_state(states[dist.rank()])
        else:
            print(f"The checkpoint was written by {len(states)} process(es), this run has {dist.world_size()}: "
                  "every process continues from rank 0's random state")
            restore_rng_state(states[0])
        sampler = getattr(self.train_loader_x, "batch_sampler", None)
        if run_state.get("sampler") is not None and hasattr(sampler, "load_state_dict"):
            sampler.load_state_dict(run_state["sampler"])
        generator = getattr(self.train_loader_x, "generator", None)
        if run_state.get("loader_generator") is not None and generator is not None:
            generator.set_state(run_state["loader_generator"])
        if self.scaler is not None and run_state.get("scaler") is not None:
            self.scaler.load_state_dict(run_state["scaler"])
        self.load_trainer_state(run_state.get("trainer_state") or {})

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """Load the learner from ``directory`` (Dassl layout), whatever the current class set.

        ``epoch=None`` loads the best model when there is one, otherwise the newest
        (:func:`hgclip.runtime.run_dir.checkpoint_path`). Only the learner is
        stored, so no class-dependent buffer has to be dropped; a checkpoint of another
        trainer, or a class-specific parameter that cannot transfer, fails with one line.
        The sha256 of each file loaded goes to :attr:`loaded_files`.
        """
        self.loaded_files = {}
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        for name in self.get_model_names():
            model_dir = osp.join(directory, name)

            def read(model_dir: str = model_dir) -> tuple[str, dict, str]:
                path = checkpoint_path(model_dir, epoch)
                return path, read_verified(path), file_digest(path)

            path, checkpoint, digest = dist.compute_on_main(read)
            self.loaded_files[name] = digest
            check_trainer(checkpoint, path, type(self).__name__)
            check_backbone(checkpoint, path, self.backbone_id)
            check_state_dict(self._models[name], checkpoint["state_dict"], path)
            print(f"Loading weights to {name} from {path} (epoch = {checkpoint.get('epoch')})")
            self._models[name].load_state_dict(checkpoint["state_dict"], strict=True)
        clear = getattr(self.model, "clear_cache", None)
        if clear is not None:
            clear()


__all__ = ["CheckpointedModels", "RUN_STATE_FORMAT"]
