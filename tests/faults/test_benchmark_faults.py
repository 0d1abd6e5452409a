"""The benchmark flow under faults on its run dir: Prefect's cache never outvotes the records on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.benchmark import benchmark
from tests.faults.conftest import readonly_dir
from tests.flows.conftest import FAKE_RUNNER, REPO

GRID = {"profile": "smoke", "methods": ["lora", "flat_lora"], "seeds": [42, 43], "runner": FAKE_RUNNER}


def _calls(log: Path) -> list[str]:
    return [json.loads(ln)["run_id"] for ln in log.read_text().splitlines()] if log.exists() else []


def test_corrupt_and_deleted_records_are_retrained_despite_the_prefect_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Truncated, random bytes, no `test` key, deleted: with Prefect's cache still holding all four
    runs, the rerun trains exactly these four again and the report shows all four runs."""
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    out = tmp_path / "run"
    first = benchmark(out=str(out), publish=False, **GRID)
    assert first["n_computed"] == 4
    recs = sorted((out / "records").glob("*.json"))
    good = {p.name: p.read_bytes() for p in recs}
    truncated, garbage, no_test, deleted = recs
    truncated.write_bytes(good[truncated.name][: len(good[truncated.name]) // 2])
    garbage.write_bytes(os.urandom(4096))
    no_test.write_text(json.dumps({k: v for k, v in json.loads(good[no_test.name]).items() if k != "test"}))
    deleted.unlink()

    second = benchmark(out=str(out), publish=False, **GRID)
    assert (second["n_computed"], second["n_cached"], second["n_errors"]) == (4, 0, 0)
    assert sorted(_calls(log)[4:]) == sorted(p.stem for p in recs)
    assert {p.name: p.read_bytes() for p in sorted((out / "records").glob("*.json"))} == good
    moved = sorted(p.name for p in (out / "records" / ".corrupt").iterdir())
    assert moved == sorted(p.name for p in (truncated, garbage, no_test))
    summary = (out / "summary.json").read_text()
    assert all(p.stem in summary for p in recs)

    third = benchmark(out=str(out), publish=False, **GRID)  # and now the cache is trusted again
    assert (third["n_cached"], third["n_computed"]) == (4, 0)
    assert len(_calls(log)) == 8


def test_unwritable_records_fail_at_once_without_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    out = tmp_path / "run"
    (out / "records").mkdir(parents=True)
    t0 = time.monotonic()
    with readonly_dir(out / "records"), pytest.raises(OSError, match="records is not writable"):
        benchmark(out=str(out), publish=False, **GRID)
    assert _calls(log) == []
    assert time.monotonic() - t0 < 60


def test_records_saved_to_the_fallback_folder_are_the_last_lines_and_come_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every run trained, but no record could be written into records/: the grid ends saying, run by
    run, where each record was saved, and that no report was built (not `no run records` alone). The
    next command copies them back instead of training again."""
    from flows.cli_bench import last_lines

    monkeypatch.setenv("FLATBENCH_FALLBACK_DIR", str(tmp_path / "fallback"))
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    out = tmp_path / "run"
    grid = {**GRID, "methods": ["lora"], "out": str(out), "publish": False}
    result = benchmark(**{**grid, "runner": "tests.faults.unwritable_runner:run_one"})
    assert (result["n_errors"], result["report"]) == (2, None)
    lines = last_lines(result, out)
    assert len(lines) == 3 and len(_calls(log)) == 2
    for line in lines[:2]:
        assert line.startswith("run fpb_50agree/lora/s4") and "errored" in line
        assert f"the record was saved to {tmp_path / 'fallback'}" in line and "rerun" in line
    assert lines[2] == (
        f"error: the report was not rebuilt: no run records in {out.resolve() / 'records'}. "
        f"{out.resolve() / 'report.md'} was not written."
    )

    again = benchmark(**grid)  # records/ is writable again: the saved records come back, nothing trains
    assert (again["n_errors"], again["n_computed"], len(_calls(log))) == (0, 0, 2)
    assert again["report"] and last_lines(again, out) == []
    assert len(list((out / "records").glob("*.json"))) == 2


def test_a_report_that_cannot_be_rebuilt_says_the_old_one_is_stale(tmp_path: Path) -> None:
    """A record of an earlier `--set lr=...` makes the report refuse to pool the rates: the command ends
    saying why, and that report.md in the folder is the earlier one, kept as it was."""
    from flows.cli_bench import last_lines

    out = tmp_path / "run"
    grid = {**GRID, "methods": ["lora"], "out": str(out), "publish": False}
    first = benchmark(**grid)
    report = Path(first["report"]).read_bytes()
    second = benchmark(**grid, overrides={"lr": 1e-3})
    assert (second["n_computed"], second["n_errors"], second["report"]) == (2, 0, None)
    (line,) = last_lines(second, out)
    assert line.startswith("error: the report was not rebuilt: ") and "learning rate" in line
    assert f"{out.resolve() / 'report.md'} is stale: it was kept as built at " in line
    assert (out / "report.md").read_bytes() == report


SCRIPT = f"""
import sys
from flows.benchmark import benchmark
r = benchmark(profile="smoke", methods=["lora", "flat_lora"], seeds=[42, 43], out=sys.argv[1],
              runner={FAKE_RUNNER!r}, publish=False, parallel=2)
print("RESULT", r["n_computed"], r["n_disk"], r["n_cached"], r["n_errors"])
"""


@pytest.mark.slow  # two flows at once, each with its own Prefect client: ~1 min on 2 shared cores
def test_two_benchmarks_into_one_run_dir_train_each_run_once(tmp_path: Path) -> None:
    log, out = tmp_path / "calls.jsonl", tmp_path / "run"
    env = {**os.environ, "FAKE_RUNNER_LOG": str(log), "FAKE_RUNNER_SLEEP": "3", "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(out)], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    calls = _calls(log)
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 4, calls
    assert len(list((out / "records").glob("*.json"))) == 4


KILLED = f"""
import sys
from flows.benchmark import benchmark
benchmark(profile="smoke", methods=["lora"], seeds=[42, 43, 44], out=sys.argv[1], runner={FAKE_RUNNER!r},
          publish=False)
"""


@pytest.mark.slow  # a client killed mid-grid, then a rerun: ~1 min on 2 shared cores
def test_a_flow_run_whose_client_died_is_marked_crashed_by_the_next_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal
    from uuid import UUID

    from prefect.client.orchestration import get_client

    out = tmp_path / "run"
    env = {**os.environ, "FAKE_RUNNER_SLEEP": "2", "PYTHONPATH": str(REPO)}
    with (tmp_path / "client.log").open("w") as client_log:
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED, str(out)], cwd=REPO, env=env, start_new_session=True,
            stdout=client_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 480
        while not list((out / "records").glob("*.json")):
            assert proc.poll() is None, (tmp_path / "client.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "client.log").read_text()[-3000:]
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    (killed,) = [p.stem for p in (out / ".flow-runs").glob("*.json")]
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(UUID(killed)).state.is_running()

    result = benchmark(profile="smoke", methods=["lora"], seeds=[42, 43, 44], out=str(out),
                       runner=FAKE_RUNNER, publish=False)  # fmt: skip
    assert result["n_errors"] == 0
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(killed)).state
    assert state.is_crashed() and "exited without reporting" in state.message
    assert not (out / ".flow-runs" / f"{killed}.json").exists()


LOST = f"""
import sys
from flows.benchmark import benchmark
from flows.cli_common import exit_at_once_if_api_lost
with exit_at_once_if_api_lost("Finished runs are kept in " + sys.argv[1] + "."):
    benchmark(profile="smoke", methods=["lora"], seeds=list(range(40, 48)), out=sys.argv[1],
              runner={FAKE_RUNNER!r}, publish=False)
"""


def _start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_API_HOST": "127.0.0.1",
           "PREFECT_UI_ENABLED": "false"}  # fmt: skip
    env.pop("PREFECT_API_URL", None)
    with (home / f"server-{time.monotonic_ns()}.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    import httpx

    deadline = time.monotonic() + 600
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).raise_for_status()
            return proc
        except httpx.HTTPError:
            assert proc.poll() is None and time.monotonic() < deadline, "prefect server did not start"
            time.sleep(0.5)


@pytest.mark.slow  # two server starts and a killed server: ~4 min on 2 shared cores
def test_a_lost_api_is_noticed_within_a_minute_and_the_next_command_marks_its_flow_run_crashed(
    tmp_path: Path,
) -> None:
    import signal
    import socket

    import httpx

    home = tmp_path / "prefect"
    home.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api"
    out = tmp_path / "run"
    # 8 runs of 10 s: when the server is killed after the first one, 70 s of runs are still to go
    env = {**os.environ, "FAKE_RUNNER_SLEEP": "10", "PYTHONPATH": str(REPO), "PREFECT_HOME": str(home),
           "PREFECT_API_URL": api}  # fmt: skip
    server = _start_server(home, port)
    try:
        client = subprocess.Popen(
            [sys.executable, "-c", LOST, str(out)], cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 480
        while not list((out / "records").glob("*.json")):
            assert client.poll() is None and time.monotonic() < deadline, client.communicate()
            time.sleep(0.2)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    killed_at = time.monotonic()
    _, err = client.communicate(timeout=600)
    took = time.monotonic() - killed_at
    assert client.returncode == 3, err[-3000:]
    (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert api in line and f"kept in {out}" in line and "rerun" in line and "refuses connections" in line
    # noticed while the grid still runs (3 refused health checks 10 s apart), not after it
    assert took < 60, (took, err[-2000:])
    kept = len(list((out / "records").glob("*.json")))
    assert 1 <= kept < 8  # the runs finished before are kept
    (lost,) = [p.stem for p in (out / ".flow-runs").glob("*.json")]

    server = _start_server(home, port)  # the API comes back; the next command settles the lost run
    try:
        rerun = subprocess.run(
            [sys.executable, "-c", LOST, str(out)], cwd=REPO, env=env, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        state = httpx.get(f"{api}/flow_runs/{lost}", timeout=10).json()["state"]
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    assert state["type"] == "CRASHED" and "exited without reporting" in state["message"]
    assert len(list((out / "records").glob("*.json"))) == 8
