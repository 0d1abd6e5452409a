"""Launching runs on a work pool: where they may go, and following each one while it waits for a slot.

A flow that waits on flow runs of the same pool it occupies can starve itself: with one worker of
``--limit 1``, the waiting flow holds the only slot and its runs never start. ``runs_here`` detects that
case before anything is launched (the flow then trains in its own process), and ``follow_flow_run`` says
in the flow log when a launched run has waited for a slot longer than it should.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

WAITING = ("SCHEDULED", "PENDING")  # state types of a flow run that no worker has started yet
POLL_S = 1.0


class RunPlacementError(ValueError):
    """The runs cannot go where the flow was asked to send them; the message says what to change."""


def runs_here(work_pool: str, deployment: str, flow_run_id: str | None) -> tuple[bool, str]:
    """(True, why) when this flow run itself sits on ``work_pool``: its runs would wait for the slot it
    holds, so it should train them in its own process. Raises :class:`RunPlacementError` when
    ``deployment`` is not registered or launches its runs on another pool than ``work_pool``."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            dep = client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            raise RunPlacementError(
                f"deployment {deployment!r} is not registered on this Prefect server: run "
                "`prefect deploy --all` from the flatbench checkout (with FLATBENCH_REPO set)"
            ) from None
        if dep.work_pool_name != work_pool:
            raise RunPlacementError(
                f"runs were asked for on work pool {work_pool!r}, but deployment {deployment!r} launches them "
                f"on work pool {dep.work_pool_name!r}: ask for {dep.work_pool_name!r} (--work-pool, or the "
                f"flow's work_pool), or redeploy it with `prefect deploy --name {deployment.split('/')[-1]} "
                f"--pool {work_pool}`"
            )
        own = client.read_flow_run(UUID(flow_run_id)).work_pool_name if flow_run_id else None
    if own != work_pool:
        return False, ""
    return True, (
        f"this flow run holds a slot of work pool {work_pool!r}, where its runs would go: with one worker "
        f"of --limit 1 they would wait for it forever. Training them here, in this flow run's process. "
        f"Deploy the benchmark flow on another pool (prefect.yaml puts it on cpu-pool) to fan runs out."
    )


def follow_flow_run(
    read: Callable[[], FlowRun],
    *,
    label: str,
    timeout_s: float | None = None,
    warn_after_s: float = 60.0,
    say: Callable[[str], None] = print,
    poll_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> FlowRun:
    """Poll a launched flow run (``read`` returns its latest version) until it reaches a final state or
    ``timeout_s`` passes, and return it. While no worker has started it, say so after ``warn_after_s``
    seconds and again each time the wait doubles, naming the pool and what would free a slot."""
    t0 = clock()
    next_warning = warn_after_s
    while True:
        fr = read()
        state = fr.state
        if state is not None and state.is_final():
            return fr
        waited = clock() - t0
        kind = state.type.name if state is not None else "SCHEDULED"
        if kind in WAITING and waited >= next_warning:
            pool = fr.work_pool_name or "?"
            say(
                f"{label}: flow run {fr.name} has waited {waited:.0f} s for a slot on work pool {pool!r} "
                f"({state.name if state else 'no state'}): every worker of that pool is busy, or none is "
                f"running. It starts when one has a free slot; to add one: "
                f"flatbench worker --pool {pool} --limit 1"
            )
            next_warning = 2 * waited
        if timeout_s is not None and waited >= timeout_s:
            return fr
        sleep(poll_s)


def flow_run_reader(flow_run_id: UUID) -> Callable[[], Any]:
    """``read`` for :func:`follow_flow_run`: the flow run as the API has it now."""
    from prefect.client.orchestration import get_client

    def read() -> Any:
        with get_client(sync_client=True) as client:
            return client.read_flow_run(flow_run_id)

    return read


def cancel_if_waiting(fr: FlowRun, why: str) -> bool:
    """Cancel a launched flow run that no worker has started yet (so it cannot start after its launcher
    gave up on it); returns whether it was cancelled."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    if fr.state is None or fr.state.type.name not in WAITING:
        return False
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(fr.id, Cancelled(message=why), force=True)
    return True
