"""Runs that collapsed to the class prior, per method, and paired between methods.

A run's verdict is the test-free rule of :mod:`flatlora.bench.collapse`: read from the record's
``collapse`` block when it has one, else computed here from the record's training losses and its
validation score at the selected epoch. That needs the training split's label counts (the prior) and the
validation split's (the majority class's score): ``dataset_info.label_counts`` when the record has them,
else the counts recomputed from the data by :mod:`reports.texts`, else the run is *not computable* and
the report says so. Between two methods, the collapses of the seeds both ran are compared with the exact
McNemar test on the discordant seeds (``scipy.stats.binomtest``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flatlora.bench.collapse import DEFAULT_RULE, CollapseRule, assess
from reports import stats, twoway

__all__ = [
    "CollapsePair",
    "CollapseSummary",
    "MethodCollapses",
    "RunCollapse",
    "collapse_summary",
    "run_collapse",
]

SOURCES = ("record", "recomputed", "not computable")


@dataclass
class RunCollapse:
    method: str
    seed: int
    collapsed: bool | None  # None: not computable
    reasons: list[str]
    source: str  # one of SOURCES
    tail_loss: float = math.nan
    prior_entropy: float = math.nan


@dataclass
class MethodCollapses:
    method: str
    n_runs: int
    n_collapsed: int
    seeds: list[int]  # the collapsed seeds
    n_unknown: int  # runs whose collapse is not computable
    sources: list[str]  # the distinct sources of this method's verdicts


@dataclass
class CollapsePair:
    """Paired collapse of two methods over the seeds both ran (and both have a verdict on)."""

    method_a: str
    method_b: str
    role: str
    seeds: list[int]
    both: list[int]
    only_a: list[int]
    only_b: list[int]
    pvalue: float  # exact McNemar: binomial test of len(only_a) in len(only_a) + len(only_b) at 1/2


@dataclass
class CollapseSummary:
    rule: str
    methods: list[MethodCollapses] = field(default_factory=list)
    pairs: list[CollapsePair] = field(default_factory=list)
    runs: list[RunCollapse] = field(default_factory=list)

    @property
    def any_collapsed(self) -> bool:
        return any(m.n_collapsed for m in self.methods)


def _majority_score(val_counts: Sequence[int], train_counts: Sequence[int], metric: str) -> float:
    """The validation score of always predicting the training split's most frequent class (ties: the
    first label), as the runner scores it."""
    top = max(range(len(train_counts)), key=lambda i: (train_counts[i], -i))
    cm = np.zeros((len(val_counts), len(val_counts)))
    cm[:, top] = np.asarray(val_counts, dtype=float)  # every gold row predicted as `top`
    return float(twoway.metric_from_confusion(cm, metric if metric != "loss" else "accuracy"))


def run_collapse(
    record: Mapping[str, Any],
    label_counts: Mapping[str, Mapping[str, int]] | None = None,
    rule: CollapseRule = DEFAULT_RULE,
) -> RunCollapse:
    """The collapse verdict of one ok classification run (see the module docstring for the sources)."""
    method, seed = str(record.get("method")), int(record.get("seed") or 0)
    block = record.get("collapse")
    if isinstance(block, Mapping) and isinstance(block.get("collapsed"), bool):
        return RunCollapse(
            method,
            seed,
            bool(block["collapsed"]),
            [str(x) for x in block.get("reasons") or []],
            "record",
            float(block.get("tail_loss", math.nan)),
            float(block.get("prior_entropy", math.nan)),
        )
    info = record.get("dataset_info") or {}
    counts = info.get("label_counts") or label_counts
    names = list(info.get("label_names") or [])
    losses = [float(p["loss"]) for p in record.get("train_loss") or [] if _finite(p.get("loss"))]
    metric = str(info.get("headline_metric") or "accuracy")
    best = next(
        (h for h in record.get("val_history") or [] if h.get("epoch") == record.get("best_epoch")), None
    )
    if not counts or not names or not losses or best is None or not _finite(best.get(metric)):
        return RunCollapse(method, seed, None, [], "not computable")
    train = [int((counts.get("train") or {}).get(n, 0)) for n in names]
    val = [int((counts.get("val") or {}).get(n, 0)) for n in names]
    if sum(train) <= 0 or sum(val) <= 0:
        return RunCollapse(method, seed, None, [], "not computable")
    got = assess(losses, train, float(best[metric]), _majority_score(val, train, metric), rule)
    return RunCollapse(
        method, seed, got.collapsed, got.reasons, "recomputed", got.tail_loss, got.prior_entropy
    )


def collapse_summary(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    pairs: Sequence[tuple[str, str, str]],
    label_counts: Mapping[str, Mapping[str, int]] | None = None,
    rule: CollapseRule = DEFAULT_RULE,
) -> CollapseSummary:
    """Collapses per method (``runs``: method -> its ok runs) and paired per (a, b, role) pair."""
    out = CollapseSummary(rule=rule.text())
    verdicts: dict[str, dict[int, RunCollapse]] = {}
    for m, rs in runs.items():
        vs = [run_collapse(r, label_counts, rule) for r in rs]
        verdicts[m] = {v.seed: v for v in vs}
        out.runs += vs
        out.methods.append(
            MethodCollapses(
                method=m,
                n_runs=len(vs),
                n_collapsed=sum(v.collapsed is True for v in vs),
                seeds=sorted(v.seed for v in vs if v.collapsed),
                n_unknown=sum(v.collapsed is None for v in vs),
                sources=[s for s in SOURCES if any(v.source == s for v in vs)],
            )
        )
    for a, b, role in pairs:
        va, vb = verdicts.get(a, {}), verdicts.get(b, {})
        seeds = sorted(
            s for s in set(va) & set(vb) if va[s].collapsed is not None and vb[s].collapsed is not None
        )
        if not seeds:
            continue
        ca = [not va[s].collapsed for s in seeds]  # "right" = did not collapse
        cb = [not vb[s].collapsed for s in seeds]
        with warnings.catch_warnings():  # no discordant seed: p = 1, nothing to warn about
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            mc = stats.mcnemar_exact(ca, cb)
        out.pairs.append(
            CollapsePair(
                method_a=a,
                method_b=b,
                role=role,
                seeds=seeds,
                both=[s for s in seeds if va[s].collapsed and vb[s].collapsed],
                only_a=[s for s in seeds if va[s].collapsed and not vb[s].collapsed],
                only_b=[s for s in seeds if vb[s].collapsed and not va[s].collapsed],
                pvalue=mc.pvalue,
            )
        )
    return out


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
