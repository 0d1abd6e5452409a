"""Prefect task wrappers around one training run (``flatlora.bench.runner.run_one``).

Idempotency has two layers:
1. Prefect: ``cache_policy = INPUTS + TASK_SOURCE`` over (spec, config_hash, out_dir), results persisted under
   ``<run dir>/.prefect-results``; a rerun of the same grid (same run dir) gets a ``Cached`` state per
   finished run, even after ``kill -9`` (the cache record is written when the task completes).
2. Disk: the runner writes its own record atomically; if ``records/<run_id>.json`` exists with the same
   config hash, status ``ok`` and the checksum of the data file as it is now, the task returns it
   without training (covers a kill between the record write and Prefect's result write, or a different
   PREFECT_HOME).

The record on disk is the truth: the flow asks ``cache_is_valid`` before each run and bypasses Prefect's
cache (``refresh_cache``) for a run whose record is missing, unreadable, incomplete or not ``ok``; a bad
file is moved to ``records/.corrupt/``. Training happens under the run's lock (``flatlora.bench.rundir``),
so two commands into one run dir never train the same run twice, and a permanent error (no permission,
read-only filesystem, full disk) is not retried.
"""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from prefect import task
from prefect.cache_policies import INPUTS, TASK_SOURCE

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

    from flatlora.bench.rundir import DataCheck

DEFAULT_RUNNER = "flatlora.bench.runner:run_one"
ISOLATED_RUNNER = "flatlora.bench.runner:run_one_isolated"  # one process per run (`--parallel`)


