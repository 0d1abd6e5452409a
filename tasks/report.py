"""Prefect tasks: rebuild the report from the run dir's records and publish it as a markdown artifact."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact

from reports.build import build_report, inline_figures
from reports.records import grid_status, read_records

REPORT_LOCK = Path("records") / ".locks" / "report.lock"  # beside the run locks: bookkeeping, not results


def _named(action: str, param: str) -> Callable[[], str]:
    """Task run names like ``build-report: quick-11bb204b`` (the run dir's name) instead of a random suffix."""

    def name() -> str:
        from prefect.runtime import task_run

        value = Path(str(task_run.parameters.get(param, "")))
        run = value.parent.name if value.suffix == ".md" else value.name
        return f"{action}: {run or '?'}"

    return name


@contextlib.contextmanager
def report_lock(run_dir: str) -> Iterator[None]:
    """One report writer per run dir at a time (the flow and the run that completes its grid may both
    build it); ``flock``, so a dead holder frees it at once."""
    path = Path(run_dir) / REPORT_LOCK
    if not path.parent.parent.is_dir():  # no records/: the report says so itself
        yield
        return
    path.parent.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def grid_complete(run_dir: str) -> bool:
    """Whether every run of the grid the run dir's ``manifest.json`` declares has its record (ok or
    failed): the report can be built without waiting for the flow that launched the runs."""
    loaded = read_records(run_dir)
    status = grid_status(run_dir, loaded.records, loaded.unreadable)
    return status.expected is not None and status.found > 0 and not status.missing


@task(name="build-report", task_run_name=_named("build-report", "run_dir"))
def report_task(run_dir: str, data_dir: str | None = None) -> str:
    """report.md + summary.json + PNGs, every number regenerated from ``records/*.json`` (example texts
    from the data in ``data_dir``)."""
    with report_lock(run_dir):
        return str(build_report(run_dir, data_dir=data_dir))


def artifact_key(run_dir: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    slug = re.sub(r"[^a-z0-9-]+", "-", Path(run_dir).name.lower()).strip("-") or "run"
    return f"benchmark-report-{slug}"[:100]


@task(name="publish-report", task_run_name=_named("publish-report", "report_path"))
def publish_report_task(report_path: str) -> str:
    """report.md as written to disk becomes the flow run's markdown artifact, its figures inlined (the UI
    cannot reach PNG files beside report.md)."""
    path = Path(report_path)
    text = inline_figures(path.read_text(encoding="utf-8"), path.parent)
    create_markdown_artifact(
        markdown=text,
        key=artifact_key(str(Path(report_path).parent)),
        description=f"Flat-LoRA benchmark report ({report_path})",
    )
    return artifact_key(str(Path(report_path).parent))
