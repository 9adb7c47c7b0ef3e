"""Hand-computed checks of HCA, hP/hR/hF, tree cuts (MTA), hierarchical distance@k and the decoders.

Every expected number is worked out in the comments next to it. Global node order of the
fixtures (coarse -> fine, then first appearance):

* ``toy``:  animal(0) vehicle(1) | cat(2) dog(3) car(4)
* ``deep``: k1(0) k2(1) | f1(2) f2(3) f3(4) | s0(5) s1(6) s2(7) s3(8), with
  k1 > f1 > {s0, s1}, k1 > f2 > {s2}, k2 > f3 > {s3}.
"""
from __future__ import annotations

import math

import pytest
import torch

from hgclip.benchmarks.bench_metrics import synthetic_hierarchy
from hgclip.evaluation import decoding, metrics
from hgclip.evaluation.treecuts import (
    DROP_RATES,
    rank_keys,
    sample_tree_cuts,
    tree_cuts_from_nodes,
    treecut_accuracies,
    treecut_correct,
)
from hgclip.hierarchy import Hierarchy
from hgclip.hierarchy.cuts import node_ancestors

NEG = float("-inf")


def four_levels(sizes=(3, 6, 12, 30)) -> Hierarchy:
    """A 4-level tree where node j of level l+1 hangs under node j * size_l // size_{l+1} (the benchmark's)."""
    return synthetic_hierarchy(sizes)


