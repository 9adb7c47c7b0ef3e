"""The life cycle shared by every hierarchical CLIP trainer.

:class:`HierarchicalCLIPTrainer` owns the whole life cycle (set-up, the epoch loop, evaluation, checkpoints and
resume), the same under the built-in engine and the real Dassl: Dassl's ``train.py`` only
calls ``build_trainer(cfg)``, ``load_model``, ``test`` and ``train``, and the trainers are
registered into the active engine's registry (:mod:`hgclip.registry`). Beyond the loop it
gives what all hierarchical trainers need, so that a method only says how to build its model:

* the hierarchy comes from the dataset (its own, or one attached by class name to a flat
  Dassl dataset: :func:`hgclip.datasets.attach.dataset_hierarchy`); every node of every
  level is a class and models return all-node logits;
* CLIP is loaded from ``MODEL.BACKBONE``, frozen, and cast for ``PREC``
  (fp16/amp fall back to fp32 without CUDA, with one warning);
* only the model's ``learner`` (prompts, graph encoders, ...) is trained and
  registered, so checkpoints are small and hold no class-dependent tensors:
  a model trained on base classes loads for new classes;
* the loss is the weighted sum of per-level cross-entropies (:mod:`hgclip.models.losses`);
* the shared :class:`~hgclip.evaluation.Hierarchical` evaluator gets the hierarchy.

It also owns what must work the same under either engine:

* **data**: the dataset is built through the active ``DATASET_REGISTRY`` (so a checkout's
  own datasets work), by the first process of each machine first (it fills the caches),
  checked (every image readable, the same split on every process; the dataset itself
  refuses empty splits and classes), and read through :mod:`hgclip.engine.loaders`, whose
  order and augmentations depend on (seed, epoch, position) only; ``DATALOADER.TRAIN_X.BATCH_SIZE`` is the
  global batch, split over the processes of a ``torchrun`` run;
* **several processes** (:mod:`hgclip.runtime.distributed`): gradients are all-reduced before each
  step, evaluation gathers every rank's predictions so each test sample counts once, and
  only rank 0 logs and writes files;
* **exact resume** (``self.checkpointer``, a :class:`~hgclip.engine.checkpointing.Checkpointer`; the files:
  :mod:`hgclip.runtime.run_dir`): a checkpoint at every epoch end (and every ``TRAIN.CHECKPOINT_FREQ_ITERS``
  iterations) holds the learner, optimizer, scheduler, grad scaler, epoch, iteration, every RNG state, the
  sampler position and the state the trainer declared (``checkpointer.add_state``); a re-run continues from
  the newest valid one. Files a trainer derives once from its data (HGCLIP's prototypes) are declared
  artifacts (``checkpointer.add_artifact``): built before training or the first use, saved with the checkpoints,
  loaded with ``load_model``.

A subclass sets ``CFG_KEY`` (its ``TRAINER.<KEY>`` node), ``TABLE_ORDER`` and
``HAS_PARAMETERS`` (see :mod:`hgclip.registry`), ``CONFIGS`` (its named configs, see
:mod:`hgclip.engine.named_configs`) and implements :meth:`build_clip_model`.
It may override :meth:`compute_loss` to add terms, and :meth:`build_model` (calling it first) to declare
its own checkpointed state and artifacts.
"""
from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import Tensor, nn
from tqdm import tqdm

