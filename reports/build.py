"""Rebuild ``report.md`` + ``summary.json`` (+ PNG figures) of a run directory from its raw records.

This is what ``flatbench report runs/<id>`` and the benchmark flow's report task call, so every number in the
report is always regenerated from ``records/*.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from reports.io import atomic_write_text
from reports.plots import plot_dataset
from reports.render import render
from reports.summary import BenchmarkSummary, summarize


def load_records(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All run records under ``run_dir/records``, sorted by file name (stable report order)."""
    rec_dir = Path(run_dir) / "records"
    if not rec_dir.is_dir():
        raise FileNotFoundError(f"no records directory at {rec_dir}")
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(rec_dir.glob("*.json"))]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def build_summary(
    run_dir: str | os.PathLike[str], records: list[dict[str, Any]] | None = None
) -> BenchmarkSummary:
    run = Path(run_dir)
    recs = load_records(run) if records is None else records
    if not recs:
        raise FileNotFoundError(f"no run records in {run / 'records'}")
    manifest = _read_json(run / "manifest.json") or {}
    return summarize(
        recs,
        validation=_read_json(run / "validation.json"),
        run_id=str(manifest.get("run_id") or run.name),
        title=str(manifest.get("title") or "Flat-LoRA benchmark"),
    )


def build_report(run_dir: str | os.PathLike[str], *, plots: bool = True) -> Path:
    """Summarize, plot, render and atomically write ``report.md`` and ``summary.json``; returns report.md."""
    run = Path(run_dir)
    summary = build_summary(run)
    if plots:
        for ds in summary.datasets:
            plot_dataset(ds, run)
    atomic_write_text(run / "summary.json", json.dumps(summary.to_dict(), indent=2, sort_keys=True) + "\n")
    return atomic_write_text(run / "report.md", render(summary))
