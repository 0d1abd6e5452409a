"""Rebuild ``report.md`` + ``summary.json`` (+ PNG figures) of a run directory from its raw records.

This is what ``flatbench report runs/<id>`` and the benchmark flow's report task call, so every number in the
report is always regenerated from ``records/*.json``.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

from reports.io import atomic_write_text
from reports.plots import plot_dataset
from reports.render import render
from reports.summary import BenchmarkSummary, summarize, summary_from_dict
from reports.texts import lookup_texts


def load_records(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All run records under ``run_dir/records``, sorted by file name (stable report order)."""
    rec_dir = Path(run_dir) / "records"
    if not rec_dir.is_dir():
        raise FileNotFoundError(f"no records directory at {rec_dir}{_hint(Path(run_dir))}")
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(rec_dir.glob("*.json"))]


def _hint(run: Path) -> str:
    """What the folder is instead, and the command that renders it."""
    if (run / "responses.jsonl").is_file() or (run / "responses.jsonl.gz").is_file():
        return (
            f"; {run} is an llm-eval run dir (responses.jsonl): re-render its report with "
            f"`flatbench llm-eval SUITE --out {run}` (same suite and options; cached answers, no new requests)"
        )
    if (run / "records").exists() is False and any(run.glob("*/records")):
        subs = sorted(p.parent.name for p in run.glob("*/records"))[:3]
        return f"; benchmark run dirs below it: {', '.join(subs)}"
    if (run / "summary.json").is_file():
        return (
            "; only summary.json is here (the raw records were not kept): "
            f"`flatbench report {run} --from-summary` re-renders report.md and the figures from it"
        )
    return "; pass a benchmark run dir (runs/<profile>-<hash>) that holds records/*.json"


_FIGURE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")


def inline_figures(markdown: str, base_dir: str | os.PathLike[str]) -> str:
    """Replace each relative PNG link that exists under ``base_dir`` by a ``data:`` URI.

    The report on disk links its figures by file name (they sit beside report.md); a copy of the text shown
    elsewhere, such as the Prefect UI's artifact page, has no such folder, so it carries the images inline.
    """
    base = Path(base_dir)

    def sub(m: re.Match[str]) -> str:
        alt, target = m.group(1), m.group(2)
        path = base / target
        if "://" in target or target.startswith(("data:", "/")) or not path.is_file():
            return m.group(0)
        b64 = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"![{alt}](data:image/png;base64,{b64})"

    return _FIGURE.sub(sub, markdown)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


SWEEP_JSON = Path("sweep") / "sweep.json"  # a study's learning-rate sweep, beside its records


def build_summary(
    run_dir: str | os.PathLike[str],
    records: list[dict[str, Any]] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> BenchmarkSummary:
    """The summary of a run dir; example texts the records do not carry are looked up in the data
    (``data_dir``, else FLATBENCH_DATA_DIR or ../shared/data): without it the report has no texts."""
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
        texts=lookup_texts(recs, data_dir),
        sweep=_read_json(run / SWEEP_JSON),
    )


def build_report(
    run_dir: str | os.PathLike[str],
    *,
    plots: bool = True,
    from_summary: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Summarize, plot, render and atomically write ``report.md`` and ``summary.json``; returns report.md.

    ``from_summary``: start from the run dir's ``summary.json`` instead of ``records/`` (for a folder whose raw
    records were not kept; see :func:`reports.summary.summary_from_dict` for what that can recompute).
    """
    run = Path(run_dir)
    if from_summary:
        path = run / "summary.json"
        if not path.is_file():
            raise FileNotFoundError(f"no summary.json at {path}")
        summary = summary_from_dict(json.loads(path.read_text(encoding="utf-8")))
    else:
        summary = build_summary(run, data_dir=data_dir)
    if plots:
        for ds in summary.datasets:
            plot_dataset(ds, run)
    atomic_write_text(run / "summary.json", json.dumps(summary.to_dict(), indent=2, sort_keys=True) + "\n")
    return atomic_write_text(run / "report.md", render(summary))
