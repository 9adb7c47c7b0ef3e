"""The one specification of every metric: key, unit, direction, seed aggregation, printing, keyword groups.

The evaluator (``hierarchical.py``), its printed report and results.json (``run_report.py``), the
seed aggregation (``aggregate.py``), the comparison tables (``comparison_report.py``) and the
command-line tools (``parse_test_res``, ``base2new``, ``compare``, ``eval_decoders``, ``xd``) all
read the keys and their properties from here, and ``docs/reference/metrics.md`` is rendered from it
(``python -m hgclip.evaluation.metric_docs --write``; a test checks that the page is current).

Adding a metric: one :class:`Metric` entry in :data:`METRICS` (where its position is the order of
the printed ``* <key>:`` lines, of results.json and of ``parse_test_res``), plus the code in
``hierarchical.py`` that computes it.
"""
from __future__ import annotations

import os.path as osp
import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

# ---------------------------------------------------------------------------------------------
# Units and aggregations
# ---------------------------------------------------------------------------------------------
PERCENT = "%"
HEIGHT = "LCA height"  # levels between a node and the lowest common ancestor; unitless
COUNT = "count"

MEAN_STD = "mean ± std"
MEAN_STD_HM = "mean ± std; base/new HM"  # base-to-new: the harmonic mean of the seed means
NOT_AGGREGATED = "not aggregated"

# ---------------------------------------------------------------------------------------------
# Keys: each metric key is spelled here and nowhere else
# ---------------------------------------------------------------------------------------------
ACCURACY = "accuracy"
TOP1 = "top1"  # per level: the results.json ``per_level`` field, and the flat key ``<level>_top1``
TOP5 = "top5"
MACRO_F1 = "macro_f1"
FULL_PATH_ACCURACY = "full_path_accuracy"
PATH_CONSISTENCY = "path_consistency"
MISTAKE_SEVERITY = "mistake_severity"
HIERARCHICAL_DISTANCE_AT_1 = "hierarchical_distance_at_1"
NUM_SAMPLES = "num_samples"
HIERARCHICAL_CONSISTENT_ACCURACY = "hierarchical_consistent_accuracy"
HIERARCHICAL_PRECISION = "hierarchical_precision"
HIERARCHICAL_RECALL = "hierarchical_recall"
HIERARCHICAL_F1 = "hierarchical_f1"
MEAN_TREECUT_ACCURACY = "mean_treecut_accuracy"
HIERARCHICAL_DISTANCE_AT_5 = "hierarchical_distance_at_5"
#: not a metric: a level's number of classes, beside its metrics in results.json's ``per_level``
NUM_CLASSES = "num_classes"
#: not a metric: results.json's per-class accuracy of every level, written only with ``TEST.PER_CLASS_RESULT``
PER_CLASS_ACCURACY = "per_class_accuracy"


GROUP_TOP1 = TOP1  # a per-level metric names its group
GROUP_TOP5 = TOP5
GROUP_MACRO_F1 = MACRO_F1
GROUP_TREE = "tree"
GROUP_ALL = "all"
#: ``parse_test_res --keyword`` group names; ``accuracy`` (the default) is ``top1``
KEYWORD_GROUPS = (GROUP_TOP1, GROUP_TOP5, GROUP_MACRO_F1, GROUP_TREE, GROUP_ALL)
KEYWORD_ALIASES = {ACCURACY: GROUP_TOP1}


@dataclass(frozen=True)
class Metric:
    """One metric and everything that reads it needs to know.

    Attributes:
        key: the results.json / printed key; for a per-level metric, the ``per_level`` field
            (the flat key is ``<level>_<key>``, see :func:`level_key`).
        unit: :data:`PERCENT`, :data:`HEIGHT` or :data:`COUNT`.
        higher_is_better: the direction (comparison tables bold the best mean of a row).
        aggregation: how seeds combine (:data:`MEAN_STD`, :data:`MEAN_STD_HM` or :data:`NOT_AGGREGATED`).
        groups: the ``parse_test_res --keyword`` groups it belongs to.
        meaning: one sentence for the docs.
        label: its name in tables (comparison rows, the evaluator's per-level columns).
        per_level: reported once per hierarchy level.
        tree: one of the tree metrics (computed only with ``tree_metrics=True``, written after the others).
        decimals: decimals of the evaluator's ``* <key>: value`` line.
        summary_label: its name on the evaluator's summary lines (``{num_cuts}``/``{seed}``: the tree cuts').
        summary_decimals: decimals there.
        summary_key: its entry in base-to-new summaries (``summary.json``), for :data:`MEAN_STD_HM` metrics.
    """

    key: str
    unit: str
    higher_is_better: bool
    aggregation: str
    groups: tuple[str, ...]
    meaning: str
    label: str = ""
    per_level: bool = False
    tree: bool = False
    decimals: int = 1
    summary_label: str = ""
    summary_decimals: int = 1
    summary_key: str = ""

    @property
    def pattern(self) -> str:
        """The key as the docs show it: ``<level>_top1`` for a per-level metric."""
        return f"<level>_{self.key}" if self.per_level else self.key


