"""A 429 storm: every retry, the SDK's and the runner's own, waits at least the server's retry-after;
records count every request sent; a storm longer than the retry budget ends with the samples marked
retryable (errors, never answers), and the next run asks them again.

The stub puts each request on a timeline (start, end, prompt, status, the wait it asked for), so the gaps
are measured on the server's side, as the API would see them.
"""

from __future__ import annotations

import time
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

from llm_eval.runner import RunStats, run_samples, summarize
from tests.llm_eval.conftest import make_samples

RETRY_AFTER_S = 0.3
SLACK_S = 0.02  # timer resolution of two event loops


def _gaps(timeline: list[tuple[float, float, str, int, float | None]]) -> list[tuple[float, float]]:
    """(gap, asked) for every request that follows a 429 of the same prompt."""
    by_prompt: dict[str, list[tuple[float, float, str, int, float | None]]] = defaultdict(list)
    for row in sorted(timeline):
        by_prompt[row[2]].append(row)
    out = []
    for rows in by_prompt.values():
        for prev, nxt in pairwise(rows):
            if prev[3] == 429 and prev[4] is not None:
                out.append((nxt[0] - prev[1], prev[4]))
    return out


def test_a_storm_longer_than_the_retry_budget(tmp_path: Path, make_stub: Any, make_provider: Any) -> None:
    n, max_retries, max_attempts = 3, 2, 2
    per_sample = max_attempts * (max_retries + 1)  # 6 requests each, all refused
    stub = make_stub(script=["429"] * (n * per_sample), retry_after_s=RETRY_AFTER_S)
    p = make_provider(stub, max_retries=max_retries)
    samples = make_samples(n)
    stats = RunStats()
    recs = run_samples(
        samples, p, tmp_path, concurrency=n, progress=False, max_attempts=max_attempts,
        retry_backoff_s=0.01, stats=stats,
    )  # fmt: skip
    assert stub.n_messages == n * per_sample

    gaps = _gaps(stub.state.timeline)
    assert len(gaps) == n * (per_sample - 1)  # the SDK's retries and the runner's own
    short = [(round(g, 3), asked) for g, asked in gaps if g < asked - SLACK_S]
    assert short == [], f"{len(short)} of {len(gaps)} retries came sooner than retry-after"

    # counted, and marked retryable: errors, not answers, never cached
    assert [r.outcome for r in recs] == ["error"] * n
    assert all(r.retryable and r.requests == per_sample and r.attempts == max_attempts for r in recs)
    assert all("RateLimitError" in (r.error or "") for r in recs)
    assert (stats.requests, stats.retryable, stats.answered) == (n * per_sample, n, 0)
    summ = summarize(samples, recs)
    assert (summ["errors"], summ["retryable"], summ["answered"], summ["requests"]) == (n, n, 0, 18)

    # the storm is over: the rerun asks exactly those samples again and gets their answers
    again = run_samples(samples, p, tmp_path, concurrency=n, progress=False, max_attempts=max_attempts)
    assert stub.n_messages == n * per_sample + n
    assert [r.outcome for r in again] == ["answered"] * n
    assert all(r.requests == 1 and not r.retryable for r in again)


def test_a_permanent_error_is_not_marked_retryable(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    stub = make_stub()
    p = make_provider(stub, send_temperature=True)  # rejected with a 400: no retry can fix it
    [rec] = run_samples(make_samples(1), p, tmp_path, progress=False, use_cache=False)
    assert rec.outcome == "error" and not rec.retryable and rec.requests == 1


def test_a_retry_after_beyond_the_cap_is_not_waited_for(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    """A 429 asking for an hour's wait: the sample is recorded at once as a retryable error that says
    how long the server asked for, instead of the run sleeping for an hour without a word."""
    stub = make_stub(script=["429"] * 4, retry_after_s=3600.0)
    p = make_provider(stub, max_retries=0)
    t0 = time.monotonic()
    (rec,) = run_samples(make_samples(1), p, tmp_path / "a", use_cache=False, progress=False, max_attempts=3)
    assert time.monotonic() - t0 < 30
    assert rec.retryable and "asked to wait 3600 s before a retry: rerun later" in (rec.error or "")
    assert stub.n_messages == 1
