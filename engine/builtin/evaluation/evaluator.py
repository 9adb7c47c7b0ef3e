"""EvaluatorBase and Dassl's top-1 ``Classification`` evaluator."""
from __future__ import annotations

import os
from collections import OrderedDict, defaultdict
from typing import Optional

import torch
from yacs.config import CfgNode

from ....common.fileio import atomic_torch_save
from .build import EVALUATOR_REGISTRY


class EvaluatorBase:
    """Accumulate model outputs batch by batch (process), then report (evaluate).

    ``evaluate`` returns an OrderedDict whose FIRST value is the one model
    selection compares (``SimpleTrainer.test`` returns it).
    """

    def __init__(self, cfg: CfgNode) -> None:
        self.cfg = cfg

    def reset(self) -> None:
        raise NotImplementedError

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        raise NotImplementedError

    def evaluate(self) -> "OrderedDict[str, float]":
        raise NotImplementedError


def macro_f1_score(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Mean per-class F1 over the labels present in ``y_true`` (sklearn's ``labels=unique(y_true)``)."""
    scores = []
    for label in torch.unique(y_true).tolist():
        true_pos = int(((y_true == label) & (y_pred == label)).sum())
        denominator = int((y_true == label).sum()) + int((y_pred == label).sum())
        scores.append(2.0 * true_pos / denominator)
    return sum(scores) / len(scores) if scores else 0.0


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Row-normalised confusion matrix over the labels seen in truth or prediction (sorted)."""
    labels = torch.unique(torch.cat([y_true, y_pred]))
    index = {label: i for i, label in enumerate(labels.tolist())}
    cmat = torch.zeros(len(labels), len(labels), dtype=torch.float64)
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        cmat[index[t], index[p]] += 1
    return cmat / cmat.sum(dim=1, keepdim=True).clamp_min(1)


@EVALUATOR_REGISTRY.register()
class Classification(EvaluatorBase):
    """Top-1 accuracy, error rate and macro-F1 (plus per-class accuracy on request)."""

    def __init__(self, cfg: CfgNode, lab2cname: Optional[dict] = None, **kwargs) -> None:
        super().__init__(cfg)
        self._lab2cname = lab2cname
        if cfg.TEST.PER_CLASS_RESULT and lab2cname is None:
            raise ValueError("TEST.PER_CLASS_RESULT=True needs lab2cname")
        self.reset()

    def reset(self) -> None:
        self._correct = 0
        self._total = 0
        self._y_true: list[int] = []
        self._y_pred: list[int] = []

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        """``mo``: logits [batch, num_classes]; ``gt``: labels [batch]."""
        pred = mo.argmax(dim=1)
        self._correct += int(pred.eq(gt).sum().item())
        self._total += gt.shape[0]
        self._y_true.extend(gt.detach().cpu().tolist())
        self._y_pred.extend(pred.detach().cpu().tolist())

    def evaluate(self) -> "OrderedDict[str, float]":
        if self._total == 0:
            raise ValueError("Classification.evaluate(): no samples were processed")
        y_true, y_pred = torch.tensor(self._y_true), torch.tensor(self._y_pred)
        acc = 100.0 * self._correct / self._total
        err = 100.0 - acc
        macro_f1 = 100.0 * macro_f1_score(y_true, y_pred)

        results = OrderedDict()
        results["accuracy"] = acc  # first: returned by trainer.test()
        results["error_rate"] = err
        results["macro_f1"] = macro_f1
        print(
            "=> result\n"
            f"* total: {self._total:,}\n"
            f"* correct: {self._correct:,}\n"
            f"* accuracy: {acc:.1f}%\n"
            f"* error: {err:.1f}%\n"
            f"* macro_f1: {macro_f1:.1f}%"
        )
        if self.cfg.TEST.PER_CLASS_RESULT:
            results["perclass_accuracy"] = self._print_per_class()
        if self.cfg.TEST.COMPUTE_CMAT:
            save_path = os.path.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            atomic_torch_save(confusion_matrix(y_true, y_pred), save_path)
            print(f"Confusion matrix is saved to {save_path}")
        return results

    def _print_per_class(self) -> float:
        hits: defaultdict[int, list[int]] = defaultdict(list)
        for t, p in zip(self._y_true, self._y_pred):
            hits[t].append(int(t == p))
        print("=> per-class result")
        accs = []
        for label in sorted(hits):
            res = hits[label]
            acc = 100.0 * sum(res) / len(res)
            accs.append(acc)
            print(f"* class: {label} ({self._lab2cname[label]})\t"
                  f"total: {len(res):,}\tcorrect: {sum(res):,}\tacc: {acc:.1f}%")
        mean_acc = sum(accs) / len(accs)
        print(f"* average: {mean_acc:.1f}%")
        return mean_acc
