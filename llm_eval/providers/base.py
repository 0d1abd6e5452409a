"""Provider factory, and what every provider reports back about the requests it sent.

The Provider Protocol itself lives in llm_eval.types.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from llm_eval.types import Provider

__all__ = ["PROVIDERS", "count_requests", "make_provider", "note_request", "retry_after_s"]

# the requests sent on behalf of the sample being run (a list so that tasks copying the context share it)
_SENT: ContextVar[list[int] | None] = ContextVar("llm_eval_requests_sent", default=None)


@contextlib.contextmanager
def count_requests() -> Iterator[list[int]]:
    """Inside, ``note_request`` counts into the yielded one-item list: the runner wraps one sample's
    attempts in it, so the record says how many requests were sent, retries of the SDK included."""
    box = [0]
    token = _SENT.set(box)
    try:
        yield box
    finally:
        _SENT.reset(token)


def note_request() -> None:
    """Called by a provider for every request it sends (each HTTP attempt)."""
    box = _SENT.get()
    if box is not None:
        box[0] += 1


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a response asks the client to wait before its next request: ``retry-after-ms``, else
    ``retry-after`` in seconds or as an HTTP date (the order the Anthropic SDK reads them in)."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) / scale)
        except ValueError:
            pass
    date = email.utils.parsedate_tz(str(headers.get("retry-after") or ""))
    return None if date is None else max(0.0, email.utils.mktime_tz(date) - time.time())


PROVIDERS = ("anthropic", "local")


def make_provider(name: str, model: str | None = None, base_url: str | None = None, **kw: Any) -> Provider:
    """``anthropic`` kwargs: api_key, timeout_s, max_retries, prices, batch_poll_s, send_temperature.
    ``local`` kwargs: max_new_tokens, seed, loader, threads, max_batch, max_wait_ms (base_url is ignored)."""
    if name == "anthropic":
        from llm_eval.providers.anthropic import AnthropicProvider

        return AnthropicProvider(model, base_url=base_url, **kw)
    if name == "local":
        from llm_eval.providers.local import LocalProvider

        return LocalProvider(model, **kw)
    raise ValueError(f"`provider` must be one of {PROVIDERS}, got {name!r}")
