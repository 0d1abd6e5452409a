"""`flows.worker.serve` with a stand-in for Prefect's ProcessWorker: the exit code follows the signals, not
the order in which the runs' end and the second signal's handling finish (no server needed)."""

from __future__ import annotations

import os
import signal
from typing import Any

import anyio
import pytest

from flows import worker as worker_mod


class _Limiter:
    def __init__(self) -> None:
        self.borrowed_tokens = 1  # one flow run in progress


class _FakeWorker:
    """Holds one run; its ``start`` sends this process SIGTERM twice, as a service manager would."""

    def __init__(self, work_pool_name: str, limit: int, name: str | None) -> None:
        self.name = name or "fake"
        self.limiter = _Limiter()
        self.is_setup = True

    async def get_and_submit_flow_runs(self) -> list[Any]:
        return []

    async def start(self, printer: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await anyio.sleep(0.3)
        os.kill(os.getpid(), signal.SIGTERM)
        await anyio.sleep_forever()


def _serve(monkeypatch: pytest.MonkeyPatch, stop_runs: Any) -> tuple[int, list[str]]:
    import prefect.workers.process

    monkeypatch.setattr(prefect.workers.process, "ProcessWorker", _FakeWorker)
    monkeypatch.setattr(worker_mod, "stop_runs", stop_runs)
    lines: list[str] = []
    code = anyio.run(worker_mod.serve, "pool", 1, "w", lines.append)
    return code, lines


def test_runs_that_end_while_the_second_signal_stops_them_still_exit_with_the_signal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holder: dict[str, Any] = {}
    real_init = _FakeWorker.__init__

    def keep(self: _FakeWorker, *a: Any, **k: Any) -> None:
        real_init(self, *a, **k)
        holder["worker"] = self

    monkeypatch.setattr(_FakeWorker, "__init__", keep)

    async def stop_runs() -> int:
        holder["worker"].limiter.borrowed_tokens = 0  # the run's process ended and its slot was freed ...
        await anyio.sleep(3 * worker_mod.POLL_S)  # ... while the stop still waits for the processes
        return 1

    code, lines = _serve(monkeypatch, stop_runs)
    assert code == 128 + signal.SIGTERM
    assert lines[-1] == "worker 'w': SIGTERM again: stopped 1 flow run process(es); exiting"
    assert not any("its runs have finished" in line for line in lines)


def test_one_signal_drains_and_exits_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    async def start(self: _FakeWorker, printer: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await anyio.sleep(0.2)
        self.limiter.borrowed_tokens = 0  # the run finishes on its own
        await anyio.sleep_forever()

    monkeypatch.setattr(_FakeWorker, "start", start)
    code, lines = _serve(monkeypatch, None)
    assert code == 0
    assert lines[-1] == "worker 'w': its runs have finished; stopped"
