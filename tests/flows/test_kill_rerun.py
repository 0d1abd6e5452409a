"""kill -9 in the middle of the grid, rerun: nothing that finished is recomputed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.benchmark import benchmark
from tests.flows.conftest import FAKE_RUNNER, REPO

SCRIPT = f"""
import sys
from flows.benchmark import benchmark
benchmark(profile="smoke", methods=["lora", "flat_lora"], seeds=[42, 43, 44], out=sys.argv[1],
              runner={FAKE_RUNNER!r}, publish=False)
"""


def _calls(log: Path) -> list[str]:
    return [json.loads(ln)["run_id"] for ln in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.slow  # two cold Prefect starts under load: > 60 s on 2 shared cores
def test_kill_9_mid_grid_then_rerun_skips_finished_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, log = tmp_path / "run", tmp_path / "calls.jsonl"
    env = {**os.environ, "FAKE_RUNNER_LOG": str(log), "FAKE_RUNNER_SLEEP": "1.5", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(out)],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while not list((out / "records").glob("*.json")):
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:] if proc.stdout else ""
            assert time.monotonic() < deadline, "no record appeared within 180 s"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the flow process and its ephemeral API server
        proc.wait(timeout=30)
    done_before = {p.stem for p in (out / "records").glob("*.json")}
    calls_before = _calls(log)
    assert 1 <= len(done_before) < 6, "the kill must land mid-grid"

    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    monkeypatch.setenv("FAKE_RUNNER_SLEEP", "0")
    result = benchmark(
        profile="smoke",
        methods=["lora", "flat_lora"],
        seeds=[42, 43, 44],
        out=str(out),
        runner=FAKE_RUNNER,
        publish=False,
    )
    calls_after = _calls(log)[len(calls_before) :]
    assert not done_before & set(calls_after), "a finished run was recomputed"
    assert len(calls_after) == 6 - len(done_before)
    assert result["n_cached"] + result["n_disk"] == len(done_before)
    assert result["n_computed"] == 6 - len(done_before)
    assert len(list((out / "records").glob("*.json"))) == 6
    assert (out / "report.md").is_file()
