"""Two-way bootstrap of a paired difference in a test metric: seeds and test examples resampled jointly.

The seed-paired t interval treats the test examples as fixed: it generalises over training seeds but not
over the sentences that happen to be in the test split. Resampling both (Efron & Tibshirani 1993, §8.3
on two-sample and crossed designs; the "two-way" bootstrap of Bouthillier et al. 2021, "Accounting for
variance in machine learning benchmarks") gives an interval for the difference a new test set and new
seeds would show. One resample draws k seeds with replacement (the same seeds for both methods: pairs
stay pairs) and n test examples with replacement (the same examples for every seed and both methods),
recomputes each method's metric on every drawn seed from its confusion matrix, and averages the per-seed
differences. The interval is the percentile interval of those averages (so it never leaves the metric's
range). Computing the metric from weighted confusion matrices makes every metric of the runner available
(accuracy, macro/weighted F1, MCC) at the cost of one (resamples × examples) @ (examples × labels²)
product per seed and method.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["TwoWayBootstrap", "metric_from_confusion", "two_way_bootstrap"]

N_RESAMPLES = 9999
SEED = 0
_CHUNK = 500  # resamples per block: bounds memory at (chunk x examples) floats


@dataclass(frozen=True)
class TwoWayBootstrap:
    metric: str
    estimate: float  # mean over seeds of the per-seed difference on the full test set
    low: float
    high: float
    confidence: float
    n_resamples: int
    seed: int
    n_seeds: int
    n_examples: int
    se: float  # SD of the resampled differences

    def confidence_interval(self) -> tuple[float, float]:
        return (self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def metric_from_confusion(cm: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` of a stack of confusion matrices (..., L, L) (rows gold, columns predicted).

    Same conventions as the runner's sklearn calls: F1 over every label with zero_division=0, weighted F1
    by gold support, MCC by Gorodkin's multiclass formula (0 when undefined).
    """
    cm = np.asarray(cm, dtype=float)
    total = cm.sum(axis=(-2, -1))
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    gold = cm.sum(axis=-1)  # (..., L) true counts
    pred = cm.sum(axis=-2)  # (..., L) predicted counts
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "accuracy":
            return np.where(total > 0, tp.sum(axis=-1) / total, np.nan)
        if metric in ("macro_f1", "weighted_f1"):
            denom = gold + pred
            f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
            if metric == "macro_f1":
                return f1.mean(axis=-1)
            return np.where(total > 0, (f1 * gold).sum(axis=-1) / np.where(total > 0, total, 1), np.nan)
        if metric == "mcc":
            c = tp.sum(axis=-1)
            cov = c * total - (gold * pred).sum(axis=-1)
            den = np.sqrt((total**2 - (pred * pred).sum(axis=-1)) * (total**2 - (gold * gold).sum(axis=-1)))
            return np.where(den > 0, cov / np.where(den > 0, den, 1), 0.0)
    raise ValueError(f"unknown metric {metric!r}; choose from accuracy, macro_f1, weighted_f1, mcc")


def _onehot(gold: np.ndarray, pred: np.ndarray, n_labels: int) -> np.ndarray:
    """(examples, L²): example i's cell gold_i * L + pred_i."""
    out = np.zeros((gold.size, n_labels * n_labels))
    out[np.arange(gold.size), gold * n_labels + pred] = 1.0
    return out


def two_way_bootstrap(
    gold: Sequence[int],
    pred_a: Sequence[Sequence[int]],
    pred_b: Sequence[Sequence[int]],
    metric: str = "accuracy",
    *,
    n_labels: int | None = None,
    n_resamples: int = N_RESAMPLES,
    confidence: float = 0.95,
    seed: int = SEED,
) -> TwoWayBootstrap:
    """Percentile interval of mean over seeds of metric(A) − metric(B), seeds and examples resampled.

    ``gold[i]`` is example i's label id; ``pred_a[s][i]``, ``pred_b[s][i]`` the two methods' predictions of
    seed s (row s of both is the same seed). Reproducible: one ``numpy.random.default_rng(seed)``.
    """
    g = np.asarray(gold, dtype=int).ravel()
    pa, pb = np.asarray(pred_a, dtype=int), np.asarray(pred_b, dtype=int)
    if pa.ndim != 2 or pa.shape != pb.shape or pa.shape[1] != g.size:
        raise ValueError(
            f"predictions must be (seeds, examples) arrays of equal shape matching {g.size} gold labels, "
            f"got {pa.shape} and {pb.shape}"
        )
    k, n = pa.shape
    if k < 1 or n < 1:
        raise ValueError(f"need at least one seed and one example, got {k} seeds and {n} examples")
    n_labels = int(n_labels or max(g.max(), pa.max(), pb.max()) + 1)
    ea = [_onehot(g, pa[s], n_labels) for s in range(k)]  # each (n, L²)
    eb = [_onehot(g, pb[s], n_labels) for s in range(k)]
    full = np.ones((1, n))
    est = float(
        np.mean(
            [
                metric_from_confusion((full @ ea[s]).reshape(n_labels, n_labels), metric)
                - metric_from_confusion((full @ eb[s]).reshape(n_labels, n_labels), metric)
                for s in range(k)
            ]
        )
    )
    correct = (pa == g).astype(float) - (pb == g).astype(float)  # (k, n)
    rng = np.random.default_rng(seed)
    stats: list[np.ndarray] = []
    for start in range(0, n_resamples, _CHUNK):
        b = min(_CHUNK, n_resamples - start)
        seed_counts = np.stack(
            [np.bincount(r, minlength=k) for r in rng.integers(0, k, size=(b, k))]
        )  # (b, k)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(float)  # (b, n)
        if metric == "accuracy":  # linear in the weights: one product instead of k confusion matrices
            stats.append(np.einsum("bk,kn,bn->b", seed_counts, correct, weights) / (k * n))
            continue
        diff = np.empty((b, k))
        for s in range(k):  # metric of seed s on every resample's examples
            ma = metric_from_confusion((weights @ ea[s]).reshape(b, n_labels, n_labels), metric)
            mb = metric_from_confusion((weights @ eb[s]).reshape(b, n_labels, n_labels), metric)
            diff[:, s] = ma - mb
        stats.append((seed_counts * diff).sum(axis=1) / k)
    boot = np.concatenate(stats)
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(boot, [tail, 1 - tail])
    se = float(boot.std(ddof=1)) if boot.size > 1 else math.nan
    return TwoWayBootstrap(metric, est, float(lo), float(hi), confidence, n_resamples, seed, k, n, se)
