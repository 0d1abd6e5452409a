"""One fine-tuning run = (dataset, method, seed, config) -> one self-contained JSON record.

The training loop is deliberately one readable function (nanoGPT style). Everything that
changes the numbers lives in the RunConfig and is hashed into the record id. On one machine
the same config gives bit-identical metrics: global seed before model init, an explicit
generator for the data order, deterministic kernels, and no worker processes. The device is
resolved where the run executes (`auto`: CUDA when present); `precision` bf16/fp16 trains
under autocast (fp16 with a GradScaler). This module needs neither Prefect nor great-expectations.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch

from flatlora.bench.config import RunConfig
from flatlora.bench.data import Splits, subsample
from flatlora.bench.probe import flatness_probe
from flatlora.bench.records import (
    RECORD_KEYS,
    SCHEMA_VERSION,
    device_label,
    git_sha,
    hardware_info,
    now_iso,
    record_path,
    run_id,
    versions,
)
from flatlora.bench.rundir import check_writable, write_record
from flatlora.bench.runline import run_line
from flatlora.bench.training import (
    PeakRSS,
    RunFailed,
    autocast,
    load_trainable,
    lr_at,
    progress_bar,
    resolve_device,
    trainable_state,
)

Batch = dict[str, torch.Tensor]


# ---------------------------------------------------------------- small pure pieces


def classification_metrics(gold: list[int], pred: list[int], label_names: list[str]) -> dict[str, Any]:
    """Accuracy, weighted/macro F1, Matthews correlation, per-class F1 and the confusion matrix."""
    try:
        from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, matthews_corrcoef
    except ImportError:  # a bare machine (e.g. a GPU box with torch only): the same formulas in numpy
        return _metrics_numpy(gold, pred, label_names)

    labels = list(range(len(label_names)))
    per_class = f1_score(gold, pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(gold, pred)),
        "weighted_f1": float(f1_score(gold, pred, labels=labels, average="weighted", zero_division=0)),
        "macro_f1": float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)),
        "mcc": float(matthews_corrcoef(gold, pred)),
        "per_class_f1": {n: float(v) for n, v in zip(label_names, per_class, strict=True)},
        "confusion_matrix": confusion_matrix(gold, pred, labels=labels).tolist(),
    }


def _metrics_numpy(gold: list[int], pred: list[int], label_names: list[str]) -> dict[str, Any]:
    """sklearn's definitions (zero_division=0; multiclass MCC of Gorodkin 2004) without sklearn."""
    import numpy as np

    k = len(label_names)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (np.asarray(gold, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(1).astype(float), cm.sum(0).astype(float)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    n = float(cm.sum())
    c, s = float(tp.sum()), n
    cov = c * s - float(support @ predicted)
    var = (s * s - float(predicted @ predicted)) * (s * s - float(support @ support))
    return {
        "accuracy": c / n if n else 0.0,
        "weighted_f1": float(np.average(f1, weights=support)) if support.sum() else 0.0,
        "macro_f1": float(f1.mean()) if k else 0.0,
        "mcc": cov / math.sqrt(var) if var > 0 else 0.0,
        "per_class_f1": {name: float(v) for name, v in zip(label_names, f1, strict=True)},
        "confusion_matrix": cm.tolist(),
    }


# ---------------------------------------------------------------- device and precision


def to_device(b: Batch, device: torch.device) -> Batch:
    if device.type == "cpu":
        return b
    return {k: v.to(device, non_blocking=True) for k, v in b.items()}


# ---------------------------------------------------------------- data -> batches


class PairIds(list[int]):
    """Token ids of a sentence pair, carrying the tokenizer's segment ids (`token_type_ids`)."""

    token_type_ids: list[int] | None = None


def encode(tok: Any, texts: list[str], max_len: int, pairs: list[str] | None = None) -> list[list[int]]:
    """Tokenize once, no padding: batches are padded dynamically to their longest row.

    Sentence pairs go through the tokenizer as pairs: its separator and, when the model uses
    them, segment ids (truncation takes from the longer text first).
    """
    if pairs is None:
        ids: list[list[int]] = tok(texts, truncation=True, max_length=max_len)["input_ids"]
        return ids
    enc = tok(texts, pairs, truncation=True, max_length=max_len)
    types = enc.get("token_type_ids")
    rows: list[list[int]] = []
    for i, row in enumerate(enc["input_ids"]):
        r = PairIds(row)
        r.token_type_ids = list(types[i]) if types is not None else None
        rows.append(r)
    return rows


def encode_with_lengths(
    tok: Any, texts: list[str], max_len: int, pairs: list[str] | None = None
) -> tuple[list[list[int]], list[int]]:
    """`encode`'s rows and each row's untruncated token length, from one tokenizer call.

    A row that fits in `max_len` is its untruncated encoding (truncation leaves it as it is); only the
    rows longer than that are encoded again, truncated, so the ids are exactly `encode`'s."""
    full = tok(texts, pairs, truncation=False) if pairs is not None else tok(texts, truncation=False)
    lengths = [len(r) for r in full["input_ids"]]
    types = full.get("token_type_ids") if pairs is not None else None
    rows: list[list[int]] = []
    for i, row in enumerate(full["input_ids"]):
        if pairs is None:
            rows.append(list(row))
            continue
        r = PairIds(row)
        r.token_type_ids = list(types[i]) if types is not None else None
        rows.append(r)
    long = [i for i, n in enumerate(lengths) if n > max_len]
    if long:
        cut = encode(tok, [texts[i] for i in long], max_len, [pairs[i] for i in long] if pairs else None)
        for i, short in zip(long, cut, strict=True):
            rows[i] = short
    return rows, lengths


def length_order(ids: list[list[int]]) -> list[int]:
    """Row indices shortest first (ties in row order): the order evaluation batches are built in."""
    return sorted(range(len(ids)), key=lambda i: (len(ids[i]), i))


def collate(ids: list[list[int]], labels: list[int], pad_id: int) -> Batch:
    t = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), t), pad_id, dtype=torch.long)  # (b, t)
    mask = torch.zeros((len(ids), t), dtype=torch.long)  # (b, t)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    out = {"input_ids": input_ids, "attention_mask": mask, "labels": torch.tensor(labels, dtype=torch.long)}
    if getattr(ids[0], "token_type_ids", None) is not None:  # sentence pairs: segment 0 | 1, padding 0
        types = torch.zeros((len(ids), t), dtype=torch.long)  # (b, t)
        for i, row in enumerate(ids):
            types[i, : len(row)] = torch.tensor(row.token_type_ids, dtype=torch.long)  # type: ignore[attr-defined]
        out["token_type_ids"] = types
    return out


