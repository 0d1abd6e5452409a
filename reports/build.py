"""Rebuild ``report.md`` + ``summary.json`` (+ PNG figures) of a run directory from its raw records.

This is what ``flatbench report runs/<id>`` and the benchmark flow's report task call, so every number in the
report is always regenerated from ``records/*.json``. The records are checked first (:mod:`reports.records`):
unreadable files are skipped and named, conflicting ones refuse the build, and the expected grid of the
manifest (or the study plan) is compared with what was found.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flatlora.bench.atomic import atomic_write_text
from flatlora.bench.design import DESIGN_FILE, DESIGN_V1, StudyDesign, load_design
from flatlora.bench.study import BRACKET_FILE, POWER_FILE, RECIPE_DIR, RECIPE_FILE, SWEEP_DIR
from reports.labels import method_sort_key
from reports.plots import plot_dataset, plot_primary
from reports.records import (
    PLAN_FILE,
    LoadedRecords,
    RecordConflict,
    Unreadable,
    check_records,
    grid_status,
    read_records,
)
from reports.render import render
from reports.stages import StudySummary, study_summary
from reports.summary import summarize
from reports.summary_json import summary_from_dict
from reports.summary_types import BenchmarkSummary
from reports.texts import lookup_texts

__all__ = [
    "BuildResult",
    "RecordConflict",
    "build",
    "build_report",
    "build_summary",
    "inline_figures",
    "load_records",
    "study_design",
]


def _loaded(run_dir: str | os.PathLike[str]) -> LoadedRecords:
    rec_dir = Path(run_dir) / "records"
    if not rec_dir.is_dir():
        raise FileNotFoundError(f"no records directory at {rec_dir}{_hint(Path(run_dir))}")
    return read_records(run_dir)


def load_records(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The readable run records under ``run_dir/records``, sorted by file name (stable report order)."""
    return _loaded(run_dir).records


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


def _plan(run: Path) -> dict[str, Any] | None:
    got = _read_json(run / POWER_FILE)
    return got if isinstance(got, dict) else None


def study_design(run_dir: str | os.PathLike[str]) -> StudyDesign | None:
    """The design of a study folder (``design.json``; the first design for a study folder started before
    designs were written down, i.e. one with ``PLAN.md``); None for a folder that is not a study."""
    run = Path(run_dir)
    if not ((run / DESIGN_FILE).is_file() or (run / PLAN_FILE).is_file()):
        return None
    return load_design(run) or DESIGN_V1


def _study(run: Path, design: StudyDesign | None, records: list[dict[str, Any]]) -> StudySummary | None:
    if design is None:
        return None
    return study_summary(
        design,
        first_design=DESIGN_V1.name,
        recipe=_read_json(run / RECIPE_DIR / RECIPE_FILE),
        brackets=_read_json(run / SWEEP_DIR / BRACKET_FILE),
        records=records,
        has_design_file=(run / DESIGN_FILE).is_file(),
        order=method_sort_key,
    )


def build_summary(
    run_dir: str | os.PathLike[str],
    records: list[dict[str, Any]] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    lr: Mapping[str, float] | None = None,
) -> BenchmarkSummary:
    """The summary of a run dir; example texts the records do not carry are looked up in the data
    (``data_dir``, else FLATBENCH_DATA_DIR or ../shared/data): without it the report has no texts.

    ``lr`` (method -> rate) picks one learning rate for a method whose records hold several.
    """
    run = Path(run_dir)
    loaded = _loaded(run) if records is None else LoadedRecords(list(records))
    if not loaded.records:
        bad = [f"{u.path} ({u.reason})" for u in loaded.unreadable]
        why = (
            f": {len(bad)} unreadable file(s): {'; '.join(bad[:3])}{f'; and {len(bad) - 3} more' if len(bad) > 3 else ''}"
            if bad
            else ""
        )
        raise FileNotFoundError(f"no run records in {run / 'records'}{why}")
    sweep = _read_json(run / SWEEP_JSON)
    recs, dropped = check_records(loaded, lr=lr, sweep=sweep)
    manifest = _read_json(run / "manifest.json") or {}
    design = study_design(run)
    return summarize(
        recs,
        validation=_read_json(run / "validation.json"),
        run_id=str(manifest.get("run_id") or run.name),
        title=str(manifest.get("title") or "Flat-LoRA benchmark"),
        texts=lookup_texts(recs, data_dir),
        sweep=sweep,
        plan=_plan(run),
        grid=grid_status(run, recs, loaded.unreadable, dropped),
        design=design,
        study=_study(run, design, recs),
    )


@dataclass
class BuildResult:
    report: Path
    summary: BenchmarkSummary
    unreadable: list[Unreadable] = field(default_factory=list)


def build(
    run_dir: str | os.PathLike[str],
    *,
    plots: bool = True,
    from_summary: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    lr: Mapping[str, float] | None = None,
) -> BuildResult:
    """Summarize, plot, render and atomically write ``report.md`` and ``summary.json``.

    ``from_summary``: start from the run dir's ``summary.json`` instead of ``records/`` (for a folder whose raw
    records were not kept; see :func:`reports.summary_json.summary_from_dict` for what that can recompute).
    Unreadable record files are skipped, named in the report and returned in ``unreadable``.
    """
    run = Path(run_dir)
    if from_summary:
        path = run / "summary.json"
        if not path.is_file():
            raise FileNotFoundError(f"no summary.json at {path}")
        summary = summary_from_dict(json.loads(path.read_text(encoding="utf-8")))
    else:
        summary = build_summary(run, data_dir=data_dir, lr=lr)
    if plots:
        for ds in summary.datasets:
            plot_dataset(ds, run)
            name = plot_primary(ds, run)
            if name:
                ds.figures["primary"] = name
    atomic_write_text(run / "summary.json", json.dumps(summary.to_dict(), indent=2, sort_keys=True) + "\n")
    report = atomic_write_text(run / "report.md", render(summary))
    return BuildResult(report, summary, list(summary.grid.unreadable) if summary.grid else [])


def build_report(
    run_dir: str | os.PathLike[str],
    *,
    plots: bool = True,
    from_summary: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    lr: Mapping[str, float] | None = None,
) -> Path:
    """:func:`build`, returning the path of report.md (what the flow publishes)."""
    return build(run_dir, plots=plots, from_summary=from_summary, data_dir=data_dir, lr=lr).report
