"""Prefect tasks: rebuild the report from the run dir's records and publish it as a markdown artifact."""

from __future__ import annotations

import re
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact

from reports.build import build_report


@task(name="build-report")
def report_task(run_dir: str) -> str:
    """report.md + summary.json + PNGs, every number regenerated from ``records/*.json``."""
    return str(build_report(run_dir))


def artifact_key(run_dir: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    slug = re.sub(r"[^a-z0-9-]+", "-", Path(run_dir).name.lower()).strip("-") or "run"
    return f"benchmark-report-{slug}"[:100]


@task(name="publish-report")
def publish_report_task(report_path: str) -> str:
    """The same string that was written to disk becomes the flow run's markdown artifact."""
    text = Path(report_path).read_text(encoding="utf-8")
    create_markdown_artifact(
        markdown=text,
        key=artifact_key(str(Path(report_path).parent)),
        description=f"Flat-LoRA benchmark report ({report_path})",
    )
    return artifact_key(str(Path(report_path).parent))
