"""Aggregate run records (one per dataset x method x seed) into a :class:`BenchmarkSummary`.

The summary is the only thing the report template sees, so every number in ``report.md`` is derived here
from the raw records (already checked by :mod:`reports.records`). Design choices (stated in the report too):

* Failed runs (``status != "ok"``) are excluded from every statistic and listed with their reason.
* The verdict is the analysis plan's primary endpoint (:mod:`reports.verdict`): Flat-LoRA − LoRA on the
  headline test metric, paired over shared seeds, 95% paired-t interval, equivalence by two one-sided
  tests, beside a two-way bootstrap over seeds and test examples (:mod:`reports.twoway`). The secondary
  family (full, SAM-AB, SAM-W vs LoRA, headline metric only) is Holm-adjusted within itself.
* Details, per compared pair on the headline metric: Welch t-test, paired t-test, Hedges' g and d_z; on
  accuracy, Cochran-Mantel-Haenszel across seeds (descriptive: it sees only the test examples' binomial
  variance) and exact McNemar on majority votes of the same seeds for both methods.
* Intervals of a bounded metric's mean stay in its range (logit-transformed t interval).
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from reports import stats, twoway
from reports.records import GridStatus
from reports.texts import ExampleTexts
from reports.verdict import Primary, Secondary, primary_result, secondary_family

from flatlora.bench.study import CONTROL, PRIMARY, SECONDARY, TREATMENT  # isort: skip

METRICS: tuple[str, ...] = ("accuracy", "weighted_f1", "macro_f1", "mcc")
METRIC_LABELS: dict[str, str] = {
    "accuracy": "accuracy",
    "weighted_f1": "weighted F1",
    "macro_f1": "macro F1",
    "mcc": "MCC",
    "loss": "held-out loss",
}
METRIC_RANGE: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0),
    "weighted_f1": (0.0, 1.0),
    "macro_f1": (0.0, 1.0),
    "mcc": (-1.0, 1.0),
}
PHRASEBANK_CARD = "financial_phrasebank"
MIN_BOOTSTRAP_SEEDS = 5  # below this the percentile bootstrap has too few distinct resamples to be shown
# what `cost.peak_mem_mb` measures, from `cost.peak_mem_kind` (records without it: the whole process's RSS)
MEMORY_KINDS: dict[str, str] = {
    "cpu_rss_above_baseline": "peak RSS above the pre-training baseline (CPU)",
    "cuda_max_allocated": "peak CUDA memory allocated (torch.cuda.max_memory_allocated)",
    "process_rss": "peak resident size of the whole process (includes the interpreter and libraries)",
}
MEMORY_SHORT: dict[str, str] = {
    "cpu_rss_above_baseline": "Peak RSS above baseline, MB",
    "cuda_max_allocated": "Peak CUDA allocated, MB",
    "process_rss": "Process peak RSS, MB",
    "mixed": "Peak memory, MB (mixed kinds)",
}
METHOD_ORDER: tuple[str, ...] = ("full", "lora", "flat_lora", "sam_ab", "sam_w")
METHOD_LABELS: dict[str, str] = {
    "full": "Full FT",
    "lora": "LoRA",
    "flat_lora": "Flat-LoRA",
    "sam_ab": "SAM on A,B",
    "sam_w": "SAM on W",
}
ALPHA = 0.05
MAX_DISAGREEMENTS = 15


# ------------------------------------------------------------------------------------------ dataclasses
@dataclass
class MetricSummary:
    mean: float
    std: float
    n: int
    ci_low: float
    ci_high: float


@dataclass
class MethodSummary:
    method: str
    label: str
    seeds: list[int]
    metrics: dict[str, MetricSummary]
    per_seed: dict[str, dict[str, float]] = field(default_factory=dict)  # metric -> seed -> test score


@dataclass
class ComparisonRow:
    dataset: str
    metric: str
    method_a: str
    method_b: str
    mean_a: float
    mean_b: float
    diff: float  # mean(a) - mean(b)
    welch: dict[str, Any]
    paired: dict[str, Any] | None  # None when < 2 common seeds
    bootstrap: dict[str, Any]
    mcnemar: dict[str, Any] | None  # McNemar on majority votes of the shared seeds (accuracy rows only)
    mcnemar_per_seed: dict[str, float] = field(default_factory=dict)
    paired_p_holm: float = math.nan  # within the secondary family; the primary is not adjusted
    cmh: dict[str, Any] | None = None  # CMH across seeds (accuracy rows only; descriptive)
    mde: dict[str, Any] | None = None  # minimum detectable paired effect at this number of seeds
    role: str = "secondary"  # "primary" | "secondary"


@dataclass
class Band:
    """Mean ± std over seeds at each x (step or epoch)."""

    x: list[float]
    mean: list[float]
    std: list[float]
    n: list[int]


@dataclass
class FlatnessSummary:
    sigmas: list[float]
    mean_increase: list[float]  # mean over seeds of each seed's mean loss increase
    std_increase: list[float]  # std over seeds
    base_loss: float
    n: int
    k: int | None = None  # noise draws per sigma and seed
    split: str = "validation"
    n_examples: int | None = None  # examples the probe's loss is computed on (per seed)


@dataclass
class CostSummary:
    method: str
    wall_time_s: MetricSummary
    peak_mem_mb: MetricSummary
    trainable_params: int | None
    total_params: int | None
    peak_mem_kind: str = "process_rss"  # key of MEMORY_KINDS, or "mixed"


@dataclass
class BestVal:
    """Validation score at each seed's selected (best) epoch: the checkpoint the test metrics come from."""

    metric: str
    value: MetricSummary
    epochs: list[int | None]


