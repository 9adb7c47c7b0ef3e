"""Every metric on an any-depth tree (leaves at depths 2, 3, 4; ``y`` and ``b1`` have one child), by hand.

Local ids: depth1 A0 B1 | depth2 a1 0, a2 1, b1 2, b2 3 | depth3 x0 y1 z2 | depth4 y1 0.
Leaves 0..4 = a1, x, y1, z, b2; their paths (-1 below the leaf):
a1 [0,0,-1,-1], x [0,1,0,-1], y1 [0,1,1,0], z [1,2,2,-1], b2 [1,3,-1,-1].
"""
import math

import pytest
import torch

from hgclip.evaluation import metrics
from hgclip.evaluation.treecuts import sample_tree_cuts, tree_cuts_from_nodes, treecut_correct
from hgclip.hierarchy import parse_hierarchy_text

TEXT = "levels: any\nA > a1\nA > a2 > x\nA > a2 > y > y1\nB > b1 > z\nB > b2\n"
TRUE = torch.tensor([1, 2, 4, 0])  # x, y1, b2, a1
PRED = torch.tensor([1, 1, 3, 2])  # x, x,  z,  y1


@pytest.fixture
def h():
    return parse_hierarchy_text(TEXT)


def paths(h, leaves):
    return h.ancestors[leaves]


def test_leaf_and_full_path_accuracy(h):
    assert metrics.leaf_accuracy(PRED, TRUE) == 0.25
    assert metrics.full_path_accuracy(paths(h, PRED), paths(h, TRUE)) == 0.25
    # right down to x, but the true leaf sits deeper: not the full path
    assert metrics.full_path_accuracy(torch.tensor([[0, 1, 1, -1]]), paths(h, torch.tensor([2]))) == 0.0


def test_per_level_accuracy_over_the_samples_that_reach_the_level(h):
    # depth1: 4/4; depth2: targets a2 a2 b2 a1 vs a2 a2 b1 a2 = 2/4; depth3 (x, y1 only): 1/2; depth4 (y1): 0/1
    assert metrics.per_level_accuracy(paths(h, PRED), paths(h, TRUE)) == [1.0, 0.5, 0.5, 0.0]


def test_hierarchical_precision_recall(h):
    # |A(y)| = 3+4+2+2 = 11, |A(y_hat)| = 3+3+3+4 = 13, shared = 3+2+1+1 = 7
    hp, hr, hf = metrics.hierarchical_prf(paths(h, PRED), paths(h, TRUE), h)
    assert hp == pytest.approx(7 / 13) and hr == pytest.approx(7 / 11)
    assert hf == pytest.approx(2 * (7 / 13) * (7 / 11) / (7 / 13 + 7 / 11))
    # an inconsistent prediction: depth1 B, depth2 a2 (no deeper) for true x -> A(y_hat) = {B, A, a2}
    shared, predicted, true_size = metrics.hierarchical_overlap(torch.tensor([[1, 1, -1, -1]]), paths(h, TRUE[:1]), h)
    assert (shared.item(), predicted.item(), true_size.item()) == (2, 3, 3)


def test_mistake_severity_and_hdist_by_lca_height(h):
    # D = 4 minus the LCA's depth: y1->x LCA a2 (depth 2) 2, b2->z LCA B (depth 1) 3, a1->y1 LCA A (depth 1) 3
    assert metrics.mistake_severity(PRED, TRUE, h) == pytest.approx(8 / 3)
    assert metrics.hierarchical_distance_at_1(PRED, TRUE, h) == pytest.approx(8 / 4)
    assert metrics.lca_heights(torch.tensor([0, 0, 3]), torch.tensor([3, 0, 4]), h).tolist() == [4, 0, 3]
    # @2 for the true leaf x: ranked x (0) then a1 (LCA A, 3) -> 1.5
    scores = torch.tensor([[1.0, 2.0, 0.0, -1.0, -2.0]])
    assert metrics.hierarchical_distance_at_k(scores, torch.tensor([1]), h, k=2) == pytest.approx(1.5)


def test_path_consistency_needs_the_predicted_leaf(h):
    preds = torch.cat([paths(h, PRED), torch.tensor([[0, 1, 0, -1]])])
    assert metrics.consistent_mask(preds, h, torch.cat([PRED, torch.tensor([2])])).tolist() == [True] * 4 + [False]
    with pytest.raises(ValueError, match="pred_leaf"):
        metrics.consistent_mask(preds, h)


def test_hca_on_the_variable_length_true_path(h):
    level_scores = [
        torch.tensor([[2.0, 1.0], [2.0, 1.0]]),
        torch.tensor([[0.0, 1.0, 5.0, 0.0], [3.0, 0.0, 0.0, 0.0]]),  # b1 wins overall, a2 among A's children
        torch.tensor([[0.0, 1.0, 9.0], [0.0, 0.0, 0.0]]),  # z wins overall, y among a2's children
        torch.tensor([[0.0], [0.0]]),
    ]
    targets = paths(h, torch.tensor([2, 0]))  # y1 (depth 4), a1 (depth 2)
    leaf_scores = torch.tensor([[0.0, 0.0, 5.0, 1.0, 0.0], [1.0, 0.0, 0.0, 2.0, 0.0]])  # y1 right; z beats a1
    assert metrics.hierarchical_consistent_mask(level_scores, targets, h, leaf_scores=leaf_scores).tolist() == [True, False]
    leaf_scores[1, 0] = 3.0
    assert metrics.hierarchical_consistent_mask(level_scores, targets, h, leaf_scores=leaf_scores).tolist() == [True, True]
    level_scores[1][0, 0] = 2.0  # a1 beats a2 among A's children: y1's path fails at A
    assert metrics.hierarchical_consistent_mask(level_scores, targets, h, leaf_scores=leaf_scores).tolist() == [False, True]


def test_tree_cut_accuracy(h):
    cuts = tree_cuts_from_nodes(h, [[2, 6, 7, 1], [0, 1]])  # {a1, x, y, B} and {A, B}
    assert cuts.leaf_to_node.tolist() == [[2, 6, 7, 1, 1], [0, 0, 0, 1, 1]]
    logits = torch.zeros(2, 10)
    logits[0, 7], logits[0, 9] = 3.0, 9.0  # y best among cut 0 (y1 is not in it); A=B=0 ties -> A (id 0)
    logits[1, 2], logits[1, 1] = 4.0, 1.0  # true b2: a1 beats B in cut 0, B beats A in cut 1
    correct = treecut_correct(logits, torch.tensor([2, 4]), cuts, h)
    assert correct.tolist() == [[True, True], [False, True]]
    sampled = sample_tree_cuts(h, num_cuts=5, seed=0)  # every sampled cut covers each leaf once
    assert (h.node_leaf_incidence()[None] & sampled.masks[:, :, None]).sum(dim=1).eq(1).all()


def test_rank_accuracy():
    h = parse_hierarchy_text("levels: any\nranks: order > family > species\n"
                             "O1 @order > F1 @family > s1 @species\nO1 > F1 > s2 @species\n"
                             "O1 > s3 @species\nO2 @order > F2 @family > s4 @species\n")
    acc = metrics.rank_accuracy(torch.tensor([1, 0, 3]), torch.tensor([0, 2, 3]), h)
    # order: 3/3; family: samples with a family on the true path (s1, s4): both right; species 1/3
    assert acc == {"order": 1.0, "family": 1.0, "species": pytest.approx(1 / 3)}
    assert math.isnan(metrics.per_level_accuracy(torch.zeros(1, 2, dtype=torch.long), torch.tensor([[0, -1]]))[1])
