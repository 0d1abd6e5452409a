"""The line a run prints when it finishes: its test scores, and a warning in place of `ok` when they are
no better than predicting the test split's most frequent class for every example."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def majority_class(predictions: Sequence[Mapping[str, Any]]) -> tuple[str, float] | None:
    """(the most frequent gold label, its share of the test examples), from a record's predictions."""
    gold = Counter(str(p["gold"]) for p in predictions)
    if not gold:
        return None
    label, n = max(gold.items(), key=lambda kv: (kv[1], -sorted(gold).index(kv[0])))
    return label, n / sum(gold.values())


def run_line(record: Mapping[str, Any], path: str | Path) -> str:
    """`<run id>: ok  test acc ...`, `... FAILED (reason)`, or a warning when test accuracy is at or
    below the majority class: such a run has learned nothing usable, whatever else it prints."""
    rid = record["run_id"]
    if record["status"] != "ok":
        return f"{rid}: FAILED ({record['failure_reason']})  -> {path}"
    t = record["test"]
    if "exact_match" in t:
        return f"{rid}: ok  test exact match {t['exact_match']:.4f}  loss {t['loss']:.4f}  -> {path}"
    wall = (record.get("cost") or {}).get("wall_time_s")
    scores = (
        f"test acc {t['accuracy']:.4f}  wF1 {t['weighted_f1']:.4f}  MCC {t['mcc']:.4f}  "
        f"best epoch {record['best_epoch']}" + (f"  {wall:.1f}s" if wall is not None else "")
    )
    base = majority_class(record.get("predictions") or [])
    if base is not None and t["accuracy"] <= base[1] + 1e-12:
        label, share = base
        hint = (
            "smoke only checks the path: --profile quick trains long enough to learn most small data sets"
            if record.get("profile") == "smoke"
            else "more epochs, another lr or more training rows may help (--set epochs=..., lr=...)"
        )
        return (
            f"{rid}: WARNING  {scores}: at or below always answering the majority class {label!r} "
            f"(acc {share:.4f}), so nothing usable was learned; {hint}  -> {path}"
        )
    return f"{rid}: ok  {scores}  -> {path}"
