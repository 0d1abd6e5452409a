"""Run samples against a provider: bounded + adaptive concurrency, cache, retries, resume, cost limit.

Guarantees (tested against the stub server with fault injection):
- every sample ends as exactly one record in responses.jsonl (answered or error), or, when the
  cost limit stops the run, as *not run* (no record; a rerun resumes it);
- an answered sample is never requested again (resume) *for the same request*: each record keeps
  the hash of the exact request sent (provider, endpoint, model, API version, parameters, system,
  messages); an existing answer whose hash differs from the request this run would send is re-run
  and counted (``resume="strict"`` refuses to start instead);
- a cached request is never paid twice, and the cache key is that same request hash;
- a received answer is never turned into an error; a model without a price runs with its cost
  recorded as unknown (None), and a cost limit that cannot be checked refuses to start;
- retries are bounded: ``max_attempts`` of our own, each of which may include the SDK's retries;
  every retry waits at least what the server asked for (``retry-after``), and each record counts the
  requests sent for it (``requests``, the SDK's retries included). A sample whose retries run out on a
  retryable failure (a rate-limit storm longer than the budget) is recorded as a ``retryable`` error,
  never as an answer, and a rerun asks it again;
- one answer is paid once, also across processes: a request about to be sent is claimed in the response
  cache, and another process that needs the same answer waits for it instead of sending it too; two
  commands writing into one output folder take turns (a lock on the folder; the second waits, then
  resumes and sends only what is still missing);
- a run whose first requests cannot connect (refused, DNS, no route: the provider's
  ``is_connection_error``) stops at the first such failure with :class:`EndpointUnreachable`, one
  line naming the endpoint and the error; what was answered before stays on disk, and the samples
  not run are resumed by a rerun. Once an answer has arrived, connection errors are retried. A
  first request refused for a reason every request shares (a wrong key, an unknown model: the
  provider's ``setup_error``) stops the run the same way (:class:`EndpointRefused`, saying how to fix it);
- error strings are sanitized before they are recorded;
- a reply that ends its turn with no content is asked once more; if it is empty again it is recorded
  as ``empty`` (its own outcome, never cached, never scored as a wrong answer, asked again on resume);
- on SIGINT (SIGTERM, SIGHUP) no new request starts, the requests in flight are finished (a second
  signal abandons them), every answer that arrived is written and cached, and ``Interrupted`` says
  what was kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import random
import signal
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llm_eval.cache import ResponseCache, request_key
from llm_eval.pricing import PRICE_FILE_HELP, Price, UnpricedModelError
from llm_eval.providers.base import count_requests
from llm_eval.records import RESPONSES_FILE, JsonlWriter, prepare_resume, sanitize
from llm_eval.types import Provider, Record, Request, Response, Sample, Usage

__all__ = [
    "EMPTY_RETRIES",
    "RESUME_MODES",
    "AdaptiveLimiter",
    "EndpointRefused",
    "EndpointUnreachable",
    "Interrupted",
    "ResumeMismatchError",
    "RunStats",
    "arun_samples",
    "output_lock",
    "provider_price",
    "resume_mismatches",
    "run_samples",
    "same_request",
    "summarize",
]

RESUME_MODES = ("rerun", "strict")
# a server asking to wait longer before a retry is not waited for: the sample is recorded as a
# retryable error that says so (the SDK likewise ignores a retry-after above 60 s)
RETRY_WAIT_CAP_S = 60.0
EMPTY_RETRIES = 1  # an empty end_turn reply is asked once more before it is recorded as `empty`
EMPTY_ERROR = "empty reply: the model stopped ({stop}) with no text, {n} times"
# stop reasons after which a reply without text is no answer: the turn ended with nothing said, or it
# is unfinished (paused, or waiting for a tool the request never offered); a refusal or a token cap is
# the model's answer, scored as it stands
EMPTY_STOPS = frozenset({"end_turn", "pause_turn", "tool_use"})
CLAIM_POLL_S = 0.25  # how often a run waiting for another process's answer looks for it
LOCK_FILE = ".llm-eval.lock"  # one writer per output folder


def is_empty_reply(response: Response) -> bool:
    """A reply with no text that is no answer: see EMPTY_STOPS (a refusal or a token cap is one)."""
    return not response.text and response.stop_reason in EMPTY_STOPS


class Interrupted(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM, SIGHUP) stopped the run after it kept what had arrived; the message
    says how much, ``exit_code`` is what a shell expects of that signal (128 + its number)."""

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


class ResumeMismatchError(ValueError):
    """``resume="strict"`` and existing answers were made by a different request."""


class EndpointUnreachable(RuntimeError):
    """The run's first requests could not connect to the endpoint at all; the message is one line."""


class EndpointRefused(EndpointUnreachable):
    """The run's first request was refused for a reason every request shares (the key, access to the
    model, an unknown model or path: the provider's ``setup_error``); the message says how to fix it."""


