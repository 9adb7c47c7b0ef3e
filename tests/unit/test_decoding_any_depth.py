"""Every decoder on an any-depth tree (leaves at depths 2, 3, 4; ``y`` and ``b1`` have one child), by hand.

Global ids: depth1 A0 B1 | depth2 a1 2, a2 3, b1 4, b2 5 | depth3 x6 y7 z8 | depth4 y1 9.
Leaves 0..4 = a1, x, y1, z, b2. The logits are logs of chosen per-depth probabilities, so each
depth's softmax is exactly those numbers (depth 4 holds one node: its softmax is always 1).
"""
import math

import pytest
import torch

from hgclip.evaluation import decoding
from hgclip.evaluation.decoding_any_depth import decode_any_depth
from hgclip.hierarchy import parse_hierarchy_text

TEXT = "levels: any\nA > a1\nA > a2 > x\nA > a2 > y > y1\nB > b1 > z\nB > b2\n"
NEG = float("-inf")
# sample 0: A .8 B .2 | a1 .3 a2 .4 b1 .2 b2 .1 | x .46 y .44 z .10 | y1 logit 0 (= log 1)
# sample 1: A .4 B .6 | a1 .2 a2 .1 b1 .2 b2 .5 | x .3  y .3  z .4  | y1 logit log .05
PROBS = [[.8, .2, .3, .4, .2, .1, .46, .44, .10, 1.0], [.4, .6, .2, .1, .2, .5, .3, .3, .4, .05]]
LOGITS = torch.tensor(PROBS).log()


@pytest.fixture
def h():
    return parse_hierarchy_text(TEXT)


def test_path_scores_the_mean_log_probability_so_shallow_leaves_are_not_favoured(h):
    out = decode_any_depth(LOGITS, h, "path")
    # sample 0, geometric means: a1 (.8*.3)^(1/2), x (.8*.4*.46)^(1/3), y1 (.8*.4*.44*1)^(1/4), z, b2
    expected = [.24 ** .5, .1472 ** (1 / 3), .1408 ** .25, .004 ** (1 / 3), .02 ** .5]
    assert out.leaf_scores[0].exp().tolist() == pytest.approx(expected, rel=1e-5)
    # the SUM would choose a1 (.24 > .1472 > .1408); the mean chooses y1, at depth 4
    assert out.pred_leaf.tolist() == [2, 4]  # sample 1: b2 (.6*.5)^(1/2) = .548 beats z .048^(1/3) = .363
    assert out.preds.tolist() == [[0, 1, 1, 0], [1, 3, -1, -1]]
    # a node scores its best leaf: depth1 A = y1's, B = z's (.004^(1/3) = .159 > b2's .02^(1/2) = .141)
    assert out.scores[0][0].exp().tolist() == pytest.approx([.1408 ** .25, .004 ** (1 / 3)], rel=1e-5)
    assert out.scores[2][0].exp().tolist() == pytest.approx([.1472 ** (1 / 3), .1408 ** .25, .004 ** (1 / 3)], rel=1e-5)
    assert decoding.decode(LOGITS, h, "path").tolist() == out.preds.tolist()


def test_top_down_stops_at_the_first_leaf_it_reaches(h):
    out = decode_any_depth(LOGITS, h, "top_down")
    # 0: A (.8), then a2 (.4 > .3 among A's children), then x (.46 > .44), a leaf: stop at depth 3
    # 1: B (.6), then b2 (.5 > .2 among B's), a leaf: stop at depth 2
    assert out.preds.tolist() == [[0, 1, 0, -1], [1, 3, -1, -1]]
    assert out.pred_leaf.tolist() == [1, 4]
    # leaf scores: the predicted leaf and its sibling LEAVES only (y is not a leaf; a1 is not B's child)
    assert out.leaf_scores[0].exp().tolist() == pytest.approx([0, .46, 0, 0, 0])
    assert out.leaf_scores[1].exp().tolist() == pytest.approx([0, 0, 0, 0, .5])
    assert out.scores[3][0].tolist() == [NEG] and out.scores[2][1].tolist() == [NEG] * 3  # below the stop
    assert out.scores[1][0].exp().tolist() == pytest.approx([.3, .4, 0, 0])  # masked to A's children