# --------------------------------------------------------------------------- HCA
def test_hca_hand_computed_with_ties(deep):
    # columns: k1 k2 | f1 f2 f3 | s0 s1 s2 s3
    logits = torch.tensor([
        # A, gt s1: k1 right; among k1's children {f1, f2}: f1 (0.5 > 0.1) right although f3 (3.0) is
        #   the level's overall argmax; leaf argmax s1 right -> HCA yes (but full path no: level 2 says f3)
        [2.0, 1.0, 0.5, 0.1, 3.0, 0.0, 1.0, 0.5, 0.2],
        # B, gt s0: the root's children pick k2 -> HCA no
        [1.0, 2.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
        # C, gt s2: k1 right, but among k1's children f1 (2) beats the true f2 (1) -> HCA no, leaf right
        [3.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 5.0, 0.0],
        # D, gt s0, all ties: k1 = k2 -> k1 (lowest index) right; f1 = f2 -> f1 right; s0 = s1 -> s0 right
        [1.0, 1.0, 1.0, 1.0, 0.0, 2.0, 2.0, 0.0, 0.0],
        # E, gt s1, tie at the leaves: s0 = s1 -> s0, wrong -> HCA no
        [1.0, 0.0, 1.0, 0.0, 0.0, 2.0, 2.0, 0.0, 0.0],
    ])
    labels = torch.tensor([1, 0, 2, 0, 1])
    scores = decoding.level_scores(logits, deep, "independent")
    targets = deep.level_targets(labels)
    assert metrics.hierarchical_consistent_mask(scores, targets, deep).tolist() == [True, False, False, True, False]
    assert metrics.hierarchical_consistent_accuracy(scores, targets, deep) == pytest.approx(2 / 5)
    # leaf accuracy (argmax, ties to the lowest index) bounds HCA: leaves right for A, B (s0 = 1 wins),
    # C and D = 4/5 >= 2/5
    assert (scores[-1].argmax(dim=1) == labels).double().mean().item() == pytest.approx(4 / 5)
    # the caller's leaf argmax gives the same answer
    leaf_pred = scores[-1].argmax(dim=1)
    assert metrics.hierarchical_consistent_mask(scores, targets, deep, leaf_pred=leaf_pred).tolist() == [
        True, False, False, True, False]


def test_hca_equals_full_path_on_two_levels_and_leaf_accuracy_on_one(toy):
    # With two levels the only internal nodes on a path are the root (children = level 1) and the
    # coarse node, whose check is implied by the leaf check: HCA = coarse right AND leaf right = FPA.
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(200, toy.num_nodes, generator=g).round()  # rounding makes many ties
    labels = torch.randint(0, 3, (200,), generator=g)
    scores = decoding.level_scores(logits, toy)
    targets = toy.level_targets(labels)
    preds = decoding.decode(logits, toy)
    assert metrics.hierarchical_consistent_accuracy(scores, targets, toy) == metrics.full_path_accuracy(preds, targets)
    flat = Hierarchy(("only",), [("a",), ("b",), ("c",)])
    assert metrics.hierarchical_consistent_accuracy([logits[:, 2:]], labels[:, None], flat) == pytest.approx(
        (logits[:, 2:].argmax(dim=1) == labels).double().mean().item())


def test_hca_single_class_level_and_one_sample():
    # the coarse level has one class, so it is always right: HCA = leaf accuracy
    h = Hierarchy(("root", "leaf"), [("all", "a"), ("all", "b"), ("all", "c")])
    logits = torch.tensor([[0.0, 1.0, 3.0, 2.0]])  # all | a b c; one sample, gt c... argmax b -> wrong
    scores = decoding.level_scores(logits, h)
    assert metrics.hierarchical_consistent_mask(scores, h.level_targets(torch.tensor([2])), h).tolist() == [False]
    assert metrics.hierarchical_consistent_mask(scores, h.level_targets(torch.tensor([1])), h).tolist() == [True]


def test_hca_counts_a_ruled_out_true_child_as_wrong(deep):
    # top_down rules out every node outside the predicted branch (-inf). Sample gt s3 (k2 > f3 > s3)
    # with k1 predicted: the true node's children are all -inf, and -inf never counts as a win.
    logits = torch.tensor([[2.0, 1.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 9.0]])
    scores = decoding.level_scores(logits, deep, "top_down")
    assert scores[1][0, 2].item() == NEG  # f3 is ruled out
    assert metrics.hierarchical_consistent_mask(scores, deep.level_targets(torch.tensor([3])), deep).tolist() == [
        False]


# --------------------------------------------------------------------------- hP / hR / hF
def test_hierarchical_prf_hand_computed(deep):
    # local predictions / targets per level (kingdom, family, species)
    preds = torch.tensor([
        [0, 0, 1],  # k1 f1 s1, gt s1: A(pred) = A(true) = {k1, f1, s1} -> shared 3, |pred| 3
        [0, 2, 0],  # k1 f3 s0, gt s2 (k1 f2 s2), inconsistent: A = {k1} | {k2, f3} | {k1, f1, s0}
                    #   = {k1, k2, f3, f1, s0} -> |pred| 5, shared {k1} -> 1
        [1, 2, 3],  # k2 f3 s3, gt s0 (k1 f1 s0): consistent and wrong -> shared 0, |pred| 3
    ])
    targets = deep.level_targets(torch.tensor([1, 2, 0]))
    shared, predicted, true_size = metrics.hierarchical_overlap(preds, targets, deep)
    assert shared.tolist() == [3, 1, 0] and predicted.tolist() == [3, 5, 3] and true_size.tolist() == [3, 3, 3]
    hp, hr, hf = metrics.hierarchical_prf(preds, targets, deep)
    assert hp == pytest.approx(4 / 11)  # (3 + 1 + 0) / (3 + 5 + 3)
    assert hr == pytest.approx(4 / 9)  # (3 + 1 + 0) / (3 + 3 + 3)
    assert hf == pytest.approx(0.4)  # 2 * (4/11) * (4/9) / (4/11 + 4/9) = (32/99) / (80/99)


def test_hierarchical_prf_consistent_predictions_equal_mean_level_accuracy(deep):
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(100, deep.num_nodes, generator=g)
    labels = torch.randint(0, 4, (100,), generator=g)
    preds, targets = decoding.decode(logits, deep, "path"), deep.level_targets(labels)
    mean_top1 = (preds == targets).double().mean().item()  # every path has 3 nodes: hP = hR = mean top-1
    assert metrics.hierarchical_prf(preds, targets, deep) == pytest.approx((mean_top1,) * 3)
    assert metrics.hierarchical_prf(torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, 3, dtype=torch.long),
                                    deep) == (0.0, 0.0, 0.0)


