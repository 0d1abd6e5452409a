"""A stand-in for ``flatlora.bench.runner.run_one`` (same signature and record schema) for flow tests.

Writes a synthetic record after ``FAKE_RUNNER_SLEEP`` seconds and appends one line per call to
``FAKE_RUNNER_LOG`` so tests can count how many runs were actually computed, across processes. Like the
real runner, the record names the checksum of the data file as it is when the run trains.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from flatlora.bench.records import atomic_write_json, record_path, run_id
from flatlora.bench.rundir import data_checksum
from tests.reports.factory import make_record


def run_one(
    cfg: Any, out_dir: str | os.PathLike[str], progress: bool = True, data_dir: Any = None
) -> dict[str, Any]:
    started = time.time()
    time.sleep(float(os.environ.get("FAKE_RUNNER_SLEEP", "0")))
    rec = make_record(cfg.dataset_slug(), cfg.method, cfg.seed, profile=cfg.profile)
    rec.update(run_id=run_id(cfg), config=cfg.to_dict(), config_hash=cfg.config_hash())
    rec["dataset_info"]["checksum"] = (
        data_checksum(cfg.to_dict(), data_dir) or rec["dataset_info"]["checksum"]
    )
    atomic_write_json(record_path(cfg, out_dir), rec)
    log = os.environ.get("FAKE_RUNNER_LOG")
    if log:
        with Path(log).open("a") as f:
            line = {"run_id": rec["run_id"], "pid": os.getpid(), "progress": progress}
            f.write(json.dumps({**line, "started": started, "ended": time.time()}) + "\n")
    return rec
