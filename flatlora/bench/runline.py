"""The line a run prints when it finishes: its test scores, and a warning in place of `ok` when the
collapse rule (`flatlora.bench.collapse`, stored in the record) fired, or its test accuracy is no better
than predicting the test split's most frequent class for every example."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flatlora.bench.collapse import majority_share


def majority_class(record: Mapping[str, Any]) -> tuple[str, float] | None:
    """(the test split's most frequent label, its share of the test examples): from the record's label
    counts, or, in records without them, from its predictions' gold labels. Ties go to the first label."""
    stored = (record.get("dataset_info") or {}).get("label_counts") or {}
    counts: Mapping[str, int] = stored.get("test") or {}
    if not counts:
        counts = Counter(str(p["gold"]) for p in record.get("predictions") or [])
    if not counts or sum(counts.values()) <= 0:
        return None
    order = list(counts)
    label = max(order, key=lambda k: (counts[k], -order.index(k)))
    return label, majority_share(counts)


def _collapse_reason(record: Mapping[str, Any]) -> str | None:
    """What the stored collapse check found, in words; None when it did not fire (or was not stored)."""
    c = record.get("collapse") or {}
    if not c.get("collapsed"):
        return None
    said = []
    if "loss" in c.get("reasons", []):
        said.append(
            f"its training loss ended at {c['tail_loss']:.3f} (predicting the label prior: "
            f"{c['prior_entropy']:.3f})"
        )
    if "validation" in c.get("reasons", []):
        said.append(
            f"its validation score {c['val_score']:.4f} is at or below the majority class's "
            f"{c['val_majority']:.4f}"
        )
    return "collapsed: " + (" and ".join(said) or "the collapse check fired")


def run_line(record: Mapping[str, Any], path: str | Path) -> str:
    """`<run id>: ok  test acc ...`, `... FAILED (reason)`, or `WARNING` when the run collapsed (the rule
    stored in its record) or its test accuracy is at or below the majority class. The warning says nothing
    usable was learned, except when only the training-loss part of the rule fired on a run above the
    majority class whose training loss still ended below the label prior's entropy: then it says the run
    may not have trained fully."""
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
    why = []
    base = majority_class(record)
    at_majority = base is not None and t["accuracy"] <= base[1] + 1e-12
    if base is not None and at_majority:
        why.append(f"at or below always answering the majority class {base[0]!r} (acc {base[1]:.4f})")
    collapsed = _collapse_reason(record)
    if collapsed:
        why.append(collapsed)
    if not why:
        return f"{rid}: ok  {scores}  -> {path}"
    # Only the loss part of the rule fired, on a run that beats the majority on test and validation and
    # whose training loss ended below the prior's entropy: it learned something, but not enough for the
    # rule (under-trained rather than useless).
    c = record.get("collapse") or {}
    loss_only = (
        not at_majority
        and c.get("reasons") == ["loss"]
        and float(c.get("tail_loss", 0.0)) < float(c.get("prior_entropy", 0.0))
    )
    verdict = (
        "so it may not have trained fully (the collapse rule counts it as collapsed)"
        if loss_only
        else "so nothing usable was learned"
    )
    hint = (
        "smoke only checks the path: --profile quick trains long enough to learn most small data sets"
        if record.get("profile") == "smoke"
        else "more epochs, another lr or more training rows may help (--set epochs=..., lr=...)"
    )
    return f"{rid}: WARNING  {scores}: {'; '.join(why)}, {verdict}; {hint}  -> {path}"
