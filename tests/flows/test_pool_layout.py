"""Runs launched on a work pool: a flow never waits on its own slot, and a run waiting for a worker is
named in the log after a bounded time."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prefect.states import Completed, Late, Running, Scheduled

from tasks.remote import RunPlacementError, follow_flow_run, runs_here
from tasks.train import config_hash, remote_run_task, run_spec


def _fr(state: Any) -> Any:
    return SimpleNamespace(state=state, name="lazy-cat", work_pool_name="gpu-pool")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def test_a_run_waiting_for_a_slot_is_named_then_less_and_less_often() -> None:
    clock, said = FakeClock(), []
    states = iter([Scheduled()] * 30 + [Late()] * 100 + [Running()] * 20 + [Completed()])
    fr = follow_flow_run(
        lambda: _fr(next(states)), label="fpb/lora/s42", warn_after_s=10, say=said.append,
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    assert fr.state.is_completed()
    assert [int(s.split("waited ")[1].split(" s")[0]) for s in said] == [10, 20, 40, 80]
    assert (
        "fpb/lora/s42: flow run lazy-cat has waited 10 s for a slot on work pool 'gpu-pool' (Scheduled)"
        in said[0]
    )
    assert "(Late)" in said[-1] and "flatbench worker --pool gpu-pool --limit 1" in said[-1]


def test_a_running_run_is_not_said_to_wait_and_the_timeout_holds() -> None:
    clock, said = FakeClock(), []
    fr = follow_flow_run(
        lambda: _fr(Running()), label="x", timeout_s=50, warn_after_s=1, say=said.append,
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    assert said == [] and fr.state.is_running() and clock.now == 50


# ------------------------------------------------------------------- against the Prefect server


@pytest.fixture
def api() -> Any:
    if not os.environ.get("PREFECT_API_URL"):
        pytest.skip("PREFECT_API_URL is not set (run under .ci/with-prefect-server)")
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        yield client


@pytest.fixture
def pool_deployment(api: Any) -> Iterator[tuple[str, str]]:
    """A train-run deployment on a fresh pool that no worker polls: (pool, deployment name)."""
    from prefect.client.schemas.actions import WorkPoolCreate

    from flows.train_run import train_run

    pool = f"test-pool-{uuid.uuid4().hex[:8]}"
    api.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    flow_id = api.create_flow(train_run)
    dep_id = api.create_deployment(
        flow_id=flow_id, name=pool, work_pool_name=pool, entrypoint="flows/train_run.py:train_run"
    )
    yield pool, f"train-run/{pool}"
    api.delete_deployment(dep_id)
    api.delete_work_pool(pool)


def test_a_flow_on_the_pool_of_its_runs_trains_them_itself(
    api: Any, pool_deployment: tuple[str, str]
) -> None:
    pool, deployment = pool_deployment
    dep = api.read_deployment_by_name(deployment)
    on_pool = api.create_flow_run_from_deployment(dep.id)  # stands for a benchmark flow run on that pool
    here, why = runs_here(pool, deployment, str(on_pool.id))
    assert here and f"holds a slot of work pool {pool!r}" in why and "cpu-pool" in why
    assert runs_here(pool, deployment, None) == (False, "")  # e.g. `flatbench benchmark --work-pool`
    api.delete_flow_run(on_pool.id)


def test_a_pool_the_deployment_does_not_use_or_a_missing_deployment_is_refused(
    api: Any, pool_deployment: tuple[str, str]
) -> None:
    pool, deployment = pool_deployment
    with pytest.raises(
        RunPlacementError, match=f"launches them on work pool {pool!r}: ask for {pool!r} \\(--work-pool"
    ):
        runs_here("other-pool", deployment, None)
    with pytest.raises(
        RunPlacementError, match="is not registered on this Prefect server: run `prefect deploy"
    ):
        runs_here(pool, "train-run/no-such-deployment", None)


def test_a_launched_run_without_a_worker_is_named_in_the_log(
    api: Any, pool_deployment: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool, deployment = pool_deployment
    spec = run_spec("smoke", "fpb_50agree", "lora", 42)
    with pytest.raises(
        RuntimeError, match=r"did not finish within 4 s \((Scheduled|Late)\); cancelled"
    ) as err:
        remote_run_task.fn(
            spec, config_hash(spec), str(tmp_path), deployment=deployment, timeout_s=4, slot_wait_warn_s=1
        )
    flow_run_id = str(err.value).split()[3]
    assert api.read_flow_run(uuid.UUID(flow_run_id)).state.name == "Cancelled"  # it cannot start later
    out = capsys.readouterr().out
    assert "fpb_50agree/lora/s42: flow run " in out and f"for a slot on work pool {pool!r}" in out


def test_the_cli_says_a_placement_error_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    from flows.cli_common import friendly_errors

    @friendly_errors
    def command() -> None:
        raise RunPlacementError("runs were asked for on work pool 'x', but ...")

    with pytest.raises(typer.Exit) as done:
        command()
    assert done.value.exit_code == 2
    assert capsys.readouterr().err == "error: runs were asked for on work pool 'x', but ...\n"
