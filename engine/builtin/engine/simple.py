"""SimpleTrainer: builds data, model and evaluator from a config; owns test and the epoch hooks."""
from __future__ import annotations

import datetime
import os
import time
from typing import Optional

import torch
from tqdm import tqdm
from yacs.config import CfgNode

from ...run_dir import BEST_FILE, TENSORBOARD_DIR
from ..data import DataManager
from ..evaluation import build_evaluator
from ..utils import mkdir_if_missing
from .base import TrainerBase


class SimpleTrainer(TrainerBase):
    """Construction order (as in Dassl): check_cfg, device, epochs, data loaders,
    ``build_model`` (the method's), evaluator, ``best_result = -inf``."""

    def __init__(self, cfg: CfgNode) -> None:
        super().__init__()
        self.check_cfg(cfg)
        use_cuda = torch.cuda.is_available() and cfg.USE_CUDA
        self.device = torch.device("cuda" if use_cuda else "cpu")
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.cfg = cfg
        self.build_data_loader()
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -float("inf")

    def check_cfg(self, cfg: CfgNode) -> None:
        """Hook: raise here if the trainer needs particular config values."""

    def build_data_loader(self) -> None:
        """Create the DataManager and copy its loaders/attributes onto the trainer.

        An override (e.g. passing ``dataset_wrapper=``) must set the same attributes.
        """
        dm = DataManager(self.cfg)
        self.train_loader_x = dm.train_loader_x
        self.train_loader_u = dm.train_loader_u  # None without train_u
        self.val_loader = dm.val_loader  # None without val data
        self.test_loader = dm.test_loader
        self.num_classes = dm.num_classes
        self.num_source_domains = dm.num_source_domains
        self.lab2cname = dm.lab2cname
        self.dm = dm

    def build_model(self) -> None:
        """Build the model(s) and call ``register_model``. Every method overrides this."""
        raise NotImplementedError(
            f"{type(self).__name__}.build_model() must build the model and call register_model() "
            "(the builtin engine has no default SimpleNet backbone)"
        )

    def train(self) -> None:  # type: ignore[override]
        super().train(self.start_epoch, self.max_epoch)

    # ----- hooks ----------------------------------------------------------------------
    def before_train(self) -> None:
        """Resume automatically from RESUME (or OUTPUT_DIR), open tensorboard, start the clock."""
        directory = self.cfg.RESUME or self.cfg.OUTPUT_DIR
        self.start_epoch = self.resume_model_if_exist(directory)
        writer_dir = os.path.join(self.output_dir, TENSORBOARD_DIR)
        mkdir_if_missing(writer_dir)
        self.init_writer(writer_dir)
        self.time_start = time.time()

    def after_epoch(self) -> None:
        """With FINAL_MODEL=best_val keep the best val model; save at the last epoch and every CHECKPOINT_FREQ."""
        last_epoch = (self.epoch + 1) == self.max_epoch
        do_test = not self.cfg.TEST.NO_TEST
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        meet_checkpoint_freq = freq > 0 and (self.epoch + 1) % freq == 0

        if do_test and self.cfg.TEST.FINAL_MODEL == "best_val":
            curr_result = self.test(split="val")
            if curr_result > self.best_result:
                self.best_result = curr_result
                self.save_model(self.epoch, self.output_dir, val_result=curr_result,
                                model_name=BEST_FILE)
        if meet_checkpoint_freq or last_epoch:
            self.save_model(self.epoch, self.output_dir)

    def after_train(self) -> None:
        print("Finish training")  # the end marker parse_test_res.py looks for
        if not self.cfg.TEST.NO_TEST:
            if self.cfg.TEST.FINAL_MODEL == "best_val":
                print("Deploy the model with the best val performance")
                self.load_model(self.output_dir)
            else:
                print("Deploy the last-epoch model")
            self.test()
        elapsed = str(datetime.timedelta(seconds=round(time.time() - self.time_start)))
        print(f"Elapsed: {elapsed}")
        self.close_writer()

    # ----- evaluation -----------------------------------------------------------------
    @torch.no_grad()
    def test(self, split: Optional[str] = None) -> float:
        """Evaluate on ``split`` (default TEST.SPLIT; "val" falls back to test without val data).

        Returns the first value of the evaluator's results (the selection metric).
        """
        self.set_model_mode("eval")
        self.evaluator.reset()
        split = split or self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            data_loader = self.val_loader
        else:
            split = "test"
            data_loader = self.test_loader
        print(f"Evaluate on the *{split}* set")

        for batch in tqdm(data_loader):
            input, label = self.parse_batch_test(batch)
            output = self.model_inference(input)
            self.evaluator.process(output, label)

        results = self.evaluator.evaluate()
        for key, value in results.items():
            self.write_scalar(f"{split}/{key}", value, self.epoch)
        return list(results.values())[0]

    def model_inference(self, input: torch.Tensor):
        return self.model(input)

    def parse_batch_test(self, batch: dict):
        return batch["img"].to(self.device), batch["label"].to(self.device)