@dataclass
class Disagreement:
    index: int
    text: str
    gold: str
    flat_lora: str
    lora: str
    winner: str  # "flat_lora" | "lora" | "neither"


@dataclass
class BucketRow:
    bucket: str
    n: int
    error_rate: dict[str, float]  # method -> error rate of majority predictions within the bucket


@dataclass
class ErrorAnalysis:
    n_test: int
    n_disagree: int
    flat_lora_wins: int
    lora_wins: int
    disagreements: list[Disagreement]
    top_errors: dict[str, list[tuple[str, str, int]]]  # method -> [(gold, pred, count)] summed over seeds
    buckets: list[BucketRow]
    n_neither: int = 0
    texts_note: str | None = None  # why the example texts are missing (records without texts, no data)
    bucket_method: str = (
        "heuristic keyword/regex buckets (not annotated): mixed-signal = contrast words; "
        "forward-looking = future/guidance words; numeric = digits with %/comparisons; jargon = accounting terms"
    )


@dataclass
class Baseline:
    """Predicting the test split's most frequent gold label for every example."""

    label: str
    n_test: int
    metrics: dict[str, float]  # metric -> value of the constant prediction
    not_above: list[str] = field(default_factory=list)  # methods whose interval is not above it


@dataclass
class DatasetSummary:
    name: str
    label_names: list[str]
    methods: list[MethodSummary]
    comparisons: list[ComparisonRow]
    train_loss: dict[str, Band]
    val_curves: dict[str, dict[str, Band]]  # method -> metric -> band over epochs
    flatness: dict[str, FlatnessSummary]
    confusion: dict[str, list[list[int]]]  # method -> summed over seeds, rows = gold, cols = pred
    error_analysis: ErrorAnalysis | None
    cost: list[CostSummary]
    checksum: str | None
    n_train: int | None
    n_val: int | None
    n_test: int | None
    figures: dict[str, str] = field(default_factory=dict)  # kind -> PNG file name beside report.md
    headline_metric: str = "accuracy"
    best_val: dict[str, BestVal] = field(default_factory=dict)  # method -> at each seed's best epoch
    memory_kind: str = "process_rss"  # the one kind of every cost row, or "mixed"
    task: str = "classification"  # or "generation" (dataset_info.task)
    answer_format: str | None = None  # generation: how answers are read (flatlora.bench.gen_scoring)
    unit: str = "sentences"  # what one example is called: "examples" for sentence pairs
    primary: Primary | None = None
    secondary: list[Secondary] = field(default_factory=list)
    baseline: Baseline | None = None
    phrasebank: bool = False  # PhraseBank-only sections (failure-mode buckets) are shown
    loss_before: MetricSummary | None = None  # generation: held-out loss of the model before fine-tuning
    # generation, descriptive (outside the tested family): method -> paired held-out loss differences,
    # {"fine_tuning": loss - loss_before over its seeds, "vs_control": loss - LoRA's over shared seeds}
    loss_changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    flatness_off: list[str] = field(default_factory=list)  # methods whose runs had the probe off


