"""The per-run flow behind the ``train-run`` deployment: one (dataset, method, seed) on whichever worker
picks it up. Writes a sidecar saying who ran it, so a multi-worker grid can be audited, and builds the
grid's report when its record is the grid's last and the flow that launched it is gone: the report does
not depend on that flow surviving until the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.choices import RunSpec
from flows.flow_runs import running_here
from flows.worker_exit import adopt_output, orphan_note, orphaned
from reports.io import atomic_write_text
from tasks.report import grid_complete, publish_report_task, report_task
from tasks.train import DEFAULT_RUNNER, result_storage, train_run_task, worker_identity


@flow(name="train-run", log_prints=True)
def train_run(
    spec: RunSpec,
    config_hash: str,
    out_dir: str,
    data_dir: str | None = None,
    runner: str = DEFAULT_RUNNER,
) -> str:
    """Run (or reuse) one run and return its record path."""
    me = str(flow_run.get_id())
    adopt_output(Path(out_dir) / "workers" / f"{me}.log")
    res = train_run_task.with_options(result_storage=result_storage(out_dir))(
        spec, config_hash, out_dir, data_dir=data_dir, runner=runner
    )
    who: dict[str, Any] = {
        **worker_identity(),
        "flow_run_id": me,
        "flow_run_name": flow_run.get_name(),
        "run_id": res["run_id"],
        "source": res["source"],
    }
    if (lost := orphaned()) is not None:
        who["worker_exited"] = lost
        get_run_logger().warning(orphan_note(lost))
    atomic_write_text(Path(out_dir) / "workers" / f"{res['run_id']}.json", json.dumps(who, indent=1) + "\n")
    if grid_complete(out_dir) and not running_here(Path(out_dir)):  # else the launching flow reports
        publish_report_task(report_task(out_dir, data_dir=data_dir))
    return str(res["record_path"])