def _root_cause(exc: BaseException) -> str:
    """The innermost cause's message ("[Errno 111] Connection refused"), on one line."""
    seen: set[int] = set()
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _optional_hook(provider: Provider, name: str, exc: BaseException) -> Any:
    """What the provider's optional hook `name` says of `exc` (``is_connection_error``,
    ``setup_error``); None when it has no such hook or the hook itself fails."""
    fn = getattr(provider, name, None)
    try:
        return fn(exc) if callable(fn) else None
    except Exception:
        return None


log = logging.getLogger(__name__)


class AdaptiveLimiter:
    """AIMD concurrency limit: halve on a rate limit, +1/limit per success, within [min, max].

    Shrinks at most once per ``cooldown_s`` so a burst of 429s from requests already in flight
    counts as one congestion signal (as TCP does per round trip).
    """

    def __init__(self, max_concurrency: int, *, min_concurrency: int = 1, cooldown_s: float = 1.0) -> None:
        if max_concurrency < 1:
            raise ValueError(f"`concurrency` must be >= 1, got {max_concurrency}")
        if not 1 <= min_concurrency <= max_concurrency:
            raise ValueError(f"`min_concurrency` must be in [1, {max_concurrency}], got {min_concurrency}")
        self.max = max_concurrency
        self.min = min_concurrency
        self.cooldown_s = cooldown_s
        self.limit: float = float(max_concurrency)
        self.in_flight = 0
        self.peak_in_flight = 0
        self.n_shrinks = 0
        self._last_shrink = -float("inf")
        self._cond: asyncio.Condition | None = None

    @property
    def allowed(self) -> int:
        return max(self.min, int(self.limit))

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def acquire(self) -> None:
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: self.in_flight < self.allowed)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    async def release(self) -> None:
        cond = self._condition()
        async with cond:
            self.in_flight -= 1
            cond.notify_all()

    @contextlib.asynccontextmanager
    async def slot(self) -> Any:
        await self.acquire()
        try:
            yield
        finally:
            await self.release()

    def on_rate_limited(self) -> None:
        now = time.monotonic()
        if now - self._last_shrink < self.cooldown_s:
            return
        self._last_shrink = now
        self.limit = max(float(self.min), self.limit / 2)
        self.n_shrinks += 1
        log.info("rate limited: concurrency limit -> %d", self.allowed)

    def on_success(self) -> None:
        before = self.allowed
        self.limit = min(float(self.max), self.limit + 1.0 / max(self.limit, 1.0))
        if self.allowed > before and self._cond is not None:
            asyncio.get_running_loop().create_task(self._wake())

    async def _wake(self) -> None:
        cond = self._condition()
        async with cond:
            cond.notify_all()


@dataclass
class RunStats:
    """Live and final counters (also the console summary and DIR/run_stats.json).

    ``cost_usd`` sums the known costs of this run's requests; ``cost_unknown`` counts answers whose
    model had no price, and ``cost_known`` is False when there is any (the total is then a lower
    bound, and reported as unknown). ``resume_mismatched`` counts existing answers that were made
    by a different request than this run's and were re-run (their ids in ``resume_mismatch_ids``).
    """

    n_samples: int = 0
    skipped_done: int = 0
    answered: int = 0
    errors: int = 0
    empty: int = 0
    cached: int = 0
    not_run: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown: int = 0
    price_known: bool = True
    attempts: int = 0
    requests: int = 0  # every HTTP request sent, the SDK's retries included
    retryable: int = 0  # errors a rerun may not meet (rate limits outlasting the retry budget, ...)
    waited_for_other: int = 0  # answers another process was already requesting: waited for, not sent
    cost_limit_hit: bool = False
    resume_mismatched: int = 0
    resume_mismatch_ids: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cost_known(self) -> bool:
        return self.cost_unknown == 0

    @property
    def failed(self) -> int:
        """Requests of this run that got no answer: errors and empty replies."""
        return self.errors + self.empty

    @property
    def all_failed(self) -> bool:
        """This run sent requests and not one of them was answered (cache hits are not requests)."""
        return self.failed > 0 and self.answered == self.cached

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items()}
        d["cost_known"] = self.cost_known
        d["all_failed"] = self.all_failed
        return d


def _known_cost(records: Sequence[Record]) -> tuple[float, int]:
    """(sum of known costs, number of answers whose cost is unknown)."""
    known = sum(r.cost_usd for r in records if r.cost_usd is not None)
    return known, sum(1 for r in records if r.ok and r.cost_usd is None)


