"""A grader's verdicts count only once it is measured: which verdicts decide unresolved samples, what
the summary records and what the report says, for every way a run can be given (or not) a check."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from llm_eval.grader_check import measure
from llm_eval.grader_policy import GraderPolicy
from llm_eval.items import load_multilingual
from llm_eval.report import render_report
from llm_eval.summary import build_summary
from llm_eval.types import Record, Usage

IT = load_multilingual().by_id()["ml-003"]  # the capital of Australia: Canberra
CAP_AU = "What is the capital city of Australia?"
UNRES = "It is either Sydney or Canberra."  # the rules cannot tell: unresolved
GRADER = "fake:grader-1"


def rec(item: str, cond: str, text: str, grade: str | None = None, model: str = "grader-1") -> Record:
    return Record(
        sample_id=f"{item}|{cond}|clean|none", item_id=item, condition=cond, variant="clean",
        provider="fake", model="fake-1", params={}, system=None,
        messages=[{"role": "user", "content": CAP_AU}], response_text=text, usage=Usage(1, 1),
        model_grade={"verdict": grade, "model": model, "provider": "fake", "raw": grade} if grade else None,
        meta={"suite": "multilingual", "mitigation": "none", "gold": list(IT.answers),
              "answer_type": "entity", "expected_language": "en"},
    )  # fmt: skip


def run() -> list[Record]:
    """en: 6 right, 2 wrong, 2 unresolved that the grader calls correct (rules 6/8 = 75.0%, with the
    grader 8/10 = 80.0%); hi: 4 right, 4 wrong, 2 unresolved the grader calls incorrect (50.0% either
    way over resolved, 4/10 = 40.0% with the grader); one rule-resolved reply the grader contradicts,
    whose rule verdict always stands."""
    rows = [rec(f"i{i}", "en", "Canberra.") for i in range(6)]
    rows += [rec(f"i{i}", "en", "Sydney.") for i in range(6, 8)]
    rows += [rec(f"i{i}", "en", UNRES, "correct") for i in range(8, 10)]
    rows += [rec(f"i{i}", "hi", "Canberra.") for i in range(4)]
    rows += [rec(f"i{i}", "hi", "Sydney.", "correct" if i == 4 else None) for i in range(4, 8)]
    rows += [rec(f"i{i}", "hi", UNRES, "incorrect") for i in range(8, 10)]
    return rows


CASES = [{"id": str(i), "cond": "en", "expected": e} for i, e in enumerate(["correct", "wrong"] * 5)]
RIGHT = {str(i): "correct" if i % 2 == 0 else "incorrect" for i in range(10)}


def check(grader: str, verdicts: dict[str, str] | None = None, second: str | None = None) -> dict[str, Any]:
    """A grader check as grader_check.json holds it; ``second`` adds a faithful second grader."""
    pair = (second, RIGHT) if second else None
    c = measure(CASES, RIGHT if verdicts is None else verdicts, grader, table="t/labelled.jsonl", second=pair)
    return c.to_dict()


UNMEASURED = "4 grader verdicts not counted: the grader is unmeasured"
RERUN = "run `flatbench llm-grader-check --provider fake --model grader-1` and pass `--grader-check`"
NOT_COUNTED_SENS = "accuracy (resolved) would be: English (L1) (no mitigation): 75.0% → 80.0%"
COUNTED_SENS = "Without the 4 grader verdicts (rules only, those samples unresolved)"

POLICIES = [
    # (id, provenance, counted, reason, phrases in the report)
    ("no check", {}, False, "unmeasured", [UNMEASURED, RERUN, NOT_COUNTED_SENS]),
    ("check of this grader", {"grader_check": check(GRADER)}, True, "measured",
     ["grader verdicts counted (measured: false accept 0.0% [0.0, 52.2], false reject 0.0% [0.0, 52.2], "
      "95% CI, on labelled.jsonl): **4 verdicts came from the grader**", COUNTED_SENS]),
    ("this grader as a check's second grader", {"grader_check": check("fake:grader-2", second=GRADER)},
     True, "measured", ["grader verdicts counted (measured: false accept 0.0% [0.0, 52.2]"]),
    ("check of another model", {"grader_check": check("fake:grader-2")}, False, "other-grader",
     ["4 grader verdicts not counted: the grader check given measured another grader** (fake:grader-2 on "
      "labelled.jsonl), not this one", RERUN, NOT_COUNTED_SENS]),
    ("same model, another provider", {"grader_check": check("anthropic:grader-1")}, False, "other-grader",
     ["(anthropic:grader-1 on labelled.jsonl), not this one"]),
    ("check of this grader that measured nothing",
     {"grader_check": check(GRADER, {str(i): "unparseable" for i in range(10)})}, False, "measured-nothing",
     ["4 grader verdicts not counted: the grader check given measured nothing", RERUN]),
    ("opt-in, no check", {"count_unmeasured_grader": True}, True, "opt-in",
     ["**4 grader verdicts counted although the grader is unmeasured** (`--count-unmeasured-grader`)",
      COUNTED_SENS]),
    ("opt-in beside a check of another model",
     {"grader_check": check("fake:grader-2"), "count_unmeasured_grader": True}, True, "opt-in",
     ["grader verdicts counted although the grader is unmeasured"]),
    ("rule scorer, check of this grader", {"scorer": "rule", "grader_check": check(GRADER)}, False,
     "rule-scorer", ["4 grader verdicts in the records not counted: the scorer is `rule`"]),
]  # fmt: skip


def _strip_grades(records: list[Record]) -> list[Record]:
    out = copy.deepcopy(records)
    for r in out:
        r.model_grade = None
    return out


GRADER_KEYS = {"n_graded", "n_grader_verdicts", "accuracy_with_grader"}


@pytest.mark.parametrize(("provenance", "counted", "reason", "phrases"),
                         [p[1:] for p in POLICIES], ids=[p[0] for p in POLICIES])  # fmt: skip
def test_grader_verdicts_count_only_when_this_grader_was_measured(
    provenance: dict[str, Any], counted: bool, reason: str, phrases: list[str]
) -> None:
    summary = build_summary(run(), provenance=provenance)
    prov = summary["provenance"]
    ml = summary["suites"]["multilingual"]
    en, hi = ml["cells"]
    assert prov["grader_verdicts_counted"] is counted
    assert (prov["n_grader_verdicts"], prov["n_grader_decided"]) == (4, 4 if counted else 0)
    assert prov["n_grader_not_counted"] == (0 if counted else 4)
    assert [(g["grader"], g["counted"], g["reason"]) for g in prov["graders"]] == [(GRADER, counted, reason)]
    assert prov["count_unmeasured_grader"] is bool(provenance.get("count_unmeasured_grader"))
    # the sensitivity is in every cell, whichever counts
    assert (en["accuracy_rule_only"], en["accuracy_with_grader"]) == (pytest.approx(0.75), pytest.approx(0.8))
    assert (hi["accuracy_rule_only"], hi["accuracy_with_grader"]) == (pytest.approx(0.5), pytest.approx(0.4))
    if counted:
        assert (en["accuracy"], en["n_unresolved"], en["n_graded"]) == (pytest.approx(0.8), 0, 2)
        assert (hi["accuracy"], hi["n_wrong"]) == (pytest.approx(0.4), 6)
    else:  # every number is the rule-only result: the same summary as with no grade at all
        rule_only = build_summary(_strip_grades(run()), provenance=provenance)["suites"]["multilingual"]
        for got, want in zip(ml["cells"], rule_only["cells"], strict=True):
            assert {k: v for k, v in got.items() if k not in GRADER_KEYS} == {
                k: v for k, v in want.items() if k not in GRADER_KEYS
            }
        assert ml["comparisons"] == rule_only["comparisons"] and ml["taxonomy"] == rule_only["taxonomy"]
        assert (en["accuracy"], en["n_unresolved"], en["n_graded"]) == (pytest.approx(0.75), 2, 0)
    # the grader's verdict never overrides a reply the rules resolved (hi i4: "Sydney.", graded correct)
    assert hi["n_correct"] == 4
    report = render_report(summary)
    assert "**Model grader.** " in report and "Sensitivity to the grader (not a finding)" in report
    for phrase in phrases:
        assert phrase in report, phrase


def test_grader_agreement_is_shown_whether_or_not_the_verdicts_count() -> None:
    """--scorer model's second opinion: the agreement table compares, and counts nothing."""
    for provenance in ({}, {"count_unmeasured_grader": True}):
        ga = build_summary(run(), provenance=provenance)["suites"]["multilingual"]["grader_agreement"]
        # 5 graded: 4 the rules left unresolved, 1 they resolved wrong and the grader called correct
        assert (ga["n_graded"], ga["n_compared"], ga["n_rule_unresolved"]) == (5, 1, 4)
        assert (ga["model_only_correct"], ga["models"]) == (1, ["grader-1"])


