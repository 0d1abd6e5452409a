"""The summary's result types: what :func:`reports.summary.summarize` computes, what ``summary.json``
holds and what the report template reads."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from reports import twoway
from reports.collapses import CollapseSummary
from reports.endpoints import LogLoss
from reports.labels import METRIC_LABELS
from reports.records import GridStatus
from reports.stages import StudySummary
from reports.verdict import Primary, Secondary

METRIC_RANGE: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0),
    "weighted_f1": (0.0, 1.0),
    "macro_f1": (0.0, 1.0),
    "mcc": (-1.0, 1.0),
}
PHRASEBANK_CARD = "financial_phrasebank"
# below this a percentile bootstrap over seeds is not shown: with few seeds it is too narrow (no small-sample
# widening, few distinct resamples) and would read as a finding beside a t-test that shows none
MIN_BOOTSTRAP_SEEDS = 10
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
    mean_a: float  # over `seeds` (every seed of each method when fewer than 2 are shared)
    mean_b: float
    diff: float  # mean(a) - mean(b)
    welch: dict[str, Any]  # Welch's unpaired test over the same seeds
    paired: dict[str, Any] | None  # None when < 2 common seeds
    bootstrap: dict[str, Any]
    mcnemar: dict[str, Any] | None  # McNemar on majority votes of the shared seeds (accuracy rows only)
    mcnemar_per_seed: dict[str, float] = field(default_factory=dict)
    paired_p_holm: float = math.nan  # within the secondary family; the primary is not adjusted
    cmh: dict[str, Any] | None = None  # CMH across seeds (accuracy rows only; descriptive)
    mde: dict[str, Any] | None = None  # minimum detectable paired effect at this number of seeds
    role: str = "secondary"  # "primary" | "secondary"
    seeds: list[int] = field(default_factory=list)  # the seeds both ran: every statistic above uses them


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
    n: int = 0  # runs
    cpu_s: MetricSummary | None = None  # CPU seconds per run, all threads (`cost.cpu_s.run`), if recorded


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
class NeverPredicted:
    """A class in the test split that a method predicted for no test example on some of its seeds."""

    method: str
    label: str
    n_seeds: int  # seeds on which the method never predicted it
    of_seeds: int  # the method's seeds
    n_gold: int  # test examples of this class


@dataclass
class RowCap:
    """A profile setting that left rows of a split out of every run (`max_train_examples` and kin)."""

    split: str  # train | val | test
    setting: str
    used: int  # rows each run used
    available: int | None  # rows in the split (from the validation beside the records), if known
    profile: str


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
    never_predicted: list[NeverPredicted] = field(default_factory=list)
    row_caps: list[RowCap] = field(default_factory=list)
    collapse: CollapseSummary | None = None  # classification: runs stuck at the class prior
    log_loss: LogLoss | None = None  # classification: test log-loss, when records keep each example's logp


@dataclass
class FailedRun:
    run_id: str
    dataset: str
    method: str
    seed: int | None
    reason: str


@dataclass
class MixedPairs:
    """Seeds of one paired comparison whose two runs name different machines (see `Provenance.machines`)."""

    dataset: str
    a: str
    b: str
    seeds: list[int]


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
    dirty_shas: list[str] = field(default_factory=list)  # commits with uncommitted changes ("-dirty")
    n_dirty_records: int = 0  # records written from such a tree
    n_with_sha: int = 0  # records that name their commit
    # "cpu_model" / "gpu_name" -> the model -> method -> runs: which machine each method's runs used
    machines: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # the models the runs trained: "NAME (model_type)", NAME as the config gives it (a hub id, a path, an alias)
    models: list[str] = field(default_factory=list)
    # the paired comparisons (primary, secondaries) some of whose pairs ran on different machines
    mixed_pairs: list[MixedPairs] = field(default_factory=list)


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
    study: StudySummary | None = None  # a study folder: its design's numbers and tuning stages

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
