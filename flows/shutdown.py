"""How a flatbench command ends early: stopped by a signal, or told to stop by a watchdog.

SIGTERM and SIGHUP (a terminal closing, `kill`, a scheduler's time limit) end a command with 128 + the
signal's number, as a shell expects, after stopping every process the command started: the embedded
Prefect server (Python's default would leave it running, its port open) and the processes that train
runs. The last line says where finished work is kept (``set_kept``). Records and answers are written
atomically as they finish, so exiting at once loses no finished work.

Prefect's flow engine puts a SIGTERM handler of its own in place while a flow runs, which waits for the
runs in progress before it ends the flow; a flow started by a flatbench command calls ``reclaim_signals``
to put this one back. Under a Prefect worker (no flatbench command) that call does nothing, so Prefect's
own cancellation keeps working there. No Prefect is imported here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

__all__ = ["END_SIGNALS", "end_now", "exit_on_signals", "reclaim_signals", "set_kept", "stop_children"]

# the signals a terminal, `kill` or a scheduler end a command with; each ends it with 128 + its number
END_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_STATE = {"kept": "", "stopping": "", "installed": ""}


def set_kept(message: str) -> None:
    """What a command stopped early keeps and how to go on (said on its last line)."""
    _STATE["kept"] = message


def stop_children(timeout_s: float = 3.0) -> int:
    """Terminate every process this one started (the embedded Prefect server, run processes), then kill
    what is still there after ``timeout_s``; returns how many there were. A process left behind would
    hold its port and memory after the command has exited."""
    import psutil

    try:
        kids = psutil.Process().children(recursive=True)
    except psutil.Error:
        return 0
    for k in kids:
        with contextlib.suppress(psutil.Error):
            k.terminate()
    _, alive = psutil.wait_procs(kids, timeout=timeout_s)
    for k in alive:
        with contextlib.suppress(psutil.Error):
            k.kill()
    psutil.wait_procs(alive, timeout=timeout_s)
    return len(kids)


def end_now(code: int, line: str) -> None:
    """Stop what the command started, write ``line`` to stderr and exit at once with ``code`` (no
    exit-time retries of Prefect events and logs that have nowhere to go). Only the first call acts."""
    if _STATE["stopping"]:
        return
    _STATE["stopping"] = line
    stop_children()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    os._exit(code)


def _on_signal(signum: int, _frame: object) -> None:
    kept = f" {_STATE['kept']}" if _STATE["kept"] else ""
    end_now(128 + signum, f"stopped by {signal.Signals(signum).name}.{kept}")


def exit_on_signals() -> None:
    """SIGTERM and SIGHUP stop what the command started and exit 143 / 129 (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in END_SIGNALS:
        signal.signal(sig, _on_signal)
    _STATE["installed"] = "yes"


def reclaim_signals() -> None:
    """Inside a flow: put back the handlers a flatbench command installed (Prefect's flow engine replaces
    SIGTERM's with one that first waits for the runs in progress). Does nothing anywhere else."""
    if _STATE["installed"] and threading.current_thread() is threading.main_thread():
        for sig in END_SIGNALS:
            signal.signal(sig, _on_signal)