def iter_batches(
    ids: list[list[int]], labels: list[int], batch_size: int, pad_id: int, gen: torch.Generator | None = None
) -> Iterator[Batch]:
    """Shuffled by `gen` when given (training), sequential otherwise (evaluation)."""
    order = torch.randperm(len(ids), generator=gen).tolist() if gen is not None else list(range(len(ids)))
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        yield collate([ids[i] for i in idx], [labels[i] for i in idx], pad_id)


class EvalSet:
    """Evaluation batches built in length order (less padding, ~2x faster on CPU); predictions
    are mapped back to the original row order. Results do not depend on the batching order
    beyond float summation order, which is fixed."""

    def __init__(self, ids: list[list[int]], labels: list[int], batch_size: int, pad_id: int) -> None:
        self.order = length_order(ids)
        self.labels = labels
        self.batches = [
            collate([ids[i] for i in idx], [labels[i] for i in idx], pad_id)
            for idx in (self.order[s : s + batch_size] for s in range(0, len(ids), batch_size))
        ]

    def evaluate(
        self,
        model: Any,
        device: torch.device | None = None,
        precision: str = "fp32",
        desc: str | None = None,
    ) -> tuple[float, list[int]]:
        res = self.evaluate_full(model, device, precision, desc)
        return res.loss, res.preds

    def evaluate_full(
        self,
        model: Any,
        device: torch.device | None = None,
        precision: str = "fp32",
        desc: str | None = None,
    ) -> EvalResult:
        """Loss, predictions and each example's log-probability of its gold label, in row order."""
        res = evaluate_batches(model, self.batches, device, precision, desc)
        preds, logp = [0] * len(res.preds), [0.0] * len(res.preds)
        for pos, i in enumerate(self.order):
            preds[i], logp[i] = res.preds[pos], res.gold_logp[pos]
        return EvalResult(res.loss, preds, logp)


