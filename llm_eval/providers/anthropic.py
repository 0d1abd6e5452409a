"""Claude through the official SDK (AsyncAnthropic), imported lazily.

Retry layering (all bounded):
- the SDK retries 429/529/5xx/timeouts itself, honouring ``retry-after`` (``max_retries``);
- ``should_retry`` tells the runner to try again (its own ``max_attempts``) after timeouts,
  connection errors, overload and malformed replies that survived the SDK's retries, and
  ``retry_after`` how long the server asked it to wait first (the runner never waits less); but
  ``is_connection_error`` lets the runner stop a run whose first requests cannot connect at all
  (refused, DNS, no route) instead of retrying every sample against an unreachable endpoint, and
  ``setup_error`` one whose first request is refused for every request alike (401, 403, 404).
The base URL is checked (scheme, host, port) when the provider is made, before anything runs.
Every HTTP attempt passes through a middleware that counts it (``note_request``: the record says how
many requests a sample took) and reports 429/529 to rate-limit listeners (the runner's AIMD limiter),
so backing off happens even while the SDK retries internally.

The key comes from ``api_key`` or ANTHROPIC_API_KEY. It is never put in ``repr``, records or
error strings (``secret_values`` lets the runner scrub it from anything it records).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llm_eval.pricing import Price, PriceTable
from llm_eval.providers.base import note_request, retry_after_s
from llm_eval.types import ProviderError, Request, Response, Usage

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "AnthropicProvider",
    "MalformedReply",
    "api_version",
    "validate_base_url",
]

DEFAULT_MODEL = "claude-sonnet-5-5"  # newest Sonnet in the installed SDK's ModelParam literals
DEFAULT_BASE_URL = "https://api.anthropic.com"

RATE_LIMIT_STATUSES = frozenset({429, 529})
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def api_version() -> str:
    """The ``anthropic-version`` header the installed SDK sends (it decides what the API accepts)."""
    try:
        from anthropic._constants import ANTHROPIC_API_VERSION

        return str(ANTHROPIC_API_VERSION)
    except ImportError:
        from anthropic import AsyncAnthropic

        return str(AsyncAnthropic(api_key="-").default_headers.get("anthropic-version", "unknown"))


def validate_base_url(url: str) -> str:
    """The URL unchanged when it is http(s)://HOST[:PORT][/path] with a port in 1-65535; otherwise a
    ValueError naming what is wrong (``http://127.0.0.1:`` has an empty port)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"`base_url` must start with http:// or https://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"`base_url` has no host, got {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"`base_url` port must be a number in 1-65535, got {url!r}") from None
    if parts.netloc.endswith(":") or port == 0:
        raise ValueError(f"`base_url` has an empty or zero port after ':', got {url!r}")
    return url


def _int_or_none(v: Any) -> int | None:
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


def _usage(message: Any) -> Usage:
    """Usage from a reply, never raising: a reply whose usage cannot be read is still an answer."""
    u = getattr(message, "usage", None)
    return Usage(
        _int_or_none(getattr(u, "input_tokens", None)) or 0,
        _int_or_none(getattr(u, "output_tokens", None)) or 0,
        _int_or_none(getattr(u, "cache_creation_input_tokens", None)),
        _int_or_none(getattr(u, "cache_read_input_tokens", None)),
    )


def _usage_reported(message: Any) -> bool:
    """Whether the reply says how many tokens it billed: without that its cost is unknown, not $0."""
    u = getattr(message, "usage", None)
    return all(_int_or_none(getattr(u, k, None)) is not None for k in ("input_tokens", "output_tokens"))


def _counts(batch: Any) -> dict[str, int]:
    return {k: int(v) for k, v in batch.request_counts.to_dict().items()}


class MalformedReply(ProviderError):
    """The API answered 2xx but the body was not a usable message."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


NOT_MESSAGES_API = "check that --base-url (or ANTHROPIC_BASE_URL) points at an Anthropic Messages API"


def _snippet(body: str, n: int = 80) -> str:
    flat = " ".join(body.split())
    return repr(flat if len(flat) <= n else flat[:n] + "...")


def unusable_reply(message: Any) -> MalformedReply:
    """Why a 2xx body is not an answer, in words that say what came back: a body that is not JSON
    (an HTML page from a proxy or login wall), an error object sent with status 200, or JSON of
    another API (no ``content`` list). Retried as malformed either way."""
    if isinstance(message, str | bytes):
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        return MalformedReply(
            f"malformed reply: the body is not JSON, it starts {_snippet(text)}; {NOT_MESSAGES_API}"
        )
    if getattr(message, "type", None) == "error":
        err = getattr(message, "error", None)
        err = err if isinstance(err, dict) else {}
        return MalformedReply(
            f"the API answered 2xx with an error body: {err.get('type', 'error')}: {err.get('message', '')}"
        )
    present = set(getattr(message, "model_fields_set", None) or ()) | set(
        getattr(message, "model_extra", None) or {}
    )
    fields = ", ".join(sorted(present)) or "none"
    return MalformedReply(
        f"malformed reply: JSON without a `content` list (fields: {fields}), not a Messages API reply; "
        f"{NOT_MESSAGES_API}"
    )


class BatchEntryError(ProviderError):
    """One request of a Message Batch errored, expired or was canceled."""


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        prices: PriceTable | None = None,
        batch_poll_s: float = 10.0,
        send_temperature: bool = False,
        http_backend: str = "auto",
    ) -> None:
        self.model = model or DEFAULT_MODEL
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ProviderError(
                "no Anthropic API key: set ANTHROPIC_API_KEY, pass api_key, or use the CLI's "
                "--api-key-block to read a Prefect Secret block"
            )
        self.__key = key
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        if self.base_url is not None:
            validate_base_url(self.base_url)
        self.api_version = api_version()
        if timeout_s <= 0:
            raise ValueError(f"`timeout_s` must be > 0, got {timeout_s}")
        if max_retries < 0:
            raise ValueError(f"`max_retries` must be >= 0, got {max_retries}")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.prices = prices or PriceTable()
        self.batch_poll_s = batch_poll_s
        self.send_temperature = send_temperature
        if http_backend not in ("auto", "aiohttp", "httpx"):
            raise ValueError(f"`http_backend` must be auto|aiohttp|httpx, got {http_backend!r}")
        self.http_backend = http_backend
        self.http_attempts = 0  # every HTTP attempt, SDK retries included
        self.rate_limited = 0
        self._listeners: list[Callable[[], None]] = []
        self._clients: dict[int, AsyncAnthropic] = {}
        self.cache_extra: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"AnthropicProvider(model={self.model!r}, base_url={self.base_url!r})"

    def secret_values(self) -> list[str]:
        return [self.__key]

    def add_rate_limit_listener(self, fn: Callable[[], None]) -> None:
        if fn not in self._listeners:
            self._listeners.append(fn)

    # -- client ----------------------------------------------------------------------------------
    def _client(self) -> AsyncAnthropic:
        """One client per event loop: httpx connection pools are bound to the loop that made them."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(id(loop))
        if client is None:
            from anthropic import AsyncAnthropic

            provider = self

            async def observe(request: Any, call_next: Any) -> Any:
                provider.http_attempts += 1
                note_request()
                response = await call_next(request)
                if response.status_code in RATE_LIMIT_STATUSES:
                    provider.rate_limited += 1
                    for fn in provider._listeners:
                        fn()
                return response

            client = AsyncAnthropic(
                api_key=self.__key,
                base_url=self.base_url,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
                middleware=[observe],
                http_client=self._http_client(),
            )
            self._clients = {k: v for k, v in self._clients.items() if k == id(loop)}
            self._clients[id(loop)] = client
        return client

    async def aclose(self) -> None:
        """Close the client of the running loop (the runner calls this before its loop ends)."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(id(loop), None)
        if client is not None:
            await client.close()

    def _http_client(self) -> Any:
        """aiohttp transport when available (the SDK's recommendation for high concurrency: about
        half the client CPU per request of the default httpx pool), else the SDK default."""
        if self.http_backend == "httpx":
            return None
        from anthropic import DefaultAioHttpClient

        try:
            return DefaultAioHttpClient(timeout=self.timeout_s)
        except RuntimeError:  # the SDK's vendored transport needs aiohttp
            if self.http_backend == "aiohttp":
                raise ProviderError(
                    "`http_backend` aiohttp needs the package `aiohttp` (anthropic[aiohttp])"
                ) from None
            return None

    def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
        }
        if request.system:
            params["system"] = request.system
        if self.send_temperature:
            params["temperature"] = request.temperature
        return params

    @property
    def endpoint(self) -> str:
        return (self.base_url or DEFAULT_BASE_URL).rstrip("/")

    def request_identity(self, request: Request) -> dict[str, Any]:
        """Where the request goes and exactly what is sent (the cache key and request hash)."""
        return {"endpoint": self.endpoint, "api_version": self.api_version, "body": self._params(request)}

    def price(self) -> Price | None:
        """The evaluated model's price, or None when unknown (looked up before the first request)."""
        return self.prices.find(self.model)

    def _cost(self, reply_model: Any, usage: Usage, batch: bool) -> float | None:
        """Priced by the model id the API reports (e.g. a dated snapshot), else the requested id;
        None when neither has a price. Never raises: pricing must not lose a received answer."""
        try:
            for m in (reply_model, self.model):
                if isinstance(m, str) and m:
                    c = self.prices.cost(m, usage, batch=batch)
                    if c is not None:
                        return c
        except Exception:
            return None
        return None

    def _used_params(self, request: Request) -> dict[str, Any]:
        """What was actually sent: API version 2026-10-21 (SDK 2.x) rejects sampling parameters,
        so the study's temperature is recorded as requested but not sent unless opted in."""
        return {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature if self.send_temperature else None,
            "requested_temperature": request.temperature,
        }

    def _to_response(self, message: Any, request: Request, *, batch: bool = False) -> Response:
        """A reply with a content list is an answer (its text blocks joined; an empty list, e.g. a
        refusal, is the empty answer). Only a body without one is malformed. Usage, price and the
        other fields are read without raising, so a received answer is never turned into an error."""
        blocks = getattr(message, "content", None)
        if not isinstance(blocks, list):
            raise unusable_reply(message)
        text = "".join(
            str(getattr(b, "text", "") or "") for b in blocks if getattr(b, "type", None) == "text"
        )
        usage = _usage(message)
        stop = getattr(message, "stop_reason", None)
        raw_id = getattr(message, "id", None)
        served = getattr(message, "model", None)
        return Response(
            text=text,
            usage=usage,
            # the model that answered, as the API names it (a dated snapshot of an alias, or another
            # model a proxy routed the request to); the requested id when the reply names none
            model=served if isinstance(served, str) and served.strip() else self.model,
            stop_reason=stop if isinstance(stop, str) else None,
            cost_usd=self._cost(served, usage, batch) if _usage_reported(message) else None,
            params=self._used_params(request),
            raw_id=raw_id if isinstance(raw_id, str) else None,
        )

    # -- Provider protocol -----------------------------------------------------------------------
    async def generate(self, request: Request) -> Response:
        params = self._params(request)
        extra = {"temperature": params.pop("temperature")} if "temperature" in params else None
        try:
            message = await self._client().messages.create(**params, extra_body=extra)
        except json.JSONDecodeError:
            raise MalformedReply(f"malformed reply: body is not valid JSON; {NOT_MESSAGES_API}") from None
        except Exception as exc:
            if type(exc).__name__ == "APIResponseValidationError":
                raise MalformedReply("malformed reply: body does not match the Messages schema") from None
            raise
        return self._to_response(message, request)

    def is_connection_error(self, exc: BaseException) -> bool:
        """The request never reached a server (refused, DNS, no route); a timeout is not one."""
        import anthropic

        return isinstance(exc, anthropic.APIConnectionError) and not isinstance(
            exc, anthropic.APITimeoutError
        )

    def setup_error(self, exc: BaseException) -> str | None:
        """How to fix a refusal that every request would meet (a wrong key, no access, an unknown
        model or path), or None; the runner stops a run whose first request gets one."""
        import anthropic

        if isinstance(exc, anthropic.AuthenticationError):
            return "check the API key (ANTHROPIC_API_KEY, or the CLI's --api-key-block)"
        if isinstance(exc, anthropic.PermissionDeniedError):
            return f"the API key has no access to model {self.model!r} at this endpoint"
        if isinstance(exc, anthropic.NotFoundError):
            return f"check the model id ({self.model!r}) and the base URL"
        return None

    def retry_after(self, exc: BaseException) -> float | None:
        """Seconds the server asked to wait before the next request, read from the failed response."""
        return retry_after_s(getattr(getattr(exc, "response", None), "headers", None))

    def should_retry(self, exc: BaseException) -> bool:
        import anthropic

        if isinstance(exc, ProviderError):
            return exc.retryable
        if isinstance(exc, anthropic.APITimeoutError | anthropic.APIConnectionError | asyncio.TimeoutError):
            return True
        if isinstance(exc, anthropic.APIStatusError):
            return exc.status_code in RETRYABLE_STATUSES
        return isinstance(exc, json.JSONDecodeError)

    # -- Message Batches -------------------------------------------------------------------------
    async def generate_batch(
        self,
        items: list[tuple[str, Request]],
        on_poll: Callable[[dict[str, int]], None] | None = None,
    ) -> dict[str, Response | BaseException]:
        """Submit one Message Batch, poll until it ends, map results back by custom_id."""
        client = self._client()
        reqs = dict(items)
        batch = await client.messages.batches.create(
            requests=[{"custom_id": cid, "params": self._params(req)} for cid, req in items]  # type: ignore[typeddict-item]
        )
        while batch.processing_status != "ended":
            if on_poll is not None:
                on_poll(_counts(batch))
            await asyncio.sleep(self.batch_poll_s)
            batch = await client.messages.batches.retrieve(batch.id)
        if on_poll is not None:
            on_poll(_counts(batch))
        out: dict[str, Response | BaseException] = {}
        async for entry in await client.messages.batches.results(batch.id):
            res = entry.result
            if res.type == "succeeded":
                try:
                    out[entry.custom_id] = self._to_response(res.message, reqs[entry.custom_id], batch=True)
                except MalformedReply as exc:
                    out[entry.custom_id] = exc
            elif res.type == "errored":
                err = res.error.error
                etype = getattr(err, "type", "error")
                out[entry.custom_id] = BatchEntryError(
                    f"batch entry errored: {etype}: {getattr(err, 'message', '')}",
                    retryable=etype in ("api_error", "overloaded_error", "rate_limit_error", "timeout_error"),
                )
            elif res.type == "expired":
                out[entry.custom_id] = BatchEntryError("batch entry expired", retryable=True)
            else:
                out[entry.custom_id] = BatchEntryError(f"batch entry {res.type}", retryable=False)
        return out
