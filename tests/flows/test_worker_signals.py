"""`flatbench worker`: the first SIGTERM stops the polling, lets the flow run in progress finish, and
the worker exits 0; a second one stops the run now. (`prefect worker start` 3.9 goes on taking runs after
its first SIGTERM.) A fresh pool per test, a deployment of a flow that waits for a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.flows.conftest import REPO

pytestmark = pytest.mark.prefect_server


@pytest.fixture
def api() -> Any:
    if not os.environ.get("PREFECT_API_URL"):
        pytest.skip("PREFECT_API_URL is not set (run under .ci/with-prefect-server)")
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        yield client


@pytest.fixture
def deployment(api: Any) -> Iterator[tuple[str, Any]]:
    """(pool, deployment id) of the file-waiting flow on a fresh process pool."""
    from prefect.client.schemas.actions import WorkPoolCreate

    from tests.flows.waiting_flow import wait_for_file

    pool = f"sig-pool-{uuid.uuid4().hex[:8]}"
    api.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    dep_id = api.create_deployment(
        flow_id=api.create_flow(wait_for_file),
        name=pool,
        work_pool_name=pool,
        entrypoint="tests/flows/waiting_flow.py:wait_for_file",
        pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}],
    )
    yield pool, dep_id
    api.delete_deployment(dep_id)
    api.delete_work_pool(pool)


def _start_worker(pool: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PREFECT_WORKER_QUERY_SECONDS": "1",
           "PREFECT_WORKER_PREFETCH_SECONDS": "0"}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "worker", "--pool", pool, "--limit", "1", "--name", "sig-test"],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait(what: str, ok: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


@pytest.fixture
def running(
    api: Any, deployment: tuple[str, Any], tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Any, Path]]:
    """A worker, and a flow run of it that has started and waits for ``release``."""
    pool, dep_id = deployment
    release = tmp_path / "release"
    worker = _start_worker(pool, tmp_path / "worker.log")
    try:
        fr = api.create_flow_run_from_deployment(dep_id, parameters={"path": str(release)})
        _wait("the flow run to start", lambda: api.read_flow_run(fr.id).state.is_running())
        yield worker, fr, release
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
        release.touch()


def test_a_sigterm_lets_the_run_finish_then_the_worker_exits(
    api: Any, deployment: tuple[str, Any], running: tuple[subprocess.Popen[bytes], Any, Path], tmp_path: Path
) -> None:
    worker, fr, release = running
    os.kill(worker.pid, signal.SIGTERM)
    later = api.create_flow_run_from_deployment(deployment[1], parameters={"path": str(release)})
    time.sleep(4)  # several polls: the worker takes no new run while it finishes the one it has
    assert worker.poll() is None and api.read_flow_run(fr.id).state.is_running()
    release.touch()
    assert worker.wait(timeout=120) == 0
    assert api.read_flow_run(fr.id).state.is_completed()
    assert api.read_flow_run(later.id).state.type.name == "SCHEDULED"
    log = (tmp_path / "worker.log").read_text()
    assert "worker 'sig-test': SIGTERM: taking no new runs; 1 flow run(s) in progress finish first" in log
    assert "worker 'sig-test': its runs have finished; stopped" in log
    api.delete_flow_run(later.id)


def test_a_second_sigterm_stops_the_run_now(running: tuple[subprocess.Popen[bytes], Any, Path]) -> None:
    import psutil

    worker, _, _ = running
    runs = psutil.Process(worker.pid).children(recursive=True)
    assert runs, "the flow run's process"
    os.kill(worker.pid, signal.SIGTERM)
    time.sleep(1)
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=60) == 128 + signal.SIGTERM
    assert not [p for p in runs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_a_pool_of_another_type_is_refused_in_one_line(api: Any) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate

    from flows.worker import PoolTypeError, check_pool

    pool = f"k8s-pool-{uuid.uuid4().hex[:8]}"
    api.create_work_pool(WorkPoolCreate(name=pool, type="kubernetes"))
    try:
        with pytest.raises(
            PoolTypeError, match=f"work pool '{pool}' is of type 'kubernetes'; flatbench worker"
        ):
            check_pool(pool)
        check_pool(f"no-such-pool-{uuid.uuid4().hex[:8]}")  # missing: the worker creates it
    finally:
        api.delete_work_pool(pool)
