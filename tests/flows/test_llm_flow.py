"""The llm-robustness flow, as a deployment runs it: it stops at once, without retries, on a missing key
or an endpoint that cannot be reached (as the CLI does), names what a deployment accepts for the key,
and writes run_stats.json like the CLI."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_eval.testing.stub_server import StubServer

FAKE_KEY = "sk-ant-FAKE-flatbench-SECRET-0123456789abcdef"
pytestmark = pytest.mark.prefect_server


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not os.environ.get("PREFECT_API_URL"):
        pytest.skip("PREFECT_API_URL is not set (run under .ci/with-prefect-server)")
    monkeypatch.setenv("FLATBENCH_LLM_CACHE", str(tmp_path / "cache.sqlite"))
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "FLATBENCH_API_KEY_BLOCK"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer(api_key=FAKE_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def tries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the run task reached the runner (1 per try)."""
    import llm_eval.runner

    calls: list[int] = []
    real = llm_eval.runner.run_samples

    def counted(*a: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(llm_eval.runner, "run_samples", counted)
    return calls


def _run(out: Path, **kw: Any) -> dict[str, Any]:
    from flows.llm_robustness import llm_robustness

    args: dict[str, Any] = {"suite": "noisy", "provider": "anthropic", "mitigation": "none", "limit": 3,
                            "judge": "heuristic", "scorer": "rule", "publish": False, "out": str(out)}  # fmt: skip
    return llm_robustness(**{**args, **kw})


def test_a_missing_key_stops_the_flow_before_anything_runs(
    stub: StubServer, tries: list[int], tmp_path: Path
) -> None:
    with pytest.raises(Exception, match="no Anthropic API key") as err:
        _run(tmp_path / "o", base_url=stub.base_url)
    msg = str(err.value)
    assert "ANTHROPIC_API_KEY" in msg and "flatbench worker --pool cpu-pool" in msg
    assert "Secret block" in msg and "api_key_block=" in msg  # the parameter the deployment takes
    assert tries == [] and stub.n_messages == 0


def test_an_unknown_secret_block_is_named(tries: list[int], tmp_path: Path) -> None:
    name = f"no-such-block-{uuid.uuid4().hex[:6]}"
    with pytest.raises(Exception, match=f"api_key_block='{name}'"):
        _run(tmp_path / "o", api_key_block=name)
    assert tries == []


def test_an_unreachable_endpoint_is_tried_once(tries: list[int], tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Exception, match=f"cannot reach http://127.0.0.1:{port}"):
        _run(tmp_path / "o", base_url=f"http://127.0.0.1:{port}")
    assert tries == [1]  # no retry: the CLI stops at the first such failure too


def test_the_key_from_a_secret_block_and_run_stats(
    stub: StubServer, tries: list[int], tmp_path: Path
) -> None:
    from prefect.blocks.system import Secret

    name = f"anthropic-key-{uuid.uuid4().hex[:6]}"
    Secret(value=FAKE_KEY).save(name)
    res = _run(tmp_path / "o", base_url=stub.base_url, api_key_block=name)
    assert tries == [1] and stub.n_messages == 3
    stats = json.loads((Path(res["out"]) / "run_stats.json").read_text())
    assert stats["totals"]["answered"] == 3 and "this_run" in stats
