"""TrainerX: one pass over the labelled loader per epoch, with Dassl's log lines."""
from __future__ import annotations

import datetime
import time

from ..utils import AverageMeter, MetricMeter
from .simple import SimpleTrainer


class TrainerX(SimpleTrainer):
    """A trainer using labelled data only; methods implement ``forward_backward``.

    ``forward_backward(batch)`` returns a dict of floats (the loss summary)
    and steps the LR itself (``self.update_lr()`` on the last batch).
    """

    def run_epoch(self) -> None:
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time = AverageMeter()
        data_time = AverageMeter()
        self.num_batches = len(self.train_loader_x)
        print_freq = self.cfg.TRAIN.PRINT_FREQ

        end = time.time()
        for self.batch_idx, batch in enumerate(self.train_loader_x):
            data_time.update(time.time() - end)
            loss_summary = self.forward_backward(batch)
            batch_time.update(time.time() - end)
            losses.update(loss_summary)

            meet_freq = (self.batch_idx + 1) % print_freq == 0
            only_few_batches = self.num_batches < print_freq
            last_batch = (self.batch_idx + 1) == self.num_batches
            if meet_freq or only_few_batches or last_batch:
                self._print_progress(losses, batch_time, data_time)

            n_iter = self.epoch * self.num_batches + self.batch_idx
            for name, meter in losses.meters.items():
                self.write_scalar("train/" + name, meter.avg, n_iter)
            self.write_scalar("train/lr", self.get_current_lr(), n_iter)
            end = time.time()

    def _print_progress(self, losses: MetricMeter, batch_time: AverageMeter, data_time: AverageMeter) -> None:
        remaining = (self.num_batches - self.batch_idx - 1) + (self.max_epoch - self.epoch - 1) * self.num_batches
        eta = str(datetime.timedelta(seconds=int(batch_time.avg * remaining)))
        print(" ".join([
            f"epoch [{self.epoch + 1}/{self.max_epoch}]",
            f"batch [{self.batch_idx + 1}/{self.num_batches}]",
            f"time {batch_time.val:.3f} ({batch_time.avg:.3f})",
            f"data {data_time.val:.3f} ({data_time.avg:.3f})",
            f"{losses}",
            f"lr {self.get_current_lr():.4e}",
            f"eta {eta}",
        ]))

    def parse_batch_train(self, batch: dict):
        """Return ``(input, label, domain)`` on the trainer's device."""
        return (batch["img"].to(self.device), batch["label"].to(self.device), batch["domain"].to(self.device))
