"""Providers against the Messages API stub: fault matrix, retries, auth, sampling params, local model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llm_eval.providers import make_provider as factory_make_provider
from llm_eval.providers.anthropic import AnthropicProvider, MalformedReply
from llm_eval.providers.local import LocalProvider
from llm_eval.records import load_records
from llm_eval.runner import EndpointRefused, run_samples
from llm_eval.testing.stub_server import StubConfig, StubServer
from llm_eval.types import ProviderError, Request
from tests.llm_eval.conftest import FAKE_KEY, make_samples

PARIS = Request(messages=[{"role": "user", "content": "What is the capital of France?"}], max_tokens=32)


async def test_generate_answers_and_accounts(
    make_stub: Callable[..., StubServer], make_provider: Any
) -> None:
    stub = make_stub()
    p: AnthropicProvider = make_provider(stub)
    resp = await p.generate(PARIS)
    await p.aclose()
    assert resp.text == "Paris"
    # stub counts words: prompt "What is the capital of France?" = 6, answer = 1
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (6, 1)
    # default model is a Sonnet -> $3 / $15 per MTok
    assert resp.cost_usd == pytest.approx((6 * 3 + 1 * 15) / 1e6)
    # API 2026-10-21 rejects sampling params: not sent, but the requested value is recorded
    assert resp.params == {"max_tokens": 32, "temperature": None, "requested_temperature": 0.2}
    assert stub.stats()["counts"].get("rejected_sampling", 0) == 0


async def test_sending_temperature_is_rejected_and_not_retried(
    make_stub: Callable[..., StubServer], make_provider: Any
) -> None:
    stub = make_stub()
    p = make_provider(stub, send_temperature=True)
    with pytest.raises(Exception, match="temperature: Extra inputs are not permitted") as ei:
        await p.generate(PARIS)
    await p.aclose()
    assert not p.should_retry(ei.value)
    assert stub.n_messages == 1


# kind -> (SDK retries it itself?)  429/529/500 carry retry-after and are retried inside the SDK;
# a hung request times out and the SDK retries it; a malformed 200 is ours to retry.
FAULTS = {"429": True, "529": True, "500": True, "hang": True, "malformed": False}


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_single_fault_recovers(kind: str, tmp_path: Path, make_stub: Any, make_provider: Any) -> None:
    stub = make_stub(script=[kind])
    p = make_provider(stub, timeout_s=0.5, max_retries=2)
    [rec] = run_samples(make_samples(1), p, tmp_path, progress=False, use_cache=False, retry_backoff_s=0.01)
    assert rec.error is None and rec.response_text == "Echo: question number 0"
    assert stub.n_messages == 2  # one faulty + one good HTTP request, never more
    assert rec.attempts == (1 if FAULTS[kind] else 2)  # runner attempts; SDK retries are inside one
    if kind in ("429", "529"):
        assert p.rate_limited == 1


@pytest.mark.parametrize("kind", ["429", "500", "malformed", "hang"])
def test_persistent_fault_is_recorded_with_bounded_retries(
    kind: str, tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    max_retries, max_attempts = 1, 2
    stub = make_stub(script=[kind] * 50)
    p = make_provider(stub, timeout_s=0.3, max_retries=max_retries)
    [rec] = run_samples(
        make_samples(1), p, tmp_path, progress=False, max_attempts=max_attempts, retry_backoff_s=0.01
    )
    assert rec.error is not None and rec.response_text is None
    assert rec.attempts == max_attempts
    per_attempt = 1 if kind == "malformed" else max_retries + 1
    assert stub.n_messages == max_attempts * per_attempt


def test_should_retry_table(make_stub: Any, make_provider: Any) -> None:
    import anthropic
    import httpx2

    stub = make_stub()
    p = make_provider(stub)
    req = httpx2.Request("POST", "http://x/v1/messages")

    def status(code: int) -> anthropic.APIStatusError:
        return anthropic.APIStatusError("e", response=httpx2.Response(code, request=req), body=None)

    assert p.should_retry(MalformedReply("bad"))
    assert p.should_retry(anthropic.APITimeoutError(request=req))
    assert p.should_retry(status(529)) and p.should_retry(status(429)) and p.should_retry(status(500))
    assert not p.should_retry(status(400)) and not p.should_retry(status(401))
    assert not p.should_retry(ValueError("x"))


def test_wrong_key_is_rejected_not_retried(tmp_path: Path, make_stub: Any, make_provider: Any) -> None:
    stub = make_stub()
    p = make_provider(stub, api_key="sk-ant-wrong-key-000000000000")
    with pytest.raises(EndpointRefused, match=r"AuthenticationError: 401.*check the API key") as info:
        run_samples(make_samples(3), p, tmp_path, progress=False, use_cache=False, concurrency=1)
    [rec] = load_records(tmp_path / "responses.jsonl")  # the run stops at the first refusal
    assert rec.error is not None and "AuthenticationError" in rec.error
    assert "wrong-key" not in rec.error and "wrong-key" not in str(info.value)
    assert stub.stats()["auth_failures"] == 1 and stub.n_messages == 1


def test_missing_key_names_the_sources() -> None:
    with pytest.raises(ProviderError, match="ANTHROPIC_API_KEY"):
        AnthropicProvider()


def test_key_and_base_url_from_env(monkeypatch: pytest.MonkeyPatch, make_stub: Any) -> None:
    stub = make_stub()
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", stub.base_url)
    p = factory_make_provider("anthropic", model="claude-haiku-4-5")
    assert p.model == "claude-haiku-4-5" and getattr(p, "base_url", None) == stub.base_url
    assert FAKE_KEY not in repr(p)


@pytest.mark.parametrize(
    ("name", "err"),
    [("openai", "`provider` must be one of"), ("", "`provider` must be one of")],
)
def test_make_provider_rejects_unknown(name: str, err: str) -> None:
    with pytest.raises(ValueError, match=err):
        factory_make_provider(name)


def test_stub_config_validation() -> None:
    with pytest.raises(ValueError, match="`faults` kind must be one of"):
        StubConfig(faults={"418": 0.1})
    with pytest.raises(ValueError, match=r"must sum to <= 1"):
        StubConfig(faults={"429": 0.6, "500": 0.6})


# --- local provider ------------------------------------------------------------------------------


def test_local_request_seed_is_order_independent_and_seeded() -> None:
    a, b = LocalProvider(seed=0), LocalProvider(seed=1)
    r2 = Request(messages=[{"role": "user", "content": "other"}])
    assert a.request_seed(PARIS) == LocalProvider(seed=0).request_seed(PARIS)
    assert a.request_seed(PARIS) != b.request_seed(PARIS)
    assert a.request_seed(PARIS) != a.request_seed(r2)
    with pytest.raises(ValueError, match="`max_new_tokens` must be >= 1, got 0"):
        LocalProvider(max_new_tokens=0)


@pytest.fixture(scope="module")
def smollm() -> LocalProvider:
    return LocalProvider(max_new_tokens=8)


async def test_local_real_generation_short(smollm: LocalProvider) -> None:
    """The one CI case: SmolLM2, greedy, 8 new tokens."""
    req = Request(messages=[{"role": "user", "content": "What is the capital of France?"}], temperature=0.0)
    resp = await smollm.generate(req)
    assert "Paris" in resp.text
    assert 1 <= resp.usage.output_tokens <= 8 and resp.usage.input_tokens > 5
    assert (
        resp.params is not None and resp.params["max_new_tokens"] == 8 and resp.params["do_sample"] is False
    )


@pytest.mark.slow
async def test_local_sampling_is_reproducible(smollm: LocalProvider) -> None:
    req = Request(messages=[{"role": "user", "content": "Name a fruit."}], temperature=1.0, max_tokens=8)
    other = Request(messages=[{"role": "user", "content": "Name a color."}], temperature=1.0, max_tokens=8)
    first = await smollm.generate(req)
    await smollm.generate(other)  # a different request in between must not change the answer
    again = await smollm.generate(req)
    assert first.text == again.text and first.params == again.params
    assert first.params is not None and first.params["seed"] == smollm.request_seed(req)


@pytest.fixture
def serve_body() -> Any:
    """A server that answers every POST with one fixed status, content type and body."""
    import http.server
    import threading

    servers: list[http.server.ThreadingHTTPServer] = []

    def start(body: str, content_type: str = "application/json", status: int = 200) -> str:
        raw = body.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (
            "<html><body>Sign in to the proxy</body></html>",
            "text/html",
            r"not JSON, it starts '<html><body>Sign in",
        ),
        ("not json {", "application/json", r"not valid JSON; check that --base-url"),
        (
            '{"id": "chatcmpl-1", "object": "chat.completion", "choices": []}',
            "application/json",
            r"without a `content` list \(fields: choices, id, object\).*check that --base-url",
        ),
        (
            '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
            "application/json",
            r"2xx with an error body: overloaded_error: Overloaded",
        ),
    ],
)
async def test_a_2xx_body_that_is_no_message_says_what_came_back(
    body: str, content_type: str, says: str, serve_body: Any
) -> None:
    """A proxy's HTML page, another API's JSON or an error sent with status 200 is never an answer,
    and the error names what came back and what to check, not only "malformed"."""
    p = AnthropicProvider(api_key=FAKE_KEY, base_url=serve_body(body, content_type), max_retries=0)
    try:
        with pytest.raises(MalformedReply, match=says) as info:
            await p.generate(PARIS)
    finally:
        await p.aclose()
    assert info.value.retryable


NO_USAGE = (
    '{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",'
    ' "stop_reason": "end_turn", "content": [{"type": "text", "text": "Paris"}]}'
)


def test_a_reply_without_usage_is_an_answer_of_unknown_cost_and_stops_a_cost_limit(
    tmp_path: Path, serve_body: Any
) -> None:
    """No `usage` in the reply: the answer is kept, its cost is unknown (None, never $0), and a run
    under --cost-limit stops sending, since what it spends can no longer be counted."""
    from llm_eval.runner import RunStats

    p = AnthropicProvider(api_key=FAKE_KEY, base_url=serve_body(NO_USAGE), max_retries=0)
    recs = run_samples(make_samples(3), p, tmp_path / "a", concurrency=1, use_cache=False, progress=False)
    assert [(r.ok, r.response_text, r.cost_usd) for r in recs] == [(True, "Paris", None)] * 3
    stats = RunStats()
    recs = run_samples(
        make_samples(3),
        p,
        tmp_path / "b",
        concurrency=1,
        use_cache=False,
        progress=False,
        cost_limit=5.0,
        stats=stats,
    )
    assert sum(r.ok for r in recs) == 1 and stats.cost_limit_hit and stats.cost_unknown == 1


def test_the_record_names_the_model_that_answered(tmp_path: Path, serve_body: Any) -> None:
    """An endpoint that answers as another model (a proxy's routing, or a dated snapshot of an
    alias): the record says which model answered, not only which was asked for."""
    body = NO_USAGE.replace('"claude-sonnet-5-5"', '"claude-haiku-9-20990101"')
    p = AnthropicProvider(api_key=FAKE_KEY, base_url=serve_body(body), max_retries=0)
    recs = run_samples(make_samples(1), p, tmp_path / "a", use_cache=False, progress=False)
    assert recs[0].model == "claude-haiku-9-20990101" and recs[0].response_text == "Paris"
    assert load_records(tmp_path / "a" / "responses.jsonl")[0].model == "claude-haiku-9-20990101"


@pytest.mark.parametrize(
    ("content", "stop", "outcome"),
    [
        ('[{"type": "tool_use", "id": "t1", "name": "search", "input": {}}]', "tool_use", "empty"),
        ("[]", "pause_turn", "empty"),
        ("[]", "refusal", "answered"),  # the model's own answer: scored as it stands
        ('[{"type": "text", "text": "The capital"}]', "max_tokens", "answered"),
    ],
)
def test_a_reply_without_text_that_is_no_answer_is_not_scored(
    content: str, stop: str, outcome: str, tmp_path: Path, serve_body: Any
) -> None:
    """A reply that stops for a tool the request never offered, or pauses its turn, with no text:
    asked once more, then recorded as `empty` (never a wrong answer), its stop reason named."""
    body = NO_USAGE.replace('[{"type": "text", "text": "Paris"}]', content).replace('"end_turn"', f'"{stop}"')
    p = AnthropicProvider(api_key=FAKE_KEY, base_url=serve_body(body), max_retries=0)
    (rec,) = run_samples(make_samples(1), p, tmp_path / "a", use_cache=False, progress=False)
    assert rec.outcome == outcome and rec.stop_reason == stop
    if outcome == "empty":
        assert rec.attempts == 2 and f"stopped ({stop}) with no text" in (rec.error or "")