from .. import embedded  # noqa: F401  (registers the tiny CLIP backbones)
from ..backbones import load_clip
from ..backbones.identity import backbone_fingerprint, legacy_fingerprint
from ..backbones.precision import apply_precision, autocast, resolve_precision, validate_precision
from ..config import LEVEL_WEIGHTS
from ..datasets.attach import dataset_hierarchy
from ..datasets.checks import shots_used, warn_if_fewer_shots
from ..datasets.fingerprint import listing_fingerprint
from ..datasets.image_check import check_dataset_images
from ..evaluation import Hierarchical
from ..hierarchy import Hierarchy
from ..models.losses import cross_entropy_terms, resolve_level_weights
from ..models.protect import ProTeCtLoss, ProTeCtSettings
from ..runtime import distributed as dist
from ..runtime import run_dir
from ..runtime.dassl_api import (
    AverageMeter,
    MetricMeter,
    announce_engine,
    build_dataset,
    build_lr_scheduler,
    build_optimizer,
    build_transform,
)
from ..runtime.rng import derive_seed, isolated_rng
from ..runtime.run_dir import BEST_FILE, LEARNER_NAME, resume_point_name
from .checkpointing import Checkpointer
from .loaders import build_eval_loader, build_train_loader
from .model_registry import ModelRegistry
from .run_directory import RunDirectory


@dataclass
class LoadedDataset:
    """What Dassl's DataManager tells a trainer about the data (``trainer.dm``), without its loaders."""

    dataset: Any
    num_classes: int
    lab2cname: dict
    num_source_domains: int

    def show_summary(self, cfg: Any) -> None:
        """The split sizes, as a two-column table (Dassl prints the same summary)."""
        from tabulate import tabulate

        rows: list[list[Any]] = [["Dataset", cfg.DATASET.NAME]]
        if cfg.DATASET.SOURCE_DOMAINS:
            rows.append(["Source", cfg.DATASET.SOURCE_DOMAINS])
        if cfg.DATASET.TARGET_DOMAINS:
            rows.append(["Target", cfg.DATASET.TARGET_DOMAINS])
        rows.append(["# classes", f"{self.num_classes:,}"])
        for label, items in (("# train_x", self.dataset.train_x), ("# train_u", getattr(self.dataset, "train_u", None)),
                             ("# val", self.dataset.val), ("# test", self.dataset.test)):
            if items or label in ("# train_x", "# test"):
                rows.append([label, f"{len(items or []):,}"])
        print(tabulate(rows))


