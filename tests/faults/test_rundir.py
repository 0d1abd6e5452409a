"""Run dirs under faults, without Prefect: which records may be reused, what is moved aside, who trains.

Each case injects a fault the way a machine produces it (a truncated or overwritten file, a read-only
or full filesystem, a second process on the same run, a process killed while holding a run) and
checks that nothing is lost, nothing is trained twice and nothing wrong is reused silently.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from flatlora.bench.config import resolve_config
from flatlora.bench.data import FPB_SHA256
from flatlora.bench.records import record_path
from tests.faults.conftest import readonly_dir
from tests.reports.factory import make_record

CFG = resolve_config("smoke", method="lora", seed=42)


def _record(cfg: Any = CFG, **over: Any) -> dict[str, Any]:
    """A complete record of ``cfg``, trained on the Financial PhraseBank file as it is (its checksum)."""
    rec = make_record(cfg.dataset_slug(), cfg.method, cfg.seed, profile=cfg.profile)
    rec["dataset_info"] = {**rec["dataset_info"], "checksum": FPB_SHA256["50agree"]}
    rec.update({"config": cfg.to_dict(), "config_hash": cfg.config_hash(), **over})
    return rec


def _write(path: Path, data: bytes | dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())


GOOD = json.dumps(_record()).encode()
NO_TEST = {k: v for k, v in _record().items() if k != "test"}

# (name, file content, reused?, moved aside?, problem named in the log)
RECORD_CASES = [
    ("ok", GOOD, True, False, None),
    ("truncated to half", GOOD[: len(GOOD) // 2], False, True, "not valid JSON"),
    ("random bytes", bytes(range(256)) * 8, False, True, "not UTF-8"),
    ("no `test` key", NO_TEST, False, True, "missing key(s) test"),
    ("`test` is null", _record(test=None), False, True, "`test` is NoneType"),
    ("another config's hash", _record(config_hash="f" * 64), False, True, "config hash"),
    ("a JSON list", b"[1, 2]", False, True, "not a JSON object"),
    ("failed run", _record(status="failed", failure_reason="training diverged"), False, False, None),
]


@pytest.mark.parametrize(("name", "content", "reused", "moved", "problem"), RECORD_CASES)
def test_only_a_complete_ok_record_of_this_config_is_reused(
    tmp_path: Path, name: str, content: Any, reused: bool, moved: bool, problem: str | None
) -> None:
    from flatlora.bench.rundir import reusable_record

    path = record_path(CFG, tmp_path)
    _write(path, content)
    logs: list[str] = []
    rec = reusable_record(path, CFG.config_hash(), log=logs.append)
    assert (rec is not None) is reused
    corrupt = path.parent / ".corrupt" / path.name
    assert corrupt.is_file() is moved
    assert path.exists() is not moved
    if moved:  # nothing lost: the bad bytes are kept, byte for byte, and the log names both paths
        raw = content if isinstance(content, bytes) else json.dumps(content).encode()
        assert corrupt.read_bytes() == raw
        assert len(logs) == 1 and str(path) in logs[0] and str(corrupt) in logs[0]
        assert problem in logs[0]
    else:
        assert logs == []


def test_a_second_bad_copy_does_not_overwrite_the_first(tmp_path: Path) -> None:
    from flatlora.bench.rundir import reusable_record

    path = record_path(CFG, tmp_path)
    for content in (b"{", b"[]"):
        _write(path, content)
        assert reusable_record(path, CFG.config_hash()) is None
    kept = sorted(p.read_bytes() for p in (path.parent / ".corrupt").iterdir())
    assert kept == [b"[]", b"{"]


def test_sweep_reuses_rate_failures_and_moves_a_corrupt_record(tmp_path: Path) -> None:
    from flatlora.bench.sweep import reusable_record

    path = record_path(CFG, tmp_path)
    _write(path, _record(status="failed", failure_reason="training diverged at step 3"))
    assert reusable_record(path, CFG.config_hash()) is not None
    _write(path, GOOD[:100])
    assert reusable_record(path, CFG.config_hash()) is None
    assert (path.parent / ".corrupt" / path.name).is_file()


def _counting_runner(calls: list[str], sleep_s: float = 0.0) -> Any:
    from flatlora.bench.records import atomic_write_json

    def runner(cfg: Any, out_dir: Any, **_: Any) -> dict[str, Any]:
        calls.append(cfg.seed)
        time.sleep(sleep_s)
        rec = _record(cfg)
        atomic_write_json(record_path(cfg, out_dir), rec)
        return rec

    return runner


def test_corrupt_record_trains_again_and_the_new_record_is_used(tmp_path: Path) -> None:
    from flatlora.bench.rundir import train_or_reuse

    calls: list[str] = []
    path = record_path(CFG, tmp_path)
    _write(path, GOOD[: len(GOOD) // 2])
    rec, source = train_or_reuse(CFG, tmp_path, _counting_runner(calls))
    assert (source, len(calls)) == ("computed", 1)
    assert json.loads(path.read_text())["test"] == rec["test"]
    _, source2 = train_or_reuse(CFG, tmp_path, _counting_runner(calls))
    assert (source2, len(calls)) == ("disk", 1)


def test_two_trainers_of_one_run_train_it_once(tmp_path: Path) -> None:
    """The second caller waits on the run's lock, then reuses the record the first one wrote."""
    from flatlora.bench.rundir import train_or_reuse

    calls: list[str] = []
    sources: list[str] = []
    logs: list[str] = []
    runner = _counting_runner(calls, sleep_s=0.5)

    def go() -> None:
        sources.append(train_or_reuse(CFG, tmp_path, runner, log=logs.append)[1])

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(calls) == 1
    assert sorted(sources) == ["computed", "disk", "disk"]
    assert sum("waiting for it" in m for m in logs) == 2
    assert not list((record_path(CFG, tmp_path).parent / ".locks").glob("*.lock"))


