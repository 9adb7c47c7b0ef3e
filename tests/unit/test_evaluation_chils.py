"""Hand-computed checks of the CHiLS decodings (``chils``, ``chils_hat``, ``chils_supagg``).

The logits are logarithms of chosen probabilities, so each level's softmax is exactly those
probabilities and every expected score is a product worked out in the comment beside it; the
decoders return the LOGARITHM of CHiLS's products, so the tests compare ``scores.exp()``.
Global node order of the fixtures (coarse -> fine, then first appearance):

* ``toy``:  animal(0) vehicle(1) | cat(2) dog(3) car(4)
* ``deep``: k1(0) k2(1) | f1(2) f2(3) f3(4) | s0(5) s1(6) s2(7) s3(8), with
  k1 > f1 > {s0, s1}, k1 > f2 > {s2}, k2 > f3 > {s3}.
"""
from __future__ import annotations

import math

import pytest
import torch

from hgclip.evaluation import decoding, metrics
from hgclip.hierarchy import Hierarchy

NEG = float("-inf")
CHILS = ("chils", "chils_hat", "chils_supagg")


def log(*probs: float) -> list[float]:
    """Logits whose softmax is ``probs`` (which sum to 1); 0 -> -inf."""
    return [math.log(p) if p > 0 else NEG for p in probs]


def probs(scores: list[torch.Tensor]) -> list[list[float]]:
    """exp of the first sample's per-level scores: CHiLS's products."""
    return [s[0].exp().tolist() for s in scores]


# --------------------------------------------------------------------------- two levels (CHiLS itself)
def test_two_levels_hand_computed(toy):
    # p(coarse) = animal .6, vehicle .4; p(fine) = cat .25, dog .25, car .5; P(animal) = P(vehicle) = .5
    logits = torch.tensor([log(.6, .4) + log(.25, .25, .5)])
    expected = {
        # cat .25*.6 = .15, dog .15, car .5*.4 = .20 -> animal max .15, vehicle .20 -> vehicle
        "chils": ([.15, .20], [1, 2]),
        # cat .25*P(animal) = .125, dog .125, car .5*P(vehicle) = .25 -> vehicle
        "chils_hat": ([.125, .25], [1, 2]),
        # animal .6*.5 = .30, vehicle .4*.5 = .20 -> animal (with car: not a valid path)
        "chils_supagg": ([.30, .20], [0, 2]),
    }
    for name, (coarse, preds) in expected.items():
        scores = decoding.level_scores(logits, toy, name)
        assert probs(scores)[0] == pytest.approx(coarse, abs=1e-6), name
        assert probs(scores)[1] == pytest.approx([.25, .25, .5], abs=1e-6), name  # the finest: plain softmax
        assert decoding.decode(logits, toy, name).tolist() == [preds], name
    assert decoding.decode(logits, toy, "independent").tolist() == [[0, 2]]  # plain zero-shot: animal


def test_two_levels_ties_go_to_the_lowest_index(toy):
    # p(coarse) = .5, .5 (equal logits); p(fine) = cat 1/5, dog 2/5, car 2/5 (dog and car: the same logit)
    # P(animal) = 3/5, P(vehicle) = 2/5
    logits = torch.tensor([[0.0, 0.0, 0.0, math.log(2), math.log(2)]])
    expected = {
        "chils": [.5 * .4, .5 * .4],  # .2 = .2: the same floats, a tie -> animal
        "chils_hat": [.6 * .4, .4 * .4],  # .24 > .16
        "chils_supagg": [.5 * .6, .5 * .4],  # .30 > .20
    }
    for name, coarse in expected.items():
        scores = decoding.level_scores(logits, toy, name)
        assert probs(scores)[0] == pytest.approx(coarse, abs=1e-6), name
        assert decoding.decode(logits, toy, name).tolist() == [[0, 1]], name  # fine: dog = car -> dog
    chils = decoding.level_scores(logits, toy, "chils")[0]
    assert chils[0, 0].item() == chils[0, 1].item()  # an exact tie, not a rounding win


