"""The README's deployment section, end to end, against a real Prefect server (PREFECT_API_URL, started by
.ci/with-prefect-server): two process pools, `prefect deploy --all`, one `flatbench worker --limit 1` per
pool, a mistyped profile refused at submission, a smoke `prefect deployment run benchmark/benchmark` that
completes with its report and artifact, and workers that one SIGTERM stops.

With one worker of `--limit 1` per pool, the benchmark flow (cpu-pool) and its training run (gpu-pool)
must not compete for one slot. Lean on purpose (1 run, tiny random BERT): each flow run is a fresh process
that imports torch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.flows.conftest import REPO

pytestmark = pytest.mark.prefect_server
BIN = Path(sys.executable).parent
POOLS = ("cpu-pool", "gpu-pool")


@pytest.fixture
def server_env() -> dict[str, str]:
    if not os.environ.get("PREFECT_API_URL"):
        pytest.skip("PREFECT_API_URL is not set (run under .ci/with-prefect-server)")
    env = {
        **os.environ,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "0",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),  # the workers and their flow runs run this checkout
    }
    env.pop("FLATBENCH_REPO", None)
    return env


def _prefect(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(BIN / "prefect"), "--no-prompt", *args],
        cwd=REPO,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )
    if ok:
        assert proc.returncode == 0, f"prefect {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def workers(server_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """The README's commands up to the workers: pools, FLATBENCH_REPO, `prefect deploy --all`, one worker
    of `--limit 1` per pool."""
    for pool in POOLS:
        _prefect(server_env, "work-pool", "create", pool, "--type", "process", "--overwrite")
    unset = _prefect(server_env, "deploy", "--all", ok=False)  # forgot `export FLATBENCH_REPO=$PWD`
    assert unset.returncode == 1 and "Traceback" not in unset.stdout + unset.stderr
    assert "error: FLATBENCH_REPO is not set: export FLATBENCH_REPO=$PWD" in unset.stderr
    server_env["FLATBENCH_REPO"] = str(REPO)
    _prefect(server_env, "deploy", "--all")
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for pool in POOLS:
            log = (tmp_path / f"worker-{pool}.log").open("wb")
            started[pool] = subprocess.Popen(
                [str(BIN / "flatbench"), "worker", "--pool", pool, "--limit", "1", "--name", f"e2e-{pool}"],
                cwd=REPO,
                env=server_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        yield started
    finally:
        for w in started.values():
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
            w.wait(timeout=30)


def _stop(worker: subprocess.Popen[bytes]) -> int:
    """One SIGTERM, as a service manager sends: an idle worker exits at once."""
    worker.send_signal(signal.SIGTERM)
    return worker.wait(timeout=60)


def _flow_runs(client: Any, deployment: str, **params: Any) -> list[Any]:
    """The deployment's flow runs with these parameter values (the server may hold others)."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    dep = client.read_deployment_by_name(deployment)
    runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])))
    return [r for r in runs if all(r.parameters.get(k) == v for k, v in params.items())]


def test_readme_deployment_section(
    server_env: dict[str, str], workers: dict[str, subprocess.Popen[bytes]], tiny_model: str, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from tasks.report import artifact_key

    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name("benchmark/benchmark")
        schedules = client.read_deployment_schedules(dep.id)  # registered with their own, cheap parameters
        assert any(s.parameters.get("profile") == "smoke" and not s.active for s in schedules)
        bad = _prefect(server_env, "deployment", "run", "benchmark/benchmark", "-p", "profile=quik", ok=False)
        assert bad.returncode == 1, bad.stdout + bad.stderr
        said = " ".join((bad.stdout + bad.stderr).split())
        assert "Validation failed for field 'profile'. Failure reason: 'quik' is not one of ['quick'" in said
        assert _flow_runs(client, "benchmark/benchmark", profile="quik") == []  # refused: nothing created

        out = tmp_path / "smoke"
        params = {"profile": "smoke", "methods": ["lora"], "seeds": [42], "out": str(out),
                  "overrides": {"model": tiny_model, "num_threads": 1}}  # fmt: skip
        t0 = time.perf_counter()
        run = _prefect(server_env, "deployment", "run", "benchmark/benchmark", "--params", json.dumps(params),
                       "--watch", "--watch-timeout", "400", ok=False)  # fmt: skip
        took = time.perf_counter() - t0
        assert all(w.poll() is None for w in workers.values()), "a worker died"
        (fr,) = _flow_runs(client, "benchmark/benchmark", out=str(out))
        assert fr.state.is_completed(), f"{fr.state}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        assert fr.work_pool_name == "cpu-pool"
        (trained,) = _flow_runs(client, "train-run/train-run", out_dir=str(out))
        assert trained.state.is_completed() and trained.work_pool_name == "gpu-pool"
        key = artifact_key(str(out))
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
        assert artifacts and "| Method | Accuracy | Weighted F1 |" in str(artifacts[0].data)
    assert "| Method | Accuracy | Weighted F1 |" in (out / "report.md").read_text()
    (sidecar,) = [json.loads(p.read_text()) for p in (out / "workers").glob("*.json")]
    assert sidecar["worker"] == "e2e-gpu-pool" and sidecar["flow_run_id"] == str(trained.id)
    assert [_stop(w) for w in workers.values()] == [0, 0]
    print(f"deployment run (1 training run, a worker per pool) took {took:.1f}s")
