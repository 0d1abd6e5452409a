"""Synthetic run records that follow the CONTRACT.md schema (fixture factory for report/flow tests)."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, matthews_corrcoef

LABELS = ["negative", "neutral", "positive"]
SENTENCES = [
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007.",
    "The company expects net sales to grow next year.",
    "Sales grew 2% but missed expectations of 5%.",
    "The board proposed a dividend of EUR 0.50 per share.",
    "The company booked a write-down of EUR 3 mn on goodwill.",
    "Pipe | injection <script>alert(1)</script> `code` test.",
    "The shares were unchanged.",
    "Profit fell sharply compared with 12 mn a year earlier.",
    "Although revenue increased, the margin declined.",
    "The new plant will start operations in 2009.",
]
BASE_ACC = {"full": 0.80, "lora": 0.72, "flat_lora": 0.78, "sam_ab": 0.74, "sam_w": 0.76}


def test_set(n: int = 60, seed: int = 0) -> tuple[list[str], list[int]]:
    rng = np.random.default_rng(seed)
    texts = [f"{SENTENCES[i % len(SENTENCES)]} (#{i})" for i in range(n)]
    gold = rng.choice(3, size=n, p=[0.2, 0.5, 0.3]).tolist()
    return texts, gold


def make_record(
    dataset: str = "fpb_50agree",
    method: str = "lora",
    seed: int = 42,
    *,
    status: str = "ok",
    n_test: int = 60,
    acc: float | None = None,
    steps: int = 10,
    epochs: int = 3,
    profile: str = "smoke",
) -> dict[str, Any]:
    """One record; predictions are gold with prob ``acc`` (deterministic in method and seed)."""
    config = {"dataset": dataset, "method": method, "seed": seed, "profile": profile, "lr": 5e-5}
    chash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    run_id = f"{dataset}__{method}__s{seed}__{chash[:8]}"
    texts, gold = test_set(n_test)
    rec: dict[str, Any] = {
        "schema_version": 1,
        "status": status,
        "failure_reason": None,
        "run_id": run_id,
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "profile": profile,
        "config": config,
        "config_hash": chash,
        "provenance": {
            "git_sha": "0123456789abcdef0123456789abcdef01234567",
            "versions": {
                "python": "3.11.7",
                "torch": "2.13.0",
                "transformers": "5.0.0",
                "peft": "0.17.0",
                "flatbench": "0.1.0",
            },
            "device": "cpu (2 threads)",
            "hardware": {
                "device": "cpu",
                "cpu_model": "Test CPU 9000",
                "cpu_isa": "avx2",
                "torch_threads": 2,
            },
            "started_at": f"2026-01-01T00:{seed - 40:02d}:00+00:00",
            "finished_at": f"2026-01-01T00:{seed - 40:02d}:30+00:00",
        },
        "model_info": {"model": "minilm", "model_type": "bert", "architecture": "MeanPoolClassifier"},
        "dataset_info": {
            "name": dataset,
            "source": "synthetic",
            "checksum": "bb1b4df6de05d50b" + "0" * 48,
            "label_names": LABELS,
            "n_train": 200,
            "n_val": 40,
            "n_test": n_test,
            "split_seed": 0,
            "headline_metric": "accuracy",
        },
    }
    if status != "ok":
        rec["failure_reason"] = "loss became NaN at step 3"
        for k in ("train_loss", "val_history", "best_epoch", "test", "predictions", "flatness"):
            rec[k] = None
        rec["cost"] = {"wall_time_s": 1.0, "peak_mem_mb": 100.0, "trainable_params": 10, "total_params": 100}
        return rec
    offset = {"full": 0, "lora": 1, "flat_lora": 2, "sam_ab": 3, "sam_w": 4}.get(method, 5)
    rng = np.random.default_rng(1000 * seed + offset)
    p = BASE_ACC.get(method, 0.7) if acc is None else acc
    preds = [g if rng.random() < p else int((g + 1 + rng.integers(2)) % 3) for g in gold]
    m_off = 0.02 * offset
    rec["train_loss"] = [
        {
            "step": s,
            "epoch": s / steps * epochs,
            "loss": 1.1 * np.exp(-s / steps) + 0.01 * rng.random() + m_off,
        }
        for s in range(1, steps + 1)
    ]
    rec["val_history"] = [
        {
            "epoch": e,
            "loss": 0.9 - 0.1 * e + 0.01 * rng.random(),
            "accuracy": 0.6 + 0.05 * e,
            "weighted_f1": 0.58 + 0.05 * e,
            "macro_f1": 0.5 + 0.05 * e,
            "mcc": 0.4 + 0.05 * e,
        }
        for e in range(1, epochs + 1)
    ]
    rec["best_epoch"] = epochs
    rec["test"] = {
        "accuracy": float(accuracy_score(gold, preds)),
        "weighted_f1": float(f1_score(gold, preds, average="weighted")),
        "macro_f1": float(f1_score(gold, preds, average="macro")),
        "mcc": float(matthews_corrcoef(gold, preds)),
        "per_class_f1": dict(
            zip(LABELS, map(float, f1_score(gold, preds, average=None, labels=[0, 1, 2])), strict=True)
        ),
        "confusion_matrix": confusion_matrix(gold, preds, labels=[0, 1, 2]).tolist(),
        "loss": 0.7,
    }
    rec["predictions"] = [
        {"index": i, "text": t, "gold": LABELS[g], "pred": LABELS[q]}
        for i, (t, g, q) in enumerate(zip(texts, gold, preds, strict=True))
    ]
    rec["cost"] = {
        "wall_time_s": 10.0 + offset + 0.5 * (seed - 42),
        "peak_mem_mb": 500.0 + 10 * offset,
        "peak_mem_kind": "cpu_rss_above_baseline",
        "trainable_params": 22_000_000 if method == "full" else 150_000,
        "total_params": 22_700_000,
    }
    rec["flatness"] = {
        "sigmas": [0.01, 0.05, 0.1],
        "k": 5,
        "base_loss": 0.5,
        "mean_increase": [
            0.001 * (6 - offset),
            0.01 * (6 - offset),
            0.05 * (6 - offset) + 0.001 * (seed - 42),
        ],
        "std_increase": [0.0001, 0.001, 0.005],
    }
    return rec


def make_grid(
    methods: tuple[str, ...] = ("full", "lora", "flat_lora"),
    seeds: tuple[int, ...] = (42, 43, 44),
    dataset: str = "fpb_50agree",
    failed: tuple[tuple[str, int], ...] = (),
) -> list[dict[str, Any]]:
    return [
        make_record(dataset, m, s, status="failed" if (m, s) in failed else "ok")
        for m in methods
        for s in seeds
    ]


def json_differences(a: Any, b: Any, path: str = "$") -> list[str]:
    """Every difference between two JSON values: numbers beyond 1e-9, anything else not equal."""
    if (
        isinstance(a, bool)
        or isinstance(b, bool)
        or not (isinstance(a, int | float) and isinstance(b, int | float))
    ):
        if isinstance(a, dict) and isinstance(b, dict):
            out = [f"{path}: keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
            return out + [
                d for k in sorted(set(a) & set(b)) for d in json_differences(a[k], b[k], f"{path}.{k}")
            ]
        if isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                return [f"{path}: length {len(a)} != {len(b)}"]
            return [
                d
                for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in json_differences(x, y, f"{path}[{i}]")
            ]
        return [] if a == b else [f"{path}: {a!r} != {b!r}"]
    return [] if math.isclose(a, b, rel_tol=0, abs_tol=1e-9) else [f"{path}: {a!r} != {b!r}"]