@dataclass
class FailedRun:
    run_id: str
    dataset: str
    method: str
    seed: int | None
    reason: str


@dataclass
class Provenance:
    git_shas: list[str]
    versions: dict[str, str]
    versions_consistent: bool
    devices: list[str]
    config_hashes: dict[str, str]  # run_id -> config hash
    dataset_checksums: dict[str, str]
    total_wall_time_s: float
    started_at: str | None
    finished_at: str | None
    profiles: list[str]
    hardware: dict[str, list[str]] = field(default_factory=dict)  # key -> distinct values across records


@dataclass
class SweepRow:
    """One learning rate of a validation sweep (from the run dir's `sweep/sweep.json`)."""

    method: str  # the swept method
    used_by: list[str]  # methods that take their learning rate from this sweep
    lr: float
    status: str
    score: float  # validation metric at its best epoch (NaN when failed)
    metric: str
    best_epoch: int | None
    val_loss: float
    chosen: bool
    seed: int
    rule: str


@dataclass
class BenchmarkSummary:
    title: str
    run_id: str
    n_records: int
    n_ok: int
    datasets: list[DatasetSummary]
    failed_runs: list[FailedRun]
    provenance: Provenance
    validation: dict[str, Any] | None
    alpha: float = ALPHA
    mcnemar_method: str = (
        "exact McNemar on majority-vote predictions of the seeds both methods ran (equal-size ensembles; "
        "ties: lowest seed)"
    )
    cmh_method: str = (
        "Cochran-Mantel-Haenszel across seeds: per seed a 2x2 table of correct/wrong test predictions of A "
        "and of B; Mantel-Haenszel pooled odds ratio of a correct prediction (A relative to B) with the "
        "Robins-Breslow-Greenland 95% interval"
    )
    holm_method: str = (
        "Holm, within the one secondary family (full, SAM-AB, SAM-W vs LoRA) on the headline metric; "
        "the primary endpoint is not adjusted"
    )
    bootstrap_method: str = "percentile bootstrap over seeds, 9999 resamples, seed 0"
    two_way_method: str = (
        f"two-way percentile bootstrap: seeds and test examples resampled jointly, "
        f"{twoway.N_RESAMPLES} resamples, numpy seed {twoway.SEED}"
    )
    grid: GridStatus | None = None
    min_bootstrap_seeds: int = MIN_BOOTSTRAP_SEEDS
    source: str = "records"  # "records", or "summary.json" when re-rendered without the raw records
    memory_kinds: dict[str, str] = field(default_factory=lambda: dict(MEMORY_KINDS))
    memory_short: dict[str, str] = field(default_factory=lambda: dict(MEMORY_SHORT))
    metric_labels: dict[str, str] = field(default_factory=lambda: dict(METRIC_LABELS))
    sweep: list[SweepRow] = field(default_factory=list)  # learning-rate sweep beside the records

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN/inf become None); `flatness_off` only where a probe was off."""
        d: dict[str, Any] = _jsonable(asdict(self))
        for ds in d.get("datasets") or []:
            if not ds.get("flatness_off"):
                ds.pop("flatness_off", None)
        return d


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


# ------------------------------------------------------------------------------------------ helpers
def method_sort_key(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


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
) -> BenchmarkSummary:
    """Build the full summary. Pure: same records (and looked-up texts) in, same summary out.

    ``records`` must already be one per (dataset, method, seed) (:func:`reports.records.check_records`).
    ``texts``: example texts by dataset for records whose predictions carry none
    (:func:`reports.texts.lookup_texts`); ``sweep``: the learning-rate sweep beside the records;
    ``plan``: the study's ``power.json`` (the pilot's SD and the n it set); ``grid``: the expected grid
    against what was found.
    """
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
        provenance=_provenance(records),
        validation=dict(sorted(validation.items())) if validation is not None else None,
        sweep=sweep_table(sweep),
        grid=grid,
    )


def _comparison_pairs(methods: Iterable[str]) -> list[tuple[str, str, str]]:
    """(a, b, role): the primary pair, then the secondary family, each against the control."""
    present = set(methods)
    pairs = [(TREATMENT, CONTROL, "primary")] + [(m, CONTROL, "secondary") for m in SECONDARY]
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
) -> DatasetSummary:
    methods = sorted(runs, key=method_sort_key)
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
                k: {str(r["seed"]): float(r["test"][k]) for r in runs[m] if _finite_score(r["test"].get(k))}
                for k in shown
            },
        )
        for m in methods
    ]

    shared = (
        set.intersection(*({int(r["seed"]) for r in runs[m]} for m in PRIMARY))
        if all(m in runs for m in PRIMARY)
        else set()
    )
    majority = {  # the primary pair votes with the same seeds (equal-size ensembles)
        m: _majority_predictions([r for r in runs[m] if m not in PRIMARY or int(r["seed"]) in shared], texts)
        for m in methods
    }
    comparisons: list[ComparisonRow] = []
    if _all_have(runs, headline):
        for a, b, role in _comparison_pairs(methods):
            row = _compare_methods(name, headline, a, b, runs[a], runs[b], n_resamples, texts)
            row.role = role
            comparisons.append(row)
    scores = {m: {int(r["seed"]): float(r["test"][headline]) for r in runs[m]} for m in methods}
    primary = None
    if TREATMENT in runs and CONTROL in runs and _all_have(runs, headline):
        boot = _two_way(runs[TREATMENT], runs[CONTROL], headline, label_names, two_way_resamples)
        primary = primary_result(scores[TREATMENT], scores[CONTROL], headline, plan=plan, bootstrap=boot)
    secondary = secondary_family(scores, headline) if _all_have(runs, headline) else []
    _holm_into(comparisons, secondary)
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
        cost.append(
            CostSummary(
                m,
                _quiet_describe([float(c["wall_time_s"]) for c in costs if c.get("wall_time_s") is not None]),
                _quiet_describe(mem if kind != "mixed" else []),  # no mean over different quantities
                int(tp[0]) if tp else None,
                int(tot[0]) if tot else None,
                kind,
            )
        )
    cost_kinds = {c.peak_mem_kind for c in cost}
    memory_kind = cost_kinds.pop() if len(cost_kinds) == 1 else "mixed"
    before = [float(r["test"]["loss_before"]) for m in methods for r in runs[m] if "loss_before" in r["test"]]
    loss_changes = _loss_changes(runs, methods) if task == "generation" else {}

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
    )


def _loss_changes(runs: Mapping[str, list[dict[str, Any]]], methods: list[str]) -> dict[str, dict[str, Any]]:
    """Paired held-out loss differences per method: against its own loss before fine-tuning (same run),
    and against LoRA's (same seed). Descriptive: the tested family holds the headline metric only."""

    def paired(pairs: list[tuple[float, float]]) -> dict[str, Any] | None:
        if not pairs:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            return stats.paired_mean([a for a, _ in pairs], [b for _, b in pairs]).to_dict()

    control = {int(r["seed"]): float(r["test"]["loss"]) for r in runs.get(CONTROL, [])}
    out: dict[str, dict[str, Any]] = {}
    for m in methods:
        ok = [r for r in runs[m] if _finite_score(r["test"].get("loss"))]
        out[m] = {
            "fine_tuning": paired(
                [
                    (float(r["test"]["loss"]), float(r["test"]["loss_before"]))
                    for r in ok
                    if "loss_before" in r["test"]
                ]
            ),
            "vs_control": None
            if m == CONTROL
            else paired(
                [(float(r["test"]["loss"]), control[int(r["seed"])]) for r in ok if int(r["seed"]) in control]
            ),
        }
    return out


