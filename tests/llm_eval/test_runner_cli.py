"""`flatbench llm-eval` end to end: against the stub (anthropic provider) and the local model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from flows import cli_llm
from tests.llm_eval.conftest import FAKE_KEY


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:  # force command-group mode even if llm-eval is the only command
        """flatbench (test)"""

    cli_llm.register(app)
    return app


def test_cli_anthropic_against_stub(tmp_path: Path, make_stub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stub = make_stub(script=["429", "malformed"])
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)

    def args(out: str) -> list[str]:
        return ["llm-eval", "smoke", "--provider", "anthropic", "--base-url", stub.base_url, "--out", out,
                "--timeout", "2", "--no-progress"]  # fmt: skip

    res = CliRunner().invoke(_app(), args(str(tmp_path / "o")))
    assert res.exit_code == 0, res.output
    assert "answered 6  errors 0  empty 0  not-run 0" in res.output
    lines = (tmp_path / "o" / "responses.jsonl").read_text().splitlines()
    assert len(lines) == 6
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["accuracy"] == 1.0
    n = stub.n_messages
    again = CliRunner().invoke(_app(), args(str(tmp_path / "o2")))
    assert again.exit_code == 0 and "cached 6" in again.output and stub.n_messages == n
    assert FAKE_KEY not in res.output + again.output
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert FAKE_KEY not in f.read_bytes().decode("utf-8", "replace")


def test_cli_cost_limit_and_limit(tmp_path: Path, make_stub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stub = make_stub()
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"claude-sonnet": {"input": 1e5, "output": 0}}))  # ~$1 a request
    res = CliRunner().invoke(
        _app(),
        [
            "llm-eval",
            "smoke",
            "--provider",
            "anthropic",
            "--base-url",
            stub.base_url,
            "--out",
            str(tmp_path / "o"),
            "--prices",
            str(prices),
            "--cost-limit",
            "1.5",
            "--concurrency",
            "1",
            "--limit",
            "5",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "cost limit $1.5 reached" in res.output and "not-run 3" in res.output


def test_cli_digest_names_each_cells_mitigation(
    tmp_path: Path, make_stub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    res = CliRunner().invoke(
        _app(),
        [
            "llm-eval",
            "multilingual",
            "--provider",
            "anthropic",
            "--base-url",
            make_stub().base_url,
            "--mitigation",
            "both",
            "--limit",
            "8",
            "--judge",
            "heuristic",
            "--out",
            str(tmp_path / "o"),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    digest = " ".join(res.output.split())
    assert "English(L1)[none]" in digest and "English(L1)[pin]" in digest


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["llm-eval", "nope"], "unknown suite"),
        (["llm-eval", "smoke", "--mitigation", "x"], "unknown mitigation 'x'; choose from: none, pin, both"),
        (["llm-eval", "smoke", "--judge", "provder"], "unknown judge 'provder'"),
        (["llm-eval", "smoke", "--scorer", "rules"], "unknown scorer 'rules'"),
        (["llm-eval", "smoke", "--provider", "openai"], "unknown provider 'openai'; choose from"),
        (["llm-eval", "smoke", "--provider", "anthropic"], "ANTHROPIC_API_KEY"),
        (["llm-eval", "smoke", "--batch"], "`--batch` needs --provider anthropic"),
    ],
)
def test_cli_bad_input(args: list[str], match: str, tmp_path: Path) -> None:
    res = CliRunner().invoke(_app(), [*args, "--out", str(tmp_path)])
    assert res.exit_code != 0 and match in " ".join(res.output.split())


@pytest.mark.slow
def test_cli_local_smoke(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        _app(), ["llm-eval", "smoke", "--out", str(tmp_path), "--max-new-tokens", "16", "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    assert "answered 6" in res.output
    assert json.loads((tmp_path / "summary.json").read_text())["accuracy"] >= 0.5


def test_api_key_env_wins_without_prefect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    assert cli_llm.resolve_api_key("no-such-block") == FAKE_KEY
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert cli_llm.resolve_api_key(None) is None


@pytest.mark.prefect_server
def test_api_key_from_prefect_secret_block() -> None:
    import os

    if not os.environ.get("PREFECT_API_URL"):
        pytest.skip("PREFECT_API_URL not set (needs the shared Prefect server)")
    from prefect.blocks.system import Secret

    Secret(value=FAKE_KEY).save("flatbench-test-anthropic-key", overwrite=True)
    assert cli_llm.resolve_api_key("flatbench-test-anthropic-key") == FAKE_KEY