def test_two_levels_minus_infinity(toy):
    # a coarse logit at -inf: p(animal) = 0, p(vehicle) = 1; p(fine) = cat .6, dog .2, car .2; P = .8, .2
    logits = torch.tensor([log(0, 1) + log(.6, .2, .2)])
    expected = {
        "chils": ([0.0, 1 * .2], [1, 0]),  # animal: .6*0 = 0 (score -inf) -> vehicle
        "chils_hat": ([.6 * .8, .2 * .2], [0, 0]),  # ignores p(coarse): .48 > .04 -> animal
        "chils_supagg": ([0.0, 1 * .2], [1, 0]),  # animal 0*.8 = 0, vehicle 1*.2
    }
    for name, (coarse, preds) in expected.items():
        scores = decoding.level_scores(logits, toy, name)
        assert probs(scores)[0] == pytest.approx(coarse, abs=1e-6), name
        assert decoding.decode(logits, toy, name).tolist() == [preds], name
    assert decoding.level_scores(logits, toy, "chils")[0][0, 0].item() == NEG

    # every leaf of animal at -inf: p(fine) = 0, 0, 1, so P(animal) = 0 (log -inf, not NaN)
    logits = torch.tensor([log(.5, .5) + log(0, 0, 1)])
    for name, coarse in {"chils": [0, .5], "chils_hat": [0, 1], "chils_supagg": [0, .5]}.items():
        scores = decoding.level_scores(logits, toy, name)
        assert not any(s.isnan().any() for s in scores), name
        assert scores[0][0, 0].item() == NEG, name
        assert probs(scores)[0] == pytest.approx(coarse, abs=1e-6), name
        assert decoding.decode(logits, toy, name).tolist() == [[1, 2]], name


# --------------------------------------------------------------------------- three levels
def test_three_levels_hand_computed(deep):
    # p(kingdom) = .5, .5; p(family) = f1 .5, f2 .3, f3 .2; p(species) = s0 .1, s1 .2, s2 .3, s3 .4.
    # subclasses = the leaves under a node: k1 {s0 s1 s2}, k2 {s3}; f1 {s0 s1}, f2 {s2}, f3 {s3}.
    # leaf mass P: k1 .6, k2 .4; f1 .3, f2 .3, f3 .4
    logits = torch.tensor([log(.5, .5) + log(.5, .3, .2) + log(.1, .2, .3, .4)])
    expected = {
        # kingdom: k1 .5*max(.1, .2, .3) = .15, k2 .5*.4 = .20 -> k2
        # family:  f1 .5*max(.1, .2) = .10, f2 .3*.3 = .09, f3 .2*.4 = .08 -> f1
        "chils": ([.15, .20], [.10, .09, .08], [1, 0, 3]),
        # kingdom: k1 .6*.3 = .18, k2 .4*.4 = .16 -> k1
        # family:  f1 .3*.2 = .06, f2 .3*.3 = .09, f3 .4*.4 = .16 -> f3
        "chils_hat": ([.18, .16], [.06, .09, .16], [0, 2, 3]),
        # kingdom: k1 .5*.6 = .30, k2 .5*.4 = .20 -> k1
        # family:  f1 .5*.3 = .15, f2 .3*.3 = .09, f3 .2*.4 = .08 -> f1
        "chils_supagg": ([.30, .20], [.15, .09, .08], [0, 0, 3]),
    }
    for name, (kingdom, family, preds) in expected.items():
        scores = decoding.level_scores(logits, deep, name)
        assert probs(scores)[0] == pytest.approx(kingdom, abs=1e-6), name
        assert probs(scores)[1] == pytest.approx(family, abs=1e-6), name
        assert probs(scores)[2] == pytest.approx([.1, .2, .3, .4], abs=1e-6), name
        assert decoding.decode(logits, deep, name).tolist() == [preds], name