# The probe's forward batches hold at most this many rows: on CPU one batch of 64 rows padded to its
# longest row cost twice what four length-sorted batches of 16 cost, for the same mean loss.
PROBE_BATCH_ROWS = 16


def probe_batches(
    ids: list[list[int]], labels: list[int], batch_size: int, pad_id: int, rows: int = PROBE_BATCH_ROWS
) -> tuple[list[Batch], list[float]]:
    """The flatness probe's batches and weights: the rows in length order, cut into batches of
    `batch_size` (as `EvalSet` cuts them), each of those into forward batches of at most `rows`.

    A forward batch's weight is its share of its `batch_size` batch, so the weighted mean of the
    forward batches' losses is the mean of the `batch_size` batches' losses: the probe's numbers do
    not depend on `rows` beyond float summation order, while each small batch is padded only to its
    own longest row."""
    order = length_order(ids)
    batches: list[Batch] = []
    weights: list[float] = []
    for s in range(0, len(order), batch_size):
        group = order[s : s + batch_size]
        for t in range(0, len(group), rows):
            idx = group[t : t + rows]
            batches.append(collate([ids[i] for i in idx], [labels[i] for i in idx], pad_id))
            weights.append(len(idx) / len(group))
    return batches, weights


class EvalResult(NamedTuple):
    loss: float  # mean cross-entropy per example
    preds: list[int]  # argmax class ids
    gold_logp: list[float]  # log-probability of each example's gold label (its log loss, negated)


def evaluate(
    model: Any,
    batches: list[Batch],
    device: torch.device | None = None,
    precision: str = "fp32",
    desc: str | None = None,
) -> tuple[float, list[int]]:
    """Mean loss (per example) and argmax predictions; a progress bar when `desc` is given."""
    res = evaluate_batches(model, batches, device, precision, desc)
    return res.loss, res.preds


@torch.no_grad()
def evaluate_batches(
    model: Any,
    batches: list[Batch],
    device: torch.device | None = None,
    precision: str = "fp32",
    desc: str | None = None,
) -> EvalResult:
    """`evaluate`, plus each example's log-probability of its gold label."""
    model.eval()
    device = device or torch.device("cpu")
    total, n, preds, logp = 0.0, 0, [], []
    bar = progress_bar(len(batches), desc or "", desc is not None)
    for b in batches:
        with autocast(device, precision):
            out = model(**to_device(b, device))
        total += float(out.loss) * len(b["labels"])
        n += len(b["labels"])
        preds += out.logits.argmax(-1).tolist()  # (b,)
        gold = b["labels"].to(out.logits.device).unsqueeze(1)  # (b, 1)
        logp += out.logits.float().log_softmax(-1).gather(1, gold).squeeze(1).tolist()  # (b,)
        bar.update(1)
    bar.close()
    return EvalResult(total / max(n, 1), preds, logp)


# ---------------------------------------------------------------- model