def test_node_ancestors(deep):
    table = node_ancestors(deep)
    assert table[0].tolist() == [0, -1, -1]  # k1
    assert table[4].tolist() == [1, 4, -1]  # f3 under k2
    assert table[7].tolist() == [0, 3, 7]  # s2 under k1 > f2


# --------------------------------------------------------------------------- hierarchical distance
def test_hierarchical_distance_topk_skips_ruled_out_leaves(deep):
    # gt s0; ranked s0 (height 0), s1 (sibling, 1); s2 and s3 are -inf (ruled out), so @4 averages
    # over the 2 ranked leaves: (0 + 1) / 2 = 0.5, not (0 + 1 + 2 + 3) / 4 = 1.5
    scores = torch.tensor([[1.0, 0.0, NEG, NEG]])
    assert metrics.hierarchical_distance_topk(scores, torch.tensor([0]), deep, k=4).tolist() == [0.5]
    finite = torch.tensor([[1.0, 0.0, -1.0, -2.0]])
    assert metrics.hierarchical_distance_at_k(finite, torch.tensor([0]), deep, k=4) == pytest.approx(1.5)
    # lca_heights works pairwise without the full matrix
    assert metrics.lca_heights(torch.tensor([0, 0, 0, 0]), torch.tensor([0, 1, 2, 3]), deep).tolist() == [0, 1, 2, 3]


def test_top5_never_counts_a_ruled_out_target():
    # A has 2 leaves, B has 4: top_down predicts A, so B's leaves are -inf and the ranking holds
    # 2 finite leaves + 3 of the 4 tied -inf ones. Whatever order topk gives the ties, at least 3 of
    # the 4 B targets fall inside a plain top-5; the finite-only rule counts none of them.
    h = Hierarchy(("group", "leaf"), [("A", "a0"), ("A", "a1")] + [("B", f"b{i}") for i in range(4)])
    logits = torch.tensor([[5.0, 0.0, 1.0, 2.0, 9.0, 9.0, 9.0, 9.0]]).repeat(6, 1)
    labels = torch.tensor([2, 3, 4, 5, 0, 1])  # the four B leaves, then the two A leaves
    leaf_scores = decoding.level_scores(logits, h, "top_down")[-1]
    assert torch.isinf(leaf_scores[:, 2:]).all()
    plain = (leaf_scores.topk(5, dim=1).indices == labels[:, None]).any(dim=1)
    assert plain[:4].sum() >= 3  # the defect, as any tie order shows it
    assert metrics.topk_correct(leaf_scores, labels, 5).tolist() == [False] * 4 + [True, True]


def test_top5_defect_fixed_on_random_logits_over_four_levels():
    h = four_levels()
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(500, h.num_nodes, generator=g)
    labels = torch.randint(0, h.num_leaves, (500,), generator=g)
    scores = decoding.level_scores(logits, h, "top_down")
    preds = decoding.predict(scores, h, "top_down")
    targets = h.level_targets(labels)
    for level in range(1, h.num_levels):
        outside = preds[:, level - 1] != targets[:, level - 1]  # the target lies outside the predicted parent
        assert outside.any()
        assert not metrics.topk_correct(scores[level], targets[:, level], 5)[outside].any()


