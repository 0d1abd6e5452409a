"""reports.stats against hand-computed / textbook reference values (never against itself)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as st

from reports import stats
from reports.stats import (
    DegenerateDataWarning,
    bootstrap_mean_diff,
    cohens_d,
    compare,
    describe,
    hedges_g,
    holm,
    mcnemar_exact,
    min_detectable_effect,
    paired_d_z,
    paired_proportion_diff,
    ttest_power,
    wilcoxon_paired,
    wilson_interval,
)

A = [0.70, 0.72, 0.74]  # mean .72, var .0004
B = [0.68, 0.69, 0.70]  # mean .69, var .0001; paired differences .02 .03 .04 (mean .03, sd .01)


def test_describe_mean_std_ci() -> None:
    d = describe(A)
    assert (d.mean, d.std, d.n) == (pytest.approx(0.72), pytest.approx(0.02), 3)
    # t_{.975, 2} = 4.302653; sem = .02/sqrt(3)
    lo, hi = d.confidence_interval(0.95)
    assert lo == pytest.approx(0.72 - 4.302653 * 0.02 / math.sqrt(3), abs=1e-6)
    assert hi == pytest.approx(0.72 + 4.302653 * 0.02 / math.sqrt(3), abs=1e-6)


def test_welch_matches_hand_computation() -> None:
    c = compare(A, B, paired=False)
    # se = sqrt(.0004/3 + .0001/3); t = .03/se; Welch-Satterthwaite df = 50/17
    assert c.test == "welch"
    assert c.statistic == pytest.approx(0.03 / math.sqrt(0.0005 / 3), rel=1e-9)
    assert c.statistic == pytest.approx(2.3237900, rel=1e-6)
    assert c.df == pytest.approx(50 / 17, rel=1e-9)
    assert c.estimate == pytest.approx(0.03)
    assert (c.n, c.n_a, c.n_b) == (6, 3, 3)
    assert 0.10 < c.pvalue < 0.11  # t(2.94) two-sided tail at 2.324
    lo, hi = c.confidence_interval(0.95)
    assert (lo + hi) / 2 == pytest.approx(0.03)
    assert lo < 0 < hi  # consistent with p > .05


def test_paired_t_closed_form_df2() -> None:
    c = compare(A, B, paired=True)
    # t = .03 / (.01/sqrt 3) = 3*sqrt 3; for df = 2 the two-sided p is 1 - |t|/sqrt(t^2 + 2)
    t = 3 * math.sqrt(3)
    assert c.statistic == pytest.approx(t)
    assert c.df == 2
    assert c.pvalue == pytest.approx(1 - t / math.sqrt(t * t + 2), rel=1e-9)
    assert c.effect_size_name == "d_z" and c.effect_size == pytest.approx(3.0)
    lo, hi = c.confidence_interval(0.95)
    half = 4.302653 * 0.01 / math.sqrt(3)
    assert (lo, hi) == (pytest.approx(0.03 - half, abs=1e-6), pytest.approx(0.03 + half, abs=1e-6))


def test_effect_sizes() -> None:
    # d = -2 / sqrt(5/3); exact J(6) = Γ(3) / (sqrt(3) Γ(2.5)) = 0.868626
    assert cohens_d([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(-2 / math.sqrt(5 / 3))
    assert hedges_g([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(-2 / math.sqrt(5 / 3) * 0.868626, rel=2e-6)
    assert paired_d_z(A, B) == pytest.approx(3.0)


def test_mcnemar_exact_reference() -> None:
    # b = 10, c = 2: p = 2 * P(X <= 2 | Binom(12, .5)) = 2 * (1 + 12 + 66) / 4096
    a = [True] * 10 + [False] * 2 + [True] * 5
    b = [False] * 10 + [True] * 2 + [True] * 5
    r = mcnemar_exact(a, b)
    assert (r.b, r.c, r.n, r.statistic) == (10, 2, 17, 2.0)
    assert r.pvalue == pytest.approx(158 / 4096)


def test_wilson_interval_reference() -> None:
    # 8/10, z = 1.959964: centre (0.8 + z²/20) / (1 + z²/10), half z*sqrt(.016 + z²/400) / (1 + z²/10)
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.490162, abs=1e-5)
    assert hi == pytest.approx(0.943318, abs=1e-5)


def test_paired_proportion_diff_approaches_wald_for_large_n() -> None:
    # n = 10000, b = 600, c = 400: Wald 0.02 ± 1.96 * sqrt(b + c - (b - c)^2 / n) / n = 0.02 ± 0.006186
    a = np.r_[np.ones(600), np.zeros(400), np.ones(5000), np.zeros(4000)].astype(bool)
    b = np.r_[np.zeros(600), np.ones(400), np.ones(5000), np.zeros(4000)].astype(bool)
    d = paired_proportion_diff(a, b)
    assert d.estimate == pytest.approx(0.02)
    lo, hi = d.confidence_interval()
    assert lo == pytest.approx(0.02 - 0.006186, abs=3e-4)
    assert hi == pytest.approx(0.02 + 0.006186, abs=3e-4)


def test_wilcoxon_exact_reference() -> None:
    # all 5 differences positive: exact two-sided p = 2 / 2^5
    r = wilcoxon_paired([1, 2, 3, 4, 5], [0, 0, 0, 0, 0])
    assert r.statistic == 0.0
    assert r.pvalue == pytest.approx(2 / 32)


def test_holm_textbook() -> None:
    # sorted .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> monotone .02 .03 .06 .06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    out = holm([0.01, float("nan"), 0.04])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)
    assert holm([0.6, 0.9]) == [1.0, 1.0]


def test_power_and_min_detectable_effect_match_cohen_tables() -> None:
    # Cohen (1988): d = 0.5, n = 64 per group, α = .05 two-sided -> power 0.80; G*Power: n = 20 -> d = 0.91
    assert ttest_power(0.5, 64, paired=False) == pytest.approx(0.80, abs=0.005)
    assert min_detectable_effect(64, paired=False) == pytest.approx(0.5, abs=0.005)
    assert min_detectable_effect(20, paired=False) == pytest.approx(0.91, abs=0.005)
    # paired: 34 pairs detect d_z = 0.5 with power 0.80 (G*Power 0.808)
    assert min_detectable_effect(34, paired=True) == pytest.approx(0.5, abs=0.01)
    assert min_detectable_effect(3) > 3  # 3 seeds detect only huge effects
    with pytest.raises(ValueError, match="`alpha` and `power`"):
        min_detectable_effect(3, power=1.5)


def test_bootstrap_seeded_and_sensible() -> None:
    r1 = bootstrap_mean_diff(A, B, paired=True, seed=1)
    r2 = bootstrap_mean_diff(A, B, paired=True, seed=1)
    assert r1 == r2
    # paired resampling of diffs {.02, .03, .04}: the mean of any resample lies in [.02, .04]
    assert 0.02 - 1e-12 <= r1.low <= 0.03 <= r1.high <= 0.04 + 1e-12
    u = bootstrap_mean_diff(A, B, paired=False)
    assert u.low < 0.03 < u.high and u.estimate == pytest.approx(0.03)


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda: compare([0.7, 0.7, 0.7], [0.7, 0.7, 0.7], paired=False), "identical scores"),
        (lambda: compare([0.7, 0.7, 0.7], [0.6, 0.6, 0.6], paired=False), "zero variance"),
        (lambda: compare([0.7, 0.8, 0.9], [0.6, 0.7, 0.8], paired=True), "zero variance"),
        (lambda: compare([0.7], [0.6, 0.5], paired=False), "n >= 2"),
        (lambda: describe([0.7]), "n=1"),
        (lambda: describe([]), "no values"),
        (lambda: wilcoxon_paired([1, 2], [1, 2]), "all paired differences are zero"),
        (lambda: mcnemar_exact([True, False], [True, False]), "no discordant pairs"),
        (lambda: bootstrap_mean_diff([0.7], [0.6], paired=True), "n >= 2"),
        (lambda: wilson_interval(0, 0), "n must be > 0"),
        (lambda: min_detectable_effect(1), "n >= 2"),
    ],
)
def test_degenerate_data_warns_not_crashes(fn: object, match: str) -> None:
    with pytest.warns(DegenerateDataWarning, match=match):
        res = fn()  # type: ignore[operator]
    assert res is not None


def test_degenerate_results_are_nan_safe() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateDataWarning)
        c = compare([0.7, 0.7, 0.7], [0.7, 0.7, 0.7], paired=True)
        assert math.isnan(c.pvalue) and math.isnan(c.statistic) and c.estimate == 0
        assert all(math.isnan(x) for x in c.confidence_interval())
        assert c.to_dict()["ci_low"] != c.to_dict()["ci_low"]  # NaN, not an exception
        assert mcnemar_exact([True], [True]).pvalue == 1.0
        assert math.isnan(wilcoxon_paired([1.0], [1.0]).pvalue)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: compare([1, 2], [1, 2, 3], paired=True), "equal lengths"),
        (lambda: compare([1, float("nan")], [1, 2], paired=False), "must not contain NaN"),
        (lambda: mcnemar_exact([True], [True, False]), "equal length"),
        (lambda: wilson_interval(11, 10), r"`k` must be in \[0, n=10\]"),
    ],
)
def test_bad_inputs_raise(call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("n", [2, 3, 5, 10])
@pytest.mark.parametrize("paired", [True, False])
def test_min_detectable_effect_matches_statsmodels(n: int, paired: bool) -> None:
    # statsmodels solves the same noncentral-t equation with its own code (n = 2: d_z = 11.55, not 5.91)
    from statsmodels.stats.power import TTestIndPower, TTestPower

    if paired:
        ref = TTestPower().solve_power(nobs=n, alpha=0.05, power=0.8, alternative="two-sided")
    else:
        ref = TTestIndPower().solve_power(nobs1=n, ratio=1.0, alpha=0.05, power=0.8, alternative="two-sided")
    assert min_detectable_effect(n, paired=paired) == pytest.approx(float(ref), rel=1e-4)
    assert ttest_power(float(ref), n, paired=paired) == pytest.approx(0.8, abs=1e-4)


def test_paired_proportion_diff_no_discordant_pairs_has_positive_width() -> None:
    # 25 both right, 25 both wrong, no discordant pair: the uncorrected phi is 1 and the interval [0, 0]
    a = [True] * 25 + [False] * 25
    d = paired_proportion_diff(a, a)
    lo, hi = d.confidence_interval()
    assert d.estimate == 0.0
    # Wilson half-width around 0.5 for 25/50; corrected phi = (625 - 25) / 625 = 0.96;
    # half-width of the difference = w * sqrt(2 - 2 * 0.96)
    z = 1.959963984540054
    w = z * math.sqrt(0.25 / 50 + z**2 / (4 * 50**2)) / (1 + z**2 / 50)
    assert hi == pytest.approx(w * math.sqrt(0.08), rel=1e-6)
    assert lo == pytest.approx(-hi, rel=1e-9)
    assert hi - lo > 0.05


def test_paired_proportion_diff_all_correct_has_positive_width() -> None:
    d = paired_proportion_diff([True] * 30, [True] * 30)
    lo, hi = d.confidence_interval()
    assert lo < 0 < hi


def _correct(k: int, n: int) -> list[bool]:
    return [True] * k + [False] * (n - k)


def test_cmh_across_seeds_matches_the_hand_computed_mantel_haenszel_numbers() -> None:
    # seed 1: A right 30/40, B right 20/40; seed 2: A 25/40, B 15/40 -> tables [[30,10],[20,20]], [[25,15],[15,25]]
    res = stats.cmh_across_seeds([_correct(30, 40), _correct(25, 40)], [_correct(20, 40), _correct(15, 40)])
    assert res.tables == [[[30, 10], [20, 20]], [[25, 15], [15, 25]]]
    # MH odds ratio: sum(a d / n) / sum(b c / n) = (600/80 + 625/80) / (200/80 + 225/80) = 1225 / 425
    assert res.odds_ratio == pytest.approx(1225 / 425, rel=1e-12)
    # CMH: O = 30 + 25, E = 40*50/80 + 40*40/80 = 45, Var = 40*40*50*30/(80^2*79) + 40**4/(80^2*79)
    var = (40 * 40 * 50 * 30 + 40**4) / (80**2 * 79)
    assert res.statistic == pytest.approx(10**2 / var, rel=1e-12)
    from scipy.stats import chi2

    assert res.pvalue == pytest.approx(float(chi2.sf(100 / var, 1)), rel=1e-9)
    assert res.ci_low < res.odds_ratio < res.ci_high and res.ci_low > 1
    assert res.n_strata == 2 and res.n_per_stratum == [40, 40]


def test_cmh_is_symmetric_and_null_for_equal_methods() -> None:
    a, b = [_correct(30, 40), _correct(25, 40)], [_correct(20, 40), _correct(15, 40)]
    fwd, rev = stats.cmh_across_seeds(a, b), stats.cmh_across_seeds(b, a)
    assert rev.odds_ratio == pytest.approx(1 / fwd.odds_ratio) and rev.pvalue == pytest.approx(fwd.pvalue)
    same = stats.cmh_across_seeds(a, a)
    assert same.odds_ratio == pytest.approx(1.0) and same.pvalue == pytest.approx(1.0)


def test_cmh_on_degenerate_seeds_warns_and_returns_nan() -> None:
    with pytest.warns(stats.DegenerateDataWarning):
        res = stats.cmh_across_seeds([_correct(40, 40)], [_correct(40, 40)])
    assert math.isnan(res.odds_ratio) and math.isnan(res.pvalue)


# --------------------------------------------------------------- paired mean, TOST, bounded, two-way
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_mean_matches_scipy_ttest_rel(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.75, 0.02, 12), rng.normal(0.74, 0.02, 12)
    pm = stats.paired_mean(a, b)
    ref = st.ttest_rel(a, b)
    ci = ref.confidence_interval(0.95)
    assert pm.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    assert pm.confidence_interval(0.95) == pytest.approx((ci.low, ci.high), rel=1e-12)


@pytest.mark.parametrize("margin", [0.005, 0.01, 0.05])
def test_tost_matches_statsmodels(margin: float) -> None:
    from statsmodels.stats.weightstats import ttost_paired

    rng = np.random.default_rng(3)
    a, b = rng.normal(0.75, 0.004, 15), rng.normal(0.749, 0.004, 15)
    eq = stats.paired_mean(a, b).tost(margin, 0.05)
    p_ref = ttost_paired(a, b, -margin, margin)[0]
    assert eq.pvalue == pytest.approx(p_ref, rel=1e-9)
    assert eq.equivalent == bool(p_ref < 0.05) == (-margin < eq.ci_low and eq.ci_high < margin)


@pytest.mark.parametrize(
    ("values", "low", "high"),
    [
        ([0.9, -0.9], -1.0, 1.0),
        ([1.0, 0.2], 0.0, 1.0),
        ([0.0, 0.0, 0.01], 0.0, 1.0),
        ([0.999, 0.5, 1.0], 0.0, 1.0),
    ],
)
def test_bounded_interval_stays_in_range(values: list[float], low: float, high: float) -> None:
    lo, hi = stats.bounded_mean_interval(values, low, high)
    assert low <= lo <= float(np.mean(values)) <= hi <= high


def test_bounded_interval_is_the_t_interval_away_from_the_bounds() -> None:
    x = [0.50, 0.51, 0.49, 0.505, 0.495]  # logit is ~linear near 0.5: the intervals agree closely
    ref = stats.describe(x).confidence_interval(0.95)
    assert stats.bounded_mean_interval(x, 0.0, 1.0) == pytest.approx(ref, abs=2e-4)


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1", "weighted_f1", "mcc"])
def test_metric_from_confusion_matches_sklearn(metric: str) -> None:
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    from reports.twoway import metric_from_confusion

    rng = np.random.default_rng(5)
    g = rng.integers(0, 3, 300)
    p = np.where(rng.random(300) < 0.6, g, rng.integers(0, 3, 300))
    cm = np.zeros((3, 3))
    np.add.at(cm, (g, p), 1)
    ref = {
        "accuracy": accuracy_score(g, p),
        "macro_f1": f1_score(g, p, labels=[0, 1, 2], average="macro", zero_division=0),
        "weighted_f1": f1_score(g, p, labels=[0, 1, 2], average="weighted", zero_division=0),
        "mcc": matthews_corrcoef(g, p),
    }[metric]
    assert float(metric_from_confusion(cm, metric)) == pytest.approx(ref, abs=1e-12)


def test_two_way_bootstrap_spread_matches_the_exact_resampling_variance() -> None:
    """For accuracy the resampled statistic is c'Dw/(kn) with c ~ Mult(k, 1/k), w ~ Mult(n, 1/n)
    independent; E[cc'] = I + (1 - 1/k)11', so its variance has a closed form to check against."""
    from reports.twoway import two_way_bootstrap

    rng = np.random.default_rng(11)
    k, n = 6, 80
    gold = rng.integers(0, 3, n)
    pa = np.where(rng.random((k, n)) < rng.uniform(0.6, 0.9, (k, 1)), gold, (gold + 1) % 3)
    pb = np.where(rng.random((k, n)) < 0.7, gold, (gold + 2) % 3)
    res = two_way_bootstrap(gold, pa, pb, "accuracy", n_resamples=4000, seed=0)
    d = (pa == gold).astype(float) - (pb == gold).astype(float)  # (k, n)
    ec = np.eye(k) + (1 - 1 / k) * np.ones((k, k))
    ew = np.eye(n) + (1 - 1 / n) * np.ones((n, n))
    var = float(np.sum(ec * (d @ ew @ d.T))) / (k * n) ** 2 - d.mean() ** 2
    assert res.estimate == pytest.approx(d.mean(), abs=1e-12)
    assert res.se == pytest.approx(np.sqrt(var), rel=0.05)  # Monte Carlo error of 4000 resamples ~1.1%
    assert res.low < res.estimate < res.high
    again = two_way_bootstrap(gold, pa, pb, "accuracy", n_resamples=4000, seed=0)
    assert (again.low, again.high) == (res.low, res.high)  # seeded: reproducible
