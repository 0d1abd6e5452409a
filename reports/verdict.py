"""The study's answer, worded from the analysis plan in ``flatlora.bench.study`` (its constants, not copies).

* **Primary:** Flat-LoRA − LoRA on the headline test metric, paired over the seeds both ran: the mean of
  the per-seed differences, its 95% paired-t interval (no multiplicity adjustment) and two one-sided tests
  of equivalence within ±``EQUIVALENCE_MARGIN`` (the 90% interval inside the margin). The outcome is one
  of better / worse (95% interval excludes 0), equivalent, inconclusive. Every "by X" is the estimate of
  the interval printed beside it.
* **Secondary:** full, SAM-AB and SAM-W against LoRA, paired over shared seeds on the headline metric
  only, Holm-adjusted within that one family; each sentence is worded from the adjusted p it shows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from flatlora.bench.study import (
    ALPHA,
    CONTROL,
    EQUIVALENCE_MARGIN,
    POWER,
    SD_BOUND_CONFIDENCE,
    SECONDARY,
    TARGET_EFFECT,
    TREATMENT,
)
from reports import stats

__all__ = [
    "Primary",
    "Secondary",
    "fmt4",
    "primary_result",
    "secondary_family",
]

LABELS = {
    "full": "Full FT",
    "lora": "LoRA",
    "flat_lora": "Flat-LoRA",
    "sam_ab": "SAM on A,B",
    "sam_w": "SAM on W",
}
METRIC_NAMES = {"accuracy": "accuracy", "weighted_f1": "weighted F1", "macro_f1": "macro F1", "mcc": "MCC"}


def fmt4(x: float, signed: bool = True) -> str:
    """4 decimals (the margin is 0.005), never a negative zero."""
    if not (isinstance(x, int | float) and math.isfinite(x)):
        return "n/a"
    if round(x, 4) == 0:
        x = 0.0
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def _ci(lo: float, hi: float) -> str:
    return f"[{fmt4(lo)}, {fmt4(hi)}]"


def _p(p: float) -> str:
    if not (isinstance(p, int | float) and math.isfinite(p)):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


@dataclass
class Primary:
    """The primary endpoint of one dataset (see the module docstring)."""

    treatment: str
    control: str
    metric: str
    seeds: list[int]  # shared seeds, the pairs
    diffs: list[float]  # treatment − control per shared seed
    n: int
    estimate: float
    sd: float
    ci_low: float
    ci_high: float
    pvalue: float
    ci90_low: float
    ci90_high: float
    tost_pvalue: float
    margin: float
    alpha: float
    equivalent: bool
    outcome: str  # "better" | "worse" | "equivalent" | "inconclusive"
    sentence: str
    detail: str  # equivalence and power, one or two sentences
    n_treatment: int  # seeds each method ran (shared or not)
    n_control: int
    bootstrap: dict[str, Any] | None = None  # reports.twoway.TwoWayBootstrap.to_dict()
    plan: dict[str, Any] | None = None  # power.json (the extension rule applied to the pilot)
    mde: float = math.nan  # smallest difference this n detects with POWER, at the observed SD
    target_effect: float = TARGET_EFFECT
    power: float = POWER
    sd_bound_confidence: float = SD_BOUND_CONFIDENCE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Secondary:
    method: str
    control: str
    metric: str
    n: int
    estimate: float
    ci_low: float  # unadjusted 95% paired-t interval
    ci_high: float
    pvalue: float
    p_holm: float
    family: list[str]
    outcome: str  # "higher" | "lower" | "no difference shown" | "no test"
    sentence: str


@dataclass
class _Pairs:
    seeds: list[int]
    a: list[float]
    b: list[float]
    pm: stats.PairedMean = field(init=False)

    def __post_init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            self.pm = stats.paired_mean(self.a, self.b)


def _pairs(a: Mapping[int, float], b: Mapping[int, float]) -> _Pairs:
    seeds = sorted(set(a) & set(b))
    return _Pairs(seeds, [float(a[s]) for s in seeds], [float(b[s]) for s in seeds])


def _mde(pm: stats.PairedMean) -> float:
    if not pm.defined:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        return stats.min_detectable_effect(pm.n, ALPHA, POWER, paired=True) * pm.sd


def primary_result(
    treatment_scores: Mapping[int, float],
    control_scores: Mapping[int, float],
    metric: str,
    *,
    plan: Mapping[str, Any] | None = None,
    bootstrap: Mapping[str, Any] | None = None,
    pm: stats.PairedMean | None = None,
) -> Primary:
    """The primary endpoint from per-seed scores (seed -> score) of Flat-LoRA and LoRA.

    ``pm`` replaces the paired summary when the per-seed scores are not available (a summary.json
    written before they were stored); ``plan`` is power.json; ``bootstrap`` the two-way bootstrap.
    """
    pr = _pairs(treatment_scores, control_scores)
    pm = pm or pr.pm
    lo, hi = pm.confidence_interval(1 - ALPHA)
    eq = pm.tost(EQUIVALENCE_MARGIN, ALPHA)
    t, c = LABELS[TREATMENT], LABELS[CONTROL]
    mname = METRIC_NAMES.get(metric, metric)
    pts = f"±{EQUIVALENCE_MARGIN * 100:g} points"
    head = f"{t} − {c}, test {mname}"
    if not pm.defined:
        why = "fewer than 2 shared seeds" if pm.n < 2 else "every paired difference is equal"
        outcome = "inconclusive"
        sentence = (
            f"Inconclusive: {head}, {fmt4(pm.estimate)} over {pm.n} shared seed{'s' * (pm.n != 1)}; "
            f"no paired interval ({why})."
        )
        detail = "Nothing is concluded without a paired interval."
    else:
        ci = f"95% CI {_ci(lo, hi)}, paired t p {_p(pm.pvalue)}"
        ci90 = _ci(eq.ci_low, eq.ci_high)
        if lo > 0 or hi < 0:
            outcome = "better" if lo > 0 else "worse"
            sentence = (
                f"{t} is {outcome} than {c} on test {mname} by {fmt4(pm.estimate)} "
                f"({ci}; paired over {pm.n} seeds)."
            )
        elif eq.equivalent:
            outcome = "equivalent"
            sentence = (
                f"{t} and {c} are equivalent within {pts} on test {mname}: difference "
                f"{fmt4(pm.estimate)} ({ci}; paired over {pm.n} seeds)."
            )
        else:
            outcome = "inconclusive"
            sentence = (
                f"Inconclusive: {t} − {c} on test {mname} is {fmt4(pm.estimate)} ({ci}; paired over "
                f"{pm.n} seeds); neither a difference nor equivalence within {pts} is shown."
            )
        inside = "lies inside" if eq.equivalent else "is not inside"
        detail = (
            f"Equivalence (two one-sided tests, α = {ALPHA}): the 90% CI {ci90} {inside} "
            f"±{fmt4(EQUIVALENCE_MARGIN, signed=False)} ({pts}), TOST p {_p(eq.pvalue)}."
        )
    mde = _mde(pm)
    if math.isfinite(mde):
        detail += (
            f" At the observed SD of the paired differences ({fmt4(pm.sd, signed=False)}), {pm.n} seeds "
            f"detect a difference of about {fmt4(mde, signed=False)} with {POWER:.0%} power."
        )
    return Primary(
        treatment=TREATMENT,
        control=CONTROL,
        metric=metric,
        seeds=pr.seeds,
        diffs=[x - y for x, y in zip(pr.a, pr.b, strict=True)],
        n=pm.n,
        estimate=pm.estimate,
        sd=pm.sd,
        ci_low=lo,
        ci_high=hi,
        pvalue=pm.pvalue,
        ci90_low=eq.ci_low,
        ci90_high=eq.ci_high,
        tost_pvalue=eq.pvalue,
        margin=EQUIVALENCE_MARGIN,
        alpha=ALPHA,
        equivalent=eq.equivalent,
        outcome=outcome,
        sentence=sentence,
        detail=detail,
        n_treatment=len(treatment_scores),
        n_control=len(control_scores),
        bootstrap=dict(bootstrap) if bootstrap else None,
        plan=dict(plan) if plan else None,
        mde=mde,
    )


def secondary_family(
    scores: Mapping[str, Mapping[int, float]],
    metric: str,
    pms: Mapping[str, stats.PairedMean] | None = None,
) -> list[Secondary]:
    """full, SAM-AB, SAM-W (those present) against LoRA: paired t per method, Holm within the family.

    ``scores``: method -> seed -> headline score; ``pms`` replaces a method's paired summary (see
    :func:`primary_result`).
    """
    if CONTROL not in scores:
        return []
    family = [m for m in SECONDARY if m in scores]
    rows: list[tuple[str, stats.PairedMean]] = []
    for m in family:
        pm = (pms or {}).get(m) or _pairs(scores[m], scores[CONTROL]).pm
        rows.append((m, pm))
    adj = stats.holm([pm.pvalue for _, pm in rows])
    out: list[Secondary] = []
    mname = METRIC_NAMES.get(metric, metric)
    for (m, pm), ph in zip(rows, adj, strict=True):
        lo, hi = pm.confidence_interval(1 - ALPHA)
        a, c = LABELS.get(m, m), LABELS[CONTROL]
        if not pm.defined:
            outcome = "no test"
            sentence = (
                f"{a} − {c} on test {mname}: {fmt4(pm.estimate)} over {pm.n} shared seed{'s' * (pm.n != 1)}; "
                "no paired test (fewer than 2 shared seeds or no spread), nothing is concluded."
            )
        else:
            est = f"{fmt4(pm.estimate)} over {pm.n} seeds (95% CI {_ci(lo, hi)}, unadjusted; paired t p {_p(pm.pvalue)})"
            if ph < ALPHA:
                outcome = "higher" if pm.estimate > 0 else "lower"
                sentence = (
                    f"{a} scores {outcome} than {c} on test {mname} by {est}; Holm-adjusted p {_p(ph)} "
                    f"< {ALPHA} in the family of {len(rows)}."
                )
            else:
                outcome = "no difference shown"
                sentence = (
                    f"No difference between {a} and {c} on test {mname} is shown after Holm adjustment: "
                    f"{a} − {c} = {est}; Holm-adjusted p {_p(ph)} in the family of {len(rows)}."
                )
        out.append(
            Secondary(m, CONTROL, metric, pm.n, pm.estimate, lo, hi, pm.pvalue, ph, family, outcome, sentence)
        )
    return out