def test_a_run_finished_between_the_check_and_the_lock_is_not_trained_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stall just before the second command takes the run's lock: the first command trains the run
    and releases the lock meanwhile, so the second gets the lock without waiting. It checks the record
    again under the lock and reuses it."""
    from flatlora.bench import rundir

    calls: list[str] = []
    real = rundir.ensure_writable
    stalled: list[str] = []

    def stall_then_let_the_other_finish(folder: Any) -> Path:
        if not stalled:  # the second command, between its reuse check and its lock
            stalled.append("once")
            assert rundir.train_or_reuse(CFG, tmp_path, _counting_runner(calls))[1] == "computed"
        return real(folder)

    monkeypatch.setattr(rundir, "ensure_writable", stall_then_let_the_other_finish)
    logs: list[str] = []
    rec, source = rundir.train_or_reuse(CFG, tmp_path, _counting_runner(calls), log=logs.append)
    assert (source, len(calls)) == ("disk", 1)
    assert rec == json.loads(record_path(CFG, tmp_path).read_text())
    assert not any("waiting" in m for m in logs)  # the lock was free: it did not wait


def test_a_dead_processes_lock_is_taken_over(tmp_path: Path) -> None:
    """A process killed (-9) while it held the run's lock leaves the lock file; the next trainer
    does not wait for it."""
    from flatlora.bench.rundir import lock_path, run_lock

    path = record_path(CFG, tmp_path)
    code = (
        "import sys, os, signal; from pathlib import Path; from flatlora.bench.rundir import run_lock\n"
        "with run_lock(Path(sys.argv[1])):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-c", code, str(path)], env=env, timeout=60)
    assert proc.returncode == -9
    assert lock_path(path).is_file()  # left behind, naming a dead pid
    t0 = time.monotonic()
    with run_lock(path, wait=False) as waited:
        assert waited is False
    assert time.monotonic() - t0 < 1.0


def test_a_live_lock_is_not_taken(tmp_path: Path) -> None:
    from flatlora.bench.rundir import run_lock

    path = record_path(CFG, tmp_path)
    with run_lock(path), pytest.raises(BlockingIOError), run_lock(path, wait=False):
        pass


# (exception, permanent?)
PERMANENCE = [
    (PermissionError(13, "Permission denied"), True),
    (OSError(30, "Read-only file system"), True),
    (OSError(28, "No space left on device"), True),
    (OSError(122, "Disk quota exceeded"), True),
    (NotADirectoryError(20, "Not a directory"), True),
    (OSError(5, "Input/output error"), False),
    (ConnectionResetError(104, "Connection reset by peer"), False),
    (TimeoutError(), False),
    (RuntimeError("CUDA out of memory"), False),
]


@pytest.mark.parametrize(("exc", "permanent"), PERMANENCE, ids=lambda v: type(v).__name__)
def test_filesystem_refusals_are_permanent_and_not_retried(exc: BaseException, permanent: bool) -> None:
    from tasks.train import _deterministic

    assert _deterministic(exc) is permanent


def test_unwritable_records_fail_before_training(tmp_path: Path) -> None:
    from flatlora.bench.rundir import NotWritable, train_or_reuse

    calls: list[str] = []
    rec_dir = record_path(CFG, tmp_path).parent
    rec_dir.mkdir(parents=True)
    with readonly_dir(rec_dir), pytest.raises(NotWritable, match=f"{rec_dir} is not writable"):
        train_or_reuse(CFG, tmp_path, _counting_runner(calls))
    assert calls == []


def test_records_through_a_file_fail_before_training(tmp_path: Path) -> None:
    from flatlora.bench.rundir import NotWritable, is_permanent, train_or_reuse

    (tmp_path / "records").write_text("not a folder")
    with pytest.raises(NotWritable, match="records is not writable") as err:
        train_or_reuse(CFG, tmp_path, _counting_runner([]))
    assert is_permanent(err.value)


def test_a_record_that_cannot_be_written_is_saved_aside_then_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run trained; its folder became unwritable before the write. The record goes to the fallback
    folder, the error names it, and the next reuse check copies it back instead of training again."""
    from flatlora.bench.rundir import RecordNotWritten, fallback_path, reusable_record, write_record

    monkeypatch.setenv("FLATBENCH_FALLBACK_DIR", str(tmp_path / "fallback"))
    path = record_path(CFG, tmp_path / "run")
    path.parent.mkdir(parents=True)
    rec = _record()
    with readonly_dir(path.parent), pytest.raises(RecordNotWritten) as err:
        write_record(path, rec)
    fb = fallback_path(path, tmp_path / "fallback")
    assert err.value.fallback == fb and str(fb) in str(err.value)
    back = pickle.loads(pickle.dumps(err.value))  # as it comes back from a run in its own process
    assert (type(back), str(back), back.fallback, back.errno) == (
        RecordNotWritten,
        str(err.value),
        fb,
        err.value.errno,
    )
    assert json.loads(fb.read_text()) == rec
    assert not path.exists()
    logs: list[str] = []
    assert reusable_record(path, CFG.config_hash(), log=logs.append) == rec
    assert json.loads(path.read_text()) == rec and not fb.exists()
    assert logs == [f"record {path} restored from {fb}"]


