"""A toy evaluation the evaluator's output tests share (with the ``toy`` hierarchy of tests/unit/conftest.py)."""
from __future__ import annotations

import torch
from yacs.config import CfgNode

# global node order: animal vehicle | cat dog car. gt cat -> (animal, cat); gt dog -> (animal, car); gt car -> (animal, dog)
LOGITS = torch.tensor([[3.0, 0.0, 3.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0, 3.0], [3.0, 0.0, 0.0, 3.0, 0.0]])
LABELS = torch.tensor([0, 1, 2])


def make_cfg(output_dir: str, **test_keys) -> CfgNode:
    """The few config keys the evaluator reads, with ``TEST.<key>`` values as given."""
    cfg = CfgNode()
    cfg.OUTPUT_DIR = output_dir
    cfg.TRAINER = CfgNode({"NAME": "HGCLIP"})
    cfg.DATASET = CfgNode({"NAME": "Toy"})
    cfg.TEST = CfgNode({"EVALUATOR": "Hierarchical", **test_keys})
    return cfg