def is_phrasebank(name: str, dataset_info: Mapping[str, Any]) -> bool:
    """Financial PhraseBank (by its card or its config name): the only data the failure buckets fit."""
    return dataset_info.get("card") == PHRASEBANK_CARD or str(name).lower().startswith("fpb_")


def _holm_into(rows: Sequence[ComparisonRow], secondary: Sequence[Secondary]) -> None:
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
                    score=float(p["score"]) if _finite_score(p.get("score")) else math.nan,
                    metric=str(res.get("metric") or "accuracy"),
                    best_epoch=p.get("best_epoch"),
                    val_loss=float(p["val_loss"]) if _finite_score(p.get("val_loss")) else math.nan,
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


def _finite_score(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _scores(runs: Sequence[Mapping[str, Any]], metric: str) -> list[float]:
    return [float(r["test"][metric]) for r in runs if _finite_score(r["test"].get(metric))]


def _all_have(runs: Mapping[str, Sequence[Mapping[str, Any]]], metric: str) -> bool:
    """Every run of every method reports ``metric`` (records from before a metric existed do not)."""
    return all(_finite_score(r["test"].get(metric)) for rs in runs.values() for r in rs)


def _best_val(runs: Sequence[Mapping[str, Any]], metric: str) -> BestVal:
    """Each seed's validation ``metric`` at its own selected epoch (``best_epoch``), as the test metrics use.

    Records without ``best_epoch`` fall back to that seed's best validation value of ``metric``.
    """
    values: list[float] = []
    epochs: list[int | None] = []
    for r in runs:
        hist = [p for p in (r.get("val_history") or []) if _finite_score(p.get(metric))]
        if not hist:
            epochs.append(None)
            continue
        best = r.get("best_epoch")
        at = [p for p in hist if p.get("epoch") == best] if best is not None else []
        point = at[0] if at else max(hist, key=lambda p: float(p[metric]))
        values.append(float(point[metric]))
        epochs.append(int(point["epoch"]) if _finite_score(point.get("epoch")) else None)
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
    xa, xb = list(va.values()), list(vb.values())
    common = sorted(set(va) & set(vb))
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
    if _finite_score(f.get("n_examples")):
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


def _provenance(records: Sequence[Mapping[str, Any]]) -> Provenance:
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
    return Provenance(
        git_shas=sorted({str(p["git_sha"]) for p in provs if p.get("git_sha")}),
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
    )


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
            if c.mde is None and pdict and _finite_score(pdict.get("n")) and pdict["n"] >= 2:
                c.mde = _mde_from_paired(pdict)
        _upgrade_dataset(ds)
    return s


def _paired_from_dict(pdict: Mapping[str, Any] | None) -> stats.PairedMean | None:
    """A stored paired t result as mean, SD (|estimate / d_z|) and n."""
    if not pdict or not _finite_score(pdict.get("n")) or not _finite_score(pdict.get("estimate")):
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


def _upgrade_dataset(ds: DatasetSummary) -> None:
    """Fill what a summary.json from before the plan's verdict lacks, from what it stored: the headline
    comparisons, the primary and secondary results (from the stored paired tests or per-seed scores), the
    majority-class baseline (from the confusion matrices' gold rows) and bounded intervals."""
    headline = ds.headline_metric
    roles = {(a, b): r for a, b, r in _comparison_pairs(m.method for m in ds.methods)}
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
    if ds.primary is None and TREATMENT in scores and CONTROL in scores:
        pm = None if scores[TREATMENT] and scores[CONTROL] else stored.get(TREATMENT)
        ds.primary = primary_result(scores[TREATMENT], scores[CONTROL], headline, pm=pm)
        ds.primary.n_treatment, ds.primary.n_control = n_seeds[TREATMENT], n_seeds[CONTROL]
    if not ds.secondary:
        pms = {
            m: p for m, p in stored.items() if p is not None and not (scores.get(m) and scores.get(CONTROL))
        }
        # a method enters the family only with something to test: its scores or a stored paired test
        avail = {m: v for m, v in scores.items() if m == CONTROL or (v and scores.get(CONTROL)) or m in pms}
        ds.secondary = secondary_family(avail, headline, pms)
        _holm_into(ds.comparisons, ds.secondary)
    if ds.baseline is None and ds.confusion:
        method, cm = next(iter(ds.confusion.items()))
        n_runs = n_seeds.get(method, 0)  # the matrix is summed over this many seeds of one test split
        if n_runs:
            counts = [round(sum(row) / n_runs) for row in cm]
            names = list(ds.label_names) or [str(i) for i in range(len(counts))]
            ds.baseline = baseline_from_counts(counts, names, ds.methods, headline)
