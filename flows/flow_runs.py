"""Flow runs left RUNNING by a client that died are marked Crashed by the next command into the run dir.

A client that loses the Prefect API (server killed, network gone) cannot report how its flow run
ended; a client killed with -9 cannot either. The server then shows the flow run as RUNNING forever.
Each benchmark flow run leaves ``<run dir>/.flow-runs/<flow run id>.json`` (pid and host); the next
flow into the same run dir, with the API reachable again, marks every such flow run that is still
running and whose process is gone on this host as Crashed, and forgets the ones that have ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from reports.io import atomic_write_text

MARKER_DIR = ".flow-runs"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def settle_previous(run_dir: Path, current: str | None, log: Callable[[str], None]) -> list[str]:
    """Mark the run dir's earlier flow runs Crashed where their client is gone; returns the ids of the
    earlier flow runs that crashed (marked now, or Crashed already, e.g. when their worker died)."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    crashed: list[str] = []
    folder = run_dir / MARKER_DIR
    if not folder.is_dir():
        return crashed
    with get_client(sync_client=True) as client:
        for marker in sorted(folder.glob("*.json")):
            if marker.stem == current:
                continue
            try:
                info = json.loads(marker.read_text(encoding="utf-8"))
                fr = client.read_flow_run(UUID(marker.stem))
            except Exception:  # unreadable marker or a flow run this API does not know: forget it
                marker.unlink(missing_ok=True)
                continue
            state = fr.state
            if state is not None and state.is_final():
                if state.is_crashed():
                    crashed.append(str(fr.id))
                marker.unlink(missing_ok=True)
                continue
            if info.get("host") != socket.gethostname() or _alive(int(info.get("pid", 0))):
                continue  # another machine's, or its client still runs: not ours to judge
            msg = (
                f"its client (pid {info.get('pid')} on {info.get('host')}) exited without reporting the "
                "end of the run (API unreachable or process killed); marked crashed by the next command "
                f"into {run_dir}"
            )
            client.set_flow_run_state(fr.id, Crashed(message=msg), force=True)
            marker.unlink(missing_ok=True)
            crashed.append(str(fr.id))
            log(f"flow run {fr.name} ({fr.id}) was left {state.name if state else 'without a state'}: {msg}")
    return crashed


def remember(run_dir: Path, flow_run_id: str | None) -> None:
    """Leave this flow run's marker (removed by the next command once the flow run has ended)."""
    if not flow_run_id:
        return
    body = {"pid": os.getpid(), "host": socket.gethostname()}
    with contextlib.suppress(OSError):
        atomic_write_text(run_dir / MARKER_DIR / f"{flow_run_id}.json", json.dumps(body) + "\n")


def running_here(run_dir: Path) -> bool:
    """Whether a flow run into ``run_dir`` still runs in a live process of this host (it will build the
    report itself); a marker of another host cannot be judged, and counts as not running."""
    for marker in (run_dir / MARKER_DIR).glob("*.json"):
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pid = int(info.get("pid") or 0)
        if pid > 0 and info.get("host") == socket.gethostname() and _alive(pid):
            return True
    return False
