"""Aggregate run records (one per dataset x method x seed) into a :class:`BenchmarkSummary`.

The computation only: the result types are in :mod:`reports.summary_types`, and reading a stored
``summary.json`` back (also one written by an older version) is :mod:`reports.summary_json`.

The summary is the only thing the report template sees, so every number in ``report.md`` is derived here
from the raw records (already checked by :mod:`reports.records`). Design choices (stated in the report too):

* Failed runs (``status != "ok"``) are excluded from every statistic and listed with their reason.
* The verdict is the analysis plan's primary endpoint (:mod:`reports.verdict`): Flat-LoRA − LoRA on the
  headline test metric, paired over shared seeds, 95% paired-t interval, equivalence by two one-sided
  tests, beside a two-way bootstrap over seeds and test examples (:mod:`reports.twoway`). The secondary
  family (full, SAM-AB, SAM-W vs LoRA, headline metric only) is Holm-adjusted within itself.
* Every between-method comparison uses only the seeds both methods ran (means, tests, votes, collapses),
  and says which. Details, per compared pair on the headline metric: paired t-test and d_z (Welch's
  unpaired test only where no seed is shared); on accuracy, Cochran-Mantel-Haenszel across seeds
  (descriptive: it sees only the test examples' binomial variance) and exact McNemar on majority votes.
* Runs that collapsed to the class prior (:mod:`reports.collapses`), the median and robust estimates of the
  paired differences and test log-loss (:mod:`reports.endpoints`), and, for a study folder, its design's
  numbers and tuning stages (:mod:`reports.stages`).
* Intervals of a bounded metric's mean stay in its range (logit-transformed t interval).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from flatlora.bench.design import DESIGN_V1, StudyDesign
from reports import stats, twoway
from reports.collapses import collapse_summary
from reports.endpoints import log_loss_summary
from reports.labels import METHOD_LABELS, METRICS, method_sort_key
from reports.records import GridStatus
from reports.stages import StudySummary
from reports.summary_types import (
    ALPHA,
    MAX_DISAGREEMENTS,
    METRIC_RANGE,
    MIN_BOOTSTRAP_SEEDS,
    PHRASEBANK_CARD,
    Band,
    Baseline,
    BenchmarkSummary,
    BestVal,
    BucketRow,
    ComparisonRow,
    CostSummary,
    DatasetSummary,
    Disagreement,
    ErrorAnalysis,
    FailedRun,
    FlatnessSummary,
    MethodSummary,
    MetricSummary,
    MixedPairs,
    NeverPredicted,
    Provenance,
    RowCap,
    SweepRow,
)
from reports.texts import ExampleTexts
from reports.verdict import Secondary, primary_result, secondary_family


def _quiet_describe(values: Sequence[float], bounds: tuple[float, float] | None = None) -> MetricSummary:
    """Mean ± sd and a 95% interval of the mean: Student t, or inside ``bounds`` for a bounded metric."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        d = stats.describe(values)
        if bounds is not None:
            lo, hi = stats.bounded_mean_interval(values, *bounds) if d.n >= 2 else (math.nan, math.nan)
        else:
            lo, hi = d.confidence_interval(0.95)
    return MetricSummary(d.mean, d.std, d.n, lo, hi)


def _band(series: Iterable[Mapping[float, float]]) -> Band:
    by_x: dict[float, list[float]] = defaultdict(list)
    for s in series:
        for x, v in s.items():
            if v is not None and math.isfinite(v):
                by_x[x].append(float(v))
    xs = sorted(by_x)
    mean = [float(np.mean(by_x[x])) for x in xs]
    std = [float(np.std(by_x[x], ddof=1)) if len(by_x[x]) > 1 else 0.0 for x in xs]
    return Band([float(x) for x in xs], mean, std, [len(by_x[x]) for x in xs])


def _majority(preds_by_seed: Sequence[tuple[int, str]]) -> str:
    """Modal label; ties go to the prediction of the lowest seed (deterministic)."""
    counts = Counter(p for _, p in preds_by_seed)
    top = max(counts.values())
    for _, p in sorted(preds_by_seed):
        if counts[p] == top:
            return p
    raise ValueError("no predictions")  # pragma: no cover


# heuristic failure-mode buckets from the study (keyword/regex; clearly labelled heuristic in the report)
_BUCKETS: dict[str, re.Pattern[str]] = {
    "mixed-signal": re.compile(
        r"\b(but|however|although|though|while|whereas|despite|yet|offset|nevertheless)\b", re.I
    ),
    "forward-looking / temporal": re.compile(
        r"\b(will|expects?|expected|expecting|forecasts?|outlook|guidance|anticipates?|plans?|"
        r"estimates?|projected|next (year|quarter)|going to|is to|are to|future)\b",
        re.I,
    ),
    "numeric / relative": re.compile(
        r"(\d[\d.,]*\s*(%|percent|pct)|\bfrom\b.*\d.*\bto\b.*\d|\b(compared|year-on-year|yoy|than)\b.*\d)",
        re.I,
    ),
    "financial jargon": re.compile(
        r"\b(write-?downs?|impairments?|ebitda?|goodwill|provisions?|restructuring|dividends?|"
        r"margins?|liquidity|capex|redundanc(y|ies)|layoffs?|operating (profit|loss)|net sales)\b",
        re.I,
    ),
}


def failure_buckets(text: str) -> list[str]:
    """Heuristic failure-mode buckets a sentence falls into (may be several or none)."""
    return [name for name, rx in _BUCKETS.items() if rx.search(text)]


