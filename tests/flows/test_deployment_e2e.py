"""End-to-end against a real Prefect server (PREFECT_API_URL, started by .ci/with-prefect-server):
process work pool, `prefect deploy`, TWO workers, `flatbench benchmark --work-pool` on the smoke profile.

Lean on purpose (2 methods x 1 seed, tiny random BERT): each flow run is a fresh process that imports torch,
so the run count dominates the test's time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.flows.conftest import REPO

pytestmark = pytest.mark.prefect_server
POOL = "gpu-pool"  # the pool prefect.yaml's train-run deployment targets
BIN = Path(sys.executable).parent


@pytest.fixture
def server_env() -> dict[str, str]:
    if not os.environ.get("PREFECT_API_URL"):
        pytest.skip("PREFECT_API_URL is not set (run under .ci/with-prefect-server)")
    return {
        **os.environ,
        "FLATBENCH_REPO": str(REPO),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "0",
        "OMP_NUM_THREADS": "1",
    }


def _prefect(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(BIN / "prefect"), "--no-prompt", *args],
        cwd=REPO,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"prefect {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def two_workers(server_env: dict[str, str], tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    _prefect(server_env, "work-pool", "create", POOL, "--type", "process", "--overwrite")
    _prefect(server_env, "deploy", "--name", "train-run")
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for name in ("w1", "w2"):
            log = (tmp_path / f"worker-{name}.log").open("wb")
            workers.append(
                subprocess.Popen(
                    [
                        str(BIN / "prefect"),
                        "worker",
                        "start",
                        "--pool",
                        POOL,
                        "--name",
                        f"flatbench-{name}",
                        "--limit",
                        "1",
                        "--type",
                        "process",
                    ],
                    cwd=REPO,
                    env={**server_env, "FLATBENCH_WORKER_NAME": name},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        yield workers
    finally:
        for w in workers:  # always stop the workers we started (their whole process group)
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait(timeout=10)


def test_benchmark_fans_out_to_two_workers(
    server_env: dict[str, str], two_workers: list[subprocess.Popen[bytes]], tiny_model: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            str(BIN / "flatbench"),
            "benchmark",
            "--profile",
            "smoke",
            "--method",
            "lora",
            "--method",
            "flat_lora",
            "--seeds",
            "42",
            "--work-pool",
            POOL,
            "--out",
            str(out),
            "--run-timeout",
            "400",
            "--set",
            f"model={tiny_model}",
            "--set",
            "num_threads=1",
        ],
        cwd=REPO,
        env=server_env,
        text=True,
        capture_output=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert all(w.poll() is None for w in two_workers), "a worker died during the grid"
    sidecars = [json.loads(p.read_text()) for p in sorted((out / "workers").glob("*.json"))]
    assert len(sidecars) == 2
    # each worker takes one flow run at a time (--limit 1), so the two concurrent runs must split
    assert {s["worker"] for s in sidecars} == {"w1", "w2"}, sidecars
    assert len({s["flow_run_id"] for s in sidecars}) == 2
    report = (out / "report.md").read_text()
    assert "| Method | Accuracy | Weighted F1 |" in report
    assert len(list((out / "records").glob("*.json"))) == 2
    print(f"e2e grid (2 runs, 2 workers) took {time.perf_counter() - t0:.1f}s")
