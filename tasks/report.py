"""Prefect tasks: rebuild the report from the run dir's records and publish it as a markdown artifact."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact

from reports.build import build_report, inline_figures


def _named(action: str, param: str) -> Callable[[], str]:
    """Task run names like ``build-report: quick-11bb204b`` (the run dir's name) instead of a random suffix."""

    def name() -> str:
        from prefect.runtime import task_run

        value = Path(str(task_run.parameters.get(param, "")))
        run = value.parent.name if value.suffix == ".md" else value.name
        return f"{action}: {run or '?'}"

    return name


@task(name="build-report", task_run_name=_named("build-report", "run_dir"))
def report_task(run_dir: str, data_dir: str | None = None) -> str:
    """report.md + summary.json + PNGs, every number regenerated from ``records/*.json`` (example texts
    from the data in ``data_dir``)."""
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