#: every metric, in the evaluator's order (returned keys, then the tree metrics)
METRICS: tuple[Metric, ...] = (
    Metric(ACCURACY, PERCENT, True, MEAN_STD, (GROUP_ALL,), label="accuracy",
           meaning="Top-1 accuracy at the finest level; the first key, which Dassl selects the best epoch on."),
    Metric(TOP1, PERCENT, True, MEAN_STD_HM, (GROUP_TOP1, GROUP_ALL), label="top-1", per_level=True,
           meaning="Top-1 accuracy at the level."),
    Metric(TOP5, PERCENT, True, MEAN_STD, (GROUP_TOP5, GROUP_ALL), label="top-5", per_level=True,
           meaning="The true class is among the level's 5 highest scores; only for levels with more than 5 classes."),
    Metric(MACRO_F1, PERCENT, True, MEAN_STD, (GROUP_MACRO_F1, GROUP_ALL), label="macro-F1", per_level=True,
           meaning="F1 averaged over the level's classes, each class weighing the same."),
    Metric(FULL_PATH_ACCURACY, PERCENT, True, MEAN_STD_HM, (GROUP_TOP1, GROUP_ALL), label="full path",
           summary_label="full path", summary_key="full_path",
           meaning="Every level right at once."),
    Metric(PATH_CONSISTENCY, PERCENT, True, MEAN_STD, (GROUP_TREE, GROUP_ALL), label="consistent path",
           summary_label="consistent path",
           meaning="The per-level predictions form a path of the hierarchy (right or wrong)."),
    Metric(MISTAKE_SEVERITY, HEIGHT, False, MEAN_STD, (GROUP_TREE, GROUP_ALL), label="mistake severity",
           decimals=2, summary_label="mistake severity", summary_decimals=2,
           meaning="Mean LCA height between the predicted and the true leaf over the mistakes; undefined without one."),
    Metric(HIERARCHICAL_DISTANCE_AT_1, HEIGHT, False, MEAN_STD, (GROUP_TREE, GROUP_ALL), label="hier. dist@1",
           decimals=2, summary_label="hier. distance@1", summary_decimals=2,
           meaning="Mean LCA height between the predicted and the true leaf over all samples (0 when right)."),
    Metric(NUM_SAMPLES, COUNT, True, NOT_AGGREGATED, (), label="total",
           meaning="Number of evaluated samples."),
    Metric(HIERARCHICAL_CONSISTENT_ACCURACY, PERCENT, True, MEAN_STD_HM, (GROUP_TOP1, GROUP_TREE, GROUP_ALL),
           label="HCA", tree=True, summary_label="HCA", summary_key="hca",
           meaning="Hierarchical consistent accuracy (ProTeCt): right at every node of the true path."),
    Metric(HIERARCHICAL_PRECISION, PERCENT, True, MEAN_STD, (GROUP_TREE, GROUP_ALL), label="hP", tree=True,
           summary_label="hP",
           meaning="Hierarchical precision: share of the predicted path's nodes that lie on the true path."),
    Metric(HIERARCHICAL_RECALL, PERCENT, True, MEAN_STD, (GROUP_TREE, GROUP_ALL), label="hR", tree=True,
           summary_label="hR",
           meaning="Hierarchical recall: share of the true path's nodes that the predicted path contains."),
    Metric(HIERARCHICAL_F1, PERCENT, True, MEAN_STD, (GROUP_TREE, GROUP_ALL), label="hF", tree=True,
           summary_label="hF",
           meaning="Harmonic mean of hierarchical precision and recall."),
    Metric(MEAN_TREECUT_ACCURACY, PERCENT, True, MEAN_STD, (GROUP_TREE, GROUP_ALL), label="MTA", tree=True,
           summary_label="MTA ({num_cuts} cuts, seed {seed})", summary_decimals=2,
           meaning="Mean accuracy over the fixed random tree cuts (TEST.TREE_CUTS); undefined without cuts."),
    Metric(HIERARCHICAL_DISTANCE_AT_5, HEIGHT, False, MEAN_STD, (GROUP_TREE, GROUP_ALL), label="hier. dist@5",
           tree=True, decimals=2, summary_label="hier. distance@5", summary_decimals=2,
           meaning="Mean LCA height between the true leaf and each of the 5 top-scored leaves; "
                   "only with more than 5 leaves."),
)

