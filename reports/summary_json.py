"""Reviving ``summary.json``: a :class:`BenchmarkSummary` from its JSON form, and what a summary written by
an older version lacks, recomputed from what it stored (a run dir whose raw records are gone)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from flatlora.bench.design import DESIGN_V1, StudyDesign
from reports import stats
from reports.endpoints import robust_paired
from reports.labels import METRICS, method_sort_key
from reports.stages import StudySummary
from reports.summary import (
    baseline_from_counts,
    comparison_pairs,
    finite_score,
    holm_into,
    is_phrasebank,
)
from reports.summary_types import (
    ALPHA,
    METRIC_RANGE,
    MIN_BOOTSTRAP_SEEDS,
    BenchmarkSummary,
    DatasetSummary,
    MetricSummary,
)
from reports.verdict import primary_result, secondary_family, sizing_text


# ------------------------------------------------------------------------------------- from summary.json
def _revive(tp: Any, data: Any) -> Any:
    """Rebuild a value of type ``tp`` (dataclass, list/dict/tuple of them, Optional) from its JSON form."""
    import dataclasses
    import types
    import typing

    if data is None:
        return math.nan if tp is float else None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _revive(inner[0], data) if len(inner) == 1 else data
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        kw = {f.name: _revive(hints[f.name], data[f.name]) for f in dataclasses.fields(tp) if f.name in data}
        return tp(**kw)
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        return [_revive(arg, v) for v in data]
    if origin is tuple:
        return tuple(data)
    if origin is dict:
        _, arg = typing.get_args(tp) or (str, Any)
        return {k: _revive(arg, v) for k, v in data.items()}
    return data


def summary_from_dict(data: Mapping[str, Any]) -> BenchmarkSummary:
    """A :class:`BenchmarkSummary` from ``summary.json`` (also one written by an older version).

    For a run dir whose raw records are gone: what derives from the stored counts is recomputed (Newcombe
    intervals from the McNemar table, the bootstrap rule, the power note); what needs the records (MCC,
    per-seed scores, the validation score at each seed's selected epoch) stays empty and renders as n/a.
    """
    s: BenchmarkSummary = _revive(BenchmarkSummary, dict(data))
    s.source = "summary.json"
    nan = MetricSummary(math.nan, math.nan, 0, math.nan, math.nan)

    def by_method(
        d: dict[str, Any],
    ) -> dict[str, Any]:  # summary.json sorts keys; the report uses method order
        return dict(sorted(d.items(), key=lambda kv: method_sort_key(kv[0])))

    design = _design_of(s.study)
    for ds in s.datasets:
        for name in ("train_loss", "val_curves", "flatness", "confusion", "best_val"):
            setattr(ds, name, by_method(getattr(ds, name)))
        if ds.error_analysis is not None:
            ds.error_analysis.top_errors = by_method(ds.error_analysis.top_errors)
            for b in ds.error_analysis.buckets:
                b.error_rate = by_method(b.error_rate)
            ds.error_analysis.top_errors = {
                k: [tuple(e) for e in v]  # type: ignore[misc]
                for k, v in ds.error_analysis.top_errors.items()
            }
        for m in ds.methods:
            for k in METRICS:
                m.metrics.setdefault(k, nan)
        for c in ds.comparisons:
            n_boot = c.bootstrap.get("n_seeds")
            if n_boot is None:
                n_boot = c.paired["n"] if c.paired else min(c.welch.get("n_a", 0), c.welch.get("n_b", 0))
            c.bootstrap = {**c.bootstrap, "n_seeds": n_boot, "shown": n_boot >= MIN_BOOTSTRAP_SEEDS}
            mc = c.mcnemar
            if mc and all(k in mc for k in ("n", "b", "c", "acc_a")):
                n, only_a, only_b = int(mc["n"]), int(mc["b"]), int(mc["c"])
                n11 = round(float(mc["acc_a"]) * n) - only_a
                n00 = n - n11 - only_a - only_b
                pd = stats.ProportionDiff((only_a - only_b) / n, n, n11, only_a, only_b, n00)
                mc["diff_ci"] = list(pd.confidence_interval())
        for c in ds.comparisons:  # summaries written before the interval wording
            pdict = c.paired
            if c.mde is None and pdict and finite_score(pdict.get("n")) and pdict["n"] >= 2:
                c.mde = _mde_from_paired(pdict)
        _upgrade_dataset(ds, design)
    return s


def _design_of(study: StudySummary | None) -> StudyDesign:
    """The design numbers a stored summary was built with (the first design's without a study)."""
    if study is None:
        return DESIGN_V1
    import dataclasses

    return dataclasses.replace(
        DESIGN_V1,
        name=study.design,
        treatment=study.treatment,
        control=study.control,
        secondary=tuple(study.secondary),
        alpha=study.alpha,
        equivalence_margin=study.margin,
        target_effect=study.target_effect,
        power=study.power,
        sd_bound_confidence=study.sd_bound_confidence,
        pilot_seeds=study.pilot_seeds,
        max_seeds=study.max_seeds,
        secondary_seeds=study.secondary_seeds,
    )


def _paired_from_dict(pdict: Mapping[str, Any] | None) -> stats.PairedMean | None:
    """A stored paired t result as mean, SD (|estimate / d_z|) and n."""
    if not pdict or not finite_score(pdict.get("n")) or not finite_score(pdict.get("estimate")):
        return None
    es, est = pdict.get("effect_size"), float(pdict["estimate"])
    if isinstance(es, int | float) and math.isfinite(es) and es != 0:
        sd = abs(est / float(es))
    else:  # no d_z: identical differences (sd 0) or a single pair
        sd = 0.0 if int(pdict["n"]) >= 2 else math.nan
    return stats.PairedMean(est, sd, int(pdict["n"]))


def _mde_from_paired(pdict: Mapping[str, Any]) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        dz = stats.min_detectable_effect(int(pdict["n"]), ALPHA, 0.8, paired=True)
    pm = _paired_from_dict(pdict)
    sd = pm.sd if pm is not None else math.nan
    return {
        "n": int(pdict["n"]),
        "power": 0.8,
        "alpha": ALPHA,
        "d_z": dz,
        "sd_diff": sd,
        "in_units": dz * sd if sd > 0 else math.nan,
    }


def _upgrade_dataset(ds: DatasetSummary, design: StudyDesign = DESIGN_V1) -> None:
    """Fill what a summary.json from before the plan's verdict lacks, from what it stored: the headline
    comparisons, the primary and secondary results (from the stored paired tests or per-seed scores), the
    majority-class baseline (from the confusion matrices' gold rows) and bounded intervals."""
    headline = ds.headline_metric
    d = design
    roles = {(a, b): r for a, b, r in comparison_pairs((m.method for m in ds.methods), d)}
    ds.comparisons = [c for c in ds.comparisons if c.metric == headline and (c.method_a, c.method_b) in roles]
    for c in ds.comparisons:
        c.role = roles[(c.method_a, c.method_b)]
    ds.phrasebank = ds.phrasebank or is_phrasebank(ds.name, {})
    if ds.error_analysis is not None and not ds.phrasebank:
        ds.error_analysis.buckets = []
    for m in ds.methods:
        for k, (lo, hi) in METRIC_RANGE.items():
            ms, seeds = m.metrics[k], m.per_seed.get(k) or {}
            if len(seeds) >= 2:
                ms.ci_low, ms.ci_high = stats.bounded_mean_interval(list(seeds.values()), lo, hi)
            elif not (lo <= ms.ci_low <= ms.ci_high <= hi):  # an older unbounded t interval
                ms.ci_low = ms.ci_high = math.nan
    scores = {
        m.method: {int(s): float(v) for s, v in (m.per_seed.get(headline) or {}).items()} for m in ds.methods
    }
    stored = {c.method_a: _paired_from_dict(c.paired) for c in ds.comparisons}
    n_seeds = {m.method: len(m.seeds) for m in ds.methods}
    treat, ctrl = d.treatment, d.control
    if ds.primary is None and treat in scores and ctrl in scores:
        pm = None if scores[treat] and scores[ctrl] else stored.get(treat)
        ds.primary = primary_result(scores[treat], scores[ctrl], headline, pm=pm, design=d)
        ds.primary.n_treatment, ds.primary.n_control = n_seeds[treat], n_seeds[ctrl]
    p = ds.primary
    if p is not None:  # summaries written before the sizing paragraph and the robust endpoints
        if p.plan and not p.sizing:
            p.sizing, p.achieved = sizing_text(p.plan, stats.PairedMean(p.estimate, p.sd, p.n), d)
        if p.robust is None and p.diffs:
            p.robust = robust_paired(p.seeds, p.diffs)
    if not ds.secondary:
        pms = {m: x for m, x in stored.items() if x is not None and not (scores.get(m) and scores.get(ctrl))}
        # a method enters the family only with something to test: its scores or a stored paired test
        avail = {m: v for m, v in scores.items() if m == ctrl or (v and scores.get(ctrl)) or m in pms}
        ds.secondary = secondary_family(avail, headline, pms, design=d)
        holm_into(ds.comparisons, ds.secondary)
    if ds.baseline is None and ds.confusion:
        method, cm = next(iter(ds.confusion.items()))
        n_runs = n_seeds.get(method, 0)  # the matrix is summed over this many seeds of one test split
        if n_runs:
            counts = [round(sum(row) / n_runs) for row in cm]
            names = list(ds.label_names) or [str(i) for i in range(len(counts))]
            ds.baseline = baseline_from_counts(counts, names, ds.methods, headline)
