"""`flatbench llm-grader-check`: the grader's false accepts and false rejects on labelled replies,
through the local Messages-API stub (a faithful grader, one wrong on purpose, one that rambles)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli import app
from llm_eval.grader_check import DEFAULT_TABLE, load_check, measure
from llm_eval.items import load_scoring_cases
from tests.llm_eval.conftest import FAKE_KEY

CASES = load_scoring_cases(DEFAULT_TABLE)


def _key(response: str) -> str:
    """The stub answers by a substring of the grading prompt: the reply as the prompt quotes it."""
    return f"<response>\n{response}\n</response>"


def _faithful() -> dict[str, str]:
    return {_key(c["response"]): "CORRECT" if c["expected"] == "correct" else "INCORRECT" for c in CASES}


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)


def _check(stub: Any, out: Path, *extra: str) -> Any:
    args = ["llm-grader-check", "--provider", "anthropic", "--model", "grader-x", "--base-url", stub.base_url,
            "--out", str(out), "--no-cache", *extra]  # fmt: skip
    return CliRunner().invoke(app, args)


def test_the_default_table_is_frozen_balanced_and_multilingual() -> None:
    groups = {c["cond"] for c in CASES}
    assert groups == {"en", "hi", "hinglish", "cs"}
    for g in groups:
        rows = [c for c in CASES if c["cond"] == g]
        assert len(rows) >= 50 and 2 * sum(c["expected"] == "correct" for c in rows) == len(rows)


def test_a_faithful_grader_measures_no_errors(tmp_path: Path, make_stub: Any, key_env: None) -> None:
    res = _check(make_stub(answers=_faithful()), tmp_path / "ok")
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "ok" / "grader_check.json").read_text())
    assert data["grader"] == "anthropic:grader-x" and data["verdicts"]["failed"] == 0
    for g in data["groups"]:
        assert (g["false_accept"], g["false_reject"], g["fa_rate"], g["fr_rate"]) == (0, 0, 0.0, 0.0)
        assert g["fa_ci"][0] == 0.0 and 0.0 < g["fa_ci"][1] < 0.2  # exact interval: 0 of n is not certainty
    assert "| English | 54 | 0/27 = 0.0%" in res.output


def test_a_grader_wrong_on_purpose_shows_high_error_rates(
    tmp_path: Path, make_stub: Any, key_env: None
) -> None:
    """A grader that says CORRECT to everything accepts every wrong reply, in every group."""
    res = _check(make_stub(answers={"reply with exactly one word": "CORRECT"}), tmp_path / "yes")
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "yes" / "grader_check.json").read_text())
    for g in data["groups"]:
        assert g["fa_rate"] == 1.0 and g["fa_ci"][0] > 0.85, g
        assert g["fr_rate"] == 0.0
    inverted = {k: "INCORRECT" if v == "CORRECT" else "CORRECT" for k, v in _faithful().items()}
    res = _check(make_stub(answers=inverted), tmp_path / "inv")
    data = json.loads((tmp_path / "inv" / "grader_check.json").read_text())
    assert all(g["fa_rate"] == 1.0 and g["fr_rate"] == 1.0 for g in data["groups"])


def test_unparseable_grades_are_unscored_not_incorrect(tmp_path: Path, make_stub: Any, key_env: None) -> None:
    answers = {k: ("The answer is correct" if v == "CORRECT" else v) for k, v in _faithful().items()}
    res = _check(make_stub(answers=answers), tmp_path / "ramble")
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "ramble" / "grader_check.json").read_text())
    every = data["groups"][-1]
    assert every["group"] == "all" and every["false_reject"] == 0 and every["unscored_pos"] == every["n_pos"]
    assert every["fr_rate"] is None and data["verdicts"]["unparseable"] == every["n_pos"]


def test_a_grader_that_never_gives_a_verdict_measured_nothing(
    tmp_path: Path, make_stub: Any, key_env: None
) -> None:
    """Every reply unparseable: the command fails, and `llm-eval --grader-check` refuses the result
    instead of calling the grader measured."""
    res = _check(
        make_stub(answers={"reply with exactly one word": "I think it is right."}), tmp_path / "none"
    )
    assert res.exit_code == 1 and "nothing was measured" in res.output, res.output
    assert "unparseable 210" in res.output
    with pytest.raises(ValueError, match="measured nothing: no labelled reply got a CORRECT or INCORRECT"):
        load_check(tmp_path / "none")
    run = _ml_run(make_stub(answers=HEDGING_STUB), tmp_path / "run", "--grader-check", str(tmp_path / "none"))
    assert run.exit_code == 2 and "measured nothing" in run.output, run.output


def test_second_grader_agreement_is_cohens_kappa() -> None:
    cases = [
        {"id": str(i), "cond": "en", "expected": {"c": "correct", "w": "wrong"}[e]}
        for i, e in enumerate("cccwww")
    ]
    a = {"0": "correct", "1": "correct", "2": "correct", "3": "incorrect", "4": "incorrect", "5": "correct"}
    b = {
        "0": "correct",
        "1": "correct",
        "2": "incorrect",
        "3": "incorrect",
        "4": "incorrect",
        "5": "unparseable",
    }
    check = measure(cases, a, "p:a", second=("p:b", b))
    # on the 5 both scored: a = CCCII, b = CCIII -> po 0.8, pe 0.48, kappa (0.8 - 0.48) / 0.52
    assert check.n_kappa == 5 and check.kappa == pytest.approx(0.32 / 0.52)
    assert check.overall.false_accept == 1 and check.second_groups[-1].false_accept == 0


def test_bad_table_is_one_clear_line(tmp_path: Path, key_env: None) -> None:
    res = CliRunner().invoke(app, ["llm-grader-check", "--table", str(tmp_path / "nope.jsonl")])
    assert res.exit_code == 2 and "no such file" in res.output


def _ml_run(stub: Any, out: Path, *extra: str) -> Any:
    args = ["llm-eval", "multilingual", "--provider", "anthropic", "--base-url", stub.base_url, "--out", str(out),
            "--limit", "4", "--judge", "heuristic", "--no-progress", "--no-cache", *extra]  # fmt: skip
    return CliRunner().invoke(app, args)


HEDGING_STUB = {"reply with exactly one word": "CORRECT", "capital of india": "Mumbai or New Delhi",
                "राजधानी": "नई दिल्ली"}  # fmt: skip


CHECKED = "claude-sonnet-4-5"  # the grader the check below measures; the run's default grader is another


@pytest.mark.parametrize(
    ("extra", "counted", "in_report", "in_output"),
    [
        ([], False, "**1 grader verdict not counted: the grader is unmeasured**; those samples stay "
         "unresolved; run `flatbench llm-grader-check --provider anthropic --model ", "kept but not counted"),
        (["--grader-check", "CHECK", "--grader-model", CHECKED], True,
         f"anthropic:{CHECKED}: grader verdicts counted (measured: false accept 100.0% [", ""),
        (["--grader-check", "CHECK"], False,
         f"**1 grader verdict not counted: the grader check given measured another grader** (anthropic:{CHECKED} "
         "on labelled_replies.jsonl), not this one", f"the grader check given measured anthropic:{CHECKED}, not"),
        (["--count-unmeasured-grader"], True,
         "**1 grader verdict counted although the grader is unmeasured** (`--count-unmeasured-grader`)", ""),
    ],
    ids=["unmeasured", "measured", "check-of-another-grader", "opt-in"],
)  # fmt: skip
def test_grader_verdicts_count_only_once_the_grader_is_measured(
    tmp_path: Path,
    make_stub: Any,
    key_env: None,
    extra: list[str],
    counted: bool,
    in_report: str,
    in_output: str,
) -> None:
    """The stub grader says CORRECT to everything; one reply ("Mumbai or New Delhi") is unresolved."""
    stub = make_stub(answers=HEDGING_STUB)
    if "CHECK" in extra:
        check = _check(make_stub(answers={"reply with exactly one word": "CORRECT"}), tmp_path / "check",
                       "--model", CHECKED)  # fmt: skip
        assert check.exit_code == 0, check.output
        extra = [str(tmp_path / "check") if a == "CHECK" else a for a in extra]
    res = _ml_run(stub, tmp_path / "run", *extra)
    assert res.exit_code == 0, res.output
    assert in_output in " ".join(res.output.split())
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    prov, en = summary["provenance"], summary["suites"]["multilingual"]["cells"][0]
    assert (prov["grader_verdicts_counted"], prov["n_grader_verdicts"]) == (counted, 1)
    assert prov["count_unmeasured_grader"] is ("--count-unmeasured-grader" in extra)
    # the grade is kept in the records either way; the cell counts it only when it counts
    assert (en["n_correct"], en["n_unresolved"], en["n_grader_verdicts"]) == (
        (1, 0, 1) if counted else (0, 1, 1)
    )
    report = (tmp_path / "run" / "report.md").read_text()
    assert in_report in report
    assert ("Sensitivity to the grader (not a finding)" in report) and (
        ("Without the 1 grader verdicts" in report) is counted
    )


def test_the_run_says_why_a_grader_is_not_counted_as_the_report_does(
    tmp_path: Path, make_stub: Any, key_env: None
) -> None:
    """The run's grader is the check's second grader, which gave no CORRECT or INCORRECT verdict: the
    check measured another grader, but of this one it measured nothing, and both outputs say so."""
    cases = [{"id": str(i), "cond": "en", "expected": e} for i, e in enumerate(["correct", "wrong"] * 5)]
    right = {str(i): "correct" if i % 2 == 0 else "incorrect" for i in range(10)}
    silent = {str(i): "unparseable" for i in range(10)}
    check = measure(
        cases, right, f"anthropic:{CHECKED}", table="t.jsonl", second=("anthropic:grader-y", silent)
    )
    (tmp_path / "check").mkdir()
    (tmp_path / "check" / "grader_check.json").write_text(json.dumps(check.to_dict()))
    args = ["--grader-check", str(tmp_path / "check"), "--grader-model", "grader-y"]
    dry = _ml_run(make_stub(answers=HEDGING_STUB), tmp_path / "run", *args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert (
        "grader: its verdicts are kept but not counted (the grader check given got no CORRECT or INCORRECT "
        "verdict from anthropic:grader-y): run `flatbench llm-grader-check --provider anthropic --model "
        "grader-y` and pass --grader-check, or pass --count-unmeasured-grader"
    ) in " ".join(dry.output.split())
    res = _ml_run(make_stub(answers=HEDGING_STUB), tmp_path / "run", *args)
    assert res.exit_code == 0, res.output
    assert "(the grader check given got no CORRECT or INCORRECT verdict from" in " ".join(res.output.split())
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [g["reason"] for g in summary["provenance"]["graders"]] == ["measured-nothing"]
    assert (
        "not counted: the grader check given measured nothing**"
        in (tmp_path / "run" / "report.md").read_text()
    )


def test_a_missing_grader_check_is_refused(tmp_path: Path, make_stub: Any, key_env: None) -> None:
    bad = _ml_run(
        make_stub(answers=HEDGING_STUB), tmp_path / "bad", "--grader-check", str(tmp_path / "nothing")
    )
    assert bad.exit_code == 2 and "no grader check at" in bad.output
