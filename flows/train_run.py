"""The per-run flow behind the ``train-run`` deployment: one (dataset, method, seed) on whichever worker
picks it up. Writes a sidecar saying who ran it, so a multi-worker grid can be audited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from reports.io import atomic_write_text
from tasks.train import DEFAULT_RUNNER, result_storage, train_run_task, worker_identity


@flow(name="train-run", log_prints=True)
def train_run(
    spec: dict[str, Any],
    config_hash: str,
    out_dir: str,
    data_dir: str | None = None,
    runner: str = DEFAULT_RUNNER,
) -> str:
    """Run (or reuse) one run and return its record path."""
    res = train_run_task.with_options(result_storage=result_storage(out_dir))(
        spec, config_hash, out_dir, data_dir=data_dir, runner=runner
    )
    who = {
        **worker_identity(),
        "flow_run_id": str(flow_run.get_id()),
        "flow_run_name": flow_run.get_name(),
        "run_id": res["run_id"],
        "source": res["source"],
    }
    atomic_write_text(Path(out_dir) / "workers" / f"{res['run_id']}.json", json.dumps(who, indent=1) + "\n")
    return str(res["record_path"])