def build_model(cfg: RunConfig, label_names: list[str]) -> tuple[Any, Any]:
    """Seeded init (classifier head is random), then LoRA unless `full`.

    The LoRA targets are resolved per architecture unless `target_modules` is set
    (`models.resolve_target_modules`); the model carries them as `flatbench_target_modules`.
    """
    from flatlora.bench.models import (
        check_max_len,
        get_peft_model_quietly,
        load_classifier,
        pair_separator,
        resolve_target_modules,
    )

    torch.manual_seed(cfg.seed)
    model, tok = load_classifier(cfg.model, len(label_names), label_names, cfg.pooling)
    check_max_len(model, cfg.max_len, cfg.model)
    targets, source = resolve_target_modules(model, cfg.target_modules)
    info = {
        "model": cfg.model,
        "model_type": str(getattr(model.config, "model_type", "")),
        "architecture": type(model).__name__,
        "target_modules": targets,
        "target_modules_source": source,
    }
    if cfg.pooling != "model":
        info["pooling"] = cfg.pooling
    if cfg.text_pair_col is not None and (sep := pair_separator(tok)) is not None:
        info["pair_separator"] = sep  # the tokenizer joins a pair with nothing between: this token goes there
    if cfg.modules_to_save:
        info["modules_to_save"] = list(cfg.modules_to_save)
    if cfg.method != "full":
        from peft import LoraConfig, TaskType

        if cfg.pooling == "model":  # a transformers classifier: PEFT adds its head to modules_to_save
            extra = list(cfg.modules_to_save or ()) or None
            lcfg = LoraConfig(
                task_type=TaskType.SEQ_CLS,
                r=cfg.lora_r,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=cfg.lora_dropout,
                target_modules=list(targets),
                modules_to_save=extra,
            )
        else:  # our own head: name it, since PEFT knows nothing of it
            lcfg = LoraConfig(
                r=cfg.lora_r,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=cfg.lora_dropout,
                target_modules=list(targets),
                modules_to_save=["classifier", *(cfg.modules_to_save or ())],
            )
        model = get_peft_model_quietly(model, lcfg)
    model.flatbench_model_info = info
    return model, tok


# ---------------------------------------------------------------- the run


def _generative(cfg: RunConfig) -> Any:
    """The generative track's module when the dataset is prompt -> target, else None."""
    from flatlora.bench.gen_data import is_generation

    if not is_generation(cfg.dataset, cfg.card):
        return None
    from flatlora.bench import gen_data

    return gen_data


def prepare_splits(cfg: RunConfig, data_dir: str | os.PathLike[str] | None = None) -> Splits:
    """Validate (raises ValidationFailed before anything is trained), split, subsample."""
    from dataclasses import replace

    from flatlora.bench.validation import validate_dataset

    if (gen := _generative(cfg)) is not None:  # prompt -> target data (a card with `task: generation`)
        return gen.prepare(cfg, data_dir)
    _, splits = validate_dataset(cfg.dataset, data_dir=data_dir, **cfg.data_options())
    assert splits is not None
    return replace(
        splits,
        train=subsample(splits.train, cfg.max_train_examples, cfg.split_seed),
        val=subsample(splits.val, cfg.max_eval_examples, cfg.split_seed),
        test=subsample(splits.test, cfg.max_test_examples, cfg.split_seed),
    )


