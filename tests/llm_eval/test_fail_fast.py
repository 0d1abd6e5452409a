"""A client that fails fast and says why: the base URL is checked before anything runs, and a run whose
first requests cannot connect stops within seconds with one line; retries stay for mid-run faults."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llm_eval.providers.anthropic import validate_base_url
from llm_eval.records import load_records
from llm_eval.runner import EndpointRefused, EndpointUnreachable, run_samples
from llm_eval.types import Request, Response, Sample, Usage


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.llm_eval.conftest import FAKE_KEY

    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)


def _app() -> Any:
    from flows.cli import app

    return app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(base_url: str, out: Path, *extra: str) -> Any:
    args = ["llm-eval", "smoke", "--provider", "anthropic", "--base-url", base_url, "--out", str(out),
            "--no-progress", *extra]  # fmt: skip
    return CliRunner().invoke(_app(), args)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8123", "https://api.anthropic.com", "http://[::1]:8080/v1",
                                 "http://localhost"])  # fmt: skip
def test_valid_base_urls_pass(url: str) -> None:
    assert validate_base_url(url) == url


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://127.0.0.1:", "empty or zero port"),
        ("http://127.0.0.1:0", "empty or zero port"),
        ("http://127.0.0.1:99999", "port must be a number in 1-65535"),
        ("127.0.0.1:8123", "must start with http:// or https://"),
        ("ftp://example.com", "must start with http:// or https://"),
        ("http://:8080", "has no host"),
    ],
)
def test_bad_base_urls_are_named(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_base_url(url)


def test_cli_rejects_a_url_without_a_port_before_anything_runs(tmp_path: Path, key_env: None) -> None:
    t0 = time.monotonic()
    res = _cli("http://127.0.0.1:", tmp_path / "o")
    assert res.exit_code == 2 and "`--base-url` has an empty or zero port" in " ".join(res.output.split())
    assert time.monotonic() - t0 < 30 and not (tmp_path / "o").exists()


def test_closed_port_stops_within_30s(tmp_path: Path, key_env: None) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    t0 = time.monotonic()
    res = _cli(url, tmp_path / "o")
    elapsed = time.monotonic() - t0
    assert res.exit_code == 1 and elapsed < 30, (elapsed, res.output)
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and f"cannot reach {url}: " in errors[0], res.output


def test_endpoint_gone_stops_within_30s_and_keeps_answers(tmp_path: Path, key_env: None) -> None:
    from llm_eval.testing.stub_server import StubServer
    from tests.llm_eval.conftest import FAKE_KEY

    stub = StubServer(api_key=FAKE_KEY).start()
    first = _cli(stub.base_url, tmp_path / "o", "--limit", "3")
    assert first.exit_code == 0, first.output
    url = stub.base_url.rstrip("/")
    stub.stop()  # the same endpoint, now a closed port: 3 answers on disk, 3 samples left to send
    t0 = time.monotonic()
    res = _cli(url, tmp_path / "o")
    elapsed = time.monotonic() - t0
    assert res.exit_code == 1 and elapsed < 30, (elapsed, res.output)
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and f"cannot reach {url}: " in errors[0] and "refused" in errors[0].lower()
    recs = load_records(tmp_path / "o" / "responses.jsonl")
    assert sum(r.ok for r in recs) == 3, [(r.sample_id, r.error) for r in recs]  # answers kept


class _Flaky:
    """Answers the first request, then fails one request with a connection error, then answers."""

    name = "flaky"
    model = "flaky-1"

    def __init__(self, fail_first: bool) -> None:
        self.calls = 0
        self.fail_first = fail_first

    async def generate(self, request: Request) -> Response:
        self.calls += 1
        if self.calls == (1 if self.fail_first else 2):
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        return Response(text="Paris", usage=Usage(1, 1), cost_usd=0.0)

    def should_retry(self, exc: BaseException) -> bool:
        return True

    def is_connection_error(self, exc: BaseException) -> bool:
        return isinstance(exc, ConnectionError)


def _samples(n: int) -> list[Sample]:
    return [Sample(id=f"s{i}", item_id=f"i{i}", condition="en", variant="clean",
                   request=Request(messages=[{"role": "user", "content": f"q{i}"}])) for i in range(n)]  # fmt: skip


def test_connection_error_after_an_answer_is_retried(tmp_path: Path) -> None:
    prov = _Flaky(fail_first=False)
    recs = run_samples(_samples(3), prov, tmp_path, concurrency=1, use_cache=False, progress=False,
                       retry_backoff_s=0.0)  # fmt: skip
    assert [r.ok for r in recs] == [True, True, True] and prov.calls == 4


def test_connection_error_before_any_answer_stops_the_run(tmp_path: Path) -> None:
    prov = _Flaky(fail_first=True)
    with pytest.raises(
        EndpointUnreachable, match=r"cannot reach flaky: ConnectionRefusedError: \[Errno 111\]"
    ):
        run_samples(_samples(3), prov, tmp_path, concurrency=1, use_cache=False, progress=False)
    lines = (tmp_path / "responses.jsonl").read_text().splitlines()
    assert prov.calls == 1 and len(lines) == 1 and json.loads(lines[0])["error"]  # no retry, one error record


def test_a_wrong_key_stops_the_run_at_the_first_request_and_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_eval.testing.stub_server import StubServer
    from tests.llm_eval.conftest import FAKE_KEY

    monkeypatch.setenv("ANTHROPIC_API_KEY", "not-the-key")
    stub = StubServer(api_key=FAKE_KEY).start()
    try:
        res = _cli(stub.base_url, tmp_path / "o", "--concurrency", "1")
    finally:
        stub.stop()
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert res.exit_code == 1 and len(errors) == 1, res.output
    assert "refused the request: AuthenticationError: 401" in errors[0] and "check the API key" in errors[0]
    assert stub.n_messages == 1  # not one refused request per sample
    assert "not-the-key" not in res.output


class _Refusing(_Flaky):
    """Every request refused alike (an unknown model): the provider says how to fix it."""

    async def generate(self, request: Request) -> Response:
        self.calls += 1
        raise LookupError("404 model: flaky-9 not found")

    def setup_error(self, exc: BaseException) -> str | None:
        return "check the model id" if isinstance(exc, LookupError) else None


def test_a_first_request_refused_for_every_request_stops_the_run(tmp_path: Path) -> None:
    prov = _Refusing(fail_first=True)
    with pytest.raises(
        EndpointRefused, match=r"flaky refused the request: LookupError: 404 .*; check the model id"
    ):
        run_samples(_samples(5), prov, tmp_path, concurrency=1, use_cache=False, progress=False)
    lines = (tmp_path / "responses.jsonl").read_text().splitlines()
    assert prov.calls == 1 and len(lines) == 1 and json.loads(lines[0])["error"]
