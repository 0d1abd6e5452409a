"""A Prefect process worker that a SIGTERM stops cleanly: no new runs, the current ones finish, then exit.

``prefect worker start`` (Prefect 3.9) turns its first SIGTERM or SIGINT into a SIGINT to itself that its
event loop absorbs: the worker goes on polling and starts new runs, and only a second signal ends it, by
SIGKILL, leaving its runs' processes behind. A service manager (systemd, Kubernetes, a batch scheduler)
that sends one SIGTERM and waits therefore never sees it exit. ``serve`` runs Prefect's own
``ProcessWorker`` (same pools, job template, heartbeats and cancellation) with the signals handled here:

- the first SIGTERM, SIGINT or SIGHUP stops the polling; the flow runs in progress finish and report
  their states, then the worker exits 0;
- a second one stops now: the flow runs' processes get SIGTERM (Prefect marks them Crashed; every
  finished training run's record is already on disk) and the worker exits 128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable
from typing import Any

DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
POLL_S = 0.5
STOP_WAIT_S = 10.0  # how long the flow runs' processes get to end on SIGTERM before SIGKILL


class PoolTypeError(ValueError):
    """The pool exists with a type this worker cannot run; the message says which command can."""


def check_pool(pool: str) -> None:
    """Refuse a pool of another type than ``process`` (a missing one is created, as Prefect's worker does)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            kind = client.read_work_pool(pool).type
        except ObjectNotFound:
            return
    if kind != "process":
        raise PoolTypeError(
            f"work pool {pool!r} is of type {kind!r}; flatbench worker runs process pools only: "
            f"start this pool's worker with `prefect worker start --pool {pool}`"
        )


def _running(proc: Any) -> bool:
    import psutil

    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


async def stop_runs(timeout_s: float = STOP_WAIT_S) -> int:
    """SIGTERM to the flow runs' processes (this process's children: Prefect's engine marks each run
    Crashed), SIGKILL to whatever of them or theirs is left after ``timeout_s``; returns how many runs.
    They are not reaped here: the worker's event loop waits for its own children."""
    import anyio
    import psutil

    me = psutil.Process()
    runs, everything = me.children(), me.children(recursive=True)
    for proc in runs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    with anyio.move_on_after(timeout_s):
        while any(_running(p) for p in runs):
            await anyio.sleep(0.2)
    for proc in everything:
        if _running(proc):
            with contextlib.suppress(psutil.Error):
                proc.kill()
    return len(runs)


async def serve(pool: str, limit: int, name: str | None, say: Callable[[str], None]) -> int:
    """Run a process worker on ``pool`` (at most ``limit`` flow runs at once) until a signal; returns the
    exit code (0 after a drain, 128 + N when a second signal stopped it)."""
    import anyio
    from prefect.workers.process import ProcessWorker

    worker = ProcessWorker(work_pool_name=pool, limit=limit, name=name)
    state: dict[str, Any] = {"draining": False, "polling": 0, "code": 0, "error": None}
    poll = worker.get_and_submit_flow_runs

    async def poll_unless_draining() -> list[Any]:
        if state["draining"]:
            return []
        state["polling"] += 1
        try:
            return await poll()
        finally:
            state["polling"] -= 1

    worker.get_and_submit_flow_runs = poll_unless_draining  # type: ignore[method-assign]

    async def finish_then_stop(scope: anyio.CancelScope) -> None:
        # a poll in progress may still take a run: it counts once the poll has returned
        while state["polling"] or worker.limiter.borrowed_tokens:
            await anyio.sleep(POLL_S)
        if state["code"]:  # a second signal is stopping the runs: their end is not a drain
            return
        say(f"worker {worker.name!r}: its runs have finished; stopped")
        scope.cancel()

    async with anyio.create_task_group() as tg:

        async def run_worker() -> None:
            try:
                await worker.start(printer=say)
            except Exception as exc:  # raised below as itself, not inside an exception group
                state["error"] = exc
            tg.cancel_scope.cancel()  # it ended on its own

        tg.start_soon(run_worker)
        with anyio.open_signal_receiver(*DRAIN_SIGNALS) as signals:
            async for signum in signals:
                sig = signal.Signals(signum).name
                if not state["draining"]:
                    state["draining"] = True
                    busy = worker.limiter.borrowed_tokens if worker.is_setup else 0
                    say(
                        f"worker {worker.name!r}: {sig}: taking no new runs; {busy} flow run(s) in progress "
                        "finish first, then it exits (send it again to stop them now)"
                    )
                    tg.start_soon(finish_then_stop, tg.cancel_scope)
                    continue
                state["code"] = 128 + signum  # before the wait: the runs' end must not read as a drain
                with anyio.CancelScope(shield=True):
                    n = await stop_runs()
                say(f"worker {worker.name!r}: {sig} again: stopped {n} flow run process(es); exiting")
                tg.cancel_scope.cancel()
                break
    if state["error"] is not None:
        raise state["error"]
    return int(state["code"])