def test_independent_compares_leaves_by_their_own_logits(h):
    out = decode_any_depth(LOGITS, h, "independent")
    # 0: leaf logits a1 .3 x .46 y1 1 z .1 b2 .1 (as exp) -> y1; each depth's argmax A, a2, x, y1 (not a path)
    # 1: a1 .2 x .3 y1 .05 z .4 b2 .5 -> b2 at depth 2; above it B, b2; nothing below
    assert out.pred_leaf.tolist() == [2, 4]
    assert out.preds.tolist() == [[0, 1, 0, 0], [1, 3, -1, -1]]
    assert out.leaf_scores.exp()[1].tolist() == pytest.approx([.2, .3, .05, .4, .5])


def test_bottom_up_marginalises_a_softmax_over_all_leaves(h):
    out = decode_any_depth(LOGITS, h, "bottom_up")
    z = 1.96  # sample 0: leaf softmax a1 .3 x .46 y1 1 z .1 b2 .1, / 1.96
    assert out.scores[0][0].tolist() == pytest.approx([1.76 / z, .2 / z])
    assert out.scores[1][0].tolist() == pytest.approx([.3 / z, 1.46 / z, .1 / z, .1 / z])
    assert out.scores[2][0].tolist() == pytest.approx([.46 / z, 1 / z, .1 / z])  # y: its one leaf y1
    # sample 1: a1 .2 x .3 y1 .05 z .4 b2 .5 (/1.45): A .55, B .9; depth2 b2 .5 beats b1 .4 -> b2, at depth 2
    assert out.pred_leaf.tolist() == [2, 4]
    assert out.preds.tolist() == [[0, 1, 1, 0], [1, 3, -1, -1]]


def test_chils_reweights_every_depth_by_the_leaves_below(h):
    p_leaf = [[.3, .46, 1.0, .1, .1], [.2, .3, .05, .4, .5]]
    mass = [1.96, 1.45]
    chils = decode_any_depth(LOGITS, h, "chils")
    # depth1, sample 0: A .8 * max(.3,.46,1)/1.96, B .2 * max(.1,.1)/1.96
    assert chils.scores[0][0].exp().tolist() == pytest.approx([.8 / 1.96, .02 / 1.96], rel=1e-5)
    # depth3, sample 1: x .3*.3, y .3*.05 (its one leaf y1), z .4*.4, / 1.45
    assert chils.scores[2][1].exp().tolist() == pytest.approx([.09 / 1.45, .015 / 1.45, .16 / 1.45], rel=1e-5)
    # depth2 leaves reweight themselves: sample 1 a1 .2*.2, a2 .1*.3, b1 .2*.4, b2 .5*.5 -> b2, a leaf: stop
    assert chils.scores[1][1].exp().tolist() == pytest.approx([.04 / 1.45, .03 / 1.45, .08 / 1.45, .25 / 1.45], rel=1e-5)
    assert chils.preds.tolist() == [[0, 1, 1, 0], [1, 3, -1, -1]]
    assert chils.leaf_scores.exp().flatten().tolist() == pytest.approx([p / m for row, m in zip(p_leaf, mass) for p in row])
    hat = decode_any_depth(LOGITS, h, "chils_hat")  # depth1, sample 1: A P=.55 * .3, B P=.9 * .5 (/1.45^2)
    assert hat.scores[0][1].exp().tolist() == pytest.approx([.165 / 1.45 ** 2, .45 / 1.45 ** 2], rel=1e-5)
    supagg = decode_any_depth(LOGITS, h, "chils_supagg")  # depth1, sample 1: A .4*.55, B .6*.9 (/1.45)
    assert supagg.scores[0][1].exp().tolist() == pytest.approx([.22 / 1.45, .54 / 1.45], rel=1e-5)
    assert supagg.pred_leaf.tolist() == hat.pred_leaf.tolist() == [2, 4]  # plain zero-shot over all leaves


def test_every_decoder_returns_paths_padded_below_the_predicted_leaf(h):
    depth = torch.tensor(h.leaf_levels) + 1
    for name in decoding.DECODINGS:
        out = decode_any_depth(LOGITS, h, name)
        assert ((out.preds >= 0).sum(dim=1) == depth[out.pred_leaf]).all(), name
        assert (out.leaf_scores.argmax(dim=1) == out.pred_leaf).all(), name
        assert [s.shape[1] for s in decoding.level_scores(LOGITS, h, name)] == list(h.level_sizes), name
        if decoding.DECODINGS[name].valid_paths:
            assert (h.ancestors[out.pred_leaf] == out.preds).all(), name
    with pytest.raises(ValueError, match="any-depth"):
        decoding.predict(decoding.level_scores(LOGITS, h, "path"), h, "path")
    assert math.isfinite(decode_any_depth(LOGITS, h, "top_down").leaf_scores[0, 1].item())
