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


def _grader_check(path: Path, grader: str) -> Path:
    """A grader_check.json that measured ``grader`` (one labelled reply of each kind, both right)."""
    from llm_eval.grader_check import measure

    cases = [{"id": "1", "cond": "en", "expected": "correct"}, {"id": "2", "cond": "en", "expected": "wrong"}]
    path.write_text(json.dumps(measure(cases, {"1": "correct", "2": "incorrect"}, grader).to_dict()))
    return path


@pytest.mark.parametrize(
    ("checked", "opt_in", "counted", "reason"),
    [
        (None, False, False, "unmeasured"),
        ("anthropic:claude-sonnet-5-5", False, True, "measured"),  # the stub's default model grades
        ("anthropic:another-grader", False, False, "other-grader"),
        (None, True, True, "opt-in"),
    ],
)
def test_the_flow_counts_grader_verdicts_as_the_cli_does(
    stub: StubServer,
    tmp_path: Path,
    monkeypatch: Any,
    checked: str | None,
    opt_in: bool,
    counted: bool,
    reason: str,
) -> None:
    """Every noisy answer is graded CORRECT by the stub grader (scorer model); the rules leave none
    unresolved here, so the grader decides nothing, but the summary records the policy per grader."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    stub.config.answers = {"reply with exactly one word": "CORRECT", **stub.config.answers}
    check = str(_grader_check(tmp_path / "check.json", checked)) if checked else None
    res = _run(tmp_path / "o", base_url=stub.base_url, scorer="model", grader_check=check,
               count_unmeasured_grader=opt_in)  # fmt: skip
    prov = json.loads((Path(res["out"]) / "summary.json").read_text())["provenance"]
    assert prov["count_unmeasured_grader"] is opt_in and prov["scorer"] == "model"
    assert [(g["counted"], g["reason"]) for g in prov["graders"]] == [(counted, reason)]
    assert "**Model grader.** anthropic:claude-sonnet-5-5" in Path(res["report"]).read_text()


def test_a_bad_grader_check_stops_the_flow_before_anything_runs(
    stub: StubServer, tries: list[int], tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    with pytest.raises(Exception, match="no grader check at"):
        _run(tmp_path / "o", base_url=stub.base_url, grader_check=str(tmp_path / "nothing"))
    assert tries == [] and stub.n_messages == 0
