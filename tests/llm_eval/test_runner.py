"""Runner guarantees against the stub: nothing lost or duplicated, bounded retries, cache, resume,
batches, cost limit, adaptive concurrency and secret hygiene."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from llm_eval.cache import ResponseCache
from llm_eval.pricing import Price, PriceTable
from llm_eval.records import RESPONSES_FILE, load_records, prepare_resume
from llm_eval.runner import AdaptiveLimiter, RunStats, arun_samples, run_samples, summarize
from tests.llm_eval.conftest import FAKE_KEY, make_samples, read_lines


def _assert_one_line_per_sample(out: Path, n: int) -> list[dict[str, Any]]:
    lines = read_lines(out)
    ids = [d["sample_id"] for d in lines]
    assert len(ids) == len(set(ids)) == n
    return lines


def test_thirty_percent_faults_nothing_lost_retries_bounded(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    n, max_retries, max_attempts = 60, 1, 3
    faults = {"429": 0.06, "529": 0.06, "500": 0.06, "malformed": 0.06, "hang": 0.06}  # 30 %
    stub = make_stub(faults=faults, seed=7, hang_s=2.0)
    p = make_provider(stub, timeout_s=0.3, max_retries=max_retries)
    samples = make_samples(n)
    recs = run_samples(
        samples, p, tmp_path, concurrency=16, progress=False, max_attempts=max_attempts, retry_backoff_s=0.01
    )
    lines = _assert_one_line_per_sample(tmp_path, n)
    assert {d["sample_id"] for d in lines} == {s.id for s in samples}
    assert len(recs) == n
    for r in recs:
        assert (r.error is None) != (r.response_text is None)
        if r.error is None:
            assert r.response_text == f"Echo: question number {r.meta['i']}"
        assert 1 <= r.attempts <= max_attempts
    st = stub.stats()
    assert sum(st["counts"].get(f"fault:{k}", 0) for k in faults) > 0.15 * st["messages"]  # faults did happen
    # every HTTP request is bounded by our attempts x the SDK's tries
    assert st["messages"] <= n * max_attempts * (max_retries + 1)
    assert max(st["by_prompt"].values()) <= max_attempts * (max_retries + 1)
    assert summarize(samples, recs)["answered"] >= 0.9 * n


def test_cache_second_run_sends_no_requests(tmp_path: Path, make_stub: Any, make_provider: Any) -> None:
    stub = make_stub()
    p = make_provider(stub)
    cache = tmp_path / "cache.sqlite"
    samples = make_samples(12)
    first = run_samples(samples, p, tmp_path / "a", cache=cache, progress=False)
    assert stub.n_messages == 12 and not any(r.cached for r in first)
    second = run_samples(samples, p, tmp_path / "b", cache=cache, progress=False)
    assert stub.n_messages == 12  # 0 new requests
    assert all(r.cached and r.cost_usd == 0.0 for r in second)
    assert [r.response_text for r in second] == [r.response_text for r in first]
    # --refresh bypasses the cache reads (and re-stores), --no-cache neither reads nor writes
    run_samples(samples[:3], p, tmp_path / "c", cache=cache, refresh=True, progress=False)
    assert stub.n_messages == 15
    run_samples(samples[:2], p, tmp_path / "d", cache=cache, use_cache=False, progress=False)
    assert stub.n_messages == 17


def test_errors_are_not_cached_and_are_retried_on_resume(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    stub = make_stub(script=["ok", "echo_auth"])  # the 2nd request fails with a non-retryable 400
    p = make_provider(stub)
    cache = tmp_path / "cache.sqlite"
    samples = make_samples(4)
    recs = run_samples(samples, p, tmp_path, concurrency=1, cache=cache, progress=False)
    assert [r.error is None for r in recs] == [True, False, True, True]
    with ResponseCache(cache) as c:
        assert len(c) == 3
    recs2 = run_samples(samples, p, tmp_path, concurrency=1, cache=cache, progress=False)
    assert all(r.error is None for r in recs2)
    assert stub.n_messages == 5  # only the errored sample was requested again
    _assert_one_line_per_sample(tmp_path, 4)  # the superseded error line is compacted away


async def test_cancelled_run_resumes_without_loss_or_duplicates(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    n = 20
    stub = make_stub(latency_s=0.1)
    p = make_provider(stub)
    samples = make_samples(n)
    task = asyncio.create_task(
        arun_samples(samples, p, tmp_path, concurrency=2, use_cache=False, progress=False)
    )
    path = tmp_path / RESPONSES_FILE
    for _ in range(200):
        await asyncio.sleep(0.05)
        if path.exists() and len(path.read_text().splitlines()) >= 6:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    done = {d["sample_id"] for d in read_lines(tmp_path)}
    assert 6 <= len(done) < n
    sent_before = stub.n_messages
    # simulate a torn write from a hard kill: a partial last line must be dropped, not break resume
    with path.open("a") as fh:
        fh.write('{"sample_id": "q/1')
    recs = await arun_samples(samples, p, tmp_path, concurrency=4, use_cache=False, progress=False)
    assert stub.n_messages - sent_before == n - len(done)  # done samples are never re-requested
    assert len(recs) == n and all(r.error is None for r in recs)
    _assert_one_line_per_sample(tmp_path, n)


def test_prepare_resume_keeps_answered_over_later_error(tmp_path: Path) -> None:
    path = tmp_path / RESPONSES_FILE
    base = {
        "item_id": "i",
        "condition": "c",
        "variant": "v",
        "provider": "p",
        "model": "m",
        "params": {},
        "system": None,
        "messages": [],
        "response_text": None,
    }
    rows = [
        {**base, "sample_id": "a", "error": "boom"},
        {**base, "sample_id": "a", "response_text": "ok", "error": None},
        {**base, "sample_id": "b", "response_text": "ok", "error": None},
        {**base, "sample_id": "b", "error": "late"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n")
    recs = prepare_resume(path)
    assert [(r.sample_id, r.response_text) for r in recs] == [("a", "ok"), ("b", "ok")]
    assert len(path.read_text().splitlines()) == 2
    assert [r.sample_id for r in load_records(tmp_path)] == ["a", "b"]


def test_batch_round_trip_with_errored_and_expired(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    # first batch: entries 1 errored, 2 expired; retry batch (2 entries): entry 2 errored again
    stub = make_stub(batch_script=["ok", "errored", "expired", "ok", "ok", "ok", "ok", "errored"])
    p = make_provider(stub)
    samples = make_samples(6)
    recs = run_samples(samples, p, tmp_path, batch=True, max_attempts=2, progress=False, use_cache=False)
    by_id = {r.sample_id: r for r in recs}
    assert [by_id[s.id].error is None for s in samples] == [True, True, False, True, True, True]
    assert by_id["q/2"].attempts == 2 and "errored" in (by_id["q/2"].error or "")
    assert by_id["q/1"].response_text == "Echo: question number 1" and by_id["q/1"].attempts == 2
    st = stub.stats()["counts"]
    assert st["batch_create"] == 2 and st["batch_entries"] == 8 and st.get("messages", 0) == 0
    ok = by_id["q/0"]
    assert ok.batch and ok.cost_usd == pytest.approx(
        0.5 * (3 * ok.usage.input_tokens + 15 * ok.usage.output_tokens) / 1e6
    )
    _assert_one_line_per_sample(tmp_path, 6)


def test_batch_invalid_entries_are_not_retried(tmp_path: Path, make_stub: Any, make_provider: Any) -> None:
    stub = make_stub()
    p = make_provider(stub, send_temperature=True)  # the API rejects sampling params per entry
    recs = run_samples(make_samples(3), p, tmp_path, batch=True, progress=False, use_cache=False)
    assert all(r.error and "invalid_request_error" in r.error and r.attempts == 1 for r in recs)
    assert stub.stats()["counts"]["batch_create"] == 1


def test_cost_limit_stops_cleanly_and_resumes(tmp_path: Path, make_stub: Any, make_provider: Any) -> None:
    stub = make_stub()
    prices = PriceTable({"claude-sonnet": Price(100_000.0, 0.0)})  # $0.1 per input token: ~$0.4 a request
    p = make_provider(stub, prices=prices)
    samples = make_samples(10)
    limit = 1.0
    stats = RunStats()
    recs = run_samples(
        samples, p, tmp_path, concurrency=1, cost_limit=limit, progress=False, use_cache=False, stats=stats
    )
    costs = [r.cost_usd for r in recs]
    assert all(r.error is None for r in recs)  # not-run samples are not errors
    assert stats.cost_limit_hit and stats.not_run == 10 - len(recs) > 0
    assert sum(costs[:-1]) < limit <= sum(costs)  # stopped at the first request that crossed it
    assert stub.n_messages == len(recs)
    recs2 = run_samples(samples, p, tmp_path, concurrency=1, progress=False, use_cache=False)
    assert len(recs2) == 10 and stub.n_messages == 10
    _assert_one_line_per_sample(tmp_path, 10)


def test_concurrency_is_saturated_and_bounded(tmp_path: Path, make_stub: Any, make_provider: Any) -> None:
    stub = make_stub(latency_s=0.15)
    p = make_provider(stub)
    run_samples(make_samples(24), p, tmp_path, concurrency=6, progress=False, use_cache=False)
    assert stub.stats()["peak_in_flight"] == 6


def test_rate_limits_shrink_the_limiter_and_all_finish(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    stub = make_stub(script=["429"] * 8, latency_s=0.02)
    p = make_provider(stub, max_retries=4)
    limiter = AdaptiveLimiter(8, cooldown_s=0.0)
    recs = run_samples(make_samples(16), p, tmp_path, progress=False, use_cache=False, limiter=limiter)
    assert all(r.error is None for r in recs)
    assert limiter.n_shrinks == 8 and p.rate_limited == 8


async def test_adaptive_limiter_aimd() -> None:
    lim = AdaptiveLimiter(8, min_concurrency=1, cooldown_s=0.0)
    lim.on_rate_limited()
    assert lim.allowed == 4
    for _ in range(5):
        lim.on_rate_limited()
    assert lim.allowed == 1  # floor at min
    lim.limit = 4.0
    lim.on_success()
    assert lim.limit == pytest.approx(4.25)  # additive: +1/limit per success
    for _ in range(1000):
        lim.on_success()
    assert lim.limit == 8.0  # capped at --concurrency
    cool = AdaptiveLimiter(8, cooldown_s=60.0)
    cool.on_rate_limited()
    cool.on_rate_limited()  # same congestion episode: counted once
    assert cool.allowed == 4 and cool.n_shrinks == 1
    # acquire blocks at the limit until a slot is released
    small = AdaptiveLimiter(2)
    await small.acquire()
    await small.acquire()
    third = asyncio.create_task(small.acquire())
    await asyncio.sleep(0.01)
    assert not third.done()
    await small.release()
    await asyncio.wait_for(third, 1.0)
    assert small.in_flight == 2
    with pytest.raises(ValueError, match="`concurrency` must be >= 1, got 0"):
        AdaptiveLimiter(0)


def test_duplicate_ids_and_bad_args_are_rejected(tmp_path: Path, make_stub: Any, make_provider: Any) -> None:
    p = make_provider(make_stub())
    s = make_samples(2)
    with pytest.raises(ValueError, match="sample ids must be unique"):
        run_samples([s[0], s[0]], p, tmp_path, progress=False)
    with pytest.raises(ValueError, match="`max_attempts` must be >= 1, got 0"):
        run_samples(s, p, tmp_path, progress=False, max_attempts=0)
    with pytest.raises(ValueError, match="`cost_limit` must be >= 0, got -1"):
        run_samples(s, p, tmp_path, progress=False, cost_limit=-1)


async def test_sync_entry_point_works_inside_a_running_loop(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    p = make_provider(make_stub())
    recs = run_samples(make_samples(3), p, tmp_path, progress=False, use_cache=False)
    assert len(recs) == 3 and all(r.ok for r in recs)


def test_secret_never_written(
    tmp_path: Path,
    make_stub: Any,
    make_provider: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    stub = make_stub(faults={"echo_auth": 0.3, "429": 0.1, "500": 0.1, "malformed": 0.1}, seed=3)
    p = make_provider(stub)
    cache = tmp_path / "cache.sqlite"
    recs = run_samples(
        make_samples(20),
        p,
        tmp_path / "out",
        cache=cache,
        progress=True,
        max_attempts=2,
        retry_backoff_s=0.01,
    )
    assert any(r.error and "bad request; headers were" in r.error for r in recs)  # the stub did echo it
    batch = run_samples(make_samples(5, "b"), p, tmp_path / "out2", cache=cache, batch=True, progress=True)
    assert len(batch) == 5
    out = capsys.readouterr()
    texts = {"log": caplog.text, "stdout": out.out, "stderr": out.err}
    for f in tmp_path.rglob("*"):
        if f.is_file():
            texts[str(f)] = f.read_bytes().decode("utf-8", "replace")
    assert len(texts) >= 5
    leaks = [name for name, text in texts.items() if FAKE_KEY in text or FAKE_KEY[8:30] in text]
    assert leaks == []
