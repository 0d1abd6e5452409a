"""Fixtures for the llm_eval runner tests: a Messages API stub and providers pointed at it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_eval.providers.anthropic import AnthropicProvider
from llm_eval.records import RESPONSES_FILE
from llm_eval.testing.stub_server import StubServer
from llm_eval.types import Request, Sample

FAKE_KEY = "sk-ant-FAKE-flatbench-SECRET-0123456789abcdef"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real key or endpoint leaks into tests, and each test gets its own response cache."""
    monkeypatch.setenv("FLATBENCH_LLM_CACHE", str(tmp_path / "default_llm_cache.sqlite"))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)


@pytest.fixture
def make_stub() -> Iterator[Callable[..., StubServer]]:
    servers: list[StubServer] = []

    def factory(**cfg: Any) -> StubServer:
        cfg.setdefault("api_key", FAKE_KEY)
        cfg.setdefault("hang_s", 3.0)
        stub = StubServer(**cfg).start()
        servers.append(stub)
        return stub

    yield factory
    for s in servers:
        s.stop()


@pytest.fixture
def make_provider() -> Callable[..., AnthropicProvider]:
    def factory(stub: StubServer, **kw: Any) -> AnthropicProvider:
        kw.setdefault("api_key", FAKE_KEY)
        kw.setdefault("timeout_s", 2.0)
        kw.setdefault("max_retries", 2)
        kw.setdefault("batch_poll_s", 0.02)
        return AnthropicProvider(base_url=stub.base_url, **kw)

    return factory


def make_samples(n: int, prefix: str = "q") -> list[Sample]:
    """n distinct prompts; the stub echoes each, so the expected answer is known."""
    return [
        Sample(
            id=f"{prefix}/{i}",
            item_id=f"item{i}",
            condition="en",
            variant="clean",
            request=Request(messages=[{"role": "user", "content": f"question number {i}"}], max_tokens=64),
            meta={"i": i},
        )
        for i in range(n)
    ]


def read_lines(out_dir: Path) -> list[dict[str, Any]]:
    with (out_dir / RESPONSES_FILE).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]
