"""A local stand-in for the Anthropic Messages API, with latency and fault injection.

Speaks enough of the API for the official SDK: ``POST /v1/messages`` and the Message Batches
endpoints (create, retrieve, results JSONL). Checks the key the SDK sends (``Authorization:
Bearer`` or ``x-api-key``). Answers deterministically from a canned map (capital of France ->
"Paris", ...) so integration tests can score, and counts every request.

Faults are drawn from a seeded RNG at the configured rates, or scripted (``script``: the next
requests get exactly these faults, in order):
  "429" (with retry-after), "529", "500", "hang" (sleeps past the client timeout),
  "malformed" (200 with a broken JSON body), "echo_auth" (400 whose message quotes the auth
  header, to test that keys are scrubbed), "empty" (200, ``content: []``, ``stop_reason`` end_turn). Batch entries error/expire at their own rates.

    with StubServer(api_key="k", latency_s=0.2) as stub:
        provider = AnthropicProvider(api_key="k", base_url=stub.base_url)

Standalone: ``python -m llm_eval.testing.stub_server --port 8123 --latency 0.2``.
Stats over HTTP: ``GET /_stub/stats``, ``POST /_stub/reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

__all__ = ["DEFAULT_ANSWERS", "FAULT_KINDS", "StubConfig", "StubServer"]

FAULT_KINDS = ("429", "529", "500", "hang", "malformed", "echo_auth", "empty")

DEFAULT_ANSWERS: dict[str, str] = {
    "capital of france": "Paris",
    "capital of japan": "Tokyo",
    "largest in our solar system": "Jupiter",
    "formula of water": "H2O",
    "red planet": "Mars",
    "2 + 2": "4",
    "capital of india": "New Delhi",
    "राजधानी": "नई दिल्ली",
}


@dataclass
class StubConfig:
    api_key: str = "test-key"
    latency_s: float = 0.0
    faults: dict[str, float] = field(default_factory=dict)  # kind -> probability per request
    script: list[str] = field(default_factory=list)  # forced faults for the next requests
    seed: int = 0
    retry_after_s: float = 0.01
    hang_s: float = 30.0
    answers: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ANSWERS))
    batch_processing_s: float = 0.05
    batch_error_rate: float = 0.0
    batch_expire_rate: float = 0.0
    batch_script: list[str] = field(default_factory=list)  # "ok" | "errored" | "expired" per entry
    # API version 2026-10-21 rejects sampling parameters with a 400, as the real API does
    reject_sampling_params: bool = True
    # prompt-cache token counts reported in every reply's usage, as the real API does (0 = no caching)
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def __post_init__(self) -> None:
        for k, p in self.faults.items():
            if k not in FAULT_KINDS:
                raise ValueError(f"`faults` kind must be one of {FAULT_KINDS}, got {k!r}")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"`faults[{k!r}]` must be in [0, 1], got {p}")
        if sum(self.faults.values()) > 1.0:
            raise ValueError(f"`faults` probabilities must sum to <= 1, got {sum(self.faults.values())}")


def _word_count(text: str) -> int:
    return max(1, len(text.split()))


class _State:
    def __init__(self, cfg: StubConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.by_prompt: Counter[str] = Counter()
        self.auth_failures = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.batches: dict[str, dict[str, Any]] = {}
        # every /v1/messages request: (start, end, prompt, HTTP status, asked wait in s or None)
        self.timeline: list[tuple[float, float, str, int, float | None]] = []

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.by_prompt.clear()
            self.auth_failures = 0
            self.peak_in_flight = 0
            self.batches.clear()
            self.timeline.clear()

    def next_fault(self) -> str | None:
        with self.lock:
            if self.cfg.script:
                kind = self.cfg.script.pop(0)
                return None if kind == "ok" else kind
            x = self.rng.random()
            acc = 0.0
            for kind, p in sorted(self.cfg.faults.items()):
                acc += p
                if x < acc:
                    return kind
            return None

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "counts": dict(self.counts),
                "by_prompt": dict(self.by_prompt),
                "auth_failures": self.auth_failures,
                "peak_in_flight": self.peak_in_flight,
                "messages": self.counts["messages"],
                "total": sum(v for k, v in self.counts.items() if not k.startswith("fault:")),
                "process_cpu_s": time.process_time(),
            }


def _answer(cfg: StubConfig, params: dict[str, Any]) -> str:
    last = next((m for m in reversed(params.get("messages", [])) if m.get("role") == "user"), None)
    content = last.get("content", "") if last else ""
    if isinstance(content, list):
        content = " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    low = str(content).lower()
    for key, ans in cfg.answers.items():
        if key.lower() in low:
            return ans
    return f"Echo: {content}"[:200]


def _message(cfg: StubConfig, params: dict[str, Any]) -> dict[str, Any]:
    text = _answer(cfg, params)
    prompt_text = " ".join(
        [str(params.get("system") or "")] + [str(m.get("content", "")) for m in params.get("messages", [])]
    )
    max_tokens = int(params.get("max_tokens", 512))
    words = text.split()
    stop = "end_turn"
    if len(words) > max_tokens:
        text, stop = " ".join(words[:max_tokens]), "max_tokens"
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": params.get("model", "stub"),
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": _word_count(prompt_text),
            "output_tokens": _word_count(text),
            "cache_creation_input_tokens": cfg.cache_creation_input_tokens,
            "cache_read_input_tokens": cfg.cache_read_input_tokens,
        },
    }


def _error(status: int, etype: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"type": "error", "error": {"type": etype, "message": message}}
    return web.json_response(body, status=status, headers=headers)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


class _App:
    def __init__(self, state: _State) -> None:
        self.s = state

    def _auth(self, request: web.Request) -> str | None:
        """Returns the presented credential if it is wrong/missing (None when OK)."""
        auth = request.headers.get("Authorization", "")
        key = request.headers.get("x-api-key", "")
        presented = auth[7:] if auth.lower().startswith("bearer ") else key
        if presented == self.s.cfg.api_key:
            return None
        with self.s.lock:
            self.s.auth_failures += 1
        return presented or "<none>"

    def _sampling_error(self, request: web.Request, params: dict[str, Any]) -> web.Response | None:
        if (
            not self.s.cfg.reject_sampling_params
            or request.headers.get("anthropic-version", "") < "2026-10-21"
        ):
            return None
        for name in ("temperature", "top_p", "top_k"):
            if name in params:
                with self.s.lock:
                    self.s.counts["rejected_sampling"] += 1
                return _error(400, "invalid_request_error", f"{name}: Extra inputs are not permitted")
        return None

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """One Messages request, put on the timeline (when, which prompt, status, retry-after asked)."""
        t0 = time.monotonic()
        prompt = ""
        try:
            params = json.loads(await request.read() or b"{}")
            prompt = json.dumps(params.get("messages", []), sort_keys=True)
        except ValueError:
            pass
        resp = await self._messages(request)
        ra = resp.headers.get("retry-after-ms")
        with self.s.lock:
            self.s.timeline.append(
                (t0, time.monotonic(), prompt, resp.status, float(ra) / 1000 if ra else None)
            )
        return resp

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        s = self.s
        with s.lock:
            s.counts["messages"] += 1
            s.in_flight += 1
            s.peak_in_flight = max(s.peak_in_flight, s.in_flight)
        try:
            if self._auth(request) is not None:
                return _error(401, "authentication_error", "invalid x-api-key")
            params = await request.json()
            bad = self._sampling_error(request, params)
            if bad is not None:
                return bad
            prompt = json.dumps(params.get("messages", []), sort_keys=True)
            with s.lock:
                s.by_prompt[prompt] += 1
            fault = s.next_fault()
            if fault:
                with s.lock:
                    s.counts[f"fault:{fault}"] += 1
            ra = {
                "retry-after-ms": str(int(s.cfg.retry_after_s * 1000)),
                "retry-after": str(max(1, round(s.cfg.retry_after_s))),
            }
            if fault == "hang":
                await asyncio.sleep(s.cfg.hang_s)
            if s.cfg.latency_s > 0:
                await asyncio.sleep(s.cfg.latency_s)
            if fault == "429":
                return _error(429, "rate_limit_error", "rate limited (stub)", ra)
            if fault == "529":
                return _error(529, "overloaded_error", "overloaded (stub)", ra)
            if fault == "500":
                return _error(500, "api_error", "internal error (stub)", ra)
            if fault == "echo_auth":
                return _error(
                    400,
                    "invalid_request_error",
                    f"bad request; headers were Authorization: {request.headers.get('Authorization', '')} "
                    f"x-api-key: {request.headers.get('x-api-key', '')}",
                )
            if fault == "malformed":
                return web.Response(
                    status=200, text='{"id": "msg_broken", "content": [', content_type="application/json"
                )
            msg = _message(s.cfg, params)
            if fault == "empty":
                msg.update(content=[], stop_reason="end_turn")
                msg["usage"]["output_tokens"] = 0
            return web.json_response(msg)
        finally:
            with s.lock:
                s.in_flight -= 1

    # -- batches ---------------------------------------------------------------------------------
    def _batch_view(self, request: web.Request, b: dict[str, Any]) -> dict[str, Any]:
        ended = time.time() >= b["ends_at"]
        n = len(b["entries"])
        counts = {"processing": 0 if ended else n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if ended:
            for e in b["entries"]:
                counts[{"ok": "succeeded", "expired": "expired"}.get(e["outcome"], "errored")] += 1
        base = f"{request.scheme}://{request.host}"
        return {
            "id": b["id"],
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": _iso(b["created"]),
            "expires_at": _iso(b["created"] + 86400),
            "ended_at": _iso(b["ends_at"]) if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{base}/v1/messages/batches/{b['id']}/results" if ended else None,
        }

    async def batch_create(self, request: web.Request) -> web.Response:
        s = self.s
        with s.lock:
            s.counts["batch_create"] += 1
        if self._auth(request) is not None:
            return _error(401, "authentication_error", "invalid x-api-key")
        body = await request.json()
        entries = []
        with s.lock:
            for req in body.get("requests", []):
                if s.cfg.batch_script:
                    outcome = s.cfg.batch_script.pop(0)
                else:
                    x = s.rng.random()
                    outcome = (
                        "errored"
                        if x < s.cfg.batch_error_rate
                        else "expired"
                        if x < s.cfg.batch_error_rate + s.cfg.batch_expire_rate
                        else "ok"
                    )
                if s.cfg.reject_sampling_params and any(
                    k in req["params"] for k in ("temperature", "top_p", "top_k")
                ):
                    outcome = "invalid"
                entries.append({"custom_id": req["custom_id"], "params": req["params"], "outcome": outcome})
                s.counts["batch_entries"] += 1
            bid = f"msgbatch_{uuid.uuid4().hex[:20]}"
            now = time.time()
            s.batches[bid] = {
                "id": bid,
                "entries": entries,
                "created": now,
                "ends_at": now + s.cfg.batch_processing_s,
            }
        return web.json_response(self._batch_view(request, s.batches[bid]))

    async def batch_retrieve(self, request: web.Request) -> web.Response:
        with self.s.lock:
            self.s.counts["batch_retrieve"] += 1
        if self._auth(request) is not None:
            return _error(401, "authentication_error", "invalid x-api-key")
        b = self.s.batches.get(request.match_info["batch_id"])
        if b is None:
            return _error(404, "not_found_error", "no such batch")
        return web.json_response(self._batch_view(request, b))

    async def batch_results(self, request: web.Request) -> web.Response:
        with self.s.lock:
            self.s.counts["batch_results"] += 1
        if self._auth(request) is not None:
            return _error(401, "authentication_error", "invalid x-api-key")
        b = self.s.batches.get(request.match_info["batch_id"])
        if b is None or time.time() < b["ends_at"]:
            return _error(404, "not_found_error", "results not available")
        lines = []
        for e in b["entries"]:
            if e["outcome"] == "ok":
                result: dict[str, Any] = {"type": "succeeded", "message": _message(self.s.cfg, e["params"])}
            elif e["outcome"] in ("errored", "invalid"):
                etype, msg = (
                    ("api_error", "stub entry error")
                    if e["outcome"] == "errored"
                    else ("invalid_request_error", "temperature: Extra inputs are not permitted")
                )
                result = {
                    "type": "errored",
                    "error": {"type": "error", "error": {"type": etype, "message": msg}},
                }
            else:
                result = {"type": "expired"}
            lines.append(json.dumps({"custom_id": e["custom_id"], "result": result}))
        return web.Response(text="\n".join(lines) + "\n", content_type="application/binary")

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.s.stats())

    async def reset(self, request: web.Request) -> web.Response:
        self.s.reset()
        return web.json_response({"ok": True})

    def build(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/batches", self.batch_create)
        app.router.add_get("/v1/messages/batches/{batch_id}", self.batch_retrieve)
        app.router.add_get("/v1/messages/batches/{batch_id}/results", self.batch_results)
        app.router.add_get("/_stub/stats", self.stats)
        app.router.add_post("/_stub/reset", self.reset)
        return app


class StubServer:
    """Runs the stub on 127.0.0.1 in a background thread with its own event loop."""

    def __init__(self, config: StubConfig | None = None, *, port: int = 0, **kwargs: Any) -> None:
        self.config = config or StubConfig(**kwargs)
        self.state = _State(self.config)
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        self._runner = web.AppRunner(_App(self.state).build(), handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the OS-assigned port when port=0

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        assert self._runner is not None
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def start(self) -> StubServer:
        self._thread = threading.Thread(target=self._run, name="stub-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError(f"stub server failed to start: {self._error}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inspection ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    @property
    def n_messages(self) -> int:
        return self.state.counts["messages"]

    def reset(self) -> None:
        self.state.reset()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Anthropic Messages API stub with fault injection")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", default="test-key")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds per /v1/messages request")
    ap.add_argument(
        "--fault-rate", type=float, default=0.0, help="total fault rate, split over --fault-kinds"
    )
    ap.add_argument("--fault-kinds", default="429,529,500,malformed")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    kinds = [k for k in args.fault_kinds.split(",") if k]
    faults = {k: args.fault_rate / len(kinds) for k in kinds} if args.fault_rate > 0 and kinds else {}
    stub = StubServer(
        port=args.port, api_key=args.api_key, latency_s=args.latency, faults=faults, seed=args.seed
    )
    stub.start()
    print(f"stub listening on {stub.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