class HierarchicalCLIPTrainer(ModelRegistry):
    """Base class of ZeroshotCLIP, CoOp, IVLP, HGCLIP, ... (not registered itself)."""

    HIERARCHICAL_TRAINER = True  # how hgclip.registry tells this project's trainers from a checkout's
    CFG_KEY: str = ""
    TABLE_ORDER: int = 10**6  # column in the paper's Table 1 (hgclip.registry.list_trainers)
    HAS_PARAMETERS: bool = True  # False: nothing to train (evaluated with --eval-only, no --model-dir)
    #: role ("tiny", "base2new", "paper") -> config name, a YAML file of configs/trainers/<class name>/
    #: (or of CONFIG_DIR, an absolute folder, for a trainer outside the package): hgclip.engine.named_configs
    CONFIGS: dict[str, str] = {}
    CONFIG_DIR: str = ""

    # ------------------------------------------------------------------ set-up
    def __init__(self, cfg: Any) -> None:
        """Check the config, build the data and the model, then the evaluator (Dassl's order, hence its RNG use)."""
        announce_engine()
        super().__init__()
        self._resume_batch = 0  # iterations of the first epoch already done (resuming mid-epoch)
        self._local_batch_size = 0  # this process's share of the current global batch
        self.check_cfg(cfg)
        self.device = torch.device("cuda" if torch.cuda.is_available() and cfg.USE_CUDA else "cpu")
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.cfg = cfg
        self.build_data_loader()
        self.build_model()
        # whatever TEST.EVALUATOR says, every trainer here reports every level with the shared evaluator
        self.evaluator = Hierarchical(cfg, lab2cname=self.lab2cname, hierarchy=self.hierarchy,
                                      decoding=cfg.TEST.DECODING)
        self.best_result = -float("inf")
        self.evaluator.run_info = {"num_shots_used": self.shots_used, "num_processes": dist.world_size()}
        self.evaluator.trained = self.HAS_PARAMETERS
        #: the output directory's owner: lock, recorded config and inputs (train(), load_model() and test() use it)
        self.run_directory = RunDirectory(cfg, self.CFG_KEY)

    @property
    def trainer_cfg(self) -> Any:
        return self.cfg.TRAINER[self.CFG_KEY]

    def check_cfg(self, cfg: Any) -> None:
        validate_precision(cfg.TRAINER[self.CFG_KEY].PREC, f"TRAINER.{self.CFG_KEY}.PREC")

    # ------------------------------------------------------------------ data
    def build_data_loader(self) -> None:
        """The active engine's registry builds and splits the dataset; the loaders are :mod:`hgclip.engine.loaders`'."""
        cfg = self.cfg
        with dist.local_main_first(), isolated_rng():  # cache work (dataset generation, few-shot draw) never moves the RNG
            dataset = build_dataset(cfg)
        self.dm = LoadedDataset(dataset, dataset.num_classes, dataset.lab2cname, len(cfg.DATASET.SOURCE_DOMAINS))
        self.num_classes, self.lab2cname = self.dm.num_classes, self.dm.lab2cname
        self.num_source_domains = self.dm.num_source_domains
        if cfg.VERBOSE:
            self.dm.show_summary(cfg)
        check_dataset_images(cfg, dataset)  # DATASET.CHECK_IMAGES for datasets not read by this project (ours check as they read)
        self.shots_used = shots_used(dataset, len(dataset.lab2cname))  # a flat (checkout) dataset has no hierarchy yet
        if dist.is_main():
            warn_if_fewer_shots(int(cfg.DATASET.NUM_SHOTS), self.shots_used, cfg.DATASET.NAME)
        dist.same_everywhere(listing_fingerprint(dataset.train_x), "the training split")

        info = dist.process_info()
        self.data_seed = self._data_seed()
        tfm_train, tfm_test = build_transform(cfg, is_train=True), build_transform(cfg, is_train=False)
        self.train_loader_x = build_train_loader(cfg, dataset.train_x, tfm_train, self.data_seed, info.rank,
                                                 info.world_size)
        self.val_loader = build_eval_loader(cfg, dataset.val, tfm_test, info.rank, info.world_size) if dataset.val else None
        self.test_loader = build_eval_loader(cfg, dataset.test, tfm_test, info.rank, info.world_size)

    def _data_seed(self) -> int:
        """``SEED`` (or, unseeded, one random seed shared by every process) for the data order and augmentations."""
        if int(self.cfg.SEED) >= 0:
            return int(self.cfg.SEED)
        return int(dist.broadcast_object(int.from_bytes(os.urandom(8), "little") >> 1))

    # ------------------------------------------------------------------ model
    def build_model(self) -> None:
        cfg = self.cfg
        self.hierarchy: Hierarchy = dataset_hierarchy(self.dm.dataset, cfg)
        self.precision = resolve_precision(self.trainer_cfg.PREC, self.device, f"TRAINER.{self.CFG_KEY}.PREC")
        print(f"Loading CLIP (backbone: {cfg.MODEL.BACKBONE.NAME}, precision: {self.precision})")
        with dist.local_main_first(), isolated_rng():  # the tiny CLIP may be pre-trained (and cached) here
            clip_model = load_clip(cfg.MODEL.BACKBONE)
        #: what a checkpoint of this run records, and what a checkpoint it loads must match
        self.backbone_id = {"name": str(cfg.MODEL.BACKBONE.NAME), "weights": backbone_fingerprint(clip_model),
                            "legacy_weights": legacy_fingerprint(clip_model)}  # what older checkpoints recorded
        clip_model = apply_precision(clip_model, self.precision)

        print(f"Building {type(self).__name__} over {self.hierarchy}")
        self.model = self.build_clip_model(clip_model, self.hierarchy)
        self.model.requires_grad_(False)
        self.model.learner.requires_grad_(True)
        self.model.to(self.device)
        dist.broadcast_module_state(self.model.learner)  # every process starts from rank 0's learner

        settings = ProTeCtSettings.from_cfg(cfg.LOSS.PROTECT)
        level_weights = getattr(self.trainer_cfg, LEVEL_WEIGHTS.name, LEVEL_WEIGHTS.value_if_absent())
        self.level_weights = resolve_level_weights(level_weights, self.hierarchy, f"TRAINER.{self.CFG_KEY}.LEVEL_WEIGHTS",
                                                   allow_all_zero=settings.enabled)
        if settings.enabled and not settings.level_ce:  # ProTeCt's exact objective: its losses replace the CE
            self.level_weights = torch.zeros_like(self.level_weights)
        self.protect = ProTeCtLoss(self.hierarchy, settings) if settings.enabled else None
        trainable = [p for p in self.model.learner.parameters() if p.requires_grad]
        print(f"Trainable parameters: {sum(p.numel() for p in trainable):,}")
        if trainable:
            self.optim = build_optimizer(self.model.learner, cfg.OPTIM)
            self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
            self.register_model(LEARNER_NAME, self.model.learner, self.optim, self.sched)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "amp" else None
        self.checkpointer = Checkpointer(self, self.output_dir, trainer_name=type(self).__name__,
                                         backbone_id=self.backbone_id, loader=self.train_loader_x, scaler=self.scaler,
                                         max_epoch=self.max_epoch, checkpoint_freq=int(cfg.TRAIN.CHECKPOINT_FREQ))
        self.checkpointer.add_state("best_result", lambda: self.best_result, self._set_best_result)

    def _set_best_result(self, value: float) -> None:
        self.best_result = value

    def build_clip_model(self, clip_model: nn.Module, hierarchy: Hierarchy) -> nn.Module:
        """Return a module with a ``learner`` sub-module and ``forward(images) -> [B, num_nodes]`` logits."""
        raise NotImplementedError

    # ------------------------------------------------------------------ training
    def set_model_mode(self, mode: str = "train", names: Any = None) -> None:
        """The registered modules, and the frozen wrapper too (it caches at eval)."""
        super().set_model_mode(mode, names)
        self.model.train(mode == "train")

    def parse_batch_train(self, batch: dict) -> tuple[Tensor, Tensor]:
        images = batch["img"].to(self.device)
        self._local_batch_size = int(images.shape[0])
        return images, batch["label"].to(self.device)

    def parse_batch_test(self, batch: dict) -> tuple[Tensor, Tensor]:
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def compute_loss(self, images: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss and the named terms to log. Default: :meth:`classification_loss` of the model's logits."""
        return self.classification_loss(self.model(images), labels)

    def classification_loss(self, logits: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The per-level weighted cross-entropy, plus ProTeCt's terms where ``LOSS.PROTECT`` turns them on.

        Every trainer's loss starts here (a trainer adds its own regularisers to it), so the
        shared ``LOSS`` options work with each of them. The step's tree cut is drawn from
        (seed, epoch, step): the same on every process and after a resume.
        """
        loss, terms = cross_entropy_terms(logits, labels, self.hierarchy, self.level_weights)
        if self.protect is None:
            return loss, terms
        cut_seed = derive_seed(self.data_seed, "tree cut", self.epoch, self.batch_idx)
        extra, protect_terms = self.protect(logits, labels, cut_seed, dist.all_reduce_sum)
        terms.update(protect_terms)
        return loss + extra, terms

    def forward_backward(self, batch: dict) -> dict[str, float]:
        self.checkpointer.ensure_artifacts()
        images, labels = self.parse_batch_train(batch)
        if self.scaler is not None:
            with autocast(self.precision, self.device):
                loss, terms = self.compute_loss(images, labels)
            self.detect_anomaly(loss)
            self.model_zero_grad()
            self.scaler.scale(loss).backward()
            self.sync_gradients()
            for name in self.get_model_names():
                self.scaler.step(self._optims[name])
            self.scaler.update()
        else:
            with autocast(self.precision, self.device):  # bf16: autocast; fp32/fp16: nothing
                loss, terms = self.compute_loss(images, labels)
            self.model_backward_and_update(loss.float())
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        summary = {"loss": loss.item()}
        summary.update({name: float(value.detach()) for name, value in terms.items()})
        return summary

    def model_update(self, names: Any = None) -> None:
        """Average the gradients over the processes (a no-op in one process), then step."""
        self.sync_gradients(names)
        super().model_update(names)

    def sync_gradients(self, names: Any = None) -> None:
        """Batch-weighted mean of the learner's gradients over the processes (:func:`hgclip.runtime.distributed.all_reduce_gradients`)."""
        if dist.world_size() == 1:
            return
        parameters = [p for name in self.get_model_names(names) for p in self._models[name].parameters()
                      if p.requires_grad]
        dist.all_reduce_gradients(parameters, self._local_batch_size)

    def init_writer(self, log_dir: str) -> None:
        if dist.is_main():  # only rank 0 writes tensorboard logs
            super().init_writer(log_dir)

    def train(self) -> None:
        """before_train (resume) -> before_epoch, run_epoch, after_epoch per remaining epoch -> after_train,
        holding the output directory (:class:`~hgclip.engine.run_directory.RunDirectory`) throughout."""
        with self.run_directory.training():
            self.before_train()
            for self.epoch in range(self.start_epoch, self.max_epoch):
                self.before_epoch()
                self.run_epoch()
                self.after_epoch()
            self.after_train()
            self.run_directory.trained()

    def before_epoch(self) -> None:
        """Hook: nothing by default."""

    def before_train(self) -> None:
        """Build the artifacts, resume from the newest valid checkpoint in RESUME (or OUTPUT_DIR), record the config,
        open tensorboard."""
        self.checkpointer.ensure_artifacts()  # before resuming, so that a resumed run draws as an uninterrupted one
        inputs = self.input_fingerprints()
        self.checkpointer.inputs = inputs  # every checkpoint records them: a resume compares even without inputs.json
        self.run_directory.check_training_inputs(inputs)
        self.start_epoch = self.resume_model_if_exist(self.cfg.RESUME or self.cfg.OUTPUT_DIR)
        if self.checkpointer.resumed_from:
            self.run_directory.check_resumed_inputs(self.checkpointer.resumed_from, self.checkpointer.resumed_inputs,
                                                    inputs)
        # what an earlier run evaluated describes another model: gone before this one can crash; then the run
        # knows what it is (config.yaml) and what it was made from (inputs.json)
        self.run_directory.record_training(inputs)
        if dist.is_main():
            writer_dir = run_dir.tensorboard_dir(self.output_dir)
            os.makedirs(writer_dir, exist_ok=True)
            self.init_writer(writer_dir)
        self.time_start = time.time()

    def input_fingerprints(self) -> dict:
        """Content fingerprints of what this run's numbers depend on besides its config."""
        dataset = self.dm.dataset
        root = getattr(dataset, "dataset_dir", "")  # relative paths: moving DATASET.ROOT keeps a run's identity
        return {
            "hierarchy": self.hierarchy.digest(),  # the hierarchy file's tree and names (class names included)
            "training_images": listing_fingerprint(dataset.train_x, root=root),  # the split list and the few-shot draw
            "test_images": listing_fingerprint(dataset.test, root=root),
            "backbone": self.backbone_id["weights"],
        }

    def evaluation_fingerprints(self) -> dict:
        """What an evaluation-only run's numbers depend on besides its config: the hierarchy, the test images,
        the CLIP weights and the sha256 of every model file it loaded (``model``; none for ZeroshotCLIP)."""
        inputs = self.input_fingerprints()
        del inputs["training_images"]  # the loaded model stands for its training (a subclass may add them back)
        if self.checkpointer.loaded_files:
            inputs["model"] = dict(sorted(self.checkpointer.loaded_files.items()))
        return inputs

    def run_epoch(self) -> None:
        """One pass over the training loader (Dassl's log lines), from a mid-epoch resume point if there is one,
        with iteration checkpoints."""
        self.set_model_mode("train")
        losses, batch_time, data_time = MetricMeter(), AverageMeter(), AverageMeter()
        sampler = self.train_loader_x.batch_sampler
        start, self._resume_batch = self._resume_batch, 0
        sampler.set_epoch(self.epoch, start)
        self.num_batches = sampler.num_batches
        print_freq = self.cfg.TRAIN.PRINT_FREQ
        every = int(self.cfg.TRAIN.CHECKPOINT_FREQ_ITERS)

        end = time.time()
        for self.batch_idx, batch in enumerate(self.train_loader_x, start=start):
            data_time.update(time.time() - end)
            loss_summary = self.forward_backward(batch)
            batch_time.update(time.time() - end)
            losses.update(loss_summary)

            done = self.batch_idx + 1
            if done % print_freq == 0 or self.num_batches < print_freq or done == self.num_batches:
                remaining = (self.num_batches - done) + (self.max_epoch - self.epoch - 1) * self.num_batches
                eta = time.strftime("%H:%M:%S", time.gmtime(int(batch_time.avg * remaining)))
                print(f"epoch [{self.epoch + 1}/{self.max_epoch}] batch [{done}/{self.num_batches}] "
                      f"time {batch_time.val:.3f} ({batch_time.avg:.3f}) data {data_time.val:.3f} ({data_time.avg:.3f}) "
                      f"{losses} lr {self.get_current_lr():.4e} eta {eta}")
            n_iter = self.epoch * self.num_batches + self.batch_idx
            for name, meter in losses.meters.items():
                self.write_scalar("train/" + name, meter.avg, n_iter)
            self.write_scalar("train/lr", self.get_current_lr(), n_iter)
            if every > 0 and done < self.num_batches and (n_iter + 1) % every == 0:
                self.checkpointer.save(self.output_dir, resume_point_name(self.epoch, done), self.epoch, done)
                self.checkpointer.prune()
            end = time.time()

    def after_epoch(self) -> None:
        """Best-val selection as Dassl; then a resume point at every epoch end (older ones are pruned)."""
        if not self.cfg.TEST.NO_TEST and self.cfg.TEST.FINAL_MODEL == "best_val":
            current = self.test(split="val")
            if current > self.best_result:
                self.best_result = current
                self.save_model(self.epoch, self.output_dir, val_result=current, model_name=BEST_FILE)
        self.save_model(self.epoch, self.output_dir)
        self.checkpointer.prune()

    def after_train(self) -> None:
        """Test the final model (the last one, or the best on val), report the time, close tensorboard."""
        print("Finish training")  # the end marker parse_test_res.py looks for
        if not self.cfg.TEST.NO_TEST:
            if self.cfg.TEST.FINAL_MODEL == "best_val":
                print("Deploy the model with the best val performance")
                self.load_model(self.output_dir)
            else:
                print("Deploy the last-epoch model")
            self.test()
        print(f"Elapsed: {datetime.timedelta(seconds=round(time.time() - self.time_start))}")
        self.close_writer()

    # ------------------------------------------------------------------ checkpoints (Dassl's names)
    def save_model(self, epoch: int, directory: str, is_best: bool = False, val_result: Optional[float] = None,
                   model_name: str = "") -> None:
        """The checkpoint after epoch ``epoch + 1`` (or ``model_name``), with the artifacts beside it."""
        self.checkpointer.save(directory, model_name or resume_point_name(epoch + 1), epoch + 1, 0, val_result, is_best)

    def resume_model_if_exist(self, directory: str) -> int:
        """Continue from the newest valid resume point in ``directory``; return the epochs already done."""
        point = self.checkpointer.resume(directory)
        if point is None:
            return 0
        self._resume_batch = point.batches_done
        self._clear_model_cache()
        return point.epochs_done

    def load_model(self, directory: str, epoch: Optional[int] = None) -> None:
        """The learner (the best, else the newest, or ``epoch``) and the artifacts of ``directory``, whatever the
        current class set (only the learner is stored, so nothing class-dependent has to transfer).

        Outside a training (an evaluation) the model's recorded config must agree on the method keys, and the
        results then describe the model as its record does (its shots, seed and training classes)."""
        if directory and self.run_directory.session is None:
            self.evaluator.run_info = {**(self.evaluator.run_info or {}), **self.run_directory.check_model(directory)}
        self.checkpointer.load(directory, epoch)
        self._clear_model_cache()

    def _clear_model_cache(self) -> None:
        clear = getattr(self.model, "clear_cache", None)
        if clear is not None:
            clear()

    # ------------------------------------------------------------------ testing
    def model_inference(self, images: Tensor) -> Tensor:
        self.checkpointer.ensure_artifacts()
        with autocast(self.precision, self.device):
            return self.model(images).float()

    @torch.inference_mode()
    def test(self, split: Optional[str] = None) -> Any:
        """Evaluate on ``split`` (default ``TEST.SPLIT``; "val" without val data is test) and return the first metric.

        With several processes every rank evaluates its shard and rank 0 scores them all once.

        Runs under ``torch.inference_mode``; the models compute what does not depend on the image
        (text features, refined prototypes) once per evaluation (:class:`hgclip.models.CachedTextModel`).
        """
        with self.run_directory.evaluation(self.evaluation_fingerprints):  # a no-op inside train()
            return self._test(split)

    def _test(self, split: Optional[str]) -> Any:
        self.set_model_mode("eval")
        self.evaluator.reset()
        split = split or self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            data_loader = self.val_loader
        else:
            split, data_loader = "test", self.test_loader
        self.evaluator.split = split
        if dist.is_main() and self.output_dir:
            # an earlier evaluation's outputs of this split go first: a crash below leaves none of them
            # beside this run's (results.json, written last, then marks a complete evaluation)
            run_dir.clear_evaluation_outputs(self.output_dir, split)
        print(f"Evaluate on the *{split}* set")
        if dist.world_size() == 1:
            for batch in tqdm(data_loader):
                images, labels = self.parse_batch_test(batch)
                self.evaluator.process(self.model_inference(images), labels, impaths=batch["impath"])
            results = self.evaluator.evaluate()
        else:
            results = self._evaluate_shards(data_loader)
        for key, value in results.items():
            self.write_scalar(f"{split}/{key}", value, self.epoch)
        return list(results.values())[0]

    def _evaluate_shards(self, data_loader: Any) -> dict:
        indices, outputs, labels = [], [], []
        for batch in tqdm(data_loader, disable=not dist.is_main()):
            images, target = self.parse_batch_test(batch)
            outputs.append(self.model_inference(images).float().cpu())
            labels.append(target.cpu())
            indices.append(torch.as_tensor(batch["index"]).long())
        width = self.hierarchy.num_nodes
        index = torch.cat(indices) if indices else torch.zeros(0, dtype=torch.long)
        logits = torch.cat(outputs) if outputs else torch.zeros(0, width)
        target = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
        gathered = dist.gather_in_order(index, logits, target)
        results = None
        if gathered is not None:
            index, logits, target = gathered
            expected = len(data_loader.dataset)
            if index.numel() != expected:
                raise RuntimeError(f"distributed evaluation saw {index.numel()} of {expected} samples")
            step = int(self.cfg.DATALOADER.TEST.BATCH_SIZE)
            items = data_loader.dataset.data_source
            for begin in range(0, expected, step):
                impaths = [items[i].impath for i in index[begin:begin + step].tolist()]
                self.evaluator.process(logits[begin:begin + step], target[begin:begin + step], impaths=impaths)
            results = dict(self.evaluator.evaluate())
        return dist.broadcast_object(results)


__all__ = ["HierarchicalCLIPTrainer", "LoadedDataset"]