def summarize(samples: Sequence[Sample], records: Sequence[Record]) -> dict[str, Any]:
    """Counts for a finished (or partial) run; errors and not-run are kept apart from answers.

    ``cost_usd`` is None (and ``cost_known`` False) when any answer's cost is unknown (a model
    without a price); ``cost_usd_known`` is then the sum of the costs that are known."""
    by_id = {r.sample_id: r for r in records}
    ids = [s.id for s in samples]
    recs = [by_id[i] for i in ids if i in by_id]
    known, unknown = _known_cost(recs)
    return {
        "n_samples": len(ids),
        "answered": sum(r.ok for r in recs),
        "errors": sum(r.outcome == "error" for r in recs),
        "retryable": sum(r.outcome == "error" and r.retryable for r in recs),
        "empty": sum(r.outcome == "empty" for r in recs),
        "not_run": len(ids) - len(recs),
        "cached": sum(r.cached for r in recs),
        "requests": sum(r.requests for r in recs),
        "input_tokens": sum(r.usage.input_tokens for r in recs),
        "output_tokens": sum(r.usage.output_tokens for r in recs),
        "cache_creation_input_tokens": sum(r.usage.cache_creation_input_tokens or 0 for r in recs),
        "cache_read_input_tokens": sum(r.usage.cache_read_input_tokens or 0 for r in recs),
        "cost_usd": round(known, 6) if unknown == 0 else None,
        "cost_known": unknown == 0,
        "cost_unknown_answers": unknown,
        "cost_usd_known": round(known, 6),
    }


def provider_price(provider: Provider) -> Price | bool | None:
    """The provider's price for its model: a Price, None (unknown), or True when the provider does
    not expose one (its responses carry their own cost)."""
    fn = getattr(provider, "price", None)
    if not callable(fn):
        return True
    try:
        p = fn()
    except Exception:
        return None
    return p if isinstance(p, Price) else None


def resume_mismatches(
    samples: Sequence[Sample], existing: dict[str, Record], provider: Provider
) -> list[str]:
    """Ids of samples with an existing answer made by a different request than this run would send:
    another request hash, or stored system/messages that differ from this run's (a record without a
    request hash cannot be checked and counts as a mismatch)."""
    return [
        s.id
        for s in samples
        if (r := existing.get(s.id)) is not None and r.ok and not same_request(r, s.request, provider)
    ]


def same_request(record: Record, request: Request, provider: Provider) -> bool:
    """The record answers exactly ``request`` as ``provider`` would send it now."""
    return (
        record.request_hash == request_key(provider, request)
        and (record.system or None) == (request.system or None)
        and [dict(m) for m in record.messages] == [dict(m) for m in request.messages]
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _secrets(provider: Provider) -> list[str]:
    vals = getattr(provider, "secret_values", None)
    return [v for v in (vals() if callable(vals) else vals or []) if v]


def _error_text(exc: BaseException, provider: Provider) -> str:
    msg = f"{type(exc).__name__}: {exc}"
    return sanitize(msg, _secrets(provider))[:1000]


@contextlib.contextmanager
def _progress(enabled: bool, total: int, stats: RunStats, label: str) -> Iterator[Callable[..., None]]:
    """A rich progress bar with live tokens, cost and error counts; yields ``refresh(note=None)``."""
    if not enabled:
        yield lambda note=None: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        transient=False,
    ) as prog:
        task = prog.add_task(label, total=total, info="")
        notes: dict[str, str] = {"note": ""}

        def refresh(note: str | None = None) -> None:
            if note is not None:
                notes["note"] = note
            done = stats.answered + stats.errors + stats.empty
            cost = f"${stats.cost_usd:.4f}" if stats.cost_known else f"${stats.cost_usd:.4f} + unknown"
            info = (
                f"tok in {stats.input_tokens} out {stats.output_tokens} | {cost}"
                f" | err {stats.errors} | empty {stats.empty} | cached {stats.cached}"
            )
            if notes["note"]:
                info += f" | {notes['note']}"
            prog.update(task, completed=done, info=info)

        yield refresh
        refresh()


def _batch_note(counts: dict[str, int]) -> str:
    return "batch " + " ".join(f"{k} {v}" for k, v in counts.items() if v)