@pytest.mark.parametrize(
    ("grade", "expected"),
    [
        ({"verdict": "correct", "model": "m", "provider": "anthropic"}, "anthropic:m"),
        ({"verdict": "correct", "model": "m"}, "fake:m"),  # a grade written before it named its provider
        (None, None),
    ],
)
def test_a_grade_names_its_grader(grade: dict[str, str] | None, expected: str | None) -> None:
    from llm_eval.grader import grader_of

    r = rec("a", "en", UNRES)
    r.model_grade = grade
    assert grader_of(r) == expected


def test_a_run_without_grades_says_nothing_of_a_grader() -> None:
    rows = [rec("a", "en", "Canberra."), rec("b", "en", UNRES)]
    summary = build_summary(rows, provenance={"grader_check": check(GRADER)})
    prov = summary["provenance"]
    assert (prov["grader_verdicts_counted"], prov["n_grader_verdicts"], prov["graders"]) == (False, 0, [])
    report = render_report(summary)
    assert "but no sample carries a model grade" in report and "Sensitivity to the grader" not in report
    assert "**Model grader.**" not in render_report(build_summary(rows))


@pytest.mark.parametrize(
    "provenance",
    [{}, {"grader_check": check("fake:grader-2")}, {"scorer": "rule"}],
    ids=["unmeasured", "other-grader", "rule-scorer"],
)
def test_a_grader_with_no_verdict_left_out_is_not_said_to_have_any(provenance: dict[str, Any]) -> None:
    """Grades only on replies the rules resolved (or UNSURE): nothing is left out, so no "0 not counted"."""
    rows = [
        rec("a", "en", "Canberra.", "correct"),
        rec("b", "en", "Sydney.", "correct"),
        rec("c", "en", UNRES),
    ]
    rows.append(rec("d", "en", UNRES, "unsure"))
    summary = build_summary(rows, provenance=provenance)
    prov = summary["provenance"]
    assert (prov["n_grader_verdicts"], prov["n_grader_not_counted"]) == (0, 0)
    assert [(g["n_graded"], g["n_verdicts"]) for g in prov["graders"]] == [(3, 0)]
    report = render_report(summary)
    assert "not counted" not in report and "0 grader verdicts" not in report
    assert (
        "**Model grader.** fake:grader-1: no CORRECT or INCORRECT verdict on a sample the rules left "
        "unresolved.\n" in report
    )  # what the scorer's row points to ("see *Model grader* below")
    # beside a grader whose verdicts count, only that grader's line is shown
    rows.append(rec("e", "en", UNRES, "correct", model="grader-2"))
    two = render_report(build_summary(rows, provenance={"grader_check": check("fake:grader-2")}))
    note = next(ln for ln in two.splitlines() if ln.startswith("**Model grader.**"))
    assert (
        note.startswith("**Model grader.** fake:grader-2: grader verdicts counted") and "grader-1" not in note
    )


def test_policy_reads_a_check_from_the_provenance() -> None:
    policy = GraderPolicy.from_provenance({"grader_check": check(GRADER, second="fake:grader-2")})
    assert set(policy.measured) == {GRADER, "fake:grader-2"} and policy.counts(GRADER)
    assert not policy.counts("fake:grader-3") and policy.reason("fake:grader-3") == "other-grader"
    assert not GraderPolicy().counts(GRADER) and not GraderPolicy(count_unmeasured=True).counts(None)


def test_a_summary_written_before_the_policy_still_renders_and_says_so() -> None:
    """Old summary.json files counted every grader verdict and lack the per-grader fields."""
    summary = build_summary(run(), provenance={"count_unmeasured_grader": True})
    for key in ("graders", "grader_verdicts_counted", "n_grader_verdicts", "n_grader_not_counted"):
        del summary["provenance"][key]
    for c in summary["suites"]["multilingual"]["cells"]:
        for key in ("n_grader_verdicts", "accuracy_rule_only", "accuracy_with_grader"):
            del c[key]
    report = render_report(summary)
    assert "4 grader verdicts counted (a summary written before unmeasured graders were left out" in report
    assert "Sensitivity to the grader" not in report