# --------------------------------------------------------------------------------------------- main
def summarize(
    records: Sequence[Mapping[str, Any]],
    *,
    validation: Mapping[str, Any] | None = None,
    run_id: str = "",
    title: str = "Flat-LoRA benchmark",
    n_resamples: int = 9999,
    texts: ExampleTexts | None = None,
    sweep: Mapping[str, Any] | None = None,
    plan: Mapping[str, Any] | None = None,
    grid: GridStatus | None = None,
    two_way_resamples: int | None = None,
    design: StudyDesign | None = None,
    study: StudySummary | None = None,
) -> BenchmarkSummary:
    """Build the full summary. Pure: same records (and looked-up texts) in, same summary out.

    ``records`` must already be one per (dataset, method, seed) (:func:`reports.records.check_records`).
    ``texts``: example texts by dataset for records whose predictions carry none, and the split label
    counts of records that predate storing them (:func:`reports.texts.lookup_texts`); ``sweep``: the
    learning-rate sweep beside the records; ``plan``: the study's ``power.json`` (the pilot's SD and the n
    it set); ``grid``: the expected grid against what was found; ``design``: the study's design (its
    methods, α, margin, target effect; the first design's numbers without one); ``study``: a study
    folder's design and tuning stages (:func:`reports.stages.study_summary`).
    """
    design = design or DESIGN_V1
    ok = [r for r in records if r.get("status") == "ok"]
    failed = [
        FailedRun(
            str(r.get("run_id", "?")),
            str(r.get("dataset", "?")),
            str(r.get("method", "?")),
            r.get("seed"),
            str(r.get("failure_reason") or "unknown"),
        )
        for r in records
        if r.get("status") != "ok"
    ]
    failed.sort(key=lambda f: (f.dataset, method_sort_key(f.method), f.seed or 0))

    by_ds: dict[str, dict[str, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in ok:
        by_ds[str(r["dataset"])][str(r["method"])].append(r)
    for methods in by_ds.values():
        for runs in methods.values():
            runs.sort(key=lambda r: int(r["seed"]))

    texts = texts or ExampleTexts()
    datasets = [
        _dataset_summary(
            name,
            by_ds[name],
            n_resamples,
            texts.texts.get(name),
            texts.notes.get(name),
            plan=plan,
            two_way_resamples=two_way_resamples or twoway.N_RESAMPLES,
            split_sizes=_split_sizes(validation, name),
            design=design,
            label_counts=texts.label_counts.get(name),
        )
        for name in sorted(by_ds)
    ]
    return BenchmarkSummary(
        title=title,
        run_id=run_id,
        n_records=len(records),
        n_ok=len(ok),
        datasets=datasets,
        failed_runs=failed,
        provenance=_provenance(records, design),
        validation=dict(sorted(validation.items())) if validation is not None else None,
        alpha=design.alpha,
        sweep=sweep_table(sweep),
        grid=grid,
        study=study,
    )


def comparison_pairs(methods: Iterable[str], design: StudyDesign = DESIGN_V1) -> list[tuple[str, str, str]]:
    """(a, b, role): the primary pair, then the secondary family, each against the control."""
    present = set(methods)
    d = design
    pairs = [(d.treatment, d.control, "primary")] + [(m, d.control, "secondary") for m in d.secondary]
    return [(a, b, r) for a, b, r in pairs if a in present and b in present]


def _dataset_summary(
    name: str,
    runs: Mapping[str, list[Mapping[str, Any]]],
    n_resamples: int,
    texts: Mapping[int, str] | None = None,
    texts_note: str | None = None,
    *,
    plan: Mapping[str, Any] | None = None,
    two_way_resamples: int = twoway.N_RESAMPLES,
    split_sizes: Mapping[str, int] | None = None,
    design: StudyDesign = DESIGN_V1,
    label_counts: Mapping[str, Mapping[str, int]] | None = None,
) -> DatasetSummary:
    methods = sorted(runs, key=method_sort_key)
    ordered = {m: runs[m] for m in methods}
    d = design
    first = runs[methods[0]][0]
    info = first.get("dataset_info") or {}
    label_names = list(info.get("label_names") or [])
    headline = headline_metric(info)
    task = str(info.get("task") or "classification")
    shown = (*METRICS, "loss") if task == "generation" else METRICS

    method_rows = [
        MethodSummary(
            m,
            METHOD_LABELS.get(m, m),
            [int(r["seed"]) for r in runs[m]],
            {k: _quiet_describe(_scores(runs[m], k), METRIC_RANGE.get(k)) for k in shown},
            {
                k: {str(r["seed"]): float(r["test"][k]) for r in runs[m] if finite_score(r["test"].get(k))}
                for k in shown
            },
        )
        for m in methods
    ]

    shared = (
        set.intersection(*({int(r["seed"]) for r in runs[m]} for m in d.primary))
        if all(m in runs for m in d.primary)
        else set()
    )
    majority = {  # the primary pair votes with the same seeds (equal-size ensembles)
        m: _majority_predictions(
            [r for r in runs[m] if m not in d.primary or int(r["seed"]) in shared], texts
        )
        for m in methods
    }
    pairs = comparison_pairs(methods, d)
    comparisons: list[ComparisonRow] = []
    if _all_have(runs, headline):
        for a, b, role in pairs:
            row = _compare_methods(name, headline, a, b, runs[a], runs[b], n_resamples, texts)
            row.role = role
            comparisons.append(row)
    scores = {m: {int(r["seed"]): float(r["test"][headline]) for r in runs[m]} for m in methods}
    primary = None
    if d.treatment in runs and d.control in runs and _all_have(runs, headline):
        boot = _two_way(runs[d.treatment], runs[d.control], headline, label_names, two_way_resamples)
        primary = primary_result(
            scores[d.treatment], scores[d.control], headline, plan=plan, bootstrap=boot, design=d
        )
    secondary = secondary_family(scores, headline, design=d) if _all_have(runs, headline) else []
    holm_into(comparisons, secondary)
    baseline = _baseline(runs, label_names, method_rows, headline)
    phrasebank = is_phrasebank(name, info)

    train_loss = {
        m: _band({float(p["step"]): p["loss"] for p in (r.get("train_loss") or [])} for r in runs[m])
        for m in methods
    }
    val_curves = {
        m: {
            k: _band({float(p["epoch"]): p.get(k) for p in (r.get("val_history") or [])} for r in runs[m])
            for k in ("loss", *METRICS)
        }
        for m in methods
    }
    flatness = {m: f for m in methods if (f := _flatness(runs[m])) is not None}
    flatness_off = [  # `--no-flatness` (flatness_k 0): said as not measured, never as missing
        m
        for m in methods
        if m not in flatness and all((r.get("config") or {}).get("flatness_k") == 0 for r in runs[m])
    ]
    confusion: dict[str, list[list[int]]] = {}
    for m in methods:
        mats = [
            np.asarray(r["test"]["confusion_matrix"], dtype=int)
            for r in runs[m]
            if r["test"].get("confusion_matrix")
        ]
        if mats and all(x.shape == mats[0].shape for x in mats):
            confusion[m] = np.sum(mats, axis=0).tolist()

    cost = []
    for m in methods:
        costs = [r.get("cost") or {} for r in runs[m]]
        tp = [c["trainable_params"] for c in costs if c.get("trainable_params") is not None]
        tot = [c["total_params"] for c in costs if c.get("total_params") is not None]
        kinds = {
            str(c.get("peak_mem_kind") or "process_rss") for c in costs if c.get("peak_mem_mb") is not None
        }
        kind = kinds.pop() if len(kinds) == 1 else "mixed" if kinds else "process_rss"
        mem = [float(c["peak_mem_mb"]) for c in costs if c.get("peak_mem_mb") is not None]
        cpu = [float(c["cpu_s"]["run"]) for c in costs if finite_score((c.get("cpu_s") or {}).get("run"))]
        cost.append(
            CostSummary(
                m,
                _quiet_describe([float(c["wall_time_s"]) for c in costs if c.get("wall_time_s") is not None]),
                _quiet_describe(mem if kind != "mixed" else []),  # no mean over different quantities
                int(tp[0]) if tp else None,
                int(tot[0]) if tot else None,
                kind,
                n=len(costs),
                cpu_s=_quiet_describe(cpu) if cpu else None,
            )
        )
    cost_kinds = {c.peak_mem_kind for c in cost}
    memory_kind = cost_kinds.pop() if len(cost_kinds) == 1 else "mixed"
    before = [float(r["test"]["loss_before"]) for m in methods for r in runs[m] if "loss_before" in r["test"]]
    loss_changes = _loss_changes(runs, methods, d.control) if task == "generation" else {}

    return DatasetSummary(
        name=name,
        label_names=label_names,
        methods=method_rows,
        comparisons=comparisons,
        train_loss=train_loss,
        val_curves=val_curves,
        flatness=flatness,
        flatness_off=flatness_off,
        confusion=confusion,
        error_analysis=_error_analysis(
            runs, majority, texts is not None or _records_have_texts(runs), texts_note, buckets=phrasebank
        ),
        cost=cost,
        checksum=info.get("checksum"),
        n_train=info.get("n_train"),
        n_val=info.get("n_val"),
        n_test=info.get("n_test"),
        headline_metric=headline,
        best_val={m: _best_val(runs[m], headline) for m in methods},
        memory_kind=memory_kind,
        task=task,
        answer_format=info.get("answer_format"),
        unit="examples" if info.get("sentence_pairs") or task == "generation" else "sentences",
        primary=primary,
        secondary=secondary,
        baseline=baseline,
        phrasebank=phrasebank,
        loss_before=_quiet_describe(before) if task == "generation" and before else None,
        loss_changes=loss_changes,
        never_predicted=[] if task == "generation" else _never_predicted(runs, methods, label_names),
        row_caps=_row_caps(first, split_sizes or {}),
        collapse=None
        if task == "generation"
        else collapse_summary(ordered, pairs, label_counts=label_counts, rule=d.collapse),
        log_loss=None if task == "generation" else log_loss_summary(ordered, pairs),
    )


def _never_predicted(
    runs: Mapping[str, Sequence[Mapping[str, Any]]], methods: Sequence[str], label_names: Sequence[str]
) -> list[NeverPredicted]:
    """Per method, each test class it did not predict once on a seed, with the number of such seeds (from
    each run's confusion matrix: a gold row with examples, an empty predicted column)."""
    out: list[NeverPredicted] = []
    for m in methods:
        mats = [np.asarray(r["test"].get("confusion_matrix") or [], dtype=int) for r in runs[m]]
        mats = [x for x in mats if x.ndim == 2 and x.shape[0] == x.shape[1] == len(label_names)]
        if not mats:
            continue
        never = sum((x.sum(axis=0) == 0) & (x.sum(axis=1) > 0) for x in mats)
        for i, n in enumerate(never):
            if n:
                out.append(NeverPredicted(m, str(label_names[i]), int(n), len(mats), int(mats[0][i].sum())))
    return out


ROW_CAP_SETTINGS = (
    ("train", "max_train_examples"),
    ("val", "max_eval_examples"),
    ("test", "max_test_examples"),
)


def _row_caps(record: Mapping[str, Any], split_sizes: Mapping[str, int]) -> list[RowCap]:
    """The caps that left rows out: the split had more rows than the run used (known from the validation
    beside the records), or, without that, the run used exactly as many rows as the cap allows."""
    config, info = record.get("config") or {}, record.get("dataset_info") or {}
    out = []
    for split, setting in ROW_CAP_SETTINGS:
        cap, used = config.get(setting), info.get(f"n_{split}")
        if cap is None or used is None:
            continue
        available = split_sizes.get(split)
        if (available is not None and int(used) < int(available)) or (available is None and used == cap):
            out.append(RowCap(split, setting, int(used), available, str(record.get("profile") or "")))
    return out


def _slug(name: str) -> str:
    """A dataset argument as records name it (`data/My File.csv` -> `My_File`; RunConfig.dataset_slug)."""
    stem = os.path.splitext(os.path.basename(str(name)))[0]
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem) or "data"


def _split_sizes(validation: Mapping[str, Any] | None, name: str) -> dict[str, int]:
    """The split sizes the validation beside the records found for dataset `name`, before any cap."""
    for key, v in (validation or {}).items():
        if isinstance(v, Mapping) and name in (_slug(key), _slug(str(v.get("dataset") or ""))):
            return {k: int(n) for k, n in (v.get("split_sizes") or {}).items()}
    return {}


def _loss_changes(
    runs: Mapping[str, list[Mapping[str, Any]]], methods: list[str], control: str = DESIGN_V1.control
) -> dict[str, dict[str, Any]]:
    """Paired held-out loss differences per method: against its own loss before fine-tuning (same run),
    and against LoRA's (same seed). Descriptive: the tested family holds the headline metric only."""

    def paired(pairs: list[tuple[float, float]]) -> dict[str, Any] | None:
        if not pairs:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            return stats.paired_mean([a for a, _ in pairs], [b for _, b in pairs]).to_dict()

    base = {int(r["seed"]): float(r["test"]["loss"]) for r in runs.get(control, [])}
    out: dict[str, dict[str, Any]] = {}
    for m in methods:
        ok = [r for r in runs[m] if finite_score(r["test"].get("loss"))]
        out[m] = {
            "fine_tuning": paired(
                [
                    (float(r["test"]["loss"]), float(r["test"]["loss_before"]))
                    for r in ok
                    if "loss_before" in r["test"]
                ]
            ),
            "vs_control": None
            if m == control
            else paired(
                [(float(r["test"]["loss"]), base[int(r["seed"])]) for r in ok if int(r["seed"]) in base]
            ),
        }
    return out


def is_phrasebank(name: str, dataset_info: Mapping[str, Any]) -> bool:
    """Financial PhraseBank (by its card or its config name): the only data the failure buckets fit."""
    return dataset_info.get("card") == PHRASEBANK_CARD or str(name).lower().startswith("fpb_")


def holm_into(rows: Sequence[ComparisonRow], secondary: Sequence[Secondary]) -> None:
    """Copy the secondary family's Holm-adjusted p-values onto its comparison rows (NaN on the others)."""
    adj = {s.method: s.p_holm for s in secondary}
    for r in rows:
        r.paired_p_holm = adj.get(r.method_a, math.nan) if r.role == "secondary" else math.nan


def _label_ids(runs: Sequence[Mapping[str, Any]], label_names: Sequence[str]) -> dict[str, int]:
    names = list(label_names)
    for r in runs:
        for p in r.get("predictions") or []:
            for v in (str(p["gold"]), str(p["pred"])):
                if v not in names:
                    names.append(v)
    return {n: i for i, n in enumerate(names)}


def _two_way(
    runs_a: Sequence[Mapping[str, Any]],
    runs_b: Sequence[Mapping[str, Any]],
    metric: str,
    label_names: Sequence[str],
    n_resamples: int,
) -> dict[str, Any] | None:
    """The two-way bootstrap of A − B over the shared seeds, on the test examples all of them predicted."""
    pa = {int(r["seed"]): {int(p["index"]): p for p in r.get("predictions") or []} for r in runs_a}
    pb = {int(r["seed"]): {int(p["index"]): p for p in r.get("predictions") or []} for r in runs_b}
    seeds = sorted(s for s in set(pa) & set(pb) if pa[s] and pb[s])
    if len(seeds) < 2:
        return None
    idx = sorted(set.intersection(*(set(pa[s]) & set(pb[s]) for s in seeds)))
    if not idx:
        return None
    ids = _label_ids([*runs_a, *runs_b], label_names)
    gold = [ids[str(pa[seeds[0]][i]["gold"])] for i in idx]
    pred_a = [[ids[str(pa[s][i]["pred"])] for i in idx] for s in seeds]
    pred_b = [[ids[str(pb[s][i]["pred"])] for i in idx] for s in seeds]
    res = twoway.two_way_bootstrap(
        gold, pred_a, pred_b, metric, n_labels=len(ids), n_resamples=n_resamples, seed=twoway.SEED
    )
    return res.to_dict()


def _baseline(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    label_names: Sequence[str],
    methods: Sequence[MethodSummary],
    metric: str = "accuracy",
) -> Baseline | None:
    """The majority-class baseline from the test split's gold labels (any record's predictions)."""
    gold: dict[int, str] = {}
    for rs in runs.values():
        for r in rs:
            for p in r.get("predictions") or []:
                gold.setdefault(int(p["index"]), str(p["gold"]))
    if not gold:
        return None
    ids = _label_ids([r for rs in runs.values() for r in rs], label_names)
    counts = np.bincount([ids[g] for g in gold.values()], minlength=len(ids))
    return baseline_from_counts(counts.tolist(), list(ids), methods, metric)


def baseline_from_counts(
    counts: Sequence[int], names: Sequence[str], methods: Sequence[MethodSummary], metric: str = "accuracy"
) -> Baseline | None:
    """Every example predicted as the most frequent gold label (ties: the first label): its metrics, and
    the methods whose 95% interval of the mean ``metric`` does not lie above it (the mean, with one seed)."""
    c = np.asarray(counts, dtype=float)
    if c.sum() <= 0:
        return None
    top = int(np.argmax(c))
    cm = np.zeros((c.size, c.size))
    cm[:, top] = c  # every gold row predicted as `top`
    values = {k: float(twoway.metric_from_confusion(cm, k)) for k in METRICS}
    not_above = []
    for m in methods:
        ms = m.metrics.get(metric)
        lo = ms.ci_low if ms is not None and math.isfinite(ms.ci_low) else (ms.mean if ms else math.nan)
        if not (math.isfinite(lo) and lo > values[metric]):
            not_above.append(m.method)
    return Baseline(str(names[top]), int(c.sum()), values, not_above)


def sweep_table(sweep: Mapping[str, Any] | None) -> list[SweepRow]:
    """Rows of the report's learning-rate table from a `sweep.json` (see flatlora.bench.sweep)."""
    if not sweep:
        return []
    source = dict(sweep.get("lr_source") or {})
    rows: list[SweepRow] = []
    for m, res in sorted((sweep.get("sweeps") or {}).items(), key=lambda kv: method_sort_key(kv[0])):
        used = sorted((k for k, v in source.items() if v == m), key=method_sort_key) or [m]
        for p in res.get("points") or []:
            rows.append(
                SweepRow(
                    method=m,
                    used_by=used,
                    lr=float(p["lr"]),
                    status=str(p.get("status")),
                    score=float(p["score"]) if finite_score(p.get("score")) else math.nan,
                    metric=str(res.get("metric") or "accuracy"),
                    best_epoch=p.get("best_epoch"),
                    val_loss=float(p["val_loss"]) if finite_score(p.get("val_loss")) else math.nan,
                    chosen=res.get("chosen_lr") is not None and float(p["lr"]) == float(res["chosen_lr"]),
                    seed=int(res.get("seed", 0)),
                    rule=str(res.get("rule") or ""),
                )
            )
    return rows


def headline_metric(dataset_info: Mapping[str, Any]) -> str:
    """The dataset's headline metric from its record (``dataset_info.headline_metric``); accuracy otherwise."""
    m = dataset_info.get("headline_metric")
    return str(m) if m in METRICS else "accuracy"


def finite_score(v: Any) -> bool:
    """A real, finite number (not a bool, None or NaN): a score a statistic can use."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _scores(runs: Sequence[Mapping[str, Any]], metric: str) -> list[float]:
    return [float(r["test"][metric]) for r in runs if finite_score(r["test"].get(metric))]


def _all_have(runs: Mapping[str, Sequence[Mapping[str, Any]]], metric: str) -> bool:
    """Every run of every method reports ``metric`` (records from before a metric existed do not)."""
    return all(finite_score(r["test"].get(metric)) for rs in runs.values() for r in rs)


def _best_val(runs: Sequence[Mapping[str, Any]], metric: str) -> BestVal:
    """Each seed's validation ``metric`` at its own selected epoch (``best_epoch``), as the test metrics use.

    Records without ``best_epoch`` fall back to that seed's best validation value of ``metric``.
    """
    values: list[float] = []
    epochs: list[int | None] = []
    for r in runs:
        hist = [p for p in (r.get("val_history") or []) if finite_score(p.get(metric))]
        if not hist:
            epochs.append(None)
            continue
        best = r.get("best_epoch")
        at = [p for p in hist if p.get("epoch") == best] if best is not None else []
        point = at[0] if at else max(hist, key=lambda p: float(p[metric]))
        values.append(float(point[metric]))
        epochs.append(int(point["epoch"]) if finite_score(point.get("epoch")) else None)
    return BestVal(metric, _quiet_describe(values), epochs)


def _records_have_texts(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> bool:
    preds = [p for rs in runs.values() for r in rs for p in (r.get("predictions") or [])[:1]]
    return bool(preds) and all("text" in p for p in preds)


def _majority_predictions(
    runs: Sequence[Mapping[str, Any]], texts: Mapping[int, str] | None = None
) -> dict[int, tuple[str, str, str]]:
    """index -> (text, gold, majority pred) over the seeds that predicted that example.

    The text is the record's own (older records carry it) or the looked-up one; "" when neither.
    """
    per_idx: dict[int, list[tuple[int, str]]] = defaultdict(list)
    meta: dict[int, tuple[str, str]] = {}
    texts = texts or {}
    for r in runs:
        for p in r.get("predictions") or []:
            i = int(p["index"])
            per_idx[i].append((int(r["seed"]), str(p["pred"])))
            meta.setdefault(i, (str(p.get("text") or texts.get(i, "")), str(p["gold"])))
    return {i: (meta[i][0], meta[i][1], _majority(v)) for i, v in per_idx.items()}


def _compare_methods(
    dataset: str,
    metric: str,
    a: str,
    b: str,
    runs_a: Sequence[Mapping[str, Any]],
    runs_b: Sequence[Mapping[str, Any]],
    n_resamples: int,
    texts: Mapping[int, str] | None = None,
) -> ComparisonRow:
    va = {int(r["seed"]): float(r["test"][metric]) for r in runs_a}
    vb = {int(r["seed"]): float(r["test"][metric]) for r in runs_b}
    common = sorted(set(va) & set(vb))
    if len(common) >= 2:  # matched seed sets: every number of the row compares the same seeds
        xa, xb = [va[s] for s in common], [vb[s] for s in common]
    else:  # nothing to pair: each method's own seeds, an unpaired test
        xa, xb = list(va.values()), list(vb.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        welch = stats.compare(xa, xb, paired=False).to_dict()
        paired = None
        if len(common) >= 2:
            paired = stats.compare([va[s] for s in common], [vb[s] for s in common], paired=True).to_dict()
            boot = stats.bootstrap_mean_diff(
                [va[s] for s in common], [vb[s] for s in common], paired=True, n_resamples=n_resamples
            )
        else:
            boot = stats.bootstrap_mean_diff(xa, xb, paired=False, n_resamples=n_resamples)

        mcnemar = None
        cmh = None
        per_seed: dict[str, float] = {}
        if metric == "accuracy" and common:
            # equal-size ensembles: both methods vote with the same seeds
            shared = set(common)
            ma = _majority_predictions([r for r in runs_a if int(r["seed"]) in shared], texts)
            mb = _majority_predictions([r for r in runs_b if int(r["seed"]) in shared], texts)
            idx = sorted(i for i in set(ma) & set(mb) if ma[i][1] == mb[i][1])
            if idx:
                ca = [ma[i][2] == ma[i][1] for i in idx]
                cb = [mb[i][2] == mb[i][1] for i in idx]
                mc = stats.mcnemar_exact(ca, cb)
                pd = stats.paired_proportion_diff(ca, cb)
                mcnemar = {
                    **mc.to_dict(),
                    "acc_a": float(np.mean(ca)),  # majority-vote accuracy, not the mean over seeds
                    "acc_b": float(np.mean(cb)),
                    "diff": pd.estimate,
                    "diff_ci": list(pd.confidence_interval()),
                    "seeds": [int(s) for s in common],
                }
            pa = {int(r["seed"]): {int(p["index"]): p for p in r.get("predictions") or []} for r in runs_a}
            pb = {int(r["seed"]): {int(p["index"]): p for p in r.get("predictions") or []} for r in runs_b}
            for s in common:
                ids = sorted(set(pa[s]) & set(pb[s]))
                if ids:
                    r_ = stats.mcnemar_exact(
                        [pa[s][i]["pred"] == pa[s][i]["gold"] for i in ids],
                        [pb[s][i]["pred"] == pb[s][i]["gold"] for i in ids],
                    )
                    per_seed[str(s)] = r_.pvalue
            cmh = _cmh(pa, pb, common)
    mde = _mde([va[s] for s in common], [vb[s] for s in common]) if len(common) >= 2 else None
    return ComparisonRow(
        dataset=dataset,
        metric=metric,
        method_a=a,
        method_b=b,
        mean_a=float(np.mean(xa)),
        mean_b=float(np.mean(xb)),
        diff=float(np.mean(xa) - np.mean(xb)),
        welch=welch,
        paired=paired,
        bootstrap={
            **boot.to_dict(),
            "n_seeds": len(common) if len(common) >= 2 else min(len(xa), len(xb)),
            "shown": (len(common) if len(common) >= 2 else min(len(xa), len(xb))) >= MIN_BOOTSTRAP_SEEDS,
        },
        mcnemar=mcnemar,
        mcnemar_per_seed=per_seed,
        cmh=cmh,
        mde=mde,
        seeds=[int(s) for s in common],
    )


def _cmh(
    pa: Mapping[int, Mapping[int, Mapping[str, Any]]],
    pb: Mapping[int, Mapping[int, Mapping[str, Any]]],
    seeds: Sequence[int],
) -> dict[str, Any] | None:
    """CMH across the shared seeds, each seed on the examples both methods predicted."""
    ca, cb = [], []
    for s in seeds:
        ids = sorted(set(pa[s]) & set(pb[s]))
        if ids:
            ca.append([pa[s][i]["pred"] == pa[s][i]["gold"] for i in ids])
            cb.append([pb[s][i]["pred"] == pb[s][i]["gold"] for i in ids])
    if not ca:
        return None
    res = stats.cmh_across_seeds(ca, cb).to_dict()
    res["seeds"] = [int(s) for s in seeds]
    return res


def _mde(a: Sequence[float], b: Sequence[float], power: float = 0.8) -> dict[str, Any]:
    """Smallest paired effect detectable at this n (two-sided paired t, α = ALPHA): as d_z and, through
    the observed sd of the per-seed differences, in metric units (an estimate: the sd is estimated too)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = int(d.size)
    dz = stats.min_detectable_effect(n, ALPHA, power, paired=True)
    sd = float(d.std(ddof=1)) if n >= 2 else math.nan
    units = dz * sd if sd > 0 else math.nan  # identical differences: no scale to express d_z in
    return {"n": n, "power": power, "alpha": ALPHA, "d_z": dz, "sd_diff": sd, "in_units": units}


def _flatness(runs: Sequence[Mapping[str, Any]]) -> FlatnessSummary | None:
    fl = [r["flatness"] for r in runs if r.get("flatness")]
    if not fl or any(f["sigmas"] != fl[0]["sigmas"] for f in fl):
        return None
    inc = np.asarray([f["mean_increase"] for f in fl], dtype=float)  # (seeds, sigmas)
    std = inc.std(axis=0, ddof=1) if len(fl) > 1 else np.zeros(inc.shape[1])
    ks = {f.get("k") for f in fl}
    sizes = {_probe_size(r) for r in runs if r.get("flatness")}
    return FlatnessSummary(
        [float(s) for s in fl[0]["sigmas"]],
        inc.mean(axis=0).tolist(),
        std.tolist(),
        float(np.mean([f["base_loss"] for f in fl])),
        len(fl),
        k=int(next(iter(ks))) if len(ks) == 1 and None not in ks else None,
        n_examples=next(iter(sizes)) if len(sizes) == 1 else None,
    )


def _probe_size(r: Mapping[str, Any]) -> int | None:
    """Validation examples the flatness probe used: ``n_examples`` if recorded, else batches x batch size."""
    f = r.get("flatness") or {}
    if finite_score(f.get("n_examples")):
        return int(f["n_examples"])
    cfg = r.get("config") or {}
    nb, bs = cfg.get("flatness_batches"), cfg.get("eval_batch_size")
    if not (isinstance(nb, int | float) and isinstance(bs, int | float)):
        return None
    n_val = (r.get("dataset_info") or {}).get("n_val")
    n = int(nb) * int(bs)
    return min(n, int(n_val)) if isinstance(n_val, int | float) else n


def _error_analysis(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    majority: Mapping[str, Mapping[int, tuple[str, str, str]]],
    have_texts: bool = True,
    texts_note: str | None = None,
    buckets: bool = True,
) -> ErrorAnalysis | None:
    if not any(majority.values()):
        return None
    top: dict[str, list[tuple[str, str, int]]] = {}
    for m, rs in sorted(runs.items(), key=lambda kv: method_sort_key(kv[0])):
        errs: Counter[tuple[str, str]] = Counter(
            (str(p["gold"]), str(p["pred"]))
            for r in rs
            for p in (r.get("predictions") or [])
            if p["pred"] != p["gold"]
        )
        top[m] = [(g, p, c) for (g, p), c in sorted(errs.items(), key=lambda kv: (-kv[1], kv[0]))[:5]]

    disagreements: list[Disagreement] = []
    n_test = max(len(v) for v in majority.values())
    fw = lw = 0
    if "flat_lora" in majority and "lora" in majority:
        fm, lm = majority["flat_lora"], majority["lora"]
        for i in sorted(set(fm) & set(lm)):
            text, gold, pf = fm[i]
            pl = lm[i][2]
            if pf != pl:
                winner = "flat_lora" if pf == gold else "lora" if pl == gold else "neither"
                fw += winner == "flat_lora"
                lw += winner == "lora"
                disagreements.append(Disagreement(i, text, gold, pf, pl, winner))
    n_dis = len(disagreements)
    # a truncated table must not favour either side: take the groups in turn (Flat-LoRA right, LoRA right,
    # neither), each in test order, then show the picks in test order
    groups = [[d for d in disagreements if d.winner == w] for w in ("flat_lora", "lora", "neither")]
    picked: list[Disagreement] = []
    while len(picked) < min(MAX_DISAGREEMENTS, n_dis):
        for g in groups:
            if g and len(picked) < MAX_DISAGREEMENTS:
                picked.append(g.pop(0))
    disagreements = sorted(picked, key=lambda d: d.index)

    rows: list[BucketRow] = []
    if not have_texts:
        texts_note = texts_note or "example texts not shown: the records carry none and no data was given"
    # the keyword buckets were written for PhraseBank's financial news, and read the sentences
    if not buckets or not have_texts:
        return ErrorAnalysis(
            n_test, n_dis, fw, lw, disagreements, top, [], n_neither=n_dis - fw - lw, texts_note=texts_note
        )
    ref = next(iter(majority.values()))
    members: dict[str, list[int]] = defaultdict(list)
    for i, (text, _, _) in ref.items():
        for bname in failure_buckets(text):
            members[bname].append(i)
    for bname in _BUCKETS:
        ids = members.get(bname, [])
        rates = {}
        for m, mp in majority.items():
            have = [i for i in ids if i in mp]
            rates[m] = sum(mp[i][2] != mp[i][1] for i in have) / len(have) if have else math.nan
        rows.append(
            BucketRow(bname, len(ids), dict(sorted(rates.items(), key=lambda kv: method_sort_key(kv[0]))))
        )
    return ErrorAnalysis(
        n_test, n_dis, fw, lw, disagreements, top, rows, n_neither=n_dis - fw - lw, texts_note=texts_note
    )


def _provenance(records: Sequence[Mapping[str, Any]], design: StudyDesign = DESIGN_V1) -> Provenance:
    provs = [r.get("provenance") or {} for r in records]
    versions_list = [p.get("versions") or {} for p in provs if p.get("versions")]
    versions = {str(k): str(v) for k, v in sorted((versions_list[0] if versions_list else {}).items())}
    checksums: dict[str, str] = {}
    for r in records:
        info = r.get("dataset_info") or {}
        if info.get("checksum"):
            checksums[str(r.get("dataset"))] = str(info["checksum"])
    started = sorted(str(p["started_at"]) for p in provs if p.get("started_at"))
    finished = sorted(str(p["finished_at"]) for p in provs if p.get("finished_at"))
    shas = [str(p["git_sha"]) for p in provs if p.get("git_sha")]
    machine_names = _machine_names(records)
    return Provenance(
        git_shas=sorted(set(shas)),
        versions=versions,
        versions_consistent=all(v == versions_list[0] for v in versions_list),
        devices=sorted({str(p["device"]) for p in provs if p.get("device")}),
        config_hashes={
            str(r.get("run_id")): str(r.get("config_hash", ""))
            for r in sorted(records, key=lambda r: str(r.get("run_id")))
        },
        dataset_checksums=dict(sorted(checksums.items())),
        total_wall_time_s=float(sum(float((r.get("cost") or {}).get("wall_time_s") or 0.0) for r in records)),
        started_at=started[0] if started else None,
        finished_at=finished[-1] if finished else None,
        profiles=sorted({str(r["profile"]) for r in records if r.get("profile")}),
        hardware=_hardware(provs),
        dirty_shas=sorted({x for x in shas if x.endswith(DIRTY)}),
        n_dirty_records=sum(x.endswith(DIRTY) for x in shas),
        n_with_sha=len(shas),
        machines=_machines(records, machine_names),
        mixed_pairs=_mixed_pairs(records, machine_names, design),
        models=_models(records),
    )


def _models(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The distinct models the records trained, as "NAME (model_type)" (the type when the record has it)."""
    out = set()
    for r in records:
        raw = r.get("model_info")
        info: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        name = (r.get("config") or {}).get("model") or info.get("model")
        if name:
            out.add(f"{name} ({info['model_type']})" if info.get("model_type") else str(name))
    return sorted(out)


DIRTY = "-dirty"  # `git describe --dirty`: the tree had uncommitted changes when the run started
MACHINE_KEYS = ("gpu_name", "cpu_model")  # provenance.hardware keys that name the machine a run used


def _machine_names(records: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Per record, key of MACHINE_KEYS -> the machine it names. A CPU model named with two instruction sets
    across the records (a model string as coarse as "AMD EPYC" covers several generations, whose kernels and
    numerics differ) is told apart by its instruction set: "AMD EPYC (AVX2)", "AMD EPYC (AVX512)"."""
    raw = [(r.get("provenance") or {}).get("hardware") for r in records]
    hws: list[Mapping[str, Any]] = [hw if isinstance(hw, Mapping) else {} for hw in raw]
    isas: dict[str, set[str]] = defaultdict(set)
    for hw in hws:
        if hw.get("cpu_model"):
            isas[str(hw["cpu_model"])].add(str(hw.get("cpu_isa") or ""))
    out = []
    for hw in hws:
        names = {k: str(hw[k]) for k in MACHINE_KEYS if hw.get(k)}
        cpu = names.get("cpu_model")
        if cpu and len(isas[cpu]) > 1 and hw.get("cpu_isa"):
            names["cpu_model"] = f"{cpu} ({hw['cpu_isa']})"
        out.append(names)
    return out


def _machines(
    records: Sequence[Mapping[str, Any]], machine_names: Sequence[Mapping[str, str]]
) -> dict[str, dict[str, dict[str, int]]]:
    """key -> model -> method -> runs, for the keys of MACHINE_KEYS the records name (`machine_names`:
    `_machine_names(records)`)."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for r, names in zip(records, machine_names, strict=True):
        for k, name in names.items():
            by = out.setdefault(k, {}).setdefault(name, {})
            by[str(r.get("method"))] = by.get(str(r.get("method")), 0) + 1
    return {
        k: {
            v: dict(sorted(ms.items(), key=lambda kv: method_sort_key(kv[0]))) for v, ms in sorted(vs.items())
        }
        for k, vs in sorted(out.items())
    }


def _mixed_pairs(
    records: Sequence[Mapping[str, Any]], machine_names: Sequence[Mapping[str, str]], design: StudyDesign
) -> list[MixedPairs]:
    """The study's paired comparisons (primary, then secondaries) with the seeds whose two runs name different
    machines (a GPU's name, else the CPU's, told apart as `_machines` tells them)."""
    where: dict[tuple[str, str, int], str] = {}  # (dataset, method, seed) -> the machine its run used
    for r, names in zip(records, machine_names, strict=True):
        machine = names.get("gpu_name") or names.get("cpu_model")
        if machine and r.get("status", "ok") == "ok" and isinstance(r.get("seed"), int):
            where[(str(r.get("dataset")), str(r.get("method")), int(r["seed"]))] = machine
    out = []
    for ds in sorted({d for d, _, _ in where}):
        for a, b, _role in comparison_pairs({m for d, m, _ in where if d == ds}, design):
            seeds = sorted(
                s
                for d, m, s in where
                if (d, m) == (ds, a) and where.get((ds, b, s), where[(d, m, s)]) != where[(d, m, s)]
            )
            if seeds:
                out.append(MixedPairs(ds, a, b, seeds))
    return out


def _hardware(provs: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Distinct values of each ``provenance.hardware`` key across records (several = mixed machines)."""
    out: dict[str, set[str]] = defaultdict(set)
    for p in provs:
        hw = p.get("hardware")
        if isinstance(hw, Mapping):
            for k, v in hw.items():
                if v is not None and v != "":
                    out[str(k)].add(str(v))
    return {k: sorted(out[k]) for k in sorted(out)}
