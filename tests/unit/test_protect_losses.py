"""ProTeCt's node-centric and dynamic tree-cut losses against values computed by hand."""
from __future__ import annotations

import math

import pytest
import torch
from yacs.config import CfgNode as CN

from hgclip.hierarchy import Hierarchy
from hgclip.models.protect import (
    ProTeCtLoss,
    ProTeCtSettings,
    node_centric_loss,
    sample_tree_cut,
    tree_cut_loss,
)

# Two levels: A -> {a1, a2}, B -> {b1}. Global ids: A 0, B 1, a1 2, a2 3, b1 4; leaves a1 0, a2 1, b1 2.
TREE = Hierarchy(["coarse", "fine"], [["A", "a1"], ["A", "a2"], ["B", "b1"]])
LOGITS = torch.tensor([[1.0, 0.0, 2.0, 0.0, 1.0],   # a sample of a1
                       [0.0, 1.0, 0.0, 0.0, 3.0]])  # a sample of b1
LABELS = torch.tensor([0, 2])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_node_centric_loss_by_hand():
    # sample 1: root picks A over B: -1 + log(e^1 + e^0) = softplus(-1); node A picks a1 over a2: softplus(-2)
    # sample 2: root picks B over A: softplus(-1); node B has one child: 0
    # per node: root (2 samples) softplus(-1), A softplus(-2), B 0; mean over the 3 nodes reached
    expected = (softplus(-1) + softplus(-2) + 0.0) / 3
    assert node_centric_loss(LOGITS, LABELS, TREE).item() == pytest.approx(expected, rel=1e-6)


def test_node_centric_loss_weights_each_node_once():
    # the batch holds two samples of a1 (identical) and one of b1: node A's loss is still counted once
    logits = torch.cat([LOGITS[:1], LOGITS])
    labels = torch.tensor([0, 0, 2])
    expected = (softplus(-1) + softplus(-2) + 0.0) / 3
    assert node_centric_loss(logits, labels, TREE).item() == pytest.approx(expected, rel=1e-6)


def test_node_centric_loss_split_over_processes_equals_one_process():
    deep = Hierarchy(["l0", "l1", "l2"], [["A", "a", "x"], ["A", "a", "y"], ["A", "b", "z"], ["B", "c", "w"],
                                          ["B", "c", "v"]])
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(7, deep.num_nodes, generator=generator, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 3])
    whole = node_centric_loss(logits, labels, deep)
    (grad_whole,) = torch.autograd.grad(whole, logits)

    parts = [slice(0, 3), slice(3, 7)]  # two "processes" with unequal shares
    recorded: list[torch.Tensor] = []

    def record(tensor: torch.Tensor) -> torch.Tensor:
        recorded.append(tensor)
        return tensor

    for part in parts:  # first pass: each process's local counts
        node_centric_loss(logits[part].detach(), labels[part], deep, record)
    total = recorded[0] + recorded[1]
    shares = [node_centric_loss(logits[part], labels[part], deep, lambda t: total) for part in parts]
    sizes = [3, 4]
    combined = sum(size / 7 * share for size, share in zip(sizes, shares))  # the engine's batch-weighted mean
    assert combined.item() == pytest.approx(whole.item(), rel=1e-6)
    (grad_split,) = torch.autograd.grad(combined, logits)
    assert torch.allclose(grad_split, grad_whole, atol=1e-7)


def test_tree_cut_loss_node_scores_by_hand():
    mask = torch.tensor([True, True, False, False, False])  # the cut {A, B}
    leaf_to_node = torch.tensor([0, 0, 1])
    # sample 1: target A, scores (1, 0): softplus(-1); sample 2: target B, scores (0, 1): softplus(-1)
    value = tree_cut_loss(LOGITS, LABELS, TREE, mask, leaf_to_node, "node")
    assert value.item() == pytest.approx(softplus(-1), rel=1e-6)


def test_tree_cut_loss_leaf_sum_scores_by_hand():
    mask = torch.tensor([True, False, False, False, True])  # the cut {A, b1}
    leaf_to_node = torch.tensor([0, 0, 4])
    # sample 1: A scores log(e^2 + e^0), b1 scores 1; target A
    a1 = math.log(math.exp(2) + 1)
    first = -a1 + math.log(math.exp(a1) + math.exp(1))
    # sample 2: A scores log(e^0 + e^0) = log 2, b1 scores 3; target b1
    second = -3 + math.log(2 + math.exp(3))
    value = tree_cut_loss(LOGITS, LABELS, TREE, mask, leaf_to_node, "leaf_sum")
    assert value.item() == pytest.approx((first + second) / 2, rel=1e-6)
    # with node scores the same cut reads A's and b1's own logits
    node = (softplus(1 - 1) + softplus(0 - 3)) / 2  # sample 1: (1 vs 1); sample 2: b1 3 vs A 0
    assert tree_cut_loss(LOGITS, LABELS, TREE, mask, leaf_to_node, "node").item() == pytest.approx(node, rel=1e-6)


def test_sample_tree_cut_extremes_and_determinism():
    coarse, to_coarse = sample_tree_cut(TREE, 1.0, seed=3)  # nothing expanded: the coarsest level
    assert coarse.tolist() == [True, True, False, False, False] and to_coarse.tolist() == [0, 0, 1]
    fine, to_fine = sample_tree_cut(TREE, 0.0, seed=3)  # everything expanded: the leaves
    assert fine.tolist() == [False, False, True, True, True] and to_fine.tolist() == [2, 3, 4]
    draws = {tuple(sample_tree_cut(TREE, 0.5, seed=s)[0].tolist()) for s in range(40)}
    assert len(draws) == 4  # every cut of this tree appears: {A,B}, {A,b1}, {a1,a2,B}, {a1,a2,b1}
    assert torch.equal(sample_tree_cut(TREE, 0.5, seed=7)[0], sample_tree_cut(TREE, 0.5, seed=7)[0])


def test_protect_loss_combines_the_weighted_terms():
    settings = ProTeCtSettings(node_weight=0.5, treecut_weight=2.0, drop_rate=1.0)  # the cut is always {A, B}
    total, terms = ProTeCtLoss(TREE, settings)(LOGITS, LABELS, cut_seed=0)
    assert terms["ncl"].item() == pytest.approx((softplus(-1) + softplus(-2)) / 3, rel=1e-6)
    assert terms["dtl"].item() == pytest.approx(softplus(-1), rel=1e-6)
    assert total.item() == pytest.approx(0.5 * terms["ncl"].item() + 2.0 * terms["dtl"].item(), rel=1e-6)
    assert not ProTeCtSettings().enabled


@pytest.mark.parametrize("key, value, message", [
    ("NODE_WEIGHT", -1.0, "LOSS.PROTECT.NODE_WEIGHT is -1.0: expected a finite weight >= 0"),
    ("TREECUT_WEIGHT", float("nan"), "LOSS.PROTECT.TREECUT_WEIGHT is nan"),
    ("DROP_RATE", 1.5, "LOSS.PROTECT.DROP_RATE is 1.5: expected a probability in [0, 1]"),
    ("CUT_SCORES", "leaves", "LOSS.PROTECT.CUT_SCORES is 'leaves': expected one of node, leaf_sum"),
])
def test_settings_refuse_bad_values_naming_the_key(key, value, message):
    node = CN({"NODE_WEIGHT": 0.0, "TREECUT_WEIGHT": 0.0, "DROP_RATE": 0.1, "CUT_SCORES": "node"})
    node[key] = value
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ProTeCtSettings.from_cfg(node)
