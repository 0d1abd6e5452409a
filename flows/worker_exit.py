"""A flow run started by a Prefect worker finishes its work when that worker dies.

The process worker reads each flow run's stdout and stderr through pipes. When the worker is killed
(``kill -9``, the OOM killer), the flow run goes on, and the next line it prints meets a closed pipe:
rich's console turns the broken pipe into ``SystemExit`` and the run ends "Crashed: Execution was
aborted by Python system exit call", after its training may already have finished, and before it says
who ran it. ``adopt_output`` puts a relay between the flow run and those pipes: while the worker lives,
every byte goes through unchanged; once the worker is gone, the output goes to a log file and the run
finishes normally. ``orphaned`` then names what happened, for the run's sidecar and the flow log.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass
class _Relay:
    worker_pid: int
    log_path: Path
    lost_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    sink: Any = None
    threads: list[threading.Thread] = field(default_factory=list)
    restore: list[tuple[int, int]] = field(default_factory=list)  # (fd, saved copy of the original)

    def write_aside(self, chunk: bytes) -> None:
        with self.lock:
            if self.lost_at is None:
                self.lost_at = time.time()
            if self.sink is None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self.sink = self.log_path.open("ab")
            self.sink.write(chunk)
            self.sink.flush()


_RELAY: dict[str, _Relay] = {}
WORKER_ENV = "PREFECT__WORKER_NAME"  # set by Prefect's worker in the flow runs it starts


def _is_pipe(fd: int) -> bool:
    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False


def _pump(src: int, dst: int, relay: _Relay) -> None:
    alive = True
    while chunk := os.read(src, 65536):
        if alive:
            try:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(dst, view) :]
                continue
            except OSError:  # the reader (the worker) is gone: EPIPE
                alive = False
                chunk = bytes(view)
        with contextlib.suppress(OSError):
            relay.write_aside(chunk)
    os.close(src)


def _drain() -> None:
    """At exit: hand the original pipes back, so the relays see the end of their input and finish."""
    relay = _RELAY.get("on")
    if relay is None:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    worker_alive = relay.lost_at is None and os.getppid() == relay.worker_pid
    for fd, saved in relay.restore:
        with contextlib.suppress(OSError):
            if worker_alive:
                os.dup2(saved, fd)
            else:  # the last lines go where the rest went since the worker died
                relay.log_path.parent.mkdir(parents=True, exist_ok=True)
                aside = os.open(relay.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.dup2(aside, fd)
                os.close(aside)
    for t in relay.threads:
        t.join(timeout=5)


def adopt_output(log_path: Path) -> bool:
    """In a flow run started by a Prefect worker, relay this process's stdout and stderr (pipes the
    worker reads), so that the worker's death cannot end the run; output after that goes to
    ``log_path``. Returns whether a relay is in place: not outside a worker (a terminal, a shell pipe,
    a test), where whoever reads the output decides what happens when they stop."""
    if "on" in _RELAY:
        return True
    if not os.environ.get(WORKER_ENV):
        return False
    fds = [fd for fd in (1, 2) if _is_pipe(fd)]
    if not fds:
        return False
    relay = _Relay(worker_pid=os.getppid(), log_path=log_path)
    for fd in (1, 2):
        if fd not in fds:
            continue
        with contextlib.suppress(Exception):
            (sys.stdout if fd == 1 else sys.stderr).flush()
        original = os.dup(fd)
        read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        t = threading.Thread(target=_pump, args=(read_end, original, relay), daemon=True, name=f"relay-{fd}")
        t.start()
        relay.threads.append(t)
        relay.restore.append((fd, original))
    _RELAY["on"] = relay
    atexit.register(_drain)
    return True


def orphaned() -> dict[str, Any] | None:
    """When the worker that started this process has exited: its pid, when that was noticed, and where
    the output went since; None while it lives (or when no relay was needed)."""
    relay = _RELAY.get("on")
    if relay is None:
        return None
    gone = relay.lost_at is not None or os.getppid() != relay.worker_pid
    if not gone:
        return None
    noticed = datetime.fromtimestamp(relay.lost_at or time.time(), tz=UTC)
    return {
        "worker_pid": relay.worker_pid,
        "noticed_at": noticed.isoformat(timespec="seconds"),
        "output": str(relay.log_path),
    }


def orphan_note(info: dict[str, Any]) -> str:
    """One line for the flow log."""
    return (
        f"the worker that started this flow run (pid {info['worker_pid']}) has exited; the run went on "
        f"unattended in pid {os.getpid()} and finished; its output since then is in {info['output']}"
    )
