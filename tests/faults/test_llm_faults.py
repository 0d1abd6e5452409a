"""llm-eval under faults: empty replies, SIGINT mid-run, a 200 KB prompt, a corrupted cache, bad item files.

The Messages API is the local stub (llm_eval.testing.stub_server); every request it receives is counted,
so "never paid twice" is checked by the count, not by trust.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from llm_eval.records import RESPONSES_FILE, load_records
from llm_eval.runner import RunStats, run_samples, summarize
from tests.flows.conftest import REPO
from tests.llm_eval.conftest import FAKE_KEY, make_samples

# ---------------------------------------------------------------- empty content lists


def test_empty_reply_is_asked_once_more_then_recorded_as_empty_and_never_cached(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    """Sample 0 gets two empty replies -> `empty`; sample 1 one empty then an answer -> answered;
    sample 2 an answer. 5 requests; only the 2 answers enter the cache; a fresh output dir on the same
    cache asks sample 0 again instead of replaying an empty answer."""
    stub = make_stub(script=["empty", "empty", "empty"])
    p = make_provider(stub)
    cache = tmp_path / "cache.sqlite"
    samples = make_samples(3)
    stats = RunStats()
    recs = run_samples(samples, p, tmp_path / "a", concurrency=1, cache=cache, progress=False, stats=stats)
    assert [r.outcome for r in recs] == ["empty", "answered", "answered"]
    assert stub.n_messages == 5
    assert (stats.answered, stats.errors, stats.empty) == (2, 0, 1)
    summ = summarize(samples, recs)
    assert (summ["answered"], summ["errors"], summ["empty"]) == (2, 0, 1)
    assert recs[0].response_text == "" and recs[0].attempts == 2 and recs[0].stop_reason == "end_turn"
    assert recs[1].response_text == "Echo: question number 1"
    # the empty reply before sample 1's answer was billed: its input tokens are counted with the answer
    assert recs[1].usage.input_tokens == 2 * recs[2].usage.input_tokens

    again = run_samples(samples, p, tmp_path / "b", concurrency=1, cache=cache, progress=False)
    assert stub.n_messages == 6  # only the empty one is asked again
    assert [r.cached for r in again] == [False, True, True]
    assert all(r.outcome == "answered" for r in again)


def test_empty_replies_are_counted_apart_from_wrong_answers_in_the_report(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    """The clean cell of two items, one answered right and one empty twice: accuracy 1/1, not 1/2,
    and the report says one empty reply."""
    from llm_eval.analysis import analyze
    from llm_eval.suites import get_suite

    samples = [s for s in get_suite("noisy")("none", 0) if s.condition == "clean"][:2]
    stub = make_stub(script=["ok", "empty", "empty"])
    p = make_provider(stub)
    stub.config.answers = {s.request.messages[-1]["content"]: s.meta["gold"][0] for s in samples}
    recs = run_samples(samples, p, tmp_path, concurrency=1, use_cache=False, progress=False)
    assert [r.outcome for r in recs] == ["answered", "empty"]
    analyze(recs, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    clean = next(c for c in summary["suites"]["noisy"]["cells"] if c["condition"] == "clean")
    assert (clean["n"], clean["n_correct"], clean["n_errors"], clean["n_empty"]) == (1, 1, 0, 1)
    assert clean["accuracy"] == 1.0
    report = (tmp_path / "report.md").read_text()
    assert "empty replies, excluded like errors and not wrong answers: 1" in report
    assert "| 0 + 1 empty |" in report


def test_cli_console_counts_empty_apart(tmp_path: Path, make_stub: Any) -> None:
    stub = make_stub(script=["empty", "empty"])
    res = _cli(tmp_path, stub, "smoke", "--limit", "3", "--concurrency", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "answered 2  errors 0  empty 1" in res.stdout


# ---------------------------------------------------------------- SIGINT


def _cli(tmp_path: Path, stub: Any, *args: str, popen: bool = False, **env: str) -> Any:
    cmd = [
        sys.executable, "-m", "flows.cli", "llm-eval", *args, "--provider", "anthropic",
        "--base-url", stub.base_url, "--out", str(tmp_path / "out"), "--no-progress",
    ]  # fmt: skip
    full_env = {
        **os.environ,
        "ANTHROPIC_API_KEY": FAKE_KEY,
        "PYTHONPATH": str(REPO),
        "FLATBENCH_LLM_CACHE": str(tmp_path / "cache.sqlite"),
        **env,
    }
    if popen:
        return subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # two CLI runs against a slow stub: ~40 s on 2 shared cores
def test_sigint_finishes_requests_in_flight_and_the_rerun_pays_for_nothing_twice(
    tmp_path: Path, make_stub: Any
) -> None:
    stub = make_stub(latency_s=1.5)
    proc = _cli(tmp_path, stub, "noisy", "--limit", "24", "--concurrency", "4", popen=True)
    out = tmp_path / "out" / RESPONSES_FILE
    deadline = time.monotonic() + 240
    while not (out.exists() and len(out.read_text().splitlines()) >= 4):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    time.sleep(0.5)  # requests are in flight now
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    text = stdout.decode() + stderr.decode()
    assert proc.returncode == 130, text
    kept = len(load_records(out))
    assert f"interrupted: {kept} records of this run kept" in text
    assert stub.n_messages == kept  # every request that was sent got its answer recorded
    assert 4 <= kept < 24

    res = _cli(tmp_path, stub, "noisy", "--limit", "24", "--concurrency", "4")
    assert res.returncode == 0, res.stdout + res.stderr
    assert stub.n_messages == 24  # 24 samples, 24 requests in all
    assert len(load_records(out)) == 24


@pytest.mark.slow  # answers, then a slow judge phase interrupted: ~40 s on 2 shared cores
def test_sigint_during_the_judge_phase_says_what_was_kept(tmp_path: Path, make_stub: Any) -> None:
    stub = make_stub()
    stub.config.latency_s = 0.0
    proc = _cli(
        tmp_path, stub, "multilingual", "--limit", "8", "--concurrency", "2", "--judge", "provider",
        "--scorer", "rule", popen=True,
    )  # fmt: skip
    judged = tmp_path / "out" / "judge" / RESPONSES_FILE
    deadline = time.monotonic() + 240
    while not (tmp_path / "out" / RESPONSES_FILE).exists() or len(load_records(tmp_path / "out")) < 8:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    stub.config.latency_s = 1.5  # the judge's requests are slow: stop among them
    while not (judged.exists() and len(judged.read_text().splitlines()) >= 1):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    text = stdout.decode() + stderr.decode()
    assert proc.returncode == 130, text
    kept = len(load_records(judged))
    assert f"interrupted: {kept} records of this run kept in {judged}" in text, text
    assert "Traceback" not in text and 1 <= kept < 8


# ---------------------------------------------------------------- a 200 KB prompt


def test_analysis_of_a_200_kb_prompt_takes_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Noisy variants of a 200 KB question: summary.json and report.md within 30 s (the pure-Python
    distance took > 300 s); the variants too long to measure are named as such in the report."""
    from llm_eval.analysis import analyze
    from llm_eval.scored import levenshtein
    from llm_eval.suites import get_suite
    from llm_eval.types import Record, Usage

    items = tmp_path / "items"
    items.mkdir()
    words = " ".join(f"word{i % 997} is plain text" for i in range(200_000 // 20))
    question = f"What is the capital of France? {words}"
    row = {"id": "big", "domain": "geography", "question": question, "answers": ["Paris"],
           "entities": ["France", "capital"], "answer_type": "entity"}  # fmt: skip
    (items / "noisy.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setenv("FLATBENCH_LLM_ITEMS_DIR", str(items))
    samples = get_suite("noisy")("none", 0)
    assert len(question) >= 200_000 and len(samples) >= 5
    recs = [
        Record(
            sample_id=s.id,
            item_id=s.item_id,
            condition=s.condition,
            variant=s.variant,
            provider="stub",
            model="m",
            params={},
            system=s.request.system,
            messages=[dict(m) for m in s.request.messages],
            response_text="Paris",
            usage=Usage(1, 1),
            meta=dict(s.meta),
            stop_reason="end_turn",
        )
        for s in samples
    ]

    def too_slow(*_: Any) -> None:
        raise TimeoutError("the analysis of a 200 KB prompt took more than 30 s")

    old = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(30)
    try:
        analyze(recs, tmp_path / "out")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "1 not measured (> 50,000 code points)" in report  # each variant cell says so
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "αβγ") == 3
    assert levenshtein(question, question[:-5] + "!") == 5


# ---------------------------------------------------------------- replies the suites did not design


def test_a_reply_with_a_lone_surrogate_or_nul_is_kept_written_and_cached(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    """JSON may escape a lone surrogate (``\\ud800``), which is not valid Unicode text: the answer is
    still an answer, written to responses.jsonl and cached (the surrogate as U+FFFD), never a crash
    that loses the answers already paid for."""
    stub = make_stub(answers={"question number 0": "Par\ud800is", "question number 1": "Pa\x00ris"})
    p = make_provider(stub)
    cache = tmp_path / "cache.sqlite"
    samples = make_samples(3)
    recs = run_samples(samples, p, tmp_path / "a", concurrency=1, cache=cache, progress=False)
    assert [r.outcome for r in recs] == ["answered"] * 3
    assert [r.response_text for r in recs[:2]] == ["Par\ufffdis", "Pa\x00ris"]
    on_disk = load_records(tmp_path / "a" / RESPONSES_FILE)
    assert [r.response_text for r in on_disk][:2] == ["Par\ufffdis", "Pa\x00ris"]
    again = run_samples(samples, p, tmp_path / "b", concurrency=1, cache=cache, progress=False)
    assert stub.n_messages == 3 and all(r.cached for r in again)


def test_an_error_message_with_a_lone_surrogate_is_recorded_and_printed(tmp_path: Path) -> None:
    """A 400 whose message carries ``\\ud800``: the CLI records the errors and ends with its one line
    (exit 1), not a UnicodeEncodeError traceback."""
    import http.server
    import threading

    body = b'{"type":"error","error":{"type":"invalid_request_error","message":"bad \\ud800 thing"}}'

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(400)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = SimpleNamespace(base_url=f"http://127.0.0.1:{server.server_address[1]}")
        proc = _cli(
            tmp_path, endpoint, "smoke", "--limit", "2", "--max-retries", "0", PYTHONIOENCODING="utf-8"
        )
    finally:
        server.shutdown()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "UnicodeEncodeError" not in proc.stdout + proc.stderr
    assert "error: all 2 requests of this run failed" in proc.stdout + proc.stderr
    recs = load_records(tmp_path / "out" / RESPONSES_FILE)
    assert len(recs) == 2 and all("bad \ufffd thing" in (r.error or "") for r in recs)