def run_spec(
    profile: str, dataset: str, method: str, seed: int, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON-able description of one run; also the deployment's parameters."""
    return {
        "profile": profile,
        "dataset": dataset,
        "method": method,
        "seed": int(seed),
        "overrides": dict(overrides or {}),
    }


def resolve(spec: dict[str, Any]) -> Any:
    """spec -> RunConfig (validates every field; bad values raise ValueError naming the field)."""
    from flatlora.bench.config import resolve_config

    return resolve_config(
        spec["profile"],
        dataset=spec["dataset"],
        method=spec["method"],
        seed=spec["seed"],
        **spec.get("overrides", {}),
    )


def config_hash(spec: dict[str, Any]) -> str:
    return str(resolve(spec).config_hash())


def record_file(spec: dict[str, Any], out_dir: str) -> Path:
    from flatlora.bench.records import record_path

    return Path(record_path(resolve(spec), out_dir))


def result_storage(out_dir: str | os.PathLike[str]) -> Path:
    """Persisted task results + cache records live inside the run dir, so the cache travels with the run.

    A ``Path`` (Prefect turns it into a LocalFileSystem) needs no block saved on the server.
    """
    path = Path(out_dir).resolve() / ".prefect-results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _warn(msg: str) -> None:
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        get_run_logger().warning(msg)
    except MissingContextError:
        print(msg)


def finished_record(path: Path, chash: str, data: DataCheck | None = None) -> dict[str, Any] | None:
    """The on-disk record if it is a finished, successful run of exactly this config, trained on the
    data as it is now (a bad file is moved to ``records/.corrupt/`` and named in the log)."""
    from flatlora.bench.rundir import DataCheck, reusable_record

    return reusable_record(path, chash, log=_warn, data=data if data is not None else DataCheck())


def cache_is_valid(spec: dict[str, Any], chash: str, out_dir: str, data: DataCheck | None = None) -> bool:
    """Whether a Prefect cache hit for this run may be trusted: its record exists, parses, is complete,
    ``ok``, of this config and of the data as it is now (``data`` reads each data file once and counts
    the records of other data). Otherwise the run must execute (and a bad file is moved aside)."""
    return finished_record(record_file(spec, out_dir), chash, data) is not None


def _deterministic(exc: BaseException) -> bool:
    """Failures a retry cannot fix: bad data (ValidationFailed), bad config (ValueError/TypeError/KeyError),
    and the filesystem refusing the write (no permission, read-only, full disk)."""
    from flatlora.bench.rundir import is_permanent
    from flatlora.bench.validation import ValidationFailed

    return is_permanent(exc) or isinstance(
        exc, (ValidationFailed, ValueError, TypeError, KeyError, ImportError, FileNotFoundError)
    )


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """retry_condition_fn: retry only failures that could be transient (OOM-kill, I/O hiccup, server blip)."""
    try:
        state.result()
    except BaseException as exc:  # classified here; Prefect still records the failure
        return not _deterministic(exc)
    return False


def load_runner(path: str) -> Callable[..., dict[str, Any]]:
    module, _, name = path.partition(":")
    fn: Callable[..., dict[str, Any]] = getattr(importlib.import_module(module), name)
    return fn


def worker_identity() -> dict[str, Any]:
    """Who executed a run (host, pid, worker name when set); written as a sidecar by train-run."""
    return {
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "worker": os.environ.get("FLATBENCH_WORKER_NAME"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "flatbench_threads": os.environ.get("FLATBENCH_THREADS"),
    }


@task(
    name="train-run",
    task_run_name="train {spec[dataset]}/{spec[method]}/s{spec[seed]}",
    cache_policy=(INPUTS + TASK_SOURCE) - "data_dir" - "progress",
    cache_expiration=timedelta(days=365),
    persist_result=True,
    retries=1,
    retry_delay_seconds=2,
    retry_condition_fn=retry_transient,
)
def train_run_task(
    spec: dict[str, Any],
    config_hash: str,
    out_dir: str,
    data_dir: str | None = None,
    progress: bool = False,
    runner: str = DEFAULT_RUNNER,
) -> dict[str, Any]:
    """One run. The cache key covers the spec, its config hash and the run dir (not data_dir/progress)."""
    cfg = resolve(spec)
    if cfg.config_hash() != config_hash:
        raise ValueError(
            f"`config_hash` does not match the resolved config: {config_hash} != {cfg.config_hash()}"
        )
    from flatlora.bench.rundir import train_or_reuse

    path = record_file(spec, out_dir)
    rec, source = train_or_reuse(
        cfg, out_dir, load_runner(runner), log=_warn, progress=progress, data_dir=data_dir
    )
    return {
        "run_id": rec["run_id"],
        "record_path": str(path),
        "status": rec["status"],
        "failure_reason": rec.get("failure_reason"),
        "config_hash": config_hash,
        "source": source,
        "executed_by": worker_identity(),
    }


@task(
    name="train-run-remote",
    task_run_name="deploy {spec[dataset]}/{spec[method]}/s{spec[seed]}",
    cache_policy=INPUTS - "data_dir" - "deployment" - "timeout_s",
    cache_expiration=timedelta(days=365),
    persist_result=True,
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=retry_transient,
)
def remote_run_task(
    spec: dict[str, Any],
    config_hash: str,
    out_dir: str,
    data_dir: str | None = None,
    deployment: str = "train-run/train-run",
    timeout_s: float | None = None,
    runner: str = DEFAULT_RUNNER,
) -> dict[str, Any]:
    """Launch one run as a flow run of the ``train-run`` deployment on its work pool and wait for it.

    ``out_dir`` must be on storage every worker shares (an absolute path on one box, or a network mount).
    """
    from prefect.deployments import run_deployment

    from flatlora.bench.rundir import DataCheck

    path = record_file(spec, out_dir)
    if finished_record(path, config_hash, DataCheck(data_dir)) is not None:
        return {
            "run_id": path.stem,
            "record_path": str(path),
            "status": "ok",
            "config_hash": config_hash,
            "source": "disk",
            "flow_run_id": None,
        }
    params = {
        "spec": spec,
        "config_hash": config_hash,
        "out_dir": out_dir,
        "data_dir": data_dir,
        "runner": runner,
    }
    fr = cast("FlowRun", run_deployment(deployment, parameters=params, timeout=timeout_s, poll_interval=1.0))
    state = fr.state
    if state is None or not state.is_completed():
        raise RuntimeError(f"train-run flow run {fr.id} ended in state {state.name if state else None!r}")
    from flatlora.bench.rundir import check_record

    rec, problem = check_record(path, config_hash)
    if rec is None:
        why = problem or "missing"
        raise RuntimeError(f"train-run flow run {fr.id} completed but its record {path} is {why}")
    return {
        "run_id": rec["run_id"],
        "record_path": str(path),
        "status": rec["status"],
        "failure_reason": rec.get("failure_reason"),
        "config_hash": config_hash,
        "source": "remote",
        "flow_run_id": str(fr.id),
    }