# --------------------------------------------------------------------------- decoders
def test_path_decoding_hand_computed(toy):
    # coarse says animal (2 vs 0), fine says car (1 vs 0, 0); independent gives animal > car (invalid).
    # log-softmax: coarse animal 2 - log(e^2 + 1) = -0.1269, vehicle -2.1269;
    #              fine cat = dog = -log(2 + e) = -1.5514, car = 1 - 1.5514 = -0.5514.
    # paths: cat = dog = -1.6783 (tie -> cat, the lower index), car = -2.6783 -> animal > cat
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0, 1.0]])
    scores = decoding.level_scores(logits, toy, "path")
    assert scores[1][0].tolist() == pytest.approx([-1.6783, -1.6783, -2.6783], abs=1e-4)
    assert scores[0][0].tolist() == pytest.approx([-1.6783, -2.6783], abs=1e-4)  # best path through each node
    assert decoding.decode(logits, toy, "path").tolist() == [[0, 0]]
    assert decoding.decode(logits, toy, "independent").tolist() == [[0, 2]]


def test_path_beats_greedy_top_down_when_the_coarse_margin_is_small(toy):
    # coarse: animal 0.1 vs vehicle 0 -> top_down commits to animal; fine: car 3.
    # log-softmax: animal -0.6444, vehicle -0.7444; cat = dog = -3.0949, car -0.0949.
    # paths: car -0.8393 > cat -3.7393, so the exact decoder takes vehicle > car
    logits = torch.tensor([[0.1, 0.0, 0.0, 0.0, 3.0]])
    assert decoding.decode(logits, toy, "top_down").tolist() == [[0, 0]]
    assert decoding.decode(logits, toy, "path").tolist() == [[1, 2]]


def test_path_decoding_is_exact_against_enumerating_paths():
    h = four_levels()
    g = torch.Generator().manual_seed(11)
    logits = torch.randn(40, h.num_nodes, generator=g)
    logp = [s.log_softmax(dim=-1) for s in h.split_logits(logits)]
    scores = decoding.level_scores(logits, h, "path")
    preds = decoding.decode(logits, h, "path")
    for i in range(logits.shape[0]):  # brute force: every leaf is one path
        totals = [sum(logp[lv][i, h.ancestors[leaf, lv]].item() for lv in range(h.num_levels))
                  for leaf in range(h.num_leaves)]
        best = max(range(h.num_leaves), key=lambda leaf: totals[leaf])
        assert preds[i].tolist() == h.ancestors[best].tolist()
        assert scores[-1][i].tolist() == pytest.approx(totals, abs=1e-5)


@pytest.mark.parametrize("name", decoding.VALID_PATH_DECODINGS)
@pytest.mark.parametrize("ties", [False, True])
def test_valid_path_decoders_have_zero_tree_inconsistency(name, ties):
    h = four_levels()
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2000, h.num_nodes, generator=g)
    if ties:
        logits = logits.round()  # integer scores: ties everywhere
    preds = decoding.decode(logits, h, name)
    assert 1.0 - metrics.path_consistency(preds, h) == 0.0  # TICE exactly 0


def test_which_decoders_promise_valid_paths():
    assert decoding.VALID_PATH_DECODINGS == ("top_down", "path")
    h = four_levels()
    logits = torch.randn(2000, h.num_nodes, generator=torch.Generator().manual_seed(5))
    for name in ("independent", "bottom_up", "chils", "chils_hat", "chils_supagg"):  # no promise, and indeed not always valid
        assert metrics.path_consistency(decoding.decode(logits, h, name), h) < 1.0


