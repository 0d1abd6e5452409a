"""The benchmark flow: validate -> grid of runs -> report (stats inside) -> markdown artifact.

Thin by design: all logic lives in tasks/ (policies) and reports/ + flatlora/ (work).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import as_completed, wait
from prefect.runtime import flow_run

from flatlora.bench.config import DEFAULT_PROFILE
from flatlora.bench.rundir import DataCheck, ensure_writable
from flows.flow_runs import remember, settle_previous
from flows.progress import GridProgress
from flows.shutdown import reclaim_signals
from reports.io import atomic_write_text
from tasks.report import publish_report_task, report_task
from tasks.train import (
    DEFAULT_RUNNER,
    ISOLATED_RUNNER,
    cache_is_valid,
    config_hash,
    remote_run_task,
    result_storage,
    run_spec,
    train_run_task,
)
from tasks.validate import validate_task

DEFAULT_METHODS = ("full", "lora", "flat_lora")
DEFAULT_SEEDS = (42, 43, 44)


def default_run_id(
    profile: str, datasets: list[str], methods: list[str], seeds: list[int], overrides: dict[str, Any]
) -> str:
    """Deterministic id, so rerunning the same command reuses the same dir (and its caches)."""
    key = json.dumps(
        {
            "profile": profile,
            "datasets": datasets,
            "methods": methods,
            "seeds": seeds,
            "overrides": overrides,
        },
        sort_keys=True,
        default=str,
    )
    return f"{profile}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _label(sp: dict[str, Any]) -> str:
    return f"{sp['dataset']}/{sp['method']}/s{sp['seed']}"


def _source(st: Any) -> str:
    if not st.is_completed():
        return "error"
    return "cached" if st.name == "Cached" else str(st.result()["source"])


def _grid_axes(
    datasets: list[str] | None,
    methods: list[str] | None,
    seeds: list[int] | None,
    method_seeds: dict[str, list[int]] | None = None,
) -> tuple[list[str], list[str], list[int]]:
    """The grid's datasets, methods and seeds, with the defaults filled in."""
    if method_seeds:
        methods = list(method_seeds)
        seeds = sorted({int(s) for ss in method_seeds.values() for s in ss})
    return (
        list(datasets or ["fpb_50agree"]),
        list(methods or DEFAULT_METHODS),
        [int(s) for s in (seeds or DEFAULT_SEEDS)],
    )


def resolve_run_dir(
    out: str | None,
    profile: str,
    datasets: list[str] | None,
    methods: list[str] | None,
    seeds: list[int] | None,
    overrides: dict[str, Any] | None,
) -> Path:
    """``out``, else runs/<profile>-<hash of the grid>: the same command always finds the same dir."""
    if out:
        return Path(out).resolve()
    datasets, methods, seeds = _grid_axes(datasets, methods, seeds)
    return (Path("runs") / default_run_id(profile, datasets, methods, seeds, dict(overrides or {}))).resolve()