_BY_KEY = {metric.key: metric for metric in METRICS}
PER_LEVEL_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if m.per_level)
#: the keys the evaluator returns to Dassl (the tree metrics follow them in ``last_results``)
RETURNED_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS if not m.per_level and not m.tree)
TREE_METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS if m.tree)
#: the base-to-new summary's extra rows beside the per-level top-1 (full path, HCA)
BASE_NEW_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if m.aggregation == MEAN_STD_HM and not m.per_level)
#: the comparison table's rows after the levels and the full path, in this order (only for runs with tree metrics)
COMPARISON_ROWS: tuple[Metric, ...] = tuple(_BY_KEY[k] for k in (
    HIERARCHICAL_CONSISTENT_ACCURACY, MEAN_TREECUT_ACCURACY, HIERARCHICAL_PRECISION, HIERARCHICAL_RECALL,
    HIERARCHICAL_F1, HIERARCHICAL_DISTANCE_AT_1, HIERARCHICAL_DISTANCE_AT_5,
))
#: the evaluator's summary lines under its per-level table; a tuple inside is printed as ``a / b / c``
SUMMARY_LINES: tuple[tuple, ...] = (
    (FULL_PATH_ACCURACY, PATH_CONSISTENCY, MISTAKE_SEVERITY, HIERARCHICAL_DISTANCE_AT_1),
    (HIERARCHICAL_CONSISTENT_ACCURACY, (HIERARCHICAL_PRECISION, HIERARCHICAL_RECALL, HIERARCHICAL_F1),
     MEAN_TREECUT_ACCURACY, HIERARCHICAL_DISTANCE_AT_5),
)


def by_key(key: str) -> Metric:
    """The metric of a spec key (``top1`` for the per-level top-1); KeyError names the known keys."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown metric key {key!r}; known: {', '.join(_BY_KEY)}") from None


def level_key(level_name: str, metric: "Metric | str" = "") -> str:
    """A level name as a flat-key prefix (no spaces, so ``* <key>: x%`` stays parseable), with the metric's suffix.

    ``level_key("mid level", TOP1) == "mid_level_top1"``; without a metric, just the prefix.
    """
    prefix = re.sub(r"\W+", "_", level_name).strip("_") or "level"
    suffix_key = metric.key if isinstance(metric, Metric) else metric
    return f"{prefix}_{suffix_key}" if suffix_key else prefix


def metric_of(flat_key: str) -> Optional[Metric]:
    """The metric a flat key (``accuracy``, ``shape_top1``, ...) reports, or None for an unknown key."""
    if flat_key in _BY_KEY and not _BY_KEY[flat_key].per_level:
        return _BY_KEY[flat_key]
    for metric in PER_LEVEL_METRICS:
        if flat_key.endswith(f"_{metric.key}"):
            return metric
    return None


def is_percent(flat_key: str) -> bool:
    """Whether a flat key is a percentage (unknown keys count as one, as the per-level metrics)."""
    metric = metric_of(flat_key)
    return metric is None or metric.unit == PERCENT


def suffix(flat_key: str) -> str:
    """``%`` after a percentage's value, nothing after a height."""
    return "%" if is_percent(flat_key) else ""


def flat_keys(levels: Sequence[str]) -> list[tuple[str, Metric, Optional[str]]]:
    """``(flat key, metric, level or None)`` of every seed-aggregated metric, in the evaluator's order.

    The flat keys are the names of the evaluator's ``* <key>:`` lines; ``aggregate.flat_metrics``
    reads them from a results.json.
    """
    keys: list[tuple[str, Metric, Optional[str]]] = []
    for metric in METRICS:
        if metric.aggregation == NOT_AGGREGATED or metric.per_level:
            continue
        keys.append((metric.key, metric, None))
        if metric.key == ACCURACY:  # the per-level block follows the selection metric
            for level in levels:
                keys.extend((level_key(level, m), m, level) for m in PER_LEVEL_METRICS)
    return keys


def keyword_keys(flat: Iterable[str], keyword: str) -> Optional[list[str]]:
    """The keys (of ``flat``, in its order) that a ``--keyword`` group stands for; None when it is no group.

    The ``tree`` group lists the percentages first, then the heights.
    """
    keyword = KEYWORD_ALIASES.get(keyword, keyword)
    if keyword not in KEYWORD_GROUPS:
        return None
    keys = [k for k in flat if keyword in getattr(metric_of(k), "groups", ())]
    if keyword == GROUP_TREE:
        keys = [k for k in keys if is_percent(k)] + [k for k in keys if not is_percent(k)]
    return keys


# ---------------------------------------------------------------------------------------------
# The docs page
# ---------------------------------------------------------------------------------------------
#: the page :func:`render_docs` writes, relative to the repository root
DOCS_PAGE = osp.join("docs", "reference", "metrics.md")
_UNIT_TEXT = {PERCENT: "%", HEIGHT: "LCA height (unitless)", COUNT: "count"}


