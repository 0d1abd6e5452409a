"""The study's answer, worded from the analysis plan: the study's design (``flatlora.bench.design``; the
folder's ``design.json``, the first design for a folder without one), never copies of its numbers.

* **Primary:** Flat-LoRA − LoRA on the headline test metric, paired over the seeds both ran: the mean of
  the per-seed differences, its 95% paired-t interval (no multiplicity adjustment) and two one-sided tests
  of equivalence within ±``EQUIVALENCE_MARGIN`` (the 90% interval inside the margin). The outcome is one
  of better / worse (95% interval excludes 0), equivalent, inconclusive. Every "by X" is the estimate of
  the interval printed beside it. Beside it: the sizing rule's outcome (``power.json``) and the power the
  pairs actually run achieve for the target effect, at the observed SD of the paired differences and at
  the pilot's SD bound; the median, Hodges–Lehmann and Wilcoxon of the differences
  (:mod:`reports.endpoints`).
* **Secondary:** full, SAM-AB and SAM-W against LoRA, paired over shared seeds on the headline metric
  only, Holm-adjusted within that one family; each sentence is worded from the adjusted p it shows, and
  an unadjusted interval that excludes 0 beside an adjusted p above α is said not to be a finding.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from flatlora.bench.design import DESIGN_V1, StudyDesign
from flatlora.bench.study import paired_t_power
from reports import stats
from reports.endpoints import Robust, robust_paired
from reports.labels import seed_list

__all__ = [
    "Primary",
    "Secondary",
    "fmt4",
    "primary_result",
    "secondary_family",
    "seeds_needed",
    "sizing_text",
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


def _over(n: int, seeds: list[int]) -> str:
    """ "30 seeds: 1–30" (the seeds when known)."""
    head = f"{n} seed{'s' * (n != 1)}"
    return f"{head}: {seed_list(seeds)}" if seeds else head


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
    detail: str  # equivalence (and, without a sizing rule, what this n detects)
    n_treatment: int  # seeds each method ran (shared or not)
    n_control: int
    bootstrap: dict[str, Any] | None = None  # reports.twoway.TwoWayBootstrap.to_dict()
    plan: dict[str, Any] | None = None  # power.json (the extension rule applied to the pilot)
    mde: float = math.nan  # smallest difference this n detects with `power`, at the observed SD
    target_effect: float = DESIGN_V1.target_effect
    power: float = DESIGN_V1.power
    sd_bound_confidence: float = DESIGN_V1.sd_bound_confidence
    sizing: str = ""  # the sizing rule's outcome and the power achieved (with a plan)
    achieved: dict[str, Any] | None = None  # the numbers of `sizing`
    robust: Robust | None = None  # median, Hodges–Lehmann, Wilcoxon, the most influential seed

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
    seeds: list[int] = field(default_factory=list)  # the pairs (empty: from a stored summary)


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


def _mde(pm: stats.PairedMean, design: StudyDesign, sd: float | None = None) -> float:
    sd = pm.sd if sd is None else sd
    if pm.n < 2 or not (math.isfinite(sd) and sd > 0):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        return stats.min_detectable_effect(pm.n, design.alpha, design.power, paired=True) * sd


def seeds_needed(sd: float, effect: float, alpha: float, power: float, cap: int = 1_000_000) -> int | None:
    """Smallest n whose paired t-test (two-sided) detects `effect` at `power` when the differences have
    SD `sd` (the sizing rule's power function, without its clamp); None beyond `cap`."""
    if not sd > 0:
        return 2

    def enough(n: int) -> bool:
        return paired_t_power(effect / sd, n, alpha) >= power

    lo, hi = 2, 4
    if enough(lo):
        return lo
    while not enough(hi):  # power grows with n: double, then bisect
        lo, hi = hi, 2 * hi
        if hi > cap:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else "< 1%" if x < 0.005 else f"{x:.0%}"


def _points(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x * 100:.2f}"


def sizing_text(
    plan: Mapping[str, Any], pm: stats.PairedMean, design: StudyDesign = DESIGN_V1
) -> tuple[str, dict[str, Any]]:
    """What the sizing rule (``power.json``) set and why, and the power the pairs run achieve for the
    design's target effect: at the observed SD of the paired differences and at the pilot's SD bound.
    A capped rule is said to have wanted more than its cap, never to have reached the target."""
    d = design
    pilot = len(plan.get("pilot_seeds") or [])
    sd_pilot, sd_up = float(plan.get("pilot_sd") or math.nan), float(plan.get("sd_upper") or math.nan)
    n_plan, capped = int(plan.get("n") or 0), bool(plan.get("capped"))
    pts = d.target_text
    test = f"paired t, two-sided α = {d.alpha}"
    needed = seeds_needed(sd_up, d.target_effect, d.alpha, d.power) if math.isfinite(sd_up) else None
    head = (
        f"Sample size by design (PLAN.md, `power.json`): the pilot's {pilot} paired differences had SD "
        f"{fmt4(sd_pilot, signed=False)} (upper {d.sd_bound_confidence:.0%} bound {fmt4(sd_up, signed=False)})."
    )
    if capped:
        want = f"{needed:,} seeds per method" if needed else "more seeds than can be run"
        rule = (
            f" To detect {pts} with {d.power:.0%} power at that bound ({test}) the rule wanted {want}, more "
            f"than its cap of {n_plan}, so n was set to the cap, {n_plan}: the study was not sized to detect "
            f"{pts}."
        )
    else:
        rule = (
            f" The rule set n = {n_plan} seeds per method, the smallest n in [{pilot}, {max(n_plan, pilot)}] "
            f"that detects {pts} with {d.power:.0%} power at that bound ({test})."
        )
    rule += " The observed difference was not used."
    achieved: dict[str, Any] = {
        "effect": d.target_effect,
        "n": pm.n,
        "alpha": d.alpha,
        "power_target": d.power,
        "n_needed_at_bound": needed,
        "sd_observed": pm.sd,
        "sd_bound": sd_up,
        "power_observed": math.nan,
        "power_bound": math.nan,
        "mde_observed": _mde(pm, d),
        "mde_bound": _mde(pm, d, sd_up),
    }
    for key, sd in (("power_observed", pm.sd), ("power_bound", sd_up)):
        if pm.n >= 2 and math.isfinite(sd) and sd > 0:
            achieved[key] = paired_t_power(d.target_effect / sd, pm.n, d.alpha)
    power = ""
    if pm.n >= 2 and math.isfinite(achieved["power_observed"]):
        power = (
            f" Power achieved for a difference of {pts} with the {pm.n} pairs run ({test}): "
            f"{_pct(achieved['power_observed'])} at the observed SD of the paired differences "
            f"({fmt4(pm.sd, signed=False)}), {_pct(achieved['power_bound'])} at the pilot's bound; with "
            f"{d.power:.0%} power these {pm.n} pairs detect about {_points(achieved['mde_observed'])} points at "
            f"the observed SD ({_points(achieved['mde_bound'])} at the pilot's bound)."
        )
    return head + rule + power, achieved


def primary_result(
    treatment_scores: Mapping[int, float],
    control_scores: Mapping[int, float],
    metric: str,
    *,
    plan: Mapping[str, Any] | None = None,
    bootstrap: Mapping[str, Any] | None = None,
    pm: stats.PairedMean | None = None,
    design: StudyDesign = DESIGN_V1,
) -> Primary:
    """The primary endpoint from per-seed scores (seed -> score) of the design's treatment and control.

    ``pm`` replaces the paired summary when the per-seed scores are not available (a summary.json
    written before they were stored); ``plan`` is power.json; ``bootstrap`` the two-way bootstrap.
    """
    d = design
    pr = _pairs(treatment_scores, control_scores)
    pm = pm or pr.pm
    lo, hi = pm.confidence_interval(1 - d.alpha)
    eq = pm.tost(d.equivalence_margin, d.alpha)
    t, c = LABELS.get(d.treatment, d.treatment), LABELS.get(d.control, d.control)
    mname = METRIC_NAMES.get(metric, metric)
    pts = d.margin_text
    head = f"{t} − {c}, test {mname}"
    over = _over(pm.n, pr.seeds if len(pr.seeds) == pm.n else [])
    if not pm.defined:
        why = "fewer than 2 shared seeds" if pm.n < 2 else "every paired difference is equal"
        outcome = "inconclusive"
        sentence = (
            f"Inconclusive: {head}, {fmt4(pm.estimate)} over {pm.n} shared seed{'s' * (pm.n != 1)}; "
            f"no paired interval ({why})."
        )
        detail = "Nothing is concluded without a paired interval."
    else:
        ci = f"{1 - d.alpha:.0%} CI {_ci(lo, hi)}, paired t p {_p(pm.pvalue)}"
        ci90 = _ci(eq.ci_low, eq.ci_high)
        if lo > 0 or hi < 0:
            outcome = "better" if lo > 0 else "worse"
            sentence = (
                f"{t} is {outcome} than {c} on test {mname} by {fmt4(pm.estimate)} ({ci}; paired over {over})"
            )
            if eq.equivalent:  # both tests reject: a difference is shown, and it is smaller than the margin
                sentence += f", a difference inside the equivalence margin of {pts} (TOST p {_p(eq.pvalue)})"
            sentence += "."
        elif eq.equivalent:
            outcome = "equivalent"
            sentence = (
                f"{t} and {c} are equivalent within {pts} on test {mname}: difference "
                f"{fmt4(pm.estimate)} ({ci}; paired over {over})."
            )
        else:
            outcome = "inconclusive"
            sentence = (
                f"Inconclusive: {t} − {c} on test {mname} is {fmt4(pm.estimate)} ({ci}; paired over "
                f"{over}); neither a difference nor equivalence within {pts} is shown."
            )
        inside = "lies inside" if eq.equivalent else "is not inside"
        detail = (
            f"Equivalence (two one-sided tests, α = {d.alpha}): the {1 - 2 * d.alpha:.0%} CI {ci90} {inside} "
            f"±{fmt4(d.equivalence_margin, signed=False)} ({pts}), TOST p {_p(eq.pvalue)}."
        )
    mde = _mde(pm, d)
    if math.isfinite(mde) and not plan:  # with a plan, the sizing paragraph says it
        detail += (
            f" At the observed SD of the paired differences ({fmt4(pm.sd, signed=False)}), {pm.n} seeds "
            f"detect a difference of about {fmt4(mde, signed=False)} with {d.power:.0%} power."
        )
    sizing, achieved = sizing_text(plan, pm, d) if plan else ("", None)
    diffs = [x - y for x, y in zip(pr.a, pr.b, strict=True)]
    return Primary(
        treatment=d.treatment,
        control=d.control,
        metric=metric,
        seeds=pr.seeds,
        diffs=diffs,
        n=pm.n,
        estimate=pm.estimate,
        sd=pm.sd,
        ci_low=lo,
        ci_high=hi,
        pvalue=pm.pvalue,
        ci90_low=eq.ci_low,
        ci90_high=eq.ci_high,
        tost_pvalue=eq.pvalue,
        margin=d.equivalence_margin,
        alpha=d.alpha,
        equivalent=eq.equivalent,
        outcome=outcome,
        sentence=sentence,
        detail=detail,
        n_treatment=len(treatment_scores),
        n_control=len(control_scores),
        bootstrap=dict(bootstrap) if bootstrap else None,
        plan=dict(plan) if plan else None,
        mde=mde,
        target_effect=d.target_effect,
        power=d.power,
        sd_bound_confidence=d.sd_bound_confidence,
        sizing=sizing,
        achieved=achieved,
        robust=robust_paired(pr.seeds, diffs) if diffs else None,
    )


def secondary_family(
    scores: Mapping[str, Mapping[int, float]],
    metric: str,
    pms: Mapping[str, stats.PairedMean] | None = None,
    design: StudyDesign = DESIGN_V1,
) -> list[Secondary]:
    """The design's secondary methods (those present) against its control: paired t per method over the
    seeds both ran, Holm within the family.

    ``scores``: method -> seed -> headline score; ``pms`` replaces a method's paired summary (see
    :func:`primary_result`).
    """
    d = design
    if d.control not in scores:
        return []
    family = [m for m in d.secondary if m in scores]
    rows: list[tuple[str, stats.PairedMean, list[int]]] = []
    for m in family:
        stored = (pms or {}).get(m)
        pr = _pairs(scores[m], scores[d.control])
        rows.append((m, stored or pr.pm, [] if stored else pr.seeds))
    adj = stats.holm([pm.pvalue for _, pm, _ in rows])
    out: list[Secondary] = []
    mname = METRIC_NAMES.get(metric, metric)
    for (m, pm, seeds), ph in zip(rows, adj, strict=True):
        lo, hi = pm.confidence_interval(1 - d.alpha)
        a, c = LABELS.get(m, m), LABELS.get(d.control, d.control)
        if not pm.defined:
            outcome = "no test"
            sentence = (
                f"{a} − {c} on test {mname}: {fmt4(pm.estimate)} over {pm.n} shared seed{'s' * (pm.n != 1)}; "
                "no paired test (fewer than 2 shared seeds or no spread), nothing is concluded."
            )
        else:
            over = f"seeds {seed_list(seeds)} (n = {pm.n}; " if seeds else f"{pm.n} seeds ("
            est = (
                f"{fmt4(pm.estimate)} over {over}{1 - d.alpha:.0%} CI {_ci(lo, hi)}, "
                f"unadjusted; paired t p {_p(pm.pvalue)})"
            )
            if ph < d.alpha:
                outcome = "higher" if pm.estimate > 0 else "lower"
                sentence = (
                    f"{a} scores {outcome} than {c} on test {mname} by {est}; Holm-adjusted p {_p(ph)} "
                    f"< {d.alpha} in the family of {len(rows)}."
                )
            else:
                outcome = "no difference shown"
                sentence = (
                    f"No difference between {a} and {c} on test {mname} is shown after Holm adjustment: "
                    f"{a} − {c} = {est}; Holm-adjusted p {_p(ph)} in the family of {len(rows)}."
                )
                if lo > 0 or hi < 0:
                    sentence += (
                        " Its unadjusted interval excludes 0, which is not a finding after the adjustment "
                        "for the family."
                    )
        out.append(
            Secondary(
                m,
                d.control,
                metric,
                pm.n,
                pm.estimate,
                lo,
                hi,
                pm.pvalue,
                ph,
                family,
                outcome,
                sentence,
                seeds,
            )
        )
    return out