def share_cores(parallel: int, overrides: dict[str, Any]) -> None:
    """Runs at once split this machine's cores (unless threads are already set)."""
    import os

    from flatlora.bench.config import THREADS_ENV, available_cores

    if "num_threads" not in overrides and not os.environ.get(THREADS_ENV):
        os.environ[THREADS_ENV] = str(max(1, available_cores() // parallel))


@flow(name="benchmark", log_prints=True)
def benchmark(
    profile: str = DEFAULT_PROFILE,
    datasets: list[str] | None = None,
    methods: list[str] | None = None,
    seeds: list[int] | None = None,
    out: str | None = None,
    work_pool: str | None = None,
    data_dir: str | None = None,
    overrides: dict[str, Any] | None = None,
    parallel: int = 1,
    deployment: str = "train-run/train-run",
    run_timeout_s: float | None = None,
    runner: str = DEFAULT_RUNNER,
    publish: bool = True,
    method_seeds: dict[str, list[int]] | None = None,
    method_overrides: dict[str, dict[str, Any]] | None = None,
    title: str = "Flat-LoRA benchmark",
    progress: bool = True,
) -> dict[str, Any]:
    """Returns {run_dir, report, runs: [{run_id, status, source, state}], n_cached, n_computed, ...}.

    `method_seeds` (method -> seeds) replaces the methods x seeds product with per-method seed lists;
    `method_overrides` (method -> config overrides) adds settings to one method's runs (e.g. its lr).
    `progress=False` hides the per-run progress bars (model loading, training); the grid's "run k of N"
    lines stay.
    """
    reclaim_signals()  # started by a flatbench command: SIGTERM ends it at once, not after the runs
    log = get_run_logger()
    datasets, methods, seeds = _grid_axes(datasets, methods, seeds, method_seeds)
    grid = {m: [int(s) for s in (method_seeds or {}).get(m, seeds)] for m in methods}
    per_method = {m: dict(v) for m, v in (method_overrides or {}).items()}
    overrides = dict(overrides or {})
    run_dir = resolve_run_dir(out, profile, datasets, methods, seeds, overrides)
    ensure_writable(run_dir / "records")  # before anything is validated or trained (NotWritable)
    out_dir = str(run_dir)
    me = flow_run.get_id()
    try:  # earlier flow runs into this dir whose client died are marked Crashed, not left RUNNING
        settle_previous(run_dir, me, log.warning)
    except Exception as exc:
        log.warning("could not check earlier flow runs of %s: %s", run_dir, exc)
    remember(run_dir, me)
    t0 = time.perf_counter()

    manifest = {
        "run_id": run_dir.name,
        "title": title,
        "profile": profile,
        "datasets": datasets,
        "methods": methods,
        "seeds": seeds,
        "overrides": overrides,
        "work_pool": work_pool,
    }
    if method_seeds:
        manifest["method_seeds"] = grid
    if per_method:
        manifest["method_overrides"] = per_method
    atomic_write_text(run_dir / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")

    # 1. validate every dataset before any training (ValidationFailed stops the flow, not retried)
    split_seed = int(overrides.get("split_seed", 0))
    data_opts = {
        k: overrides[k]
        for k in ("text_col", "label_col", "text_pair_col", "card", "delimiter")
        if k in overrides
    }
    validation = {
        ds: validate_task(ds, data_dir=data_dir, split_seed=split_seed, **data_opts) for ds in datasets
    }
    atomic_write_text(
        run_dir / "validation.json", json.dumps(validation, indent=1, sort_keys=True, default=str) + "\n"
    )

    # 2. the grid
    specs = [
        run_spec(profile, ds, m, s, {**overrides, **per_method.get(m, {})})
        for ds in datasets
        for m in methods
        for s in grid[m]
    ]
    hashes = [config_hash(sp) for sp in specs]
    # the record on disk is the truth: a Prefect cache hit counts only if its record is usable and was
    # trained on the data as it is now
    data = DataCheck(data_dir)
    trusted = [cache_is_valid(sp, h, out_dir, data) for sp, h in zip(specs, hashes, strict=True)]
    data_changed = data.summary()  # one line per dataset whose file changed since some of its records
    for line in data_changed:
        log.warning(line)
    # sequential: ETA from each trained run's own time; concurrent: from the intervals between finishes
    concurrent = bool(work_pool) or parallel > 1
    grid_progress = GridProgress(len(specs), log=log.info, show_duration=not concurrent)
    log.info(
        "grid: %d runs (%d datasets x %d methods x %s seeds), profile %s",
        len(specs),
        len(datasets),
        len(methods),
        "/".join(str(n) for n in dict.fromkeys(len(v) for v in grid.values())),
        profile,
    )
    if work_pool:
        log.info("launching %d runs on work pool %r via deployment %s", len(specs), work_pool, deployment)
        futures = [
            remote_run_task.with_options(
                result_storage=result_storage(out_dir), refresh_cache=(not ok) or None
            ).submit(
                sp,
                h,
                out_dir,
                data_dir=data_dir,
                deployment=deployment,
                timeout_s=run_timeout_s,
                runner=runner,
            )
            for sp, h, ok in zip(specs, hashes, trusted, strict=True)
        ]
        _follow(futures, specs, grid_progress)
        states = [f.state for f in futures]
    else:
        storage = result_storage(out_dir)
        tasks = {
            ok: train_run_task.with_options(result_storage=storage, refresh_cache=(not ok) or None)
            for ok in (True, False)
        }
        if parallel > 1:
            share_cores(parallel, overrides)
            # each run in its own process: runs sharing one would share torch's global RNG
            isolated = ISOLATED_RUNNER if runner == DEFAULT_RUNNER else runner
            jobs = list(zip(specs, hashes, trusted, strict=True))
            futures = _at_most(
                parallel,
                lambda i: tasks[jobs[i][2]].submit(
                    jobs[i][0], jobs[i][1], out_dir, data_dir=data_dir, runner=isolated
                ),
                specs,
                grid_progress,
            )
            states = [f.state for f in futures]
        else:  # torch already uses every core: one run at a time is fastest on CPU; show its progress bar
            states = []
            for k, (sp, h, ok) in enumerate(zip(specs, hashes, trusted, strict=True), 1):
                grid_progress.start(k, _label(sp))
                st = tasks[ok](
                    sp, h, out_dir, data_dir=data_dir, runner=runner, progress=progress, return_state=True
                )
                grid_progress.finish(_label(sp), _source(st))
                states.append(st)

    runs: list[dict[str, Any]] = []
    for sp, st in zip(specs, states, strict=True):
        row: dict[str, Any] = {
            "dataset": sp["dataset"],
            "method": sp["method"],
            "seed": sp["seed"],
            "state": st.name,
        }
        if st.is_completed():
            res = st.result()
            row.update(
                run_id=res["run_id"],
                status=res["status"],
                source="cached" if st.name == "Cached" else res["source"],
            )
        else:
            row.update(status="error", source="error", error=str(st.message))
        runs.append(row)
    grid_s = time.perf_counter() - t0

    # 3-5. stats + report (regenerated from records on disk), then the artifact. A report that cannot be
    # built (no record at all, records that cannot be pooled) is said in the result, after the runs
    report, report_error = None, None
    built = report_task(out_dir, data_dir=data_dir, return_state=True)
    if built.is_completed():
        report = built.result()
    else:
        report_error = _exception_text(built)
    artifact = publish_report_task(report) if publish and report else None
    result = {
        "run_dir": out_dir,
        "report": report,
        "report_error": report_error,
        "data_changed": data_changed,
        "artifact_key": artifact,
        "runs": runs,
        "n_runs": len(runs),
        "n_cached": sum(r["source"] == "cached" for r in runs),
        "n_disk": sum(r["source"] == "disk" for r in runs),
        "n_computed": sum(r["source"] in ("computed", "remote") for r in runs),
        "n_errors": sum(r["source"] == "error" for r in runs),
        "grid_wall_s": round(grid_s, 2),
        "total_wall_s": round(time.perf_counter() - t0, 2),
    }
    log.info(
        "benchmark done: %s (cached %d, from disk %d, computed %d, errors %d)",
        report,
        result["n_cached"],
        result["n_disk"],
        result["n_computed"],
        result["n_errors"],
    )
    return result


def _exception_text(state: Any) -> str:
    """The exception a failed task raised, on one line (the state's message, if it cannot be read)."""
    try:
        state.result()
    except Exception as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return str(state.message)


def _at_most(limit: int, submit: Any, specs: list[dict[str, Any]], progress: GridProgress) -> list[Any]:
    """Submit run i as ``submit(i)`` with at most ``limit`` in flight (the task runner's thread pool has no
    such bound), logging each run as it finishes. Returns the futures in grid order."""
    futures: list[Any] = [None] * len(specs)
    running: dict[int, int] = {}  # id(future) -> index
    nxt, last = 0, time.monotonic()
    while nxt < len(specs) or running:
        while nxt < len(specs) and len(running) < limit:
            futures[nxt] = submit(nxt)
            running[id(futures[nxt])] = nxt
            nxt += 1
        done = next(as_completed([futures[i] for i in running.values()]))
        done.wait()  # its final state: read from the API at once, the state may still be Running
        i = running.pop(id(done))
        now = time.monotonic()
        progress.finish(_label(specs[i]), _source(done.state), now - last)
        last = now
    wait(futures)
    return futures


def _follow(futures: list[Any], specs: list[dict[str, Any]], progress: GridProgress) -> None:
    """Log each of the already submitted runs as it finishes (any order); the time since the previous
    finish feeds the ETA, so it measures the grid's throughput whatever the concurrency."""
    _at_most(len(futures), futures.__getitem__, specs, progress)