# --------------------------------------------------------------------------- tree cuts
def test_tree_cut_accuracy_hand_computed(toy):
    # the four cuts of toy: {animal, vehicle}, {cat, dog, vehicle}, {animal, car}, {cat, dog, car}
    cuts = tree_cuts_from_nodes(toy, [[0, 1], [2, 3, 1], [0, 4], [2, 3, 4]])
    assert cuts.leaf_to_node.tolist() == [[0, 0, 1], [2, 3, 1], [0, 0, 4], [2, 3, 4]]
    logits = torch.tensor([
        # gt dog (-> animal, dog, animal, dog): vehicle 2 > animal 1 no; cat 3 > dog 2.5 no;
        #   animal 1 > car 0 yes; cat 3 no
        [1.0, 2.0, 3.0, 2.5, 0.0],
        # gt car (-> vehicle, vehicle, car, car): vehicle 1 > animal 0 yes; vehicle 1 > cat .5 yes;
        #   car .4 > animal 0 yes; cat .5 > car .4 no
        [0.0, 1.0, 0.5, 0.2, 0.4],
        # gt car, all tied: the lowest global id of each cut wins -- animal(0), vehicle(1), animal(0),
        #   cat(2) -- against targets vehicle, vehicle, car, car: only the second is right
        [1.0, 1.0, 1.0, 1.0, 1.0],
        # gt cat, same ties, targets animal, cat, animal, cat: right on cuts 1, 3 and 4
        [1.0, 1.0, 1.0, 1.0, 1.0],
    ])
    labels = torch.tensor([1, 2, 2, 0])
    correct = treecut_correct(logits, labels, cuts, toy)
    assert correct.tolist() == [
        [False, False, True, False],
        [True, True, True, False],
        [False, True, False, False],
        [True, False, True, True],
    ]
    # per cut (columns): 2/4, 2/4, 3/4, 1/4 -> MTA = (0.5 + 0.5 + 0.75 + 0.25) / 4 = 0.5
    assert treecut_accuracies(logits, labels, cuts, toy).tolist() == [0.5, 0.5, 0.75, 0.25]


def test_level_cuts_reproduce_per_level_top1():
    # the cut made of one whole level is that level's flat classifier
    h = four_levels()
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(300, h.num_nodes, generator=g).round()
    labels = torch.randint(0, h.num_leaves, (300,), generator=g)
    cuts = tree_cuts_from_nodes(h, [list(range(s.start, s.stop)) for s in (h.level_slices[0], h.level_slices[-1])])
    targets = h.level_targets(labels)
    accuracy = treecut_accuracies(logits, labels, cuts, h)
    expected = [(logits[:, s].argmax(dim=1) == targets[:, level]).double().mean().item()
                for level, s in ((0, h.level_slices[0]), (h.num_levels - 1, h.level_slices[-1]))]
    assert accuracy.tolist() == pytest.approx(expected)


def test_treecut_correct_matches_a_per_cut_argmax_with_ties_nan_and_inf():
    h = four_levels()
    cuts = sample_tree_cuts(h, 25, seed=0)
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(400, h.num_nodes, generator=g)
    logits[:100] = logits[:100].round()
    logits[100:110] = 0.0
    logits[110, :] = NEG  # nothing is finite: never right
    logits[111, 3] = float("nan")  # NaN never wins
    labels = torch.randint(0, h.num_leaves, (400,), generator=g)
    correct = treecut_correct(logits, labels, cuts, h)
    for t in range(cuts.num_cuts):
        nodes = torch.nonzero(cuts.masks[t]).flatten()
        target = cuts.leaf_to_node[t, labels]
        winner = nodes[logits[:, nodes].nan_to_num(nan=NEG).argmax(dim=1)]
        expected = (winner == target) & (logits.gather(1, target[:, None]).squeeze(1) > NEG)
        assert torch.equal(correct[:, t], expected), t
    assert not correct[110].any()


def test_rank_keys_order_like_argmax():
    x = torch.tensor([[-2.0, -0.0, 0.0, 1.0, 1.0, NEG, float("inf"), float("nan")]])
    keys = rank_keys(x)[0]
    # -0.0 == 0.0 and 1.0 == 1.0 tie, so the lower index wins; NaN ranks like -inf, below it by index
    assert torch.argsort(keys, descending=True).tolist() == [6, 3, 4, 1, 2, 0, 5, 7]


