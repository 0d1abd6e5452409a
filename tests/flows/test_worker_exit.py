"""A flow run whose worker is killed finishes its work instead of dying at its next printed line.

The stand-in worker starts the "flow run" with its stdout and stderr on pipes, as Prefect's process
worker does, and is then killed with SIGKILL. The flow run prints through rich's console afterwards, as
Prefect's log handler does; a closed pipe there raises SystemExit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flows.conftest import REPO

WORKER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
print(child.pid, flush=True)
time.sleep(120)
"""

FLOW_RUN = """
import json, os, sys, time
from pathlib import Path
from rich.console import Console
out, adopt = Path(sys.argv[1]), sys.argv[2] == "1"
if adopt:
    from flows.worker_exit import adopt_output, orphaned
    adopt_output(out / "flow-run.log")
worker = os.getppid()
Console().print("started")
(out / "ready").write_text("")
while os.getppid() == worker:  # until the worker is gone
    time.sleep(0.05)
for i in range(50):  # the training goes on and logs
    Console().print(f"step {i}")
    Console(stderr=True).print(f"warning {i}")
(out / "done.json").write_text(json.dumps(orphaned() if adopt else {}))
"""


def _kill_worker_mid_run(tmp_path: Path, adopt: bool) -> tuple[Path, int]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PREFECT__WORKER_NAME": "stand-in"}
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, FLOW_RUN, str(tmp_path), "1" if adopt else "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert worker.stdout is not None
    child = int(worker.stdout.readline())
    deadline = time.monotonic() + 60
    while not (tmp_path / "ready").exists():
        assert time.monotonic() < deadline, "the flow run did not start"
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    deadline = time.monotonic() + 60
    while _alive(child):
        assert time.monotonic() < deadline, "the flow run did not end"
        time.sleep(0.05)
    return tmp_path, child


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_without_the_relay_the_worker_s_death_ends_the_run(tmp_path: Path) -> None:
    """The failure the relay exists for: the first line printed after the worker died ends the run."""
    out, _ = _kill_worker_mid_run(tmp_path, adopt=False)
    assert not (out / "done.json").exists()


def test_the_relay_keeps_the_run_going_and_names_what_happened(tmp_path: Path) -> None:
    out, _ = _kill_worker_mid_run(tmp_path, adopt=True)
    info = json.loads((out / "done.json").read_text())
    assert info["output"] == str(out / "flow-run.log") and info["worker_pid"] > 1
    assert info["noticed_at"].endswith("+00:00")
    log = (out / "flow-run.log").read_text()
    assert "step 49" in log and "warning 49" in log  # what was printed after the worker died is kept


def test_no_relay_outside_a_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`flatbench benchmark | tee log` has a pipe too, but whoever reads it decides, as before."""
    from flows.worker_exit import WORKER_ENV, adopt_output, orphaned

    monkeypatch.delenv(WORKER_ENV, raising=False)
    assert adopt_output(tmp_path / "x.log") is False and orphaned() is None


def test_the_worker_s_name_is_in_the_sidecar(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prefect's worker gives the flow runs it starts its name; FLATBENCH_WORKER_NAME overrides it."""
    from tasks.train import worker_identity

    monkeypatch.delenv("FLATBENCH_WORKER_NAME", raising=False)
    monkeypatch.setenv("PREFECT__WORKER_NAME", "gpu-box-0")
    assert worker_identity()["worker"] == "gpu-box-0"
    monkeypatch.setenv("FLATBENCH_WORKER_NAME", "gpu0")
    assert worker_identity()["worker"] == "gpu0"