def test_three_levels_ties_and_minus_infinity(deep):
    # p(kingdom) = .5, .5; p(family) = f1 0 (-inf), f2 .5, f3 .5; p(species) = s0 .4, s1 .2, s2 .2, s3 .2
    # (s1, s2, s3 share one logit). P: k1 .8, k2 .2; f1 .6, f2 .2, f3 .2
    logits = torch.tensor([log(.5, .5) + log(0, .5, .5) + log(.4, .2, .2, .2)])
    expected = {
        # kingdom: k1 .5*.4 = .20, k2 .5*.2 = .10 -> k1; family: f1 0*.4 = 0, f2 .5*.2 = .1 = f3 -> tie, f2
        "chils": ([.20, .10], [0, .10, .10], [0, 1, 0]),
        # kingdom: k1 .8*.4 = .32, k2 .2*.2 = .04; family: f1 .6*.4 = .24, f2 .2*.2 = .04, f3 .04 -> f1
        "chils_hat": ([.32, .04], [.24, .04, .04], [0, 0, 0]),
        # kingdom: k1 .5*.8 = .40, k2 .5*.2 = .10; family: f1 0*.6 = 0, f2 .5*.2 = .1 = f3 -> tie, f2
        "chils_supagg": ([.40, .10], [0, .10, .10], [0, 1, 0]),
    }
    for name, (kingdom, family, preds) in expected.items():
        scores = decoding.level_scores(logits, deep, name)
        assert probs(scores)[0] == pytest.approx(kingdom, abs=1e-6), name
        assert probs(scores)[1] == pytest.approx(family, abs=1e-6), name
        assert decoding.decode(logits, deep, name).tolist() == [preds], name
    assert decoding.level_scores(logits, deep, "chils")[1][0, 0].item() == NEG


# --------------------------------------------------------------------------- against CHiLS's own definitions
def reference_coarse_prediction(p_coarse: list[float], p_leaf: list[float], parent: list[int], rule: str) -> int:
    """CHiLS's rules, written out in probability space one sample at a time (no ties on random logits)."""
    mass = [sum(p for p, q in zip(p_leaf, parent) if q == n) for n in range(len(p_coarse))]
    if rule == "chils_supagg":
        return max(range(len(p_coarse)), key=lambda n: p_coarse[n] * mass[n])
    weight = p_coarse if rule == "chils" else mass
    best = max(range(len(p_leaf)), key=lambda s: p_leaf[s] * weight[parent[s]])
    return parent[best]


@pytest.mark.parametrize("name", CHILS)
def test_every_level_matches_the_two_level_rule_on_its_leaves(name):
    """On a 3-level tree, level l is CHiLS with superclasses = level l and subclasses = the leaves."""
    paths = [(f"a{leaf // 6}", f"b{leaf // 2}", f"c{leaf}") for leaf in range(12)]
    h = Hierarchy(("a", "b", "c"), paths)
    logits = 3 * torch.randn(60, h.num_nodes, generator=torch.Generator().manual_seed(3))
    preds = decoding.decode(logits, h, name)
    for i in range(logits.shape[0]):
        p = [s[i].softmax(dim=-1).tolist() for s in h.split_logits(logits)]
        for level in range(h.num_levels - 1):
            parent = h.ancestors[:, level].tolist()
            assert preds[i, level].item() == reference_coarse_prediction(p[level], p[-1], parent, name)
        assert preds[i, -1].item() == max(range(h.num_leaves), key=lambda s: p[-1][s])


@pytest.mark.parametrize("name", CHILS)
def test_scores_serve_top5_and_paths_are_not_promised(name):
    paths = [(f"a{leaf // 10}", f"b{leaf // 2}", f"c{leaf}") for leaf in range(30)]
    h = Hierarchy(("a", "b", "c"), paths)
    logits = torch.randn(2000, h.num_nodes, generator=torch.Generator().manual_seed(5))
    logits[:7, 0] = NEG  # some coarse nodes ruled out
    scores = decoding.level_scores(logits, h, name)
    preds = decoding.decode(logits, h, name)
    assert [tuple(s.shape) for s in scores] == [(2000, size) for size in h.level_sizes]
    for level, s in enumerate(scores):
        assert not s.isnan().any()
        assert torch.equal(preds[:, level], s.argmax(dim=-1))  # the top-1 of the scores is the prediction
    if name != "chils_hat":  # chils_hat never reads the coarse logits, so -inf there does not rule a node out
        assert (preds[:7, 0] != 0).all()
    assert name not in decoding.VALID_PATH_DECODINGS
    assert metrics.path_consistency(preds, h) < 1.0
