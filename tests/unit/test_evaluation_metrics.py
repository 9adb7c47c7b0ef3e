"""Hand-computed checks of the metric functions and decodings in ``evaluation``."""
import math

import pytest
import torch

from hgclip.evaluation import decoding, metrics


# --------------------------------------------------------------------------- top-k
def test_topk_correct_and_accuracy():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5]])
    targets = torch.tensor([1, 1, 0])
    assert metrics.topk_correct(logits, targets, 1).tolist() == [True, False, False]
    assert metrics.topk_correct(logits, targets, 2).tolist() == [True, True, False]
    assert metrics.topk_accuracy(logits, targets, 1) == pytest.approx(1 / 3)
    # k larger than the number of classes is clamped: everything is a hit
    assert metrics.topk_accuracy(logits, targets, 5) == 1.0


def test_topk_accepts_numpy_and_checks_shapes():
    import numpy as np

    assert metrics.topk_correct(np.eye(3), np.array([0, 1, 2]), 1).all()
    with pytest.raises(ValueError, match="expected 3 labels"):
        metrics.topk_correct(torch.zeros(3, 4), torch.zeros(2, dtype=torch.long), 1)
    with pytest.raises(ValueError, match=r"\[N, C\]"):
        metrics.topk_correct(torch.zeros(4), torch.zeros(4, dtype=torch.long), 1)


# --------------------------------------------------------------------------- macro-F1
def _manual_macro_f1(pred, target):
    """Textbook per-class precision/recall/F1, averaged over the classes in the ground truth."""
    scores = []
    for c in sorted(set(target)):
        tp = sum(p == c and t == c for p, t in zip(pred, target))
        fp = sum(p == c and t != c for p, t in zip(pred, target))
        fn = sum(p != c and t == c for p, t in zip(pred, target))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores)


def test_macro_f1_hand_computed():
    # class 0: TP=1, FP=1, FN=0 -> F1 = 2/3; class 1: TP=0 -> 0; class 2 is never true -> not averaged
    pred, target = [0, 0, 2], [0, 1, 1]
    assert metrics.macro_f1(pred, target, num_classes=3) == pytest.approx(1 / 3)
    assert metrics.macro_f1(pred, target) == pytest.approx(_manual_macro_f1(pred, target))


def test_macro_f1_matches_textbook_on_random_labels():
    g = torch.Generator().manual_seed(0)
    pred = torch.randint(0, 7, (200,), generator=g)
    target = torch.randint(0, 6, (200,), generator=g)
    assert metrics.macro_f1(pred, target) == pytest.approx(_manual_macro_f1(pred.tolist(), target.tolist()))
    assert metrics.macro_f1(target, target) == 1.0
    assert metrics.macro_f1([], []) == 0.0
    with pytest.raises(ValueError, match="out of range"):
        metrics.macro_f1([0, 5], [0, 1], num_classes=3)


# --------------------------------------------------------------------------- path metrics
def test_full_path_accuracy():
    preds = torch.tensor([[0, 0], [0, 2], [0, 1]])
    targets = torch.tensor([[0, 0], [0, 1], [1, 2]])
    assert metrics.full_path_accuracy(preds, targets) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.full_path_accuracy(preds, targets[:2])


def test_path_consistency(toy):
    # sample 0: animal>cat valid; 1: animal>car invalid; 2: animal>dog valid (though wrong)
    preds = torch.tensor([[0, 0], [0, 2], [0, 1]])
    assert metrics.consistent_mask(preds, toy).tolist() == [True, False, True]
    assert metrics.path_consistency(preds, toy) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="expected 2 columns"):
        metrics.path_consistency(preds[:, :1], toy)


def test_path_consistency_three_levels(deep):
    # k1>f1>s1 valid; k1>f2>s1 invalid at the middle level; k2>f1>s0 invalid at the top
    preds = torch.tensor([[0, 0, 1], [0, 1, 1], [1, 0, 0]])
    assert metrics.consistent_mask(preds, deep).tolist() == [True, False, False]


def test_mistake_severity_and_hierarchical_distance(deep):
    true = torch.tensor([0, 0, 0, 0, 3])
    pred = torch.tensor([0, 1, 2, 3, 3])  # correct, sibling (1), cousin (2), other root (3), correct
    assert metrics.mistake_severity(pred, true, deep) == pytest.approx((1 + 2 + 3) / 3)
    assert metrics.hierarchical_distance_at_1(pred, true, deep) == pytest.approx((0 + 1 + 2 + 3 + 0) / 5)
    lca = deep.lca_height_matrix()
    assert metrics.mistake_severity(pred, true, deep, lca=lca) == pytest.approx(2.0)
    # no mistakes: the mean over an empty set is undefined
    assert math.isnan(metrics.mistake_severity(true, true, deep))
    assert metrics.hierarchical_distance_at_1(true, true, deep) == 0.0


def test_hierarchical_distance_at_k(deep):
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0]])  # top-2 = leaves 0, 1
    assert metrics.hierarchical_distance_at_k(scores, torch.tensor([0]), deep, k=2) == pytest.approx(0.5)
    assert metrics.hierarchical_distance_at_k(scores, torch.tensor([3]), deep, k=1) == pytest.approx(3.0)


# --------------------------------------------------------------------------- decodings
def test_decodings_on_toy(toy):
    # global order: animal vehicle | cat dog car
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0, 1.0]])  # coarse says animal, fine says car
    assert decoding.decode(logits, toy, "independent").tolist() == [[0, 2]]
    # top-down: restricted to animal's children (cat, dog) -> consistent
    assert decoding.decode(logits, toy, "top_down").tolist()[0][0] == 0
    assert decoding.decode(logits, toy, "top_down").tolist()[0][1] in (0, 1)
    # bottom-up ignores the coarse slice: p(vehicle) = p(car) = 0.58 > p(animal) = 0.42
    probs = torch.tensor([0.0, 0.0, 1.0]).softmax(0)
    scores = decoding.level_scores(logits, toy, "bottom_up")
    assert torch.allclose(scores[0], torch.tensor([[probs[0] + probs[1], probs[2]]]))
    assert torch.allclose(scores[1], probs[None])
    assert decoding.decode(logits, toy, "bottom_up").tolist() == [[1, 2]]
    # ... but per-level argmaxes of the marginals can still disagree: car wins the leaves, animal the coarse level
    close_call = torch.tensor([[0.0, 0.0, 1.0, 1.0, 1.2]])
    assert decoding.decode(close_call, toy, "bottom_up").tolist() == [[0, 2]]


def test_top_down_is_always_consistent(deep):
    logits = torch.randn(64, deep.num_nodes, generator=torch.Generator().manual_seed(1))
    assert metrics.path_consistency(decoding.decode(logits, deep, "top_down"), deep) == 1.0
    with pytest.raises(ValueError, match="unknown decoding"):
        decoding.decode(logits, deep, "sideways")