class _Run:
    def __init__(
        self,
        provider: Provider,
        writer: JsonlWriter,
        cache: ResponseCache | None,
        *,
        refresh: bool,
        cost_limit: float | None,
        max_attempts: int,
        retry_backoff_s: float,
        attempt_timeout_s: float | None,
        limiter: AdaptiveLimiter,
        stats: RunStats,
    ) -> None:
        self.provider = provider
        self.writer = writer
        self.cache = cache
        self.refresh = refresh
        self.cost_limit = cost_limit
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.attempt_timeout_s = attempt_timeout_s
        self.limiter = limiter
        self.stats = stats
        self.records: dict[str, Record] = {}
        self.update: Callable[..., None] = lambda note=None: None
        self.hits: dict[str, Response] = {}
        self.stopping = False  # SIGINT/SIGTERM/SIGHUP: start nothing new, finish what is in flight
        self.signum: int = signal.SIGINT
        self.abandoned = 0  # requests in flight when a second SIGINT gave up on them
        self.pending_puts: list[Future[None]] = []
        self._keys: dict[int, str] = {}
        self.connected = False  # an answer has arrived from the endpoint in this run
        self.unreachable = False  # the endpoint could not be reached: send nothing more

    # -- helpers ---------------------------------------------------------------------------------
    def key(self, request: Request) -> str:
        k = self._keys.get(id(request))
        if k is None:
            k = self._keys[id(request)] = request_key(self.provider, request)
        return k

    def budget_spent(self) -> bool:
        """The cost limit is reached, or cannot be kept: an answer's cost is unknown (its reply said
        no token usage), so what is spent is no longer known."""
        if self.cost_limit is not None and (
            self.stats.cost_usd >= self.cost_limit or self.stats.cost_unknown
        ):
            self.stats.cost_limit_hit = True
            return True
        return False

    def emit(
        self,
        sample: Sample,
        *,
        response: Response | None,
        error: str | None,
        attempts: int,
        latency_s: float,
        cached: bool,
        batch: bool = False,
        empty: bool = False,
        requests: int | None = None,
        retryable: bool = False,
    ) -> None:
        req = sample.request
        sent = (0 if cached else attempts) if requests is None else requests
        cost: float | None = 0.0 if (cached or response is None) else response.cost_usd
        rec = Record(
            sample_id=sample.id,
            item_id=sample.item_id,
            condition=sample.condition,
            variant=sample.variant,
            provider=self.provider.name,
            model=(response.model if response and response.model else self.provider.model),
            params=dict(response.params) if response and response.params else dict(req.params),
            system=req.system,
            messages=[dict(m) for m in req.messages],
            response_text=response.text if response else None,
            usage=response.usage if response else Usage(),
            cost_usd=None if cost is None else float(cost),
            latency_s=round(latency_s, 4),
            attempts=attempts,
            error=error,
            cached=cached,
            meta=dict(sample.meta),
            batch=batch,
            finished_at=_now(),
            stop_reason=response.stop_reason if response else None,
            request_hash=self.key(req),
            empty=empty,
            requests=sent,
            retryable=retryable and error is not None and not empty,
        )
        self.writer.write(rec)
        self.records[sample.id] = rec
        st = self.stats
        st.attempts += attempts
        st.requests += sent
        st.retryable += int(rec.retryable)
        if error is None:
            st.answered += 1
            st.cached += int(cached)
            st.input_tokens += rec.usage.input_tokens
            st.output_tokens += rec.usage.output_tokens
            st.cache_creation_input_tokens += rec.usage.cache_creation_input_tokens or 0
            st.cache_read_input_tokens += rec.usage.cache_read_input_tokens or 0
            if rec.cost_usd is None:
                st.cost_unknown += 1
            else:
                st.cost_usd += rec.cost_usd
        elif empty:  # paid for, so its tokens and cost count
            st.empty += 1
            st.input_tokens += rec.usage.input_tokens
            st.output_tokens += rec.usage.output_tokens
            if rec.cost_usd is None:
                st.cost_unknown += 1
            else:
                st.cost_usd += rec.cost_usd
        else:
            st.errors += 1
        self.update()

    async def prefetch(self, samples: Sequence[Sample]) -> None:
        """One cache query for every pending sample, instead of one thread hop per sample."""
        if self.cache is None or self.refresh or not samples:
            return
        hits = await self.cache.aget_many([self.key(s.request) for s in samples])
        self.hits = {s.id: hits[k] for s in samples if (k := self.key(s.request)) in hits}

    def cached(self, sample: Sample) -> bool:
        hit = self.hits.pop(sample.id, None)
        if hit is None:
            return False
        self.emit(sample, response=hit, error=None, attempts=0, latency_s=0.0, cached=True)
        return True

    def store(self, sample: Sample, response: Response) -> None:
        if self.cache is None:
            return
        try:
            fut = self.cache.put_nowait(
                self.key(sample.request), self.provider.name, self.provider.model, response
            )
        except Exception as exc:  # a cache failure must not lose the answer itself
            log.warning("response cache write failed: %s", type(exc).__name__)
            return
        self.pending_puts.append(fut)

    async def flush_cache(self) -> None:
        if self.pending_puts:
            await asyncio.gather(*(asyncio.wrap_future(f) for f in self.pending_puts))
            self.pending_puts.clear()

    # -- interactive mode ------------------------------------------------------------------------
    async def one(self, sample: Sample) -> None:
        if self.cached(sample):
            return
        while True:
            async with self.limiter.slot():
                if self.budget_spent() or self.unreachable or self.stopping:
                    return  # not run: no record, a rerun resumes it
                holder = await self.claim(sample)
                if holder is None:
                    try:
                        await self.send(sample)
                    finally:
                        await self.release(sample)
                    return
            # another process is sending this very request: wait for its answer, outside the slot
            if await self.wait_for_other(sample, holder):
                return

    async def claim(self, sample: Sample) -> str | None:
        """None when this run may send ``sample``'s request (the claim is this run's, or there is no
        shared cache); else who is sending it (another process on the same cache)."""
        if self.cache is None or self.refresh:
            return None
        key = self.key(sample.request)
        holder = await self.cache.aclaim(key)
        if holder is None and (hit := await self.cache.aget(key)) is not None:
            self.hits[sample.id] = hit  # answered between this run's cache lookup and its claim
        return holder

    async def release(self, sample: Sample) -> None:
        if self.cache is None or self.refresh:
            return
        try:
            await self.cache.arelease(self.key(sample.request))
        except Exception as exc:  # an unreleased claim is taken over once this process has ended
            log.warning("response cache: could not release a claim (%s)", type(exc).__name__)

    async def wait_for_other(self, sample: Sample, holder: str) -> bool:
        """Wait while another process sends ``sample``'s request. True: its answer arrived (recorded as
        a cache hit) or this run is stopping; False: the claim ended without an answer, send it here."""
        assert self.cache is not None
        key = self.key(sample.request)
        self.stats.waited_for_other += 1
        log.info("%s is being requested by %s: waiting for its answer", sample.id, holder)
        while not (self.stopping or self.unreachable):
            hit = await self.cache.aget(key)
            if hit is not None:
                self.hits[sample.id] = hit
                return self.cached(sample)
            if await self.cache.aholder(key) is None:
                return False  # the other process failed or stopped: this run sends it
            await asyncio.sleep(CLAIM_POLL_S)
        return True

    async def send(self, sample: Sample) -> None:
        """Ask the provider, with bounded retries that wait at least what the server asks for; write the
        record. Holds a concurrency slot."""
        if self.cached(sample):  # claimed just after another process stored the answer
            return
        t0 = time.perf_counter()
        attempt = 0
        empties: list[Response] = []
        with count_requests() as sent:
            while True:
                if self.budget_spent() or self.unreachable or self.stopping:
                    return  # not run: no record, a rerun resumes it
                attempt += 1
                before = sent[0]
                try:
                    if self.attempt_timeout_s is not None:
                        resp = await asyncio.wait_for(
                            self.provider.generate(sample.request), self.attempt_timeout_s
                        )
                    else:
                        resp = await self.provider.generate(sample.request)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    sent[0] = max(sent[0], before + 1)  # a provider that does not count: one request
                    stop = self.stop_error(exc)
                    if stop is not None:
                        self.unreachable = True
                        self.emit(
                            sample,
                            response=None,
                            error=_error_text(exc, self.provider),
                            attempts=attempt,
                            latency_s=time.perf_counter() - t0,
                            cached=False,
                            requests=sent[0],
                        )
                        raise stop from None
                    retryable = _safe_should_retry(self.provider, exc)
                    retry = attempt < self.max_attempts and retryable
                    log.debug(
                        "sample %s attempt %d failed (%s), retry=%s",
                        sample.id,
                        attempt,
                        type(exc).__name__,
                        retry,
                    )
                    delay = self.retry_delay(attempt, exc) if retry else 0.0
                    if retry and delay <= RETRY_WAIT_CAP_S:
                        await self.pause(delay)
                        continue
                    waited = (
                        f" (the server asked to wait {delay:.0f} s before a retry: rerun later)"
                        if retry
                        else ""
                    )
                    self.emit(
                        sample,
                        response=None,
                        error=_error_text(exc, self.provider) + waited,
                        attempts=attempt,
                        latency_s=time.perf_counter() - t0,
                        cached=False,
                        requests=sent[0],
                        retryable=retryable,
                    )
                    return
                sent[0] = max(sent[0], before + 1)
                self.connected = True
                self.limiter.on_success()
                if is_empty_reply(resp):
                    empties.append(resp)
                    if len(empties) <= EMPTY_RETRIES:
                        continue
                    self.emit(
                        sample,
                        response=_paid(empties[:-1], resp),
                        error=EMPTY_ERROR.format(stop=resp.stop_reason, n=len(empties)),
                        attempts=attempt,
                        latency_s=time.perf_counter() - t0,
                        cached=False,
                        empty=True,
                        requests=sent[0],
                    )
                    return
                self.store(sample, resp)
                self.emit(
                    sample,
                    response=_paid(empties, resp),
                    error=None,
                    attempts=attempt,
                    latency_s=time.perf_counter() - t0,
                    cached=False,
                    requests=sent[0],
                )
                return

    def stop_error(self, exc: BaseException) -> EndpointUnreachable | None:
        """The one-line error that stops a run whose first request failed for every request alike:
        refused (the provider's ``setup_error`` says how to fix it) or unreachable (its
        ``is_connection_error``); None once an answer has arrived, or for any other failure."""
        if self.connected:
            return None
        where = getattr(self.provider, "endpoint", None) or self.provider.name
        hint = _optional_hook(self.provider, "setup_error", exc)
        if hint:
            msg = f"{where} refused the request: {_root_cause(exc)}; {hint}"
            return EndpointRefused(sanitize(msg, _secrets(self.provider)))
        if _optional_hook(self.provider, "is_connection_error", exc):
            return EndpointUnreachable(
                sanitize(f"cannot reach {where}: {_root_cause(exc)}", _secrets(self.provider))
            )
        return None

    async def pause(self, seconds: float) -> None:
        """Wait before a retry; a signal or an unreachable endpoint cuts the wait short (the loop
        then stops the sample: no request is in flight while waiting)."""
        end = time.monotonic() + seconds
        while not (self.stopping or self.unreachable) and (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.2))

    def retry_delay(self, attempt: int, exc: BaseException) -> float:
        """Exponential backoff with jitter, never shorter than the server's ``retry-after``."""
        delay = self.retry_backoff_s * (2 ** (attempt - 1)) * (0.5 + random.random() / 2)
        fn = getattr(self.provider, "retry_after", None)
        try:
            asked = fn(exc) if callable(fn) else None
        except Exception:
            asked = None
        return max(delay, float(asked)) if asked is not None else delay

    # -- batch mode ------------------------------------------------------------------------------
    async def batched(
        self, samples: list[Sample], batch_size: int, on_poll: Callable[[dict[str, int]], None]
    ) -> None:
        gen_batch = getattr(self.provider, "generate_batch", None)
        if gen_batch is None:
            raise ValueError(f"`batch` is not supported by provider {self.provider.name!r}")
        misses = [s for s in samples if not self.cached(s)]
        attempts: dict[str, int] = {s.id: 0 for s in misses}
        empties: dict[str, list[Response]] = {}
        pending = misses
        while pending:
            retry: list[Sample] = []
            for start in range(0, len(pending), batch_size):
                if self.budget_spent():
                    return
                chunk = pending[start : start + batch_size]
                ids = {_custom_id(s.id): s for s in chunk}
                t0 = time.perf_counter()
                try:
                    results: dict[str, Response | BaseException] = await gen_batch(
                        [(cid, s.request) for cid, s in ids.items()], on_poll
                    )
                except Exception as exc:
                    stop = self.stop_error(exc)
                    if stop is None:
                        raise
                    raise stop from None
                self.connected = True
                wall = time.perf_counter() - t0
                for cid, s in ids.items():
                    attempts[s.id] += 1
                    res = results.get(cid, RuntimeError("batch returned no result for this request"))
                    if isinstance(res, Response) and is_empty_reply(res):
                        empties.setdefault(s.id, []).append(res)
                        if len(empties[s.id]) <= EMPTY_RETRIES:
                            retry.append(s)
                        else:
                            self.emit(
                                s,
                                response=_paid(empties[s.id][:-1], res),
                                error=EMPTY_ERROR.format(stop=res.stop_reason, n=len(empties[s.id])),
                                attempts=attempts[s.id],
                                latency_s=wall,
                                cached=False,
                                batch=True,
                                empty=True,
                            )
                    elif isinstance(res, Response):
                        self.store(s, res)
                        self.emit(
                            s,
                            response=_paid(empties.get(s.id, []), res),
                            error=None,
                            attempts=attempts[s.id],
                            latency_s=wall,
                            cached=False,
                            batch=True,
                        )
                    elif attempts[s.id] < self.max_attempts and _safe_should_retry(self.provider, res):
                        retry.append(s)
                    else:
                        self.emit(
                            s,
                            response=None,
                            error=_error_text(res, self.provider),
                            attempts=attempts[s.id],
                            latency_s=wall,
                            cached=False,
                            batch=True,
                        )
            pending = retry


