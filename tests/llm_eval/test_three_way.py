"""The three-way verdict (correct only when sure / wrong when the gold is absent / unresolved), the
final-line answer protocol, and how unresolved samples are counted, bounded and graded."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from llm_eval.grader import grade_samples, resolve_scorer
from llm_eval.items import ItemSchemaError, load_multilingual, load_noisy
from llm_eval.report import render_report
from llm_eval.scoring import Outcome, final_answer_line, score_answer
from llm_eval.suites import FINAL_LINE_INSTRUCTION, apply_answer_format, get_suite
from llm_eval.summary import build_summary
from llm_eval.types import Record, Usage

C, W, U = Outcome.CORRECT, Outcome.WRONG, Outcome.UNRESOLVED
CAP_AU = "What is the capital city of Australia?"
CAP_AU_HI = "ऑस्ट्रेलिया की राजधानी कौन सा शहर है?"
SPIDER = "How many legs does a spider have?"
WW2 = "In which year did the Second World War end?"
ML = load_multilingual().by_id()

VERDICTS = [
    # (response, item id, question, expected) -- the gold asserted and nothing else named: correct
    ("Canberra.", "ml-003", CAP_AU, C),
    ("The capital of Australia is Canberra.", "ml-003", CAP_AU, C),
    ("Canberra, not Melbourne.", "ml-003", CAP_AU, C),  # a negated rival is not asserted
    ("ऑस्ट्रेलिया की राजधानी कैनबरा है।", "ml-003", CAP_AU_HI, C),
    ("A spider has eight legs.", "ml-019", SPIDER, C),
    ("It ended in 1945, on 2 September.", "ml-034", WW2, C),  # a day of the month is no rival year
    # the gold absent: wrong
    ("Melbourne.", "ml-003", CAP_AU, W),
    ("A spider has six legs.", "ml-019", SPIDER, W),
    ("मेलबर्न", "ml-003", CAP_AU_HI, W),
    # the reply's focus is on a rival, the gold only in context: wrong
    ("Melbourne is the capital; Canberra is only a planned town.", "ml-003", CAP_AU, W),
    ("Not Canberra: Sydney.", "ml-003", CAP_AU, W),
    ("मेलबर्न राजधानी है और कैनबरा एक छोटा शहर है।", "ml-003", CAP_AU_HI, W),
    # one answer given with doubt (SimpleQA's rule: a hedge with no other candidate is that answer)
    ("Probably Canberra.", "ml-003", CAP_AU, C),
    ("Shayad Canberra.", "ml-003", CAP_AU, C),
    # the gold named beside a rival it does not outrank, among candidates, negated alone, or
    # inside a longer name: unresolved
    ("Perth, in the Canberra District.", "ml-003", CAP_AU, U),
    ("मेलबर्न या कैनबरा, पक्का नहीं।", "ml-003", CAP_AU_HI, U),
    ("Probably Canberra, or maybe Sydney.", "ml-003", CAP_AU, U),
    ("Not Canberra.", "ml-003", CAP_AU, U),
    ("Eight on each side, sixteen in all.", "ml-019", SPIDER, U),
    ("The war ended in 1945 in Europe and 1946 in law.", "ml-034", WW2, U),
    # a lowercase rival of a common-noun answer, from the item's answer class
    ("Plants take in oxygen, releasing carbon dioxide.", "ml-016", None, W),
    ("Plants take in oxygen or carbon dioxide.", "ml-016", None, U),
    ("Plants take in carbon dioxide.", "ml-016", None, C),
]


@pytest.mark.parametrize(("response", "item", "question", "expected"), VERDICTS)
def test_three_way_verdict(response: str, item: str, question: str | None, expected: Outcome) -> None:
    it = ML[item]
    q = question or it.question["en"]
    got = score_answer(
        response, it.answers, answer_type=it.answer_type, question=q, answer_class=it.answer_class
    )
    assert got.outcome is expected, got.reason


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("Canberra is the capital.\n\nAnswer: Canberra", "Canberra"),
        ("**Answer:** Tokyo", "Tokyo"),
        ("Answer: Sydney\nsome words\nFinal answer: Canberra", "Canberra"),  # the last such line
        ("उत्तर: कैनबरा", "कैनबरा"),
        ("Jawab: Canberra", "Canberra"),
        ("The answer is Canberra.", None),  # no label line
        ("", None),
    ],
)
def test_final_answer_line(text: str, line: str | None) -> None:
    assert final_answer_line(text) == line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Melbourne and Sydney are big; Canberra is the capital.\nAnswer: Canberra", C),  # the line decides
        ("Canberra hosts parliament.\nAnswer: Sydney", W),
        ("Answer: Sydney or Canberra", U),
        ("No final line here, just Canberra.", C),  # without the line: the whole reply
    ],
)
def test_final_line_format_reads_the_line_first(text: str, expected: Outcome) -> None:
    it = ML["ml-003"]
    got = score_answer(text, it.answers, answer_type="entity", question=CAP_AU, answer_format="final-line")
    assert got.outcome is expected, got.reason


def test_bad_format_class_and_type_are_named() -> None:
    with pytest.raises(ValueError, match=re.escape("`answer_format` must be plain|final-line, got 'json'")):
        score_answer("x", ["y"], answer_format="json")
    with pytest.raises(ValueError, match=r"`answer_class` must be one of .*, got 'metal'"):
        score_answer("x", ["y"], answer_class="metal")
    with pytest.raises(ValueError, match=re.escape("`answer_type` must be entity|number|year")):
        score_answer("x", ["y"], answer_type="date")


def test_items_carry_years_and_answer_classes(tmp_path: Path) -> None:
    nz = load_noisy().by_id()
    assert ML["ml-029"].answer_type == "year" and nz["nz-046"].answer_type == "year"
    assert ML["ml-016"].answer_class == "gas" and ML["ml-003"].answer_class is None
    bad = tmp_path / "noisy.jsonl"
    bad.write_text(json.dumps({"id": "x", "domain": "d", "question": "q?", "answers": ["a"], "entities": [],
                               "answer_type": "entity", "answer_class": "metal"}) + "\n")  # fmt: skip
    (tmp_path / "answer_classes.json").write_text(json.dumps({"gas": ["oxygen"]}))
    with pytest.raises(
        ItemSchemaError, match=r"noisy.jsonl:1: `answer_class` must be one of gas, got 'metal'"
    ):
        load_noisy(bad)


def test_final_line_instruction_is_identical_in_every_condition() -> None:
    base = get_suite("multilingual")("both", 0)
    fl = apply_answer_format(base, "final-line")
    assert all(s.request.system and s.request.system.endswith(FINAL_LINE_INSTRUCTION) for s in fl)
    assert all(s.meta["answer_format"] == "final-line" for s in fl)
    # nothing else changes: the prompts, and the mitigation prompt before the instruction
    for a, b in zip(base, fl, strict=True):
        assert a.request.messages == b.request.messages
        assert (b.request.system or "").removesuffix(FINAL_LINE_INSTRUCTION).strip() == (
            a.request.system or ""
        )
    plain = apply_answer_format(base, "plain")
    assert [s.request for s in plain] == [s.request for s in base]
    with pytest.raises(
        ValueError, match=re.escape("`answer_format` must be one of plain|final-line, got 'xml'")
    ):
        apply_answer_format(base, "xml")


@pytest.mark.parametrize(
    ("choice", "provider", "expected"),
    [
        ("auto", "local", "rule"),
        ("auto", "anthropic", "auto"),
        ("rule", "anthropic", "rule"),
        ("model", "local", "model"),
    ],
)
def test_resolve_scorer(choice: str, provider: str, expected: str) -> None:
    assert resolve_scorer(choice, provider) == expected


def test_resolve_scorer_rejects_unknown() -> None:
    with pytest.raises(ValueError, match=re.escape("`scorer` must be one of auto|rule|model, got 'llm'")):
        resolve_scorer("llm", "local")


# ------------------------------------------------------------------------------------------ analysis
def rec(item: str, cond: str, text: str, *, variant: str = "clean", suite: str = "multilingual",
        grade: str | None = None, error: str | None = None) -> Record:  # fmt: skip
    it = ML["ml-003"]
    return Record(
        sample_id=f"{item}|{cond}|{variant}|none", item_id=item, condition=cond, variant=variant,
        provider="fake", model="fake-1", params={}, system=None,
        messages=[{"role": "user", "content": CAP_AU}], response_text=None if error else text,
        usage=Usage(1, 1), error=error,
        model_grade={"verdict": grade, "model": "g", "raw": grade} if grade else None,
        meta={"suite": suite, "mitigation": "none", "gold": list(it.answers), "answer_type": "entity",
              "expected_language": "en", "clean_question": CAP_AU if suite == "noisy" else None},
    )  # fmt: skip


def en_cell(
    records: list[Record],
    suite: str = "multilingual",
    cond: str = "en",
    variant: str = "clean",
    provenance: dict | None = None,
) -> dict:
    s = build_summary(records, provenance=provenance)
    return next(c for c in s["suites"][suite]["cells"] if (c["condition"], c["variant"]) == (cond, variant))


UNRES = "It is either Sydney or Canberra."


def test_cell_counts_unresolved_apart_with_bounds() -> None:
    """6 correct, 2 wrong, 2 unresolved: accuracy 6/8 over resolved, share 2/10, bounds 6/10 - 8/10."""
    rows = [rec(f"i{i}", "en", "Canberra.") for i in range(6)]
    rows += [rec(f"w{i}", "en", "Sydney.") for i in range(2)]
    rows += [rec(f"u{i}", "en", UNRES) for i in range(2)]
    c = en_cell(rows)
    assert (c["n"], c["n_correct"], c["n_wrong"], c["n_unresolved"], c["n_resolved"]) == (10, 6, 2, 2, 8)
    assert c["accuracy"] == pytest.approx(0.75) and c["unresolved_share"] == pytest.approx(0.2)
    assert (c["accuracy_low"], c["accuracy_high"]) == (pytest.approx(0.6), pytest.approx(0.8))
    report = render_report(build_summary(rows))
    assert "| English (L1) | 75.0% | [40.9, 92.9] | 2/10 (20%) | 60.0% – 80.0% |" in report


@pytest.mark.parametrize(
    ("provenance", "counts"),
    [
        ({}, (0, 1, 3, 0)),  # an unmeasured grader: its verdicts are kept, the samples stay unresolved
        ({"count_unmeasured_grader": True}, (1, 2, 1, 2)),  # counted by request
        ({"count_unmeasured_grader": True, "scorer": "rule"}, (0, 1, 3, 0)),  # the rule scorer: no grader
    ],
)
def test_grader_verdict_decides_only_unresolved_samples(provenance: dict, counts: tuple[int, ...]) -> None:
    rows = [
        rec("a", "en", UNRES, grade="correct"),  # unresolved -> the grader decides: correct
        rec("b", "en", UNRES, grade="incorrect"),  # -> wrong
        rec("c", "en", UNRES, grade="unparseable"),  # stays unresolved
        rec("d", "en", "Sydney.", grade="correct"),  # resolved by the rules: the rule verdict stays
    ]
    c = en_cell(rows, provenance=provenance)
    assert (c["n_correct"], c["n_wrong"], c["n_unresolved"], c["n_graded"]) == counts
    assert c["n_grader_verdicts"] == 2
    ga = build_summary(rows, provenance=provenance)["suites"]["multilingual"]["grader_agreement"]
    assert (ga["n_compared"], ga["n_rule_unresolved"], ga["model_only_correct"]) == (1, 3, 1)


def test_only_unresolved_records_are_sent_to_the_grader() -> None:
    rows = [rec("a", "en", UNRES), rec("b", "en", "Canberra."), rec("c", "en", "Sydney."),
            rec("d", "en", "", error="HTTP 500")]  # fmt: skip
    assert [s.meta["graded_sample_id"] for s in grade_samples(rows, only_unresolved=True)] == [
        "a|en|clean|none"
    ]
    assert len(grade_samples(rows)) == 3


def test_worst_case_per_item_over_every_variant() -> None:
    """Item A right everywhere; B wrong under typos; C unresolved under emoji, right elsewhere."""
    rows = []
    for item, typo, emoji in (
        ("A", "Canberra.", "Canberra."),
        ("B", "Sydney.", "Canberra."),
        ("C", "Canberra.", UNRES),
    ):
        rows.append(rec(item, "clean", "Canberra.", suite="noisy"))
        for lv in ("light", "heavy"):
            rows.append(rec(item, "typos", typo, variant=lv, suite="noisy"))
            rows.append(rec(item, "emoji", emoji, variant=lv, suite="noisy"))
    wc = build_summary(rows)["suites"]["noisy"]["worst_case"]["none"]
    assert (
        wc["all"]["n_items"],
        wc["all"]["n_correct"],
        wc["all"]["n_wrong"],
        wc["all"]["n_unresolved"],
    ) == (3, 1, 1, 1)
    assert wc["all"]["accuracy"] == pytest.approx(0.5)
    assert (wc["all"]["accuracy_low"], wc["all"]["accuracy_high"]) == (
        pytest.approx(1 / 3),
        pytest.approx(2 / 3),
    )
    typos, emoji = wc["per_kind"]["typos"], wc["per_kind"]["emoji"]
    assert (typos["n_correct"], typos["n_wrong"], typos["mean_accuracy"]) == (2, 1, pytest.approx(2 / 3))
    assert (emoji["n_correct"], emoji["n_unresolved"], emoji["accuracy"]) == (2, 1, 1.0)
    report = render_report(build_summary(rows))
    assert "| typos | 66.7% | 66.7% | 66.7% – 66.7% | 3 | 0 |" in report
    assert "| **all variants** |  | 50.0% | 33.3% – 66.7% | 3 | 1 |" in report


# ------------------------------------------------------------------------------------------ --scorer auto
GRADED_STUB = {"reply with exactly one word": "CORRECT", "capital of india": "Mumbai or New Delhi",
               "राजधानी": "नई दिल्ली"}  # fmt: skip


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.llm_eval.conftest import FAKE_KEY

    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)


def _ml_run(stub: Any, out: Path, *extra: str) -> Any:
    from typer.testing import CliRunner

    from flows.cli import app

    args = ["llm-eval", "multilingual", "--provider", "anthropic", "--base-url", stub.base_url, "--out", str(out),
            "--limit", "4", "--judge", "heuristic", "--no-progress", *extra]  # fmt: skip
    return CliRunner().invoke(app, args)


def test_auto_scorer_grades_only_unresolved_answers_through_the_stub(
    tmp_path: Path, make_stub: Any, key_env: None
) -> None:
    """Plumbing only: the stub's grader verdict is canned, so this says nothing of a real grader's accuracy."""
    stub = make_stub(answers=GRADED_STUB)
    res = _ml_run(stub, tmp_path / "auto")
    assert res.exit_code == 0, res.output
    assert "scorer auto" in res.output and "requested 1" in res.output
    graded = (tmp_path / "auto" / "grader" / "responses.jsonl").read_text().splitlines()
    assert len(graded) == 1 and json.loads(graded[0])["sample_id"] == "grade|ml-001|en|clean|none"
    summary = json.loads((tmp_path / "auto" / "summary.json").read_text())
    en = summary["suites"]["multilingual"]["cells"][0]
    # the grader is unmeasured: its verdict is kept beside the sample, which stays unresolved
    assert (en["n_correct"], en["n_unresolved"], en["n_graded"], en["n_grader_verdicts"]) == (0, 1, 0, 1)
    assert summary["provenance"]["scorer"] == "auto" and summary["provenance"]["n_model_graded"] == 1
    optin = _ml_run(stub, tmp_path / "optin", "--count-unmeasured-grader")
    assert optin.exit_code == 0, optin.output
    en = json.loads((tmp_path / "optin" / "summary.json").read_text())["suites"]["multilingual"]["cells"][0]
    assert (en["n_correct"], en["n_unresolved"], en["n_graded"]) == (1, 0, 1)
    rule = _ml_run(stub, tmp_path / "rule", "--scorer", "rule")
    assert rule.exit_code == 0 and not (tmp_path / "rule" / "grader").exists()
    en = json.loads((tmp_path / "rule" / "summary.json").read_text())["suites"]["multilingual"]["cells"][0]
    assert (en["n_correct"], en["n_unresolved"], en["accuracy_low"], en["accuracy_high"]) == (0, 1, 0.0, 1.0)