def test_the_real_runner_checks_writability_before_validating_data(tmp_path: Path) -> None:
    from flatlora.bench.rundir import NotWritable
    from flatlora.bench.runner import run_one

    (tmp_path / "records").write_text("")
    with pytest.raises(NotWritable):
        run_one(CFG, tmp_path, progress=False, data_dir=tmp_path / "no-data-here")


# ---------------------------------------------------------------- a run dir of another config


def test_a_grid_into_a_folder_of_another_config_stops_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`benchmark --out DIR` with another model than DIR's records trained the whole grid, then its
    report refused two configs of one run ("remove the stale one", when neither was stale)."""
    from typer.testing import CliRunner

    import flows.benchmark
    from flows.cli import app

    old = resolve_config("smoke", method="lora", seed=42, model="/models/roberta")
    _write(record_path(old, tmp_path), _record(old))
    other_lr = resolve_config("smoke", method="lora", seed=43, lr=1e-3)  # the report picks with --lr
    _write(record_path(other_lr, tmp_path), _record(other_lr))
    ran: list[Any] = []
    monkeypatch.setattr(flows.benchmark, "benchmark", lambda **kw: ran.append(kw))
    args = ["benchmark", "--profile", "smoke", "--method", "lora", "--seeds", "42,43", "--out", str(tmp_path)]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "400"})
    assert res.exit_code == 2 and not ran, res.output
    msg = " ".join(res.output.split())
    assert msg.startswith(f"error: {tmp_path} already holds 1 record of these runs under another config: ")
    assert (
        f"fpb_50agree/lora/seed 42: records/{record_path(old, tmp_path).name} (model '/models/roberta' there, 'minilm' now)"
        in msg
    )
    assert "seed 43" not in msg  # a learning rate alone is the report's to choose
    assert "pass another --out for this config, or move those records out of" in msg


def test_a_user_file_spelled_another_way_is_named_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path is part of the config hash (records made before stay reusable): the same grid run as
    `./reviews.csv` into a folder of `reviews.csv` records is stopped before it trains, naming both."""
    from typer.testing import CliRunner

    import flows.benchmark
    from flows.cli import app

    (tmp_path / "reviews.csv").write_text("text,label\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    old = resolve_config("smoke", method="lora", seed=42, dataset="reviews.csv")
    assert old.config_hash()[:8] == "371699b5"  # the hash such records carry
    _write(record_path(old, tmp_path / "run"), _record(old))
    monkeypatch.setattr(flows.benchmark, "benchmark", lambda **kw: pytest.fail("the grid started"))
    args = ["benchmark", "--profile", "smoke", "--method", "lora", "--seeds", "42", "--out", "run"]
    res = CliRunner().invoke(app, [*args, "--dataset", "./reviews.csv"], env={"COLUMNS": "400"})
    assert res.exit_code == 2, res.output
    assert "(dataset 'reviews.csv' there, './reviews.csv' now)" in " ".join(res.output.split())
