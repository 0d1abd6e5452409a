"""Seed-level statistics for the benchmark report.

Everything is built on scipy (``ttest_ind``, ``ttest_rel``, ``bootstrap``, ``binomtest``, ``wilcoxon``,
``nct``); this module only adds result objects, NaN-safe handling of degenerate inputs and the few
formulas scipy does not ship (Holm, Newcombe's paired-proportion interval, effect sizes).

Degenerate data (n < 2, zero variance, identical scores) emits :class:`DegenerateDataWarning` and returns
objects whose numbers are NaN, so one odd cell never crashes a whole report.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special
from scipy import stats as st

__all__ = [
    "BootstrapCI",
    "CMHResult",
    "Comparison",
    "DegenerateDataWarning",
    "Description",
    "Equivalence",
    "McNemarResult",
    "PairedMean",
    "ProportionDiff",
    "WilcoxonResult",
    "bootstrap_mean_diff",
    "bounded_mean_interval",
    "cmh_across_seeds",
    "cohens_d",
    "compare",
    "describe",
    "hedges_g",
    "holm",
    "mcnemar_exact",
    "min_detectable_effect",
    "paired_d_z",
    "paired_mean",
    "paired_proportion_diff",
    "ttest_power",
    "wilcoxon_paired",
    "wilson_interval",
]

NAN = float("nan")
Values = Sequence[float] | np.ndarray  # per-seed scores


class DegenerateDataWarning(UserWarning):
    """Data too small or too constant for the requested statistic (mirrors scipy's own warning)."""


def _warn(msg: str) -> None:
    warnings.warn(msg, DegenerateDataWarning, stacklevel=3)


def _arr(values: Values, name: str = "values") -> np.ndarray:
    a = np.asarray(values, dtype=float).ravel()
    if np.isnan(a).any():
        raise ValueError(f"`{name}` must not contain NaN, got {a.tolist()}")
    return a


def _scale(*groups: Values) -> float:
    """Magnitude for float-rounding tolerances: a constant 0.7 has var ~1e-33, not exactly 0."""
    return max([1.0, *(float(np.max(np.abs(np.asarray(g, dtype=float)))) for g in groups if len(g))])


# --------------------------------------------------------------------------------------------- describe
@dataclass(frozen=True)
class Description:
    """Mean, sample std (ddof=1) and n of one metric over seeds."""

    mean: float
    std: float
    n: int

    @property
    def sem(self) -> float:
        return self.std / math.sqrt(self.n) if self.n >= 2 else NAN

    def confidence_interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """Student-t interval for the mean (NaN when n < 2)."""
        if self.n < 2 or not math.isfinite(self.sem):
            return (NAN, NAN)
        if self.sem == 0:
            return (self.mean, self.mean)
        lo, hi = st.t.interval(confidence, self.n - 1, loc=self.mean, scale=self.sem)
        return (float(lo), float(hi))

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.confidence_interval()
        return {"mean": self.mean, "std": self.std, "n": self.n, "ci_low": lo, "ci_high": hi}


def describe(values: Values) -> Description:
    a = _arr(values)
    n = int(a.size)
    if n == 0:
        _warn("describe() got no values; mean and std are NaN")
        return Description(NAN, NAN, 0)
    if n < 2:
        _warn(f"describe() got n={n}; std (ddof=1) is undefined")
        return Description(float(a.mean()), NAN, n)
    return Description(float(a.mean()), float(a.std(ddof=1)), n)


# ----------------------------------------------------------------------------------------- effect sizes
def cohens_d(a: Values, b: Values) -> float:
    """(mean_a - mean_b) / pooled sd (ddof=1). NaN when the pooled sd is 0 or n < 2."""
    x, y = _arr(a, "a"), _arr(b, "b")
    if x.size < 2 or y.size < 2:
        return NAN
    sp2 = ((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2)
    if math.sqrt(max(sp2, 0.0)) <= 1e-12 * _scale(x, y):
        return NAN
    return float((x.mean() - y.mean()) / math.sqrt(sp2))


def hedges_g(a: Values, b: Values) -> float:
    """Cohen's d times the exact small-sample correction J(df) = Γ(df/2) / (√(df/2) Γ((df-1)/2))."""
    d = cohens_d(a, b)
    df = len(a) + len(b) - 2
    if not math.isfinite(d) or df < 2:
        return NAN
    log_j = special.gammaln(df / 2) - 0.5 * math.log(df / 2) - special.gammaln((df - 1) / 2)
    return float(d * math.exp(log_j))


def paired_d_z(a: Values, b: Values) -> float:
    """Standardised mean of paired differences, mean(a-b) / sd(a-b)."""
    d = _arr(a, "a") - _arr(b, "b")
    if d.size < 2:
        return NAN
    sd = d.std(ddof=1)
    return float(d.mean() / sd) if sd > 1e-12 * _scale(a, b) else NAN


# -------------------------------------------------------------------------------------------- t-tests
@dataclass(frozen=True)
class Comparison:
    """Result of comparing two sets of per-seed scores; ``estimate`` is mean(a) - mean(b)."""

    test: str  # "welch" | "paired_t"
    statistic: float
    pvalue: float
    df: float
    estimate: float
    n: int  # pairs (paired) or total observations (welch)
    n_a: int
    n_b: int
    effect_size: float
    effect_size_name: str  # "hedges_g" | "d_z"
    stderr: float
    _result: Any = field(default=None, repr=False, compare=False)

    def confidence_interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """CI of the mean difference; delegates to scipy's ``TtestResult.confidence_interval``."""
        if self._result is None or not (math.isfinite(self.stderr) and self.stderr > 0):
            return (NAN, NAN)
        ci = self._result.confidence_interval(confidence_level=confidence)
        return (float(ci.low), float(ci.high))

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.confidence_interval()
        return {
            "test": self.test,
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "df": self.df,
            "estimate": self.estimate,
            "n": self.n,
            "n_a": self.n_a,
            "n_b": self.n_b,
            "effect_size": self.effect_size,
            "effect_size_name": self.effect_size_name,
            "ci_low": lo,
            "ci_high": hi,
        }


def compare(a: Values, b: Values, paired: bool) -> Comparison:
    """Welch t-test (``paired=False``, the study's choice) or paired t-test over seeds (``paired=True``)."""
    x, y = _arr(a, "a"), _arr(b, "b")
    est = float(x.mean() - y.mean()) if x.size and y.size else NAN
    if paired:
        if x.size != y.size:
            raise ValueError(f"paired compare needs equal lengths, got {x.size} and {y.size}")
        n, name, es = int(x.size), "paired_t", paired_d_z(x, y)
        es_name = "d_z"
        too_small = n < 2
        d = x - y
        se = float(d.std(ddof=1) / math.sqrt(n)) if n >= 2 else NAN
    else:
        n, name, es = int(x.size + y.size), "welch", hedges_g(x, y)
        es_name = "hedges_g"
        too_small = x.size < 2 or y.size < 2
        se = float(math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)) if not too_small else NAN
    if too_small:
        _warn(f"{name}: need n >= 2 per group, got n_a={x.size}, n_b={y.size}; returning NaN")
        return Comparison(name, NAN, NAN, NAN, est, n, int(x.size), int(y.size), NAN, es_name, NAN)
    scale = _scale(x, y)
    if se <= 1e-12 * scale:  # constant up to float rounding (np.var([0.7]*3) is ~1e-33, not 0)
        se = 0.0
        what = "identical scores" if abs(est) <= 1e-12 * scale else "zero variance"
        _warn(f"{name}: {what} (a={x.tolist()}, b={y.tolist()}); t-test undefined, returning NaN")
        return Comparison(name, NAN, NAN, NAN, est, n, int(x.size), int(y.size), NAN, es_name, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = st.ttest_rel(x, y) if paired else st.ttest_ind(x, y, equal_var=False)
    return Comparison(
        name,
        float(res.statistic),
        float(res.pvalue),
        float(res.df),
        est,
        n,
        int(x.size),
        int(y.size),
        es,
        es_name,
        se,
        res,
    )


# ------------------------------------------------------------------------------------------ bootstrap
@dataclass(frozen=True)
class BootstrapCI:
    estimate: float
    low: float
    high: float
    confidence: float
    paired: bool
    n_resamples: int
    method: str

    def confidence_interval(self) -> tuple[float, float]:
        return (self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "paired": self.paired,
            "n_resamples": self.n_resamples,
            "method": self.method,
        }


def bootstrap_mean_diff(
    a: Values,
    b: Values,
    paired: bool,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
) -> BootstrapCI:
    """Percentile bootstrap CI of mean(a) - mean(b) (seeded, so reports are reproducible).

    Percentile rather than BCa: with 3 seeds BCa's jackknife acceleration is itself degenerate.
    Paired resamples whole seeds (the differences); unpaired resamples each group independently.
    """
    x, y = _arr(a, "a"), _arr(b, "b")
    est = float(x.mean() - y.mean()) if x.size and y.size else NAN
    nan_ci = BootstrapCI(est, NAN, NAN, confidence, paired, n_resamples, "percentile")
    if paired and x.size != y.size:
        raise ValueError(f"paired bootstrap needs equal lengths, got {x.size} and {y.size}")
    if x.size < 2 or y.size < 2:
        _warn(f"bootstrap: need n >= 2 per group, got {x.size} and {y.size}; returning NaN CI")
        return nan_ci
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if paired:
            d = x - y
            if np.ptp(d) <= 1e-12 * _scale(x, y):
                _warn("bootstrap: all paired differences are identical; CI collapses to the point")
                return BootstrapCI(est, est, est, confidence, paired, n_resamples, "percentile")
            res = st.bootstrap(
                (d,),
                np.mean,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method="percentile",
                rng=rng,
                vectorized=True,
            )
        else:
            if max(np.ptp(x), np.ptp(y)) <= 1e-12 * _scale(x, y):
                _warn("bootstrap: both groups are constant; CI collapses to the point")
                return BootstrapCI(est, est, est, confidence, paired, n_resamples, "percentile")

            def diff(u: np.ndarray, v: np.ndarray, axis: int = -1) -> np.ndarray:
                return np.mean(u, axis=axis) - np.mean(v, axis=axis)

            res = st.bootstrap(
                (x, y),
                diff,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method="percentile",
                rng=rng,
                vectorized=True,
            )
    ci = res.confidence_interval
    return BootstrapCI(est, float(ci.low), float(ci.high), confidence, paired, n_resamples, "percentile")


# ----------------------------------------------------------------------------------- proportions, McNemar
def _bool_pair(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(correct_a, dtype=bool).ravel()
    y = np.asarray(correct_b, dtype=bool).ravel()
    if x.size != y.size:
        raise ValueError(f"correct_a and correct_b must have equal length, got {x.size} and {y.size}")
    return x, y


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar: b = a right & b wrong, c = a wrong & b right; p from Binom(b + c, 1/2)."""

    b: int
    c: int
    pvalue: float
    statistic: float  # min(b, c), as statsmodels' exact test
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"b": self.b, "c": self.c, "pvalue": self.pvalue, "statistic": self.statistic, "n": self.n}


def mcnemar_exact(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> McNemarResult:
    x, y = _bool_pair(correct_a, correct_b)
    b = int(np.sum(x & ~y))
    c = int(np.sum(~x & y))
    if b + c == 0:
        _warn("McNemar: no discordant pairs (the two methods agree on every example); p = 1")
        return McNemarResult(b, c, 1.0, 0.0, int(x.size))
    p = float(st.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)
    return McNemarResult(b, c, p, float(min(b, c)), int(x.size))


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (scipy's ``proportion_ci(method='wilson')``)."""
    if n <= 0:
        _warn(f"wilson_interval: n must be > 0, got {n}; returning NaN")
        return (NAN, NAN)
    if not 0 <= k <= n:
        raise ValueError(f"`k` must be in [0, n={n}], got {k}")
    ci = st.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


@dataclass(frozen=True)
class ProportionDiff:
    """Difference of two paired proportions p_a - p_b with Newcombe's (1998, method 10) score interval.

    The correlation term uses the continuity-corrected phi of Newcombe's method 10 as given by Fagerland,
    Lydersen & Laake (2014, Stat Med 33:2850, "Newcombe hybrid score interval"): when A·D > B·C the numerator
    A·D − B·C becomes max(A·D − B·C − n/2, 0). Without the correction a table with no discordant pairs and
    balanced concordant cells gets phi = 1 and the zero-width interval [0, 0]; with it phi < 1 and the
    interval always has positive width (each Wilson interval does, for n > 0).
    """

    estimate: float
    n: int
    n11: int
    n10: int
    n01: int
    n00: int
    confidence: float = 0.95

    def confidence_interval(self, confidence: float | None = None) -> tuple[float, float]:
        conf = self.confidence if confidence is None else confidence
        n = self.n
        if n == 0:
            return (NAN, NAN)
        p1 = (self.n11 + self.n10) / n
        p2 = (self.n11 + self.n01) / n
        l1, u1 = wilson_interval(self.n11 + self.n10, n, conf)
        l2, u2 = wilson_interval(self.n11 + self.n01, n, conf)
        denom = (self.n11 + self.n10) * (self.n01 + self.n00) * (self.n11 + self.n01) * (self.n10 + self.n00)
        phi = _corrected_phi(self.n11, self.n10, self.n01, self.n00) / math.sqrt(denom) if denom > 0 else 0.0
        d = p1 - p2
        dl = math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
        du = math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
        return (max(d - dl, -1.0), min(d + du, 1.0))

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.confidence_interval()
        return {"estimate": self.estimate, "n": self.n, "ci_low": lo, "ci_high": hi}


def _corrected_phi(a: int, b: int, c: int, d: int) -> float:
    """Numerator of phi for the 2x2 table [[a, b], [c, d]] with Newcombe's continuity correction."""
    num = a * d - b * c
    return float(max(num - (a + b + c + d) / 2, 0.0)) if num > 0 else float(num)


def paired_proportion_diff(
    correct_a: Sequence[bool], correct_b: Sequence[bool], confidence: float = 0.95
) -> ProportionDiff:
    x, y = _bool_pair(correct_a, correct_b)
    n = int(x.size)
    if n == 0:
        _warn("paired_proportion_diff: no examples; returning NaN")
        return ProportionDiff(NAN, 0, 0, 0, 0, 0, confidence)
    n11, n10 = int(np.sum(x & y)), int(np.sum(x & ~y))
    n01, n00 = int(np.sum(~x & y)), int(np.sum(~x & ~y))
    return ProportionDiff((n10 - n01) / n, n, n11, n10, n01, n00, confidence)


# --------------------------------------------------------------------------- Cochran-Mantel-Haenszel
@dataclass(frozen=True)
class CMHResult:
    """Per-example correctness of A vs B pooled over seeds, one 2x2 table per seed (stratum).

    Each table is [[A correct, A wrong], [B correct, B wrong]] on that seed's test predictions.
    ``odds_ratio`` is the Mantel-Haenszel pooled odds of a correct prediction under A relative to B
    (> 1: A right more often), with the Robins-Breslow-Greenland interval; ``pvalue`` is the CMH test
    of a common odds ratio of 1 (chi-square, 1 df, no continuity correction: statsmodels' default).
    """

    odds_ratio: float
    ci_low: float
    ci_high: float
    statistic: float
    pvalue: float
    n_strata: int
    n_per_stratum: list[int]
    tables: list[list[list[int]]]

    def confidence_interval(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)

    def to_dict(self) -> dict[str, Any]:
        return {
            "odds_ratio": self.odds_ratio,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "n_strata": self.n_strata,
            "n_per_stratum": list(self.n_per_stratum),
            "tables": self.tables,
        }


def cmh_across_seeds(
    correct_a: Sequence[Sequence[bool]], correct_b: Sequence[Sequence[bool]], confidence: float = 0.95
) -> CMHResult:
    """CMH over seeds: ``correct_a[s][i]`` is whether A's seed-s prediction of example i is right.

    Strata are seeds, so seed-to-seed differences in accuracy never pool into one table; within a
    seed A and B are compared on the same examples (two samples of one test set: the test ignores
    that pairing, which makes it conservative when the two methods err on the same examples).
    """
    from statsmodels.stats.contingency_tables import StratifiedTable

    if len(correct_a) != len(correct_b):
        raise ValueError(
            f"need one list per seed for both methods, got {len(correct_a)} and {len(correct_b)}"
        )
    tables: list[list[list[int]]] = []
    for xa, xb in zip(correct_a, correct_b, strict=True):
        x, y = _bool_pair(xa, xb)
        if x.size == 0:
            continue
        ka, kb = int(x.sum()), int(y.sum())
        tables.append([[ka, int(x.size) - ka], [kb, int(y.size) - kb]])
    sizes = [t[0][0] + t[0][1] for t in tables]
    nan = CMHResult(NAN, NAN, NAN, NAN, NAN, len(tables), sizes, tables)
    if not tables:
        _warn("CMH: no seed with predictions of both methods; returning NaN")
        return nan
    arr = np.asarray(tables, dtype=float)  # (seeds, 2, 2)
    # a stratum where every prediction is right (or every one wrong) carries no information on the odds
    informative = [(t[0][1] + t[1][1]) > 0 and (t[0][0] + t[1][0]) > 0 for t in tables]
    if not any(informative):
        _warn("CMH: every seed's predictions are all right or all wrong for both methods; returning NaN")
        return nan
    st_ = StratifiedTable(np.transpose(arr[np.asarray(informative)], (1, 2, 0)))  # (2, 2, seeds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        odds = float(st_.oddsratio_pooled)
        lo, hi = st_.oddsratio_pooled_confint(alpha=1 - confidence)
        test = st_.test_null_odds(correction=False)
    if not math.isfinite(odds) or odds == 0:
        _warn(f"CMH: pooled odds ratio is {odds} (one method right or wrong on every example of every seed)")
    return CMHResult(
        odds,
        float(lo),
        float(hi),
        float(test.statistic),
        float(test.pvalue),
        len(tables),
        sizes,
        tables,
    )


# ------------------------------------------------------------------------------------------- wilcoxon
@dataclass(frozen=True)
class WilcoxonResult:
    statistic: float
    pvalue: float
    n: int
    n_nonzero: int

    def to_dict(self) -> dict[str, Any]:
        return {"statistic": self.statistic, "pvalue": self.pvalue, "n": self.n, "n_nonzero": self.n_nonzero}


def wilcoxon_paired(x: Values, y: Values) -> WilcoxonResult:
    """Wilcoxon signed-rank test of x - y (two-sided; exact for small n)."""
    a, b = _arr(x, "x"), _arr(y, "y")
    if a.size != b.size:
        raise ValueError(f"wilcoxon_paired needs equal lengths, got {a.size} and {b.size}")
    d = a - b
    nz = int(np.count_nonzero(d))
    if nz == 0:
        _warn("wilcoxon: all paired differences are zero; test undefined, returning NaN")
        return WilcoxonResult(NAN, NAN, int(d.size), 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = st.wilcoxon(a, b)
    return WilcoxonResult(float(res.statistic), float(res.pvalue), int(d.size), nz)


# ---------------------------------------------------------------------------------------------- holm
def holm(pvalues: Values) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values, in input order. NaNs stay NaN and don't count."""
    p = np.asarray(pvalues, dtype=float).ravel()
    out = np.full(p.shape, NAN)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out.tolist()
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        out[idx] = running
    return out.tolist()


# ------------------------------------------------------------------------------------------- power
def ttest_power(effect: float, n: int, alpha: float = 0.05, paired: bool = True) -> float:
    """Two-sided power of a t-test via the noncentral t distribution.

    paired: one-sample test of n differences (effect = d_z, df = n-1, nc = d√n).
    unpaired: two groups of n each (effect = d, df = 2n-2, nc = d√(n/2)).
    """
    if n < 2:
        return NAN
    df = n - 1 if paired else 2 * n - 2
    nc = effect * math.sqrt(n if paired else n / 2)
    tcrit = st.t.ppf(1 - alpha / 2, df)
    # P(T > t) + P(T < -t), the lower tail written as an upper tail by symmetry (T(nc) = -T(-nc)):
    # scipy's nct.cdf returns NaN far in the lower tail at df = 1, while nct.sf stays finite there.
    upper = float(st.nct.sf(tcrit, df, nc))
    lower = float(st.nct.sf(tcrit, df, -nc))
    power = (upper if math.isfinite(upper) else 1.0) + (lower if math.isfinite(lower) else 0.0)
    return min(power, 1.0)


def min_detectable_effect(n: int, alpha: float = 0.05, power: float = 0.8, paired: bool = True) -> float:
    """Smallest standardised effect detectable with the given power (solves ``ttest_power = power``)."""
    if n < 2:
        _warn(f"min_detectable_effect: need n >= 2, got {n}")
        return NAN
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"`alpha` and `power` must be in (0, 1), got alpha={alpha}, power={power}")
    return float(optimize.brentq(lambda d: ttest_power(d, n, alpha, paired) - power, 1e-9, 30.0, xtol=1e-10))


# ------------------------------------------------------------------------------- paired mean, equivalence
@dataclass(frozen=True)
class PairedMean:
    """Mean of n paired differences with its sample SD: everything the seed-level t inference needs.

    Built from the differences themselves (:func:`paired_mean`) or, for a stored summary, from the mean,
    the SD and n. ``confidence_interval`` is the paired-t interval (scipy's ``t.interval``); ``tost`` the
    two one-sided tests of equivalence within ±margin (Schuirmann 1987).
    """

    estimate: float
    sd: float
    n: int

    @property
    def df(self) -> int:
        return self.n - 1

    @property
    def stderr(self) -> float:
        return self.sd / math.sqrt(self.n) if self.n >= 2 and math.isfinite(self.sd) else NAN

    @property
    def defined(self) -> bool:
        """A t statistic exists: at least 2 pairs whose differences are not all equal."""
        return self.n >= 2 and math.isfinite(self.stderr) and self.stderr > 0

    @property
    def pvalue(self) -> float:
        """Two-sided paired t-test of a zero mean difference."""
        if not self.defined:
            return NAN
        return float(2 * st.t.sf(abs(self.estimate / self.stderr), self.df))

    def confidence_interval(self, confidence: float = 0.95) -> tuple[float, float]:
        if not self.defined:
            return (NAN, NAN)
        lo, hi = st.t.interval(confidence, self.df, loc=self.estimate, scale=self.stderr)
        return (float(lo), float(hi))

    def tost(self, margin: float, alpha: float = 0.05) -> Equivalence:
        """Equivalence within ±margin: both one-sided tests reject at ``alpha``, i.e. the (1 − 2α) interval
        lies inside (−margin, margin). p is the larger of the two one-sided p-values."""
        if margin <= 0:
            raise ValueError(f"`margin` must be > 0, got {margin}")
        lo, hi = self.confidence_interval(1 - 2 * alpha)
        if not self.defined:
            return Equivalence(margin, alpha, NAN, NAN, lo, hi, False)
        se = self.stderr
        p_low = float(st.t.sf((self.estimate + margin) / se, self.df))  # H0: mean <= -margin
        p_high = float(st.t.cdf((self.estimate - margin) / se, self.df))  # H0: mean >= +margin
        p = max(p_low, p_high)
        return Equivalence(margin, alpha, p, self.pvalue, lo, hi, p < alpha)

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.confidence_interval()
        return {
            "estimate": self.estimate,
            "sd": self.sd,
            "n": self.n,
            "df": self.df,
            "stderr": self.stderr,
            "pvalue": self.pvalue,
            "ci_low": lo,
            "ci_high": hi,
        }


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided tests: ``equivalent`` when the (1 − 2α) interval [ci_low, ci_high] is inside ±margin."""

    margin: float
    alpha: float
    pvalue: float  # max of the two one-sided p-values
    pvalue_difference: float  # the ordinary two-sided test, for reference
    ci_low: float
    ci_high: float
    equivalent: bool


def paired_mean(a: Values, b: Values) -> PairedMean:
    """The paired differences a − b summarised (a warning, not an error, when fewer than 2 pairs)."""
    x, y = _arr(a, "a"), _arr(b, "b")
    if x.size != y.size:
        raise ValueError(f"paired_mean needs equal lengths, got {x.size} and {y.size}")
    d = x - y
    if d.size == 0:
        _warn("paired_mean: no pairs; returning NaN")
        return PairedMean(NAN, NAN, 0)
    if d.size < 2:
        _warn("paired_mean: one pair; its SD is undefined")
        return PairedMean(float(d.mean()), NAN, 1)
    sd = float(d.std(ddof=1))
    if sd <= 1e-12 * _scale(x, y):  # identical differences up to float rounding
        _warn(f"paired_mean: every difference is {float(d[0])!r}; no t interval")
        sd = 0.0
    return PairedMean(float(d.mean()), sd, int(d.size))


# ----------------------------------------------------------------------------- intervals inside a range
def bounded_mean_interval(
    values: Values, low: float, high: float, confidence: float = 0.95
) -> tuple[float, float]:
    """A t interval for the mean of a metric bounded to [low, high] that stays inside that range.

    The values are mapped to (0, 1), then to the logit scale, where the t interval is computed and mapped
    back (a logit-transformed t interval). Values on the bounds are moved in by half a unit of the n
    values' resolution, (x·(n − 1) + 1/2) / n (Smithson & Verkuilen 2006), so a seed at exactly 1.0 does
    not give an infinite logit. NaN when n < 2; the point itself when every value is equal.
    """
    if not high > low:
        raise ValueError(f"`high` must be > `low`, got [{low}, {high}]")
    x = _arr(values)
    n = int(x.size)
    if n < 2:
        return (NAN, NAN)
    if np.ptp(x) <= 1e-12 * _scale(x):
        return (float(x.mean()), float(x.mean()))
    u = np.clip((x - low) / (high - low), 0.0, 1.0)
    u = (u * (n - 1) + 0.5) / n
    z = special.logit(u)
    lo, hi = st.t.interval(confidence, n - 1, loc=z.mean(), scale=z.std(ddof=1) / math.sqrt(n))
    back = special.expit(np.asarray([lo, hi]))
    # undo the squeeze so the map is the identity on the interior's scale
    back = (back * n - 0.5) / (n - 1)
    back = np.clip(back, 0.0, 1.0) * (high - low) + low
    return (float(back[0]), float(back[1]))