def _paid(earlier: Sequence[Response], last: Response) -> Response:
    """``last`` with the tokens and cost of the empty replies before it added: they were billed."""
    if not earlier:
        return last
    u = last.usage
    cost = last.cost_usd
    for r in earlier:
        u = Usage(u.input_tokens + r.usage.input_tokens, u.output_tokens + r.usage.output_tokens,
                  u.cache_creation_input_tokens, u.cache_read_input_tokens)  # fmt: skip
        cost = None if cost is None or r.cost_usd is None else cost + r.cost_usd
    return replace(last, usage=u, cost_usd=cost)


def _custom_id(sample_id: str) -> str:
    """Batch custom_id must match ^[a-zA-Z0-9_-]{1,64}$; sample ids may contain '/' etc."""
    return "s-" + hashlib.sha256(sample_id.encode()).hexdigest()[:40]


def _safe_should_retry(provider: Provider, exc: BaseException) -> bool:
    try:
        return bool(provider.should_retry(exc))
    except Exception:
        return False


async def arun_samples(
    samples: Sequence[Sample],
    provider: Provider,
    out_dir: str | Path,
    *,
    concurrency: int = 8,
    cache: ResponseCache | str | Path | None = None,
    cost_limit: float | None = None,
    use_cache: bool = True,
    refresh: bool = False,
    batch: bool = False,
    progress: bool = True,
    max_attempts: int = 3,
    retry_backoff_s: float = 0.5,
    attempt_timeout_s: float | None = None,
    batch_size: int = 10_000,
    limiter: AdaptiveLimiter | None = None,
    stats: RunStats | None = None,
    resume: str = "rerun",
) -> list[Record]:
    """Async core of :func:`run_samples`. Returns the final record of every sample that has one.

    Raises UnpricedModelError (before any request) when ``cost_limit`` is set and the provider has
    no price for its model, and ResumeMismatchError when ``resume="strict"`` and existing answers
    in ``out_dir`` were made by a different request.
    """
    if resume not in RESUME_MODES:
        raise ValueError(f"`resume` must be one of {'|'.join(RESUME_MODES)}, got {resume!r}")
    if max_attempts < 1:
        raise ValueError(f"`max_attempts` must be >= 1, got {max_attempts}")
    if cost_limit is not None and cost_limit < 0:
        raise ValueError(f"`cost_limit` must be >= 0, got {cost_limit}")
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"sample ids must be unique within a run, duplicated: {dupes}")

    price = provider_price(provider)
    if price is None and cost_limit is not None:
        raise UnpricedModelError(
            f"cannot enforce a cost limit: no price for model {provider.model!r} "
            f"({provider.name}); {PRICE_FILE_HELP.replace('MODEL', provider.model)}"
        )

    with output_lock(out_dir):
        out = Path(out_dir)
        path = out / RESPONSES_FILE
        existing = {r.sample_id: r for r in prepare_resume(path)} if path.exists() else {}
        mismatched = resume_mismatches(samples, existing, provider)
        if mismatched and resume == "strict":
            shown = ", ".join(mismatched[:10]) + (", ..." if len(mismatched) > 10 else "")
            n_ok = sum(1 for s in samples if s.id in existing and existing[s.id].ok)
            raise ResumeMismatchError(
                f"{len(mismatched)} of {n_ok} existing answers in {path} were made by a different request "
                f"than this run would send (edited prompt or item, other endpoint, model or parameters): "
                f"{shown}. Use another output directory, or resume without strict to re-run them."
            )
        redo = set(mismatched)
        todo = [s for s in samples if not (s.id in existing and existing[s.id].ok) or s.id in redo]
        out.mkdir(parents=True, exist_ok=True)

        stats = stats if stats is not None else RunStats()
        stats.n_samples = len(samples)
        stats.skipped_done = len(samples) - len(todo)
        stats.resume_mismatched = len(mismatched)
        stats.resume_mismatch_ids = list(mismatched)
        stats.price_known = price is not None
        if mismatched:
            log.info(
                "%d existing answers were made by a different request and are re-run: %s",
                len(mismatched),
                ", ".join(mismatched[:5]) + (", ..." if len(mismatched) > 5 else ""),
            )
        limiter = limiter or AdaptiveLimiter(concurrency)
        add_listener = getattr(provider, "add_rate_limit_listener", None)
        if callable(add_listener):
            add_listener(limiter.on_rate_limited)

        own_cache = False
        cache_obj: ResponseCache | None = None
        if use_cache:
            if isinstance(cache, ResponseCache):
                cache_obj = cache
            else:
                cache_obj, own_cache = ResponseCache(cache), True

        writer = JsonlWriter(path)
        run = _Run(
            provider,
            writer,
            cache_obj,
            refresh=refresh,
            cost_limit=cost_limit,
            max_attempts=max_attempts,
            retry_backoff_s=retry_backoff_s,
            attempt_timeout_s=attempt_timeout_s,
            limiter=limiter,
            stats=stats,
        )
        t0 = time.perf_counter()
        label = f"{provider.name}:{provider.model}" + (" (batch)" if batch else "")
        try:
            with _progress(progress, len(todo), stats, label) as refresh_bar:
                run.update = refresh_bar
                await run.prefetch(todo)
                if batch:
                    await run.batched(list(todo), batch_size, lambda counts: refresh_bar(_batch_note(counts)))
                else:
                    tasks = [asyncio.create_task(run.one(s)) for s in todo]
                    with _sigint_drains(run, tasks):
                        try:
                            await asyncio.gather(*tasks)
                        except BaseException:
                            for t in tasks:
                                t.cancel()
                            await asyncio.gather(*tasks, return_exceptions=True)
                            if not run.stopping:
                                raise
        finally:
            try:
                await run.flush_cache()
            except Exception as exc:  # a cache failure must not lose the records already written
                log.warning("response cache write failed: %s", type(exc).__name__)
            aclose = getattr(provider, "aclose", None)
            if callable(aclose):
                with contextlib.suppress(Exception):
                    await aclose()
            writer.close()
            if any(sid in existing for sid in run.records):
                prepare_resume(path)  # retried errors were superseded: keep one line per sample
            if own_cache and cache_obj is not None:
                cache_obj.close()
            stats.wall_s = time.perf_counter() - t0
        # an answer to a different request that was not re-run (cost limit) is not this run's answer:
        # it stays on disk (nothing is lost) but is not returned, and the sample counts as not run
        current = {k: v for k, v in existing.items() if k not in redo}
        final = {**current, **run.records}
        stats.not_run = sum(1 for s in samples if s.id not in final)
        stats.extra["limiter"] = {
            "final_limit": limiter.allowed,
            "shrinks": limiter.n_shrinks,
            "peak": limiter.peak_in_flight,
        }
        if run.stopping:
            raise Interrupted(
                f"interrupted: {len(run.records)} records of this run kept in {path} "
                f"({stats.answered} answered, {stats.errors} errors, {stats.empty} empty; "
                f"{run.abandoned} requests in flight abandoned); {stats.not_run} samples not run: "
                "rerun the same command to continue (answers that arrived are not requested again)",
                run.signum,
            )
        return [final[s.id] for s in samples if s.id in final]


