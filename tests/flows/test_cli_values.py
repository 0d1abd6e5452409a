"""Every bad CLI value fails in one line that names it, the choices and the closest match, before a Prefect
server starts or a file is written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import flows.benchmark
from flows.cli import app
from flows.cli_common import check_choice

ENV = {"COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb"}


def _message(output: str) -> str:
    """The error text without typer's box drawing, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", output)).strip()


@pytest.fixture
def no_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **kw: object) -> None:
        raise AssertionError("the flow (and with it the Prefect server) must not start")

    monkeypatch.setattr(flows.benchmark, "benchmark", boom)


def test_check_choice_message() -> None:
    import typer

    with pytest.raises(typer.BadParameter) as exc:
        check_choice("quik", ["quick", "smoke", "study"], "profile")
    assert (
        str(exc.value) == "unknown profile 'quik'; choose from: quick, smoke, study (did you mean 'quick'?)"
    )
    assert check_choice("smoke", ["quick", "smoke"], "profile") == "smoke"
    with pytest.raises(typer.BadParameter, match=r"choose from: a, b$"):
        check_choice("zzzzzz", ["a", "b"], "thing")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--profile", "quik"], "unknown profile 'quik'; choose from: "),
        (["--method", "flatlora"], "unknown method 'flatlora'; choose from: full, lora, flat_lora"),
        (["--dataset", "fpb_50agre"], "unknown dataset 'fpb_50agre'; choose from: fpb_50agree"),
        (["--set", "lrr=0.1"], "unknown --set key 'lrr'; did you mean 'lr'"),
        (["--set", "learning_rate=1e-3"], "unknown --set key 'learning_rate': flatbench calls it 'lr'"),
        (["--set", "lerning_rate=1e-3"], "did you mean 'lr' (Trainer: learning_rate)?"),
        (["--set", "epochs=many"], "--set 'epochs=many': `epochs` takes an integer, got 'many'"),
        (["--set", "model=./no_such_model"], "'model' './no_such_model' does not exist: pass a folder"),
        (["--set", "lr=-1"], "`lr` must be"),
    ],
)
def test_benchmark_rejects_bad_values_before_anything_runs(
    args: list[str], expected: str, tmp_path: Path, no_flow: None
) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["benchmark", "--out", str(out), *args], env=ENV)
    assert res.exit_code == 2, res.output
    msg = _message(res.output)
    assert expected in msg, msg
    if "profile" in expected:
        assert "(did you mean 'quick'?)" in msg
    if "flatlora" in expected:
        assert "(did you mean 'flat_lora'?)" in msg
    assert not out.exists()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--profile", "quik"], "unknown profile 'quik'"),
        (["--method", "flatlora"], "(did you mean 'flat_lora'?)"),
        (["--dataset", "fpb_allagre"], "(did you mean 'fpb_allagree'?)"),
        (["--dataset", "missing.csv"], "dataset file 'missing.csv' does not exist"),
        (["-m", "flatlora"], "(did you mean 'flat_lora'?)"),  # the short options of `benchmark`
        (["-d", "missing.csv"], "dataset file 'missing.csv' does not exist"),
        (["--set", "epoch=1"], "did you mean 'epochs'"),
        (["--set", "num_train_epochs=1"], "flatbench calls it 'epochs' (--set epochs=...)"),
    ],
)
def test_train_rejects_bad_values_before_anything_runs(
    args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "runs"), *args], env=ENV)
    assert res.exit_code == 2, res.output
    assert expected in _message(res.output)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["multilingal"], "unknown suite 'multilingal'; choose from: "),
        (["smoke", "--provider", "antropic"], "unknown provider 'antropic'; choose from: anthropic, local"),
    ],
)
def test_llm_eval_rejects_bad_values_before_anything_runs(
    args: list[str], expected: str, tmp_path: Path
) -> None:
    out = tmp_path / "llm"
    res = CliRunner().invoke(app, ["llm-eval", *args, "--out", str(out)], env=ENV)
    assert res.exit_code == 2, res.output
    msg = _message(res.output)
    assert expected in msg, msg
    if "suite" in expected:
        assert "(did you mean 'multilingual'?)" in msg
    assert not out.exists()


def test_unknown_set_key_is_answered_in_two_lines_at_80_columns(tmp_path: Path) -> None:
    """Not a box listing every field: the closest ones, in at most two lines of message."""
    res = CliRunner().invoke(
        app, ["train", "--out", str(tmp_path), "--set", "lerning_rate=1e-3"], env={**ENV, "COLUMNS": "80"}
    )
    assert res.exit_code == 2
    boxed = [ln for ln in res.output.splitlines() if ln.startswith("│")]
    assert 1 <= len(boxed) <= 2, res.output
    assert "lora_dropout" not in res.output and "flatness_sigmas" not in res.output


def test_report_on_an_llm_eval_folder_says_what_it_is(tmp_path: Path) -> None:
    (tmp_path / "responses.jsonl").write_text("")
    res = CliRunner().invoke(app, ["report", str(tmp_path)], env=ENV)
    assert res.exit_code == 2
    msg = _message(res.output)
    assert "is an llm-eval run dir" in msg and "flatbench llm-eval SUITE --out" in msg


@pytest.mark.parametrize("command", ["train", "benchmark"])
def test_help_lists_every_profile(command: str) -> None:
    from flatlora.bench.config import PROFILES

    res = CliRunner().invoke(app, [command, "--help"], env={**ENV, "COLUMNS": "200"})
    assert res.exit_code == 0
    text = _message(res.output)
    for name in PROFILES:
        assert re.search(rf"\b{re.escape(name)} \(", text), (name, text)


def test_command_help_wraps_to_the_terminal_not_to_the_source() -> None:
    """A docstring wrapped for the source would keep its line breaks in the help panel and rewrap
    raggedly (a line holding only `of`); each paragraph reaches the panel as one line."""
    from typer.testing import CliRunner

    from flows.cli import app, one_line_paragraphs

    assert one_line_paragraphs("  First line\n  goes on.\n\n  Second\n  paragraph.\n") == (
        "First line goes on.\n\nSecond paragraph."
    )
    for command in app.registered_commands:
        assert command.help and all("\n" not in p for p in command.help.split("\n\n")), command.name
    res = CliRunner().invoke(app, ["report", "--help"], env={"COLUMNS": "100"}, terminal_width=100)
    assert res.exit_code == 0
    lines = [ln.strip() for ln in res.output.splitlines()]
    assert "of" not in lines and "command" not in lines, res.output


def test_data_that_fails_validation_inside_a_command_prints_its_report_not_a_traceback(
    tmp_path: Path,
) -> None:
    import typer
    from typer.testing import CliRunner

    from flatlora.bench.validation import validate_dataset
    from flows.cli_common import friendly_errors

    bad = tmp_path / "bad.csv"
    bad.write_text("utterance,intent\n" + "\n".join(f"row {i},a" for i in range(30)) + "\n")
    app = typer.Typer()

    @app.command()
    @friendly_errors
    def go() -> None:
        validate_dataset(str(bad))

    res = CliRunner().invoke(app, [])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "missing required text column 'text'" in res.output and "--text-col" in res.output