def render_docs() -> str:
    """``docs/reference/metrics.md``: one row per metric, from :data:`METRICS`."""
    rows = ["| key | unit | better | seeds | `--keyword` groups | meaning |",
            "|---|---|---|---|---|---|"]
    for metric in METRICS:
        better = "n/a" if metric.unit == COUNT else ("higher" if metric.higher_is_better else "lower")
        groups = ", ".join(f"`{g}`" for g in metric.groups) or "-"
        rows.append(f"| `{metric.pattern}` | {_UNIT_TEXT[metric.unit]} | {better} | {metric.aggregation} | "
                    f"{groups} | {metric.meaning} |")
    return "\n".join([
        "# Metrics",
        "",
        "<!-- Generated from hgclip/evaluation/metric_spec.py by "
        "`python -m hgclip.evaluation.metric_docs --write`; do not edit by hand. -->",
        "",
        "The `Hierarchical` evaluator (`TEST.EVALUATOR Hierarchical`) prints `* <key>: value` lines and writes "
        "these keys to `results.json`, in this order. Per-level metrics are written under `per_level.<level>` "
        "in `results.json` and printed as `<level>_<key>` (the level name with every non-word run replaced "
        "by `_`). The tree metrics (from `hierarchical_consistent_accuracy` on) are computed unless the "
        "evaluator is built with `tree_metrics=False`. Undefined values are `null` in `results.json` and "
        "are not printed.",
        "",
        *rows,
        "",
        "- **unit**: `%` is a percentage; an LCA height counts the levels between a node and its lowest "
        "common ancestor with another (0 = the same node).",
        "- **seeds**: how `parse_test_res`, `compare` and `base2new` combine runs of several seeds: the mean "
        "and the population standard deviation (`np.std`, or with `--ci95` the 95% confidence half-width "
        "1.96·std/√n); `base/new HM`: base-to-new summaries give the harmonic mean 2BN/(B+N) of the seed "
        "means (averaged first, then the HM).",
        "- **`--keyword` groups**: `python -m hgclip.cli.parse_test_res DIR --keyword GROUP` reports the "
        "keys of a group (`accuracy`, the default, is `top1`; the `tree` group lists percentages, then "
        "heights); any single key also works.",
        "",
        *ANY_DEPTH_DEFINITIONS,
    ])


#: how each metric reads on a tree whose leaves sit at different depths (``levels: any``); the functions
#: are in ``metrics.py`` and ``treecuts.py``, hand-tested in ``tests/unit/test_metrics_any_depth.py``
ANY_DEPTH_DEFINITIONS: tuple[str, ...] = (
    "## Trees whose leaves sit at different depths",
    "",
    "On an any-depth tree (`levels: any`) the levels are the depths 1..D and a sample's true path has "
    "entries only down to its leaf; predicted paths likewise stop at the predicted leaf. On a fixed-level "
    "tree every definition below reduces to the one above, with the same numbers.",
    "",
    "- **leaf accuracy** (`accuracy`): the predicted leaf is the true leaf, whatever its depth.",
    "- **per-level (per-depth) top-1**: level d is scored over the samples whose true path reaches depth d. "
    "**Per-rank** top-1 (taxonomies with ranks): over the samples whose true path has a node of that rank, "
    "right when the predicted leaf's path holds the same node.",
    "- **full path**: the predicted path is the true path (same nodes, same length).",
    "- **consistent path**: the per-level predictions are exactly the predicted leaf's path.",
    "- **HCA** (ProTeCt): at every inner node of the variable-length true path (the root, then each true "
    "node above the leaf's parent) the argmax among its children is the true child, and the argmax over "
    "all leaves is the true leaf.",
    "- **hP / hR / hF**: over ancestor sets as above; |A(y)| is the true path's length.",
    "- **mistake severity, hier. dist@k**: the LCA height as Making Better Mistakes publishes it for its "
    "WordNet trees: D minus the depth of the lowest common ancestor (D for two leaves that share only the "
    "root; 0 for the same leaf). `python -m hgclip.cli.check_lca` reproduces its published distances for every "
    "pair of leaves of its ImageNet (depths 3-15), tieredImageNet-H (3-12) and iNaturalist-19 trees; the LCA "
    "node's own longest path down to a leaf would not (71% of the ImageNet pairs).",
    "- **MTA**: cuts are drawn as above (a leaf at any depth is never expanded); each leaf maps to the one "
    "node of its path in the cut.",
    "- **decoders**: each predicts a leaf (the argmax of one score per leaf) and per-depth predictions "
    "down to it; `path` scores a leaf by the MEAN log-probability of its path's nodes, since the sum "
    "favours shallow leaves ([Metrics and decoders](metrics-and-decoders.md)).",
    "",
)
