"""Losses on an any-depth tree, by hand, and ProTeCt's exact objective (all-zero level weights).

Tree: A > a1 (depth 2); A > a2 > x (depth 3); B > b1 > z (b1 has one child).
Global ids: A0 B1 | a1 2, a2 3, b1 4 | x5 z6; leaves 0..2 = a1, x, z.
"""
import math

import pytest
import torch

from hgclip.hierarchy import parse_hierarchy_text
from hgclip.models.losses import check_level_weight_values, hierarchical_cross_entropy, resolve_level_weights
from hgclip.models.protect import ProTeCtSettings, node_centric_loss, tree_cut_loss

TREE = parse_hierarchy_text("levels: any\nA > a1\nA > a2 > x\nB > b1 > z\n")
LOGITS = torch.tensor([[1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0],   # a sample of a1 (depth 2)
                       [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]])  # a sample of x (depth 3)
LABELS = torch.tensor([0, 1])


def sp(x: float) -> float:
    return math.log1p(math.exp(x))


def test_default_cross_entropy_per_depth_over_the_samples_that_reach_it():
    total, per_level = hierarchical_cross_entropy(LOGITS, LABELS, TREE, torch.ones(3))
    depth1 = (sp(-1) + sp(1)) / 2
    depth2 = ((-2 + math.log(math.exp(2) + 2)) + (-1 + math.log(2 + math.e))) / 2
    depth3 = math.log(2)  # only the sample of x reaches depth 3: x vs z, both 0
    assert [v.item() for v in per_level] == pytest.approx([depth1, depth2, depth3], rel=1e-6)
    assert total.item() == pytest.approx(depth1 + depth2 + depth3, rel=1e-6)
    _, only_shallow = hierarchical_cross_entropy(LOGITS[:1], LABELS[:1], TREE, torch.ones(3))
    assert only_shallow[2].item() == 0.0  # no sample reaches depth 3: 0, not NaN


def test_node_centric_loss_counts_only_the_pairs_on_each_path():
    # root: A vs B for both samples; A: a1 vs a2 (s0), a2 vs a1 (s1); a2 has one child (x): 0; no pair below a1
    expected = ((sp(-1) + sp(1)) / 2 + (sp(-2) + sp(-1)) / 2 + 0.0) / 3
    assert node_centric_loss(LOGITS, LABELS, TREE).item() == pytest.approx(expected, rel=1e-6)


def test_tree_cut_loss_on_mixed_depth_cut():
    mask = torch.zeros(7, dtype=torch.bool)
    mask[[1, 2, 5]] = True  # the cut {B, a1, x}
    leaf_to_node = torch.tensor([2, 5, 1])
    s0 = -2 + math.log(1 + math.exp(2) + 1)  # target a1 among B 0, a1 2, x 0
    s1 = -0 + math.log(math.e + 1 + 1)  # target x among B 1, a1 0, x 0
    value = tree_cut_loss(LOGITS, LABELS, TREE, mask, leaf_to_node, "node")
    assert value.item() == pytest.approx((s0 + s1) / 2, rel=1e-6)
    # leaf_sum: B scores its only leaf z (0); a1 and x their own logits
    value = tree_cut_loss(LOGITS, LABELS, TREE, mask, leaf_to_node, "leaf_sum")
    assert value.item() == pytest.approx(((-2 + math.log(2 + math.exp(2))) + math.log(3)) / 2, rel=1e-6)


def test_all_zero_level_weights_only_with_a_protect_loss():
    with pytest.raises(ValueError, match="at least one > 0"):
        check_level_weight_values([0, 0, 0], "TRAINER.X.LEVEL_WEIGHTS")
    check_level_weight_values([0, 0, 0], "TRAINER.X.LEVEL_WEIGHTS", allow_all_zero=True)
    assert resolve_level_weights([0, 0, 0], TREE, allow_all_zero=True).tolist() == [0.0, 0.0, 0.0]


def test_protect_exact_variant_is_the_exact_objective():
    from yacs.config import CfgNode as CN

    node = CN({"NODE_WEIGHT": 0.5, "TREECUT_WEIGHT": 1.0, "DROP_RATE": 0.1, "CUT_SCORES": "node", "LEVEL_CE": False})
    settings = ProTeCtSettings.from_cfg(node)
    assert settings.enabled and settings.level_ce is False
    import os

    import yaml

    import hgclip

    path = os.path.join(os.path.dirname(hgclip.__file__), "configs", "variants", "ProTeCt.yaml")
    with open(path) as handle:
        assert yaml.safe_load(handle)["LOSS"]["PROTECT"] == {"NODE_WEIGHT": 0.5, "TREECUT_WEIGHT": 1.0,
                                                             "DROP_RATE": 0.1, "LEVEL_CE": False}
