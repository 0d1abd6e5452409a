"""Plain data types shared by providers, the runner, the cache and the suites.

Everything is a dataclass with ``to_dict`` / ``from_dict`` so records round-trip through JSON
(responses.jsonl, the cache) without a schema library.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Analyzer",
    "Message",
    "Provider",
    "ProviderError",
    "Record",
    "Request",
    "Response",
    "Sample",
    "Usage",
    "canonical_json",
    "valid_text",
]

Message = dict[str, str]  # {"role": "user" | "assistant", "content": "..."}

# A suite's optional analysis hook: called by the CLI after the run with every record of the run.
Analyzer = Callable[[list["Record"], Path], Any]


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` with each lone surrogate as U+FFFD. JSON may escape one (``\\ud800``) in a reply, but
    UTF-8 cannot encode it: left in, it would stop the answer from being written, cached or hashed."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def canonical_json(obj: Any) -> str:
    """Stable JSON (sorted keys, no whitespace, UTF-8 kept) so hashes don't depend on dict order."""
    return valid_text(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


@dataclass(frozen=True)
class Request:
    """One model call. Defaults are the study's decoding settings (temperature 0.2, max_tokens 512)."""

    messages: list[Message]
    system: str | None = None
    temperature: float = 0.2
    max_tokens: int = 512

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("`messages` must not be empty, got []")
        for m in self.messages:
            if m.get("role") not in ("user", "assistant") or not isinstance(m.get("content"), str):
                raise ValueError(f"`messages` entries need role user|assistant and str content, got {m!r}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"`temperature` must be in [0, 2], got {self.temperature}")
        if self.max_tokens < 1:
            raise ValueError(f"`max_tokens` must be >= 1, got {self.max_tokens}")

    @property
    def params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": [dict(m) for m in self.messages],
            "system": self.system,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Request:
        return cls(
            messages=[dict(m) for m in d["messages"]],
            system=d.get("system"),
            temperature=float(d.get("temperature", 0.2)),
            max_tokens=int(d.get("max_tokens", 512)),
        )

    def digest(self) -> str:
        """sha256 of the request content (not the provider); used for per-request seeds."""
        return hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


@dataclass
class Usage:
    """Token counts as the provider reports them. ``input_tokens`` excludes prompt-cache reads and
    writes, which the API bills at their own rates and reports separately (None: not reported)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        d: dict[str, int | None] = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        if self.cache_creation_input_tokens is not None:
            d["cache_creation_input_tokens"] = self.cache_creation_input_tokens
        if self.cache_read_input_tokens is not None:
            d["cache_read_input_tokens"] = self.cache_read_input_tokens
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Usage:
        d = d or {}
        return cls(
            int(d.get("input_tokens", 0)),
            int(d.get("output_tokens", 0)),
            _opt_int(d.get("cache_creation_input_tokens")),
            _opt_int(d.get("cache_read_input_tokens")),
        )


@dataclass
class Response:
    """What a provider returns for one request.

    ``params`` are the decoding parameters actually used (a provider may cap them, e.g. the
    local model's max_new_tokens); when None the request's own params apply. ``cost_usd`` is None
    when the model has no price (unknown, not free).
    """

    text: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    stop_reason: str | None = None
    cost_usd: float | None = 0.0
    params: dict[str, Any] | None = None
    raw_id: str | None = None

    def __post_init__(self) -> None:
        self.text = valid_text(self.text)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["usage"] = self.usage.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Response:
        return cls(
            text=d["text"],
            usage=Usage.from_dict(d.get("usage")),
            model=d.get("model", ""),
            stop_reason=d.get("stop_reason"),
            cost_usd=_opt_float(d.get("cost_usd", 0.0)),
            params=d.get("params"),
            raw_id=d.get("raw_id"),
        )


@dataclass(frozen=True)
class Sample:
    """One unit of work. ``id`` is unique within a run; ``item_id`` pairs a perturbed sample with
    its clean twin (same item, different condition/variant)."""

    id: str
    item_id: str
    condition: str
    variant: str
    request: Request
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("`id` must be a non-empty string, got ''")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_id,
            "condition": self.condition,
            "variant": self.variant,
            "request": self.request.to_dict(),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        return cls(
            id=d["id"],
            item_id=d["item_id"],
            condition=d["condition"],
            variant=d["variant"],
            request=Request.from_dict(d["request"]),
            meta=dict(d.get("meta") or {}),
        )


@dataclass
class Record:
    """One finished request, as written to responses.jsonl.

    ``error`` is None for an answered sample; otherwise a sanitized message. Errors are shown
    separately and never scored as wrong answers. ``cost_usd`` is None when the model had no price
    (unknown, never $0). ``request_hash`` is the cache key of the exact request sent (provider,
    endpoint, model, API version, parameters, system, messages): resume compares it with the
    request a rerun would send. ``stop_reason`` is the provider's ("end_turn", "max_tokens", ...).
    ``model_grade`` is the optional model grader's verdict ({"verdict", "model", "provider", "raw"}).
    ``empty`` marks a reply with no text that is no answer (``runner.EMPTY_STOPS``) even when asked again: it is its own
    outcome, neither an answer nor a wrong answer (``error`` says so, so it is never scored, cached or
    treated as answered on resume), and is counted apart from provider errors.
    ``attempts`` counts the runner's tries; ``requests`` every HTTP request sent for the sample, the
    SDK's own retries included (0 for a cached answer). ``retryable`` marks an error that a later run
    may not meet (rate limits, overload, timeouts outlasting the retry budget): rerun to retry it.
    """

    sample_id: str
    item_id: str
    condition: str
    variant: str
    provider: str
    model: str
    params: dict[str, Any]
    system: str | None
    messages: list[Message]
    response_text: str | None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = 0.0
    latency_s: float = 0.0
    attempts: int = 0
    error: str | None = None
    cached: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    batch: bool = False
    finished_at: str | None = None
    stop_reason: str | None = None
    request_hash: str | None = None
    model_grade: dict[str, Any] | None = None
    empty: bool = False
    requests: int = 0
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def outcome(self) -> str:
        """answered | empty | error"""
        return "answered" if self.error is None else "empty" if self.empty else "error"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["usage"] = self.usage.to_dict()
        for flag in ("empty", "retryable"):
            if not d[flag]:
                del d[flag]  # the common case stays out of every line
        return d

    def to_json(self) -> str:
        return valid_text(json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        return cls(
            sample_id=d["sample_id"],
            item_id=d["item_id"],
            condition=d["condition"],
            variant=d["variant"],
            provider=d["provider"],
            model=d["model"],
            params=dict(d.get("params") or {}),
            system=d.get("system"),
            messages=[dict(m) for m in d.get("messages") or []],
            response_text=d.get("response_text"),
            usage=Usage.from_dict(d.get("usage")),
            cost_usd=_opt_float(d.get("cost_usd", 0.0)),
            latency_s=float(d.get("latency_s", 0.0)),
            attempts=int(d.get("attempts", 0)),
            error=d.get("error"),
            cached=bool(d.get("cached", False)),
            meta=dict(d.get("meta") or {}),
            batch=bool(d.get("batch", False)),
            finished_at=d.get("finished_at"),
            stop_reason=d.get("stop_reason"),
            request_hash=d.get("request_hash"),
            model_grade=dict(d["model_grade"]) if d.get("model_grade") else None,
            empty=bool(d.get("empty", False)),
            requests=int(d.get("requests", 0)),
            retryable=bool(d.get("retryable", False)),
        )


class ProviderError(Exception):
    """A provider failure with a message that is already safe to record (no secrets)."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@runtime_checkable
class Provider(Protocol):
    """The one interface a model backend implements."""

    name: str
    model: str

    async def generate(self, request: Request) -> Response: ...

    def should_retry(self, exc: BaseException) -> bool: ...