def test_sampled_cuts_are_antichains_covering_every_leaf_once():
    h = four_levels()
    cuts = sample_tree_cuts(h, 25, seed=0)
    assert cuts.num_cuts == 25 and cuts.requested == 25 and cuts.seed == 0
    incidence = h.node_leaf_incidence()
    for t in range(cuts.num_cuts):
        assert (incidence[cuts.masks[t]].sum(dim=0) == 1).all()  # every leaf covered exactly once
        assert cuts.masks[t, cuts.leaf_to_node[t]].all()  # the leaf's node is in the cut...
        assert incidence[cuts.leaf_to_node[t], torch.arange(h.num_leaves)].all()  # ...and above the leaf
    assert len({tuple(m.tolist()) for m in cuts.masks}) == 25  # distinct
    # five blocks of five cuts, finest-first rates as ProTeCt's multi-rate set; coarse rates give small cuts
    assert cuts.rates == tuple(r for r in DROP_RATES for _ in range(5))
    sizes = cuts.sizes
    assert sum(sizes[:5]) < sum(sizes[-5:])


def test_cut_sampling_is_seeded_and_independent_of_the_global_rng():
    h = four_levels()
    torch.manual_seed(123)
    first = sample_tree_cuts(h, 10, seed=1)
    torch.manual_seed(456)
    again = sample_tree_cuts(h, 10, seed=1)
    assert torch.equal(first.masks, again.masks)
    assert not torch.equal(first.masks, sample_tree_cuts(h, 10, seed=2).masks)


def test_small_trees_keep_the_cuts_they_have(toy):
    cuts = sample_tree_cuts(toy, 25, seed=0)  # toy has exactly 4 distinct cuts
    assert cuts.requested == 25 and cuts.num_cuts == 4
    assert {tuple(torch.nonzero(m).flatten().tolist()) for m in cuts.masks} == {(0, 1), (1, 2, 3), (0, 4), (2, 3, 4)}
    single = Hierarchy(("root", "leaf"), [("all", "a"), ("all", "b"), ("all", "c")])
    assert sorted(sample_tree_cuts(single, 25).sizes) == [1, 3]  # {all} and {a, b, c}
    assert sample_tree_cuts(toy, 0).num_cuts == 0
    with pytest.raises(ValueError, match="TEST.TREE_CUTS.NUM"):
        sample_tree_cuts(toy, -1)


def test_explicit_cuts_are_validated(toy):
    with pytest.raises(ValueError, match="tree cut 0: leaf 'cat' is covered 2 times"):
        tree_cuts_from_nodes(toy, [[0, 2, 1]])
    with pytest.raises(ValueError, match="tree cut 1: leaf 'car' is covered 0 times"):
        tree_cuts_from_nodes(toy, [[0, 1], [0]])
    assert math.isclose(treecut_accuracies(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long),
                                           tree_cuts_from_nodes(toy, [[0, 1]]), toy).sum().item(), 0.0)


@pytest.mark.parametrize("name", ["top_down", "path"])
def test_valid_path_decoders_stay_valid_with_infinite_and_nan_logits(name):
    """Whole branches at -inf, +inf winners and NaNs: the promised valid path still holds."""
    h = four_levels()
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(3000, h.num_nodes, generator=g)
    special = torch.rand(logits.shape, generator=g)
    logits[special < 0.35] = float("-inf")  # often every child of the chosen node
    logits[(special > 0.97) & (special < 0.98)] = float("inf")
    logits[special > 0.995] = float("nan")
    logits[:50] = float("-inf")  # rows with nothing finite at all
    preds = decoding.decode(logits, h, name)
    assert metrics.path_consistency(preds, h) == 1.0


def test_top_down_never_leaves_the_chosen_branch_when_its_children_are_minus_inf():
    h = four_levels()
    logits = torch.randn(1, h.num_nodes)
    chosen = int(h.split_logits(logits)[0].argmax())
    children = [c for c in h.children[chosen]]
    logits[0, children] = float("-inf")
    preds = decoding.decode(logits, h, "top_down")
    assert h.level_offsets[1] + int(preds[0, 1]) in children
    assert metrics.path_consistency(preds, h) == 1.0
