"""SIGTERM and SIGHUP end a command as the shell expects (exit 128 + the signal's number) and take down
what it started: the embedded Prefect server (its port closes) and the processes that train runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.flows.conftest import REPO

SIGNALS = [signal.SIGTERM, signal.SIGHUP]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _gone(pids: list[int], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
            return True
        time.sleep(0.1)
    return False


CHILD = (
    "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
    "print(s.getsockname()[1], flush=True); time.sleep(600)"
)
COMMAND = f"""
import subprocess, sys, time
from flows.shutdown import exit_on_signals, set_kept
exit_on_signals()
set_kept("Finished runs are kept in runs/x/records.")
child = subprocess.Popen([sys.executable, "-c", {CHILD!r}], stdout=subprocess.PIPE, text=True)
print(child.pid, child.stdout.readline().strip(), flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_signal_stops_what_the_command_started_and_exits_with_its_code(sig: signal.Signals) -> None:
    """A command holding a child that listens on a port (as the embedded Prefect server does)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", COMMAND], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    child_pid, port = (int(x) for x in proc.stdout.readline().split())
    assert _port_open(port)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert err.strip().splitlines()[-1] == f"stopped by {sig.name}. Finished runs are kept in runs/x/records."
    assert _gone([child_pid]) and not _port_open(port)


def _embedded_server_port(root: psutil.Process) -> int | None:
    for p in root.children(recursive=True):
        try:
            if "uvicorn" in " ".join(p.cmdline()):
                conns = [c for c in p.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
                if conns:
                    return int(conns[0].laddr.port)
        except psutil.Error:
            continue
    return None


@pytest.mark.slow  # starts the embedded Prefect server and the grid's run processes: ~2 min per signal
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_benchmark_stopped_by_a_signal_leaves_no_server_and_no_run_process(
    tmp_path: Path, sig: signal.Signals
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PREFECT_HOME": str(tmp_path / "prefect"),
           "FLATBENCH_THREADS": "1"}  # fmt: skip
    env.pop("PREFECT_API_URL", None)  # the embedded (ephemeral) server, started by the command itself
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "flows.cli", "benchmark", "--profile", "smoke", "--method", "lora",
           "--seeds", "1,2,3,4", "--parallel", "2", "--no-progress", "--out", str(out)]  # fmt: skip
    with (tmp_path / "cli.log").open("w") as log:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    root = psutil.Process(proc.pid)
    deadline = time.monotonic() + 480
    port = None
    # wait for the server and for the grid's run processes (spawned, one per run, two at a time)
    while port is None or len(root.children(recursive=True)) < 3 or not (out / "manifest.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "cli.log").read_text()[-3000:]
        port = port or _embedded_server_port(root)
        time.sleep(0.5)
    started = [p.pid for p in root.children(recursive=True)]
    assert _port_open(port)
    t0 = time.monotonic()
    proc.send_signal(sig)
    assert proc.wait(timeout=120) == 128 + sig, (tmp_path / "cli.log").read_text()[-3000:]
    assert time.monotonic() - t0 < 30  # at once, not when the runs in progress have finished
    last = (tmp_path / "cli.log").read_text().strip().splitlines()[-1]
    assert last.startswith(f"stopped by {sig.name}. Finished runs are kept in {out.resolve() / 'records'}")
    assert _gone(started), [p for p in started if psutil.pid_exists(p)]
    assert not _port_open(port)