def run_one_isolated(
    cfg: RunConfig,
    out_dir: str | os.PathLike[str],
    progress: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """`run_one` in a fresh (spawned) process of its own, for runs that train at the same time.

    Runs sharing one process would share torch's global RNG (model initialisation, dropout) and so
    depend on each other's timing; in a process of its own a run writes the record it would write alone.
    The record is also on disk, as with `run_one`; exceptions come back as raised."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(run_one, cfg, str(out_dir), progress, data_dir).result()


def run_one(
    cfg: RunConfig,
    out_dir: str | os.PathLike[str],
    progress: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
    splits: Splits | None = None,
) -> dict[str, Any]:
    """Train, select the best validation epoch, test, probe flatness, write the record atomically.

    ``records/`` (or its nearest existing parent) is checked for writability before anything is validated; a record that cannot be written
    there goes to a fallback folder and RecordNotWritten says where."""
    check_writable(record_path(cfg, out_dir).parent)  # NotWritable before validating; creates nothing
    device = resolve_device(cfg.device)  # here, on the machine that runs it (a worker), not at submission
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
        torch.cuda.set_device(device)
    torch.set_num_threads(cfg.threads())
    started = now_iso()
    t0, c0 = time.perf_counter(), time.process_time()
    if splits is None:
        splits = prepare_splits(cfg, data_dir)  # ValidationFailed propagates: nothing trained, no record
    t_validate = time.perf_counter() - t0
    record: dict[str, Any] = {k: None for k in RECORD_KEYS}
    record.update(
        schema_version=SCHEMA_VERSION,
        status="ok",
        run_id=run_id(cfg),
        dataset=cfg.dataset_slug(),
        method=cfg.method,
        seed=cfg.seed,
        profile=cfg.profile,
        config=cfg.to_dict(),
        config_hash=cfg.config_hash(),
        dataset_info=splits.info(),
        model_info=None,
        train_loss=[],
        val_history=[],
    )
    path = record_path(cfg, out_dir)
    record["cost"] = {"phase_s": {"validate": round(t_validate, 2)}}
    try:
        det = (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.utils.deterministic.fill_uninitialized_memory,  # type: ignore[attr-defined]
        )
        try:
            torch.use_deterministic_algorithms(True, warn_only=True)  # bit-identical reruns
            # no run reads memory it did not write: filling every torch.empty with NaN cost Flat-LoRA's
            # step about 5% of CPU (its noise buffers) and changes no number
            torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            with PeakRSS() as mem:
                _train(cfg, splits, record, progress, device)
        finally:
            torch.use_deterministic_algorithms(det[0], warn_only=det[1])
            torch.utils.deterministic.fill_uninitialized_memory = det[2]  # type: ignore[attr-defined]
        cost = record["cost"]
        if device.type == "cuda":
            cost["peak_mem_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
            cost["peak_mem_kind"] = "cuda_max_allocated"
        else:
            cost["peak_mem_mb"] = round(mem.above_start_mb, 1)
            cost["peak_mem_kind"] = "cpu_rss_above_baseline"
        cost["rss_start_mb"] = round(mem.start_mb, 1)
        cost["rss_peak_mb"] = round(mem.peak_mb, 1)
        cost["maxrss_process_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except RunFailed as exc:
        _mark_failed(record, str(exc))
    except Exception as exc:  # a bug or an OOM: still leave a record, then surface the error
        _mark_failed(record, f"{type(exc).__name__}: {exc}")
        _finish(record, cfg, started, t0, path, progress, device, c0)
        raise
    _finish(record, cfg, started, t0, path, progress, device, c0)
    if (record.get("dataset_info") or {}).get("task") == "generation":  # + PEFT method-comparison layout
        from flatlora.bench.peft_results import write_peft_results

        write_peft_results(record, out_dir)
    return record


def _mark_failed(record: dict[str, Any], reason: str) -> None:
    record.update(
        status="failed", failure_reason=reason, best_epoch=None, test=None, predictions=None, flatness=None
    )


def _finish(
    record: dict[str, Any],
    cfg: RunConfig,
    started: str,
    t0: float,
    path: Path,
    progress: bool,
    device: torch.device,
    c0: float | None = None,
) -> None:
    cost = record.get("cost") or {}
    cost["wall_time_s"] = round(time.perf_counter() - t0, 2)
    if c0 is not None:  # CPU seconds of the whole run, all threads: what a compute estimate adds up
        cost.setdefault("cpu_s", {})["run"] = round(time.process_time() - c0, 2)
    record["cost"] = cost
    record["provenance"] = {
        "git_sha": git_sha(),
        "versions": versions(),
        "device": device_label(device),
        "hardware": hardware_info(device, cfg.precision),
        "started_at": started,
        "finished_at": now_iso(),
    }
    write_record(path, record)  # RecordNotWritten names the fallback copy
    print(run_line(record, path), file=sys.stderr)  # with or without progress bars: the run's result


def _train(
    cfg: RunConfig, splits: Splits, record: dict[str, Any], progress: bool, device: torch.device
) -> None:
    if getattr(splits, "answer_format", None) is not None:  # generative splits: a causal LM's loop
        from flatlora.bench import generative

        return generative.train(cfg, splits, record, progress, device)  # type: ignore[arg-type]
    t_start = time.perf_counter()
    names = list(splits.label_names)
    lab2id = {n: i for i, n in enumerate(names)}
    from flatlora.bench.models import hf_progress, separated_pairs

    with hf_progress(progress):  # transformers' "Loading weights" bar: off, or cleared when done
        model, tok = build_model(cfg, names)
    record["model_info"] = dict(getattr(model, "flatbench_model_info", {}))
    targets = tuple(record["model_info"].get("target_modules") or cfg.target_modules or ())
    model.to(device)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    amp = cfg.precision
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    n_total = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    record["cost"].update(trainable_params=n_train, total_params=n_total)
    phase = record["cost"]["phase_s"]
    phase["load_model"] = round(time.perf_counter() - t_start, 2)

    lengths: list[int] = []  # untruncated, every example the run sees: from the one encoding call

    def enc(df: Any) -> tuple[list[list[int]], list[int]]:
        pairs = separated_pairs(tok, list(df["text_pair"])) if "text_pair" in df.columns else None
        ids, n = encode_with_lengths(tok, [str(t) for t in df["text"]], cfg.max_len, pairs)
        lengths.extend(n)
        return ids, [lab2id[str(lab)] for lab in df["label"]]

    tr_ids, tr_y = enc(splits.train)
    va_ids, va_y = enc(splits.val)
    te_ids, te_y = enc(splits.test)
    record["dataset_info"]["token_lengths"] = _token_lengths(cfg, splits, lengths)
    record["dataset_info"]["label_counts"] = {
        split: {n: ys.count(i) for i, n in enumerate(names)}
        for split, ys in (("train", tr_y), ("val", va_y), ("test", te_y))
    }
    val_set = EvalSet(va_ids, va_y, cfg.eval_batch_size, pad_id)
    test_set = EvalSet(te_ids, te_y, cfg.eval_batch_size, pad_id)
    # flatness probe: the first rows of val (split order, so not biased to short texts), length-sorted
    n_flat = cfg.flatness_batches * cfg.eval_batch_size if cfg.flatness_k else 0
    flat_batches, flat_weights = probe_batches(va_ids[:n_flat], va_y[:n_flat], cfg.eval_batch_size, pad_id)
    flat_batches = [to_device(b, device) for b in flat_batches]

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(tr_ids) / (cfg.batch_size * cfg.grad_accum))
    total_steps = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_ratio * total_steps)

    fl, sam = None, None
    if cfg.method == "flat_lora":
        from flatlora import FlatLora, FlatLoraConfig

        fl = FlatLora(
            model,
            FlatLoraConfig(sigma=cfg.sigma, seed=cfg.seed, schedule=cfg.sigma_schedule, mode=cfg.flat_mode),
        )
    elif cfg.method in ("sam_ab", "sam_w"):
        if cfg.grad_accum != 1:
            raise ValueError(f"`grad_accum` must be 1 for {cfg.method}, got {cfg.grad_accum}")
        from flatlora import SamAB, SamW

        sam = (SamAB if cfg.method == "sam_ab" else SamW)(model, opt, rho=cfg.rho)

    gen = torch.Generator().manual_seed(cfg.seed)  # data order: independent of model init
    torch.manual_seed(cfg.seed)  # dropout stream
    first_loss: float | None = None
    best_key, best_state, best_epoch = (-1.0, 0.0), None, 0
    validate = cfg.val_metrics  # false only for a one-epoch run (RunConfig checks it)
    step = 0
    bar = progress_bar(total_steps, f"{cfg.method} s{cfg.seed}", progress)
    t_eval, c_eval = 0.0, 0.0
    t_loop, c_loop = time.perf_counter(), time.process_time()  # wall and CPU (all threads) time
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        micro = list(iter_batches(tr_ids, tr_y, cfg.batch_size, pad_id, gen))
        for s in range(0, len(micro), cfg.grad_accum):
            group = micro[s : s + cfg.grad_accum]
            # 1. learning rate for this optimizer step (pure function of the step)
            lr = lr_at(step, total_steps, cfg.lr, warmup, cfg.lr_schedule)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            # 2. forward/backward, method-specific
            if sam is not None:
                b = to_device(group[0], device)

                def closure(b: Batch = b) -> torch.Tensor:
                    with autocast(device, amp):
                        loss = model(**b).loss
                    loss.backward()
                    return loss

                loss_val = float(sam.step(closure))  # two passes + base optimizer step
            else:
                loss_val = 0.0
                for b in group:
                    b = to_device(b, device)
                    with fl.perturb(step, total_steps) if fl is not None else contextlib.nullcontext():
                        # noise on merged W' only inside this block (Flat-LoRA)
                        with autocast(device, amp):
                            loss = model(**b).loss / len(group)
                        (scaler.scale(loss) if scaler is not None else loss).backward()
                    loss_val += float(loss.detach())
            # 3. guard: a non-finite or exploding loss fails the run, it never becomes a number
            if not math.isfinite(loss_val):
                raise RunFailed(f"non-finite training loss ({loss_val}) at step {step + 1}, epoch {epoch}")
            first_loss = first_loss if first_loss is not None else max(loss_val, 1e-3)
            if loss_val > cfg.divergence_factor * max(first_loss, math.log(len(names))):
                raise RunFailed(
                    f"training diverged: loss {loss_val:.3g} at step {step + 1} "
                    f"> {cfg.divergence_factor}x initial {first_loss:.3g}"
                )
            # 4. optimizer step (SAM already stepped)
            if sam is None:
                if scaler is not None:
                    scaler.unscale_(opt)  # clip the true gradients
                if cfg.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                if scaler is not None:
                    scaler.step(opt)  # skipped when the scaled gradients overflowed
                    scaler.update()
                else:
                    opt.step()
            step += 1
            record["train_loss"].append(
                {"step": step, "epoch": round(step / steps_per_epoch, 4), "loss": loss_val, "lr": lr}
            )
            bar.update(1)
            bar.set_postfix(loss=f"{loss_val:.3f}", ep=epoch)
        # 5. validation; keep the best epoch's weights in memory. A one-epoch run has no epoch to select:
        # with `val_metrics` off it skips the pass (its test metrics are the same)
        if not validate:
            best_epoch = epoch
            continue
        te, ce = time.perf_counter(), time.process_time()
        vloss, vpred = val_set.evaluate(
            model, device, amp, desc=f"validate epoch {epoch}" if progress else None
        )
        t_eval += time.perf_counter() - te
        c_eval += time.process_time() - ce
        if not math.isfinite(vloss):
            raise RunFailed(f"non-finite validation loss ({vloss}) after epoch {epoch}")
        m = classification_metrics(va_y, vpred, names)
        record["val_history"].append(
            {
                "epoch": epoch,
                "loss": vloss,
                "accuracy": m["accuracy"],
                "weighted_f1": m["weighted_f1"],
                "macro_f1": m["macro_f1"],
                "mcc": m["mcc"],
            }
        )
        key = (m["accuracy"], -vloss)  # best accuracy; ties go to the lower validation loss
        if key > best_key:
            best_key, best_epoch = key, epoch
            best_state = trainable_state(model) if cfg.epochs > 1 else None
    bar.close()
    phase["train"] = round(time.perf_counter() - t_loop - t_eval, 2)
    # CPU seconds of the training loop, all threads of this process: unlike wall time, barely moved by
    # other processes' load, so runs measured under different load stay comparable
    record["cost"]["cpu_s"] = {"train": round(time.process_time() - c_loop - c_eval, 2)}
    phase["val_eval"] = round(t_eval, 2)
    te = time.perf_counter()

    record["best_epoch"] = best_epoch
    record["collapse"] = _collapse(record, names, va_y, splits.headline_metric, validate)
    # 6. test at the best validation epoch
    if best_state is not None and best_epoch != cfg.epochs:
        load_trainable(model, best_state)
    tloss, tpred, tlogp = test_set.evaluate_full(model, device, amp, desc="test" if progress else None)
    if not math.isfinite(tloss):
        raise RunFailed(f"non-finite test loss ({tloss})")
    test = classification_metrics(te_y, tpred, names)
    test["loss"] = tloss
    record["test"] = test
    # text-free, so records can be shared without the data: `index` is the example's row in the loaded
    # dataset (file order, pinned by `dataset_info.checksum`); reports look the texts up in the data
    # `logp`: the log-probability the model gave the gold label (per-example log loss, negated)
    record["predictions"] = [
        {"index": int(i), "gold": names[g], "pred": names[p], "logp": round(lp, 6)}
        for i, g, p, lp in zip(splits.test["index"], te_y, tpred, tlogp, strict=True)
    ]
    phase["test_eval"] = round(time.perf_counter() - te, 2)
    # 7. flatness probe on a few validation batches (same best-epoch weights); `flatness_k` 0: none
    tf = time.perf_counter()
    record["flatness"] = flatness_probe(model, flat_batches, cfg, targets, device, progress, flat_weights)
    phase["flatness"] = round(time.perf_counter() - tf, 2)


def _collapse(
    record: dict[str, Any], names: list[str], va_y: list[int], headline: str, validated: bool = True
) -> dict[str, Any]:
    """The collapse rule (`flatlora.bench.collapse`) on this run's training losses and the headline
    validation score of its selected epoch, against the majority class on the same validation rows;
    a run that skipped validation gets the loss rule alone, and the block says validation was not measured."""
    from flatlora.bench.collapse import assess

    counts = record["dataset_info"]["label_counts"]["train"]
    losses = [x["loss"] for x in record["train_loss"]]
    if not validated:
        return assess(losses, counts, None, None).to_dict()
    best = record["val_history"][record["best_epoch"] - 1]
    majority = max(range(len(names)), key=lambda i: (counts[names[i]], -i))  # the training split's
    base = classification_metrics(va_y, [majority] * len(va_y), names)
    metric = headline if headline in best and headline in base else "accuracy"
    return assess(losses, counts, float(best[metric]), float(base[metric])).to_dict()


_SAID: set[str] = set()


def _token_lengths(cfg: RunConfig, splits: Splits, lengths: list[int]) -> dict[str, Any]:
    """`lengths`, the untruncated token lengths of every example this run sees (pairs: both texts),
    against `max_len`; more than 5% longer than it is said on stderr, whatever `progress` is."""
    from flatlora.bench.lengths import length_stats

    stats = length_stats(lengths, cfg.max_len)
    if stats.warn:
        what = "sentence pairs" if splits.text_pair_col else "examples"
        how = "raise it with --set max_len=N, or --max-len auto"
        if cfg.max_len_source and "token positions" in cfg.max_len_source:  # `choose_max_len`: the model's
            how = f"--max-len auto chose {cfg.max_len}, all the model takes; a model with more positions reads more"
        elif cfg.max_len_source:
            how = f"--max-len auto chose {cfg.max_len} (the profile caps it); raise it with --set max_len=N"
        msg = f"warning: {stats.line(what)}; {how}"
        if msg not in _SAID:  # a grid's runs share their data: say it once per process
            _SAID.add(msg)
            print(msg, file=sys.stderr)
    return {**stats.to_dict(), "max_len_source": cfg.max_len_source or "config"}


__all__ = [
    "RunFailed",
    "autocast",
    "build_model",
    "classification_metrics",
    "evaluate",
    "lr_at",
    "prepare_splits",
    "record_path",
    "resolve_device",
    "run_one",
]