_HELD: dict[str, int] = {}  # output folders this process holds (a nested run into one is not a second writer)


@contextlib.contextmanager
def output_lock(out_dir: str | Path, say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold ``out_dir``'s lock (``flock`` on ``.llm-eval.lock``) while inside: a second command writing
    into the same folder waits, saying once who holds it, then resumes from what the first one wrote.
    The kernel drops the lock with its process, so a killed command never blocks the next one."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    key = str(folder.resolve())
    if _HELD.get(key):
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    told = True
                    (say or log.warning)(
                        f"{folder} is being written by another llm-eval ({_lock_owner(fd)}): waiting for it "
                        "to finish, then answers it wrote are reused (Ctrl-C to stop waiting)"
                    )
                time.sleep(CLAIM_POLL_S)  # polled, so that Ctrl-C ends the wait at once
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.pwrite(fd, json.dumps(info).encode(), 0)
        _HELD[key] = 1
        try:
            yield
        finally:
            _HELD.pop(key, None)
    finally:
        os.close(fd)


def _lock_owner(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        since = datetime.fromtimestamp(float(data["since"])).strftime("%H:%M:%S")
        return f"pid {data.get('pid')} on {data.get('host')}, since {since}"
    return "another process"


@contextlib.contextmanager
def _sigint_drains(run: _Run, tasks: Sequence[asyncio.Task[None]]) -> Iterator[None]:
    """First SIGINT (or SIGTERM, SIGHUP): start no new request and let those in flight finish (their
    answers are paid for); a second signal abandons them. The handlers the command had before come back
    afterwards. Only the main thread's loop can take signals; elsewhere they keep their usual effect."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if not run.stopping:
            run.stopping = True
            run.signum = signum
            log.warning(
                "%s: finishing %d requests in flight (Ctrl-C again to abandon them)",
                "interrupt" if signum == signal.SIGINT else signal.Signals(signum).name,
                run.limiter.in_flight,
            )
            return
        run.abandoned = run.limiter.in_flight
        for t in tasks:
            t.cancel()

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {sig: signal.getsignal(sig) for sig in sigs}
    try:
        for sig in sigs:
            loop.add_signal_handler(sig, on_signal, sig)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
        yield
        return
    try:
        yield
    finally:
        for sig in sigs:
            loop.remove_signal_handler(sig)
            if before[sig] is not None:
                signal.signal(sig, before[sig])


def run_samples(
    samples: Sequence[Sample],
    provider: Provider,
    out_dir: str | Path,
    *,
    concurrency: int = 8,
    cache: ResponseCache | str | Path | None = None,
    cost_limit: float | None = None,
    use_cache: bool = True,
    refresh: bool = False,
    batch: bool = False,
    progress: bool = True,
    resume: str = "rerun",
    **kwargs: Any,
) -> list[Record]:
    """Run every sample not already answered in ``out_dir/responses.jsonl``; see :func:`arun_samples`.

    Safe to call from inside a running event loop (e.g. an async Prefect task): it then runs on a
    private loop in a worker thread.
    """
    coro = arun_samples(
        samples,
        provider,
        out_dir,
        concurrency=concurrency,
        cache=cache,
        cost_limit=cost_limit,
        use_cache=use_cache,
        refresh=refresh,
        batch=batch,
        progress=progress,
        resume=resume,
        **kwargs,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as ex:
        return ex.submit(asyncio.run, coro).result()
