"""Robust and secondary endpoints of a paired comparison: what the mean of the differences can hide.

* **Robust:** the median paired difference and the Hodges–Lehmann estimate (the median of the Walsh
  averages (d_i + d_j) / 2, i <= j), with the Wilcoxon signed-rank test (scipy's ``wilcoxon``).
* **Leverage:** the seed whose removal moves the mean most. It *carries* the mean when both hold: without
  it the mean keeps at most half its size (or changes sign), and its difference lies more than
  ``LEVERAGE_SDS`` SDs of the other differences away from their mean (an outlier, not one of many
  similar seeds).
* **Test log-loss:** per run, the mean over the test examples of −log p(gold label) (records keep each
  example's ``logp``), paired over the seeds both methods ran (paired t).

Which of these a study fixed in advance is its design's business (:mod:`flatlora.bench.design`); the
report says whether they were pre-registered or are exploratory.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reports import stats

__all__ = [
    "LEVERAGE_SDS",
    "Leverage",
    "LogLoss",
    "LogLossMethod",
    "LogLossPair",
    "Robust",
    "hodges_lehmann",
    "leverage",
    "log_loss_summary",
    "robust_paired",
    "run_log_loss",
]

LEVERAGE_SDS = 3.0


@dataclass
class Leverage:
    """The most influential seed of a mean of paired differences (see the module docstring)."""

    seed: int
    diff: float
    mean: float  # over every pair
    mean_without: float  # over the other n - 1 pairs
    n_without: int
    carries: bool  # this seed carries the mean (both conditions hold)


@dataclass
class Robust:
    """The median, the Hodges–Lehmann estimate and the Wilcoxon signed-rank test of paired differences."""

    n: int
    median: float
    hodges_lehmann: float
    wilcoxon_statistic: float
    wilcoxon_pvalue: float
    n_nonzero: int  # pairs with a non-zero difference (Wilcoxon drops the zeros)
    leverage: Leverage | None = None


def hodges_lehmann(diffs: Sequence[float]) -> float:
    """The one-sample Hodges–Lehmann estimate: the median of all Walsh averages (d_i + d_j) / 2, i <= j."""
    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        return math.nan
    i, j = np.triu_indices(d.size)
    return float(np.median((d[i] + d[j]) / 2))


def leverage(seeds: Sequence[int], diffs: Sequence[float], k: float = LEVERAGE_SDS) -> Leverage | None:
    """The seed whose removal moves the mean of ``diffs`` most, and whether it carries the mean."""
    n = len(diffs)
    if n < 3 or len(seeds) != n:
        return None
    d = np.asarray(diffs, dtype=float)
    mean = float(d.mean())
    without = (d.sum() - d) / (n - 1)  # (n,) the mean without each pair
    i = int(np.argmax(np.abs(mean - without)))
    others = np.delete(d, i)
    sd = float(others.std(ddof=1)) if others.size > 1 else 0.0
    gap = abs(float(d[i]) - float(others.mean()))
    outlier = gap > k * sd if sd > 0 else gap > 0
    shrinks = mean != 0 and (abs(float(without[i])) <= abs(mean) / 2 or float(without[i]) * mean < 0)
    return Leverage(int(seeds[i]), float(d[i]), mean, float(without[i]), n - 1, bool(outlier and shrinks))


def robust_paired(seeds: Sequence[int], diffs: Sequence[float]) -> Robust | None:
    """Median, Hodges–Lehmann and Wilcoxon signed-rank of the paired differences (None without pairs)."""
    if not diffs:
        return None
    d = [float(x) for x in diffs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        w = stats.wilcoxon_paired(d, [0.0] * len(d))
    return Robust(
        n=len(d),
        median=float(statistics.median(d)),
        hodges_lehmann=hodges_lehmann(d),
        wilcoxon_statistic=w.statistic,
        wilcoxon_pvalue=w.pvalue,
        n_nonzero=w.n_nonzero,
        leverage=leverage(seeds, d),
    )


# ------------------------------------------------------------------------------------------- log-loss
@dataclass
class LogLossMethod:
    method: str
    n: int  # runs with per-example log-probabilities
    mean: float
    sd: float
    n_missing: int = 0  # runs of this method without them (older records)


@dataclass
class LogLossPair:
    method_a: str
    method_b: str
    role: str
    seeds: list[int]  # the seeds both ran, each with log-probabilities
    estimate: float  # mean of (A − B) per seed
    ci_low: float
    ci_high: float
    pvalue: float
    n: int


@dataclass
class LogLoss:
    """Test log-loss per method and paired per compared pair (lower is better)."""

    methods: list[LogLossMethod] = field(default_factory=list)
    pairs: list[LogLossPair] = field(default_factory=list)


def run_log_loss(record: Mapping[str, Any]) -> float | None:
    """Mean of −log p(gold) over a run's test predictions; None unless every prediction carries ``logp``."""
    preds = record.get("predictions") or []
    lps = [p.get("logp") for p in preds]
    if not lps or not all(isinstance(x, int | float) and math.isfinite(x) for x in lps):
        return None
    return float(-np.mean(np.asarray(lps, dtype=float)))


def log_loss_summary(
    runs: Mapping[str, Sequence[Mapping[str, Any]]], pairs: Sequence[tuple[str, str, str]]
) -> LogLoss | None:
    """Per method and per (a, b, role) pair over shared seeds; None when no run has log-probabilities."""
    per: dict[str, dict[int, float]] = {}
    missing: dict[str, int] = {}
    for m, rs in runs.items():
        got = {int(r["seed"]): x for r in rs if (x := run_log_loss(r)) is not None}
        per[m], missing[m] = got, len(rs) - len(got)
    if not any(per.values()):
        return None
    out = LogLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        for m, got in per.items():
            if got:
                d = stats.describe(list(got.values()))
                out.methods.append(LogLossMethod(m, d.n, d.mean, d.std, missing[m]))
        for a, b, role in pairs:
            seeds = sorted(set(per.get(a, {})) & set(per.get(b, {})))
            if not seeds:
                continue
            pm = stats.paired_mean([per[a][s] for s in seeds], [per[b][s] for s in seeds])
            lo, hi = pm.confidence_interval(0.95)
            out.pairs.append(LogLossPair(a, b, role, seeds, pm.estimate, lo, hi, pm.pvalue, pm.n))
    return out
