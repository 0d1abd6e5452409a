"""The hand-labelled scoring table: realistic full-sentence answers (English, Devanagari, Hinglish,
code-switch; lists, hedges, negations, explanations, numbers in digits and words) with the outcome a
grader gives them. Rates on this and on the held-out table: ``benchmarks/scoring_rates.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_eval.items import load_multilingual, load_noisy, load_scoring_cases
from llm_eval.scoring import score_answer

DATA = Path(__file__).parent / "data"
CASES = load_scoring_cases(DATA / "scoring_cases.jsonl")


def test_table_is_large_and_mixed() -> None:
    assert len(CASES) >= 150
    tags = {t for c in CASES for t in c["tags"]}
    assert {"dev", "hinglish", "cs", "list", "hedge", "negation", "explanation", "words", "yesno"} <= tags
    assert sum(c["expected"] != "correct" for c in CASES) >= 50


def _verdict(case: dict, fmt: str = "plain") -> str:
    line = case.get("final_line")
    text = case["response"] + "\n\n" + line if fmt == "final-line" and line else case["response"]
    return score_answer(text, case["answers"], answer_type=case["answer_type"], question=case["question"],
                        answer_class=case.get("answer_class"), answer_format=fmt).outcome.value  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_verdict_never_contradicts_the_label(case: dict) -> None:
    """Three-way verdict: a reply labelled correct may be unresolved but is never scored wrong; one
    labelled wrong / unsure may be unresolved but is never scored correct."""
    got = _verdict(case)
    if case["expected"] == "correct":
        assert got in ("correct", "unresolved"), (case["response"], got)
    else:
        assert got != "correct", (case["response"], got)


def test_the_rules_resolve_most_of_the_development_table() -> None:
    """A scorer that abstains on everything contradicts no label: bound its unresolved share
    (measured: 99 of 386)."""
    assert sum(_verdict(c) == "unresolved" for c in CASES) <= 0.30 * len(CASES)


@pytest.mark.parametrize("table", ["scoring_heldout.jsonl", "scoring_heldout2.jsonl", "scoring_frozen.jsonl"])
@pytest.mark.parametrize("fmt", ["plain", "final-line"])
def test_rates_within_goal(table: str, fmt: str) -> None:
    """False accepts and false rejects <= 5% of the replies the rules resolve (a measurement on tables
    the rules were not written against; the frozen table is never used to tune them)."""
    cases = load_scoring_cases(DATA / table)
    got = [(c["expected"] == "correct", _verdict(c, fmt)) for c in cases]
    resolved = [(pos, v) for pos, v in got if v != "unresolved"]
    fa = sum(not pos and v == "correct" for pos, v in resolved)
    fr = sum(pos and v != "correct" for pos, v in resolved)
    assert len(cases) >= 46 and fa <= 0.05 * len(resolved) and fr <= 0.05 * len(resolved), (
        fa,
        fr,
        len(resolved),
    )


def test_frozen_table_is_large_mixed_and_balanced() -> None:
    cases = load_scoring_cases(DATA / "scoring_frozen.jsonl")
    assert len(cases) >= 100
    assert sum(c["expected"] == "correct" for c in cases) == len(cases) // 2
    assert {c["cond"] for c in cases} == {"en", "hi", "hinglish", "cs"}
    wrong = [c for c in cases if c["expected"] == "wrong"]
    # every wrong reply names the gold (the hard case): an alias or the gold value occurs in it
    assert all(
        any(a.casefold() in c["response"].casefold() for a in c["answers"]) or c["answer_type"] != "entity"
        for c in wrong
    )


def test_echoed_prompt_never_scores_correct() -> None:
    """A reply that only repeats the question is not an answer, in any condition."""
    for it in load_multilingual().items:
        for cond, q in it.question.items():
            r = score_answer(q, it.answers, answer_type=it.answer_type, question=q)
            assert not r.correct, (it.id, cond, r)
    for it in load_noisy().items:
        assert not score_answer(
            it.question, it.answers, answer_type=it.answer_type, question=it.question
        ).correct


def test_without_question_the_leading_rules_still_hold() -> None:
    """The runner and judge call score_answer(response, answers) only: the defaults stay sensible."""
    assert score_answer("The answer is 56.", ["56", "fifty-six"]).correct
    assert not score_answer("Maybe 54 or 56.", ["56"]).correct
    assert not score_answer("Oxygen, not nitrogen.", ["nitrogen"]).correct
    assert score_answer("Yes, it is.", ["yes", "haan"]).correct
    assert not score_answer("No. Yes is the wrong answer.", ["yes", "haan"]).correct


STYLES_DEV = load_scoring_cases(DATA / "scoring_styles_dev.jsonl")


@pytest.mark.parametrize("case", STYLES_DEV, ids=[c["id"] for c in STYLES_DEV])
def test_development_styles_never_contradict_the_label(case: dict) -> None:
    got = _verdict(case)
    assert got in (
        ("correct", "unresolved") if case["expected"] == "correct" else ("wrong", "unsure", "unresolved")
    )


def test_first_styles_table_rates() -> None:
    """The first table of reply styles (datasets/llm_eval/labelled_replies.jsonl), held out until
    its rates were reported and a development table since, plain replies. Measured: unresolved
    4/54, 4/52, 3/52, 4/52 (English, Hindi, Hinglish, code-switched), no false accept, no false
    reject."""
    from llm_eval.items import ITEMS_DIR

    cases = load_scoring_cases(ITEMS_DIR / "labelled_replies.jsonl")
    for cond in ("en", "hi", "hinglish", "cs"):
        got = [(c["expected"] == "correct", _verdict(c)) for c in cases if c["cond"] == cond]
        assert sum(v == "unresolved" for _, v in got) <= 0.15 * len(got), cond
        assert sum(not pos and v == "correct" for pos, v in got) == 0, cond
        assert sum(pos and v in ("wrong", "unsure") for pos, v in got) == 0, cond


def test_held_out_table_rates() -> None:
    """The held-out table (datasets/llm_eval/labelled_replies_2.jsonl, 490 replies, frozen before
    the last rule changes and measured after them), plain replies. Measured: unresolved 15/127,
    12/123, 10/120, 14/120 (English, Hindi, Hinglish, code-switched); no false accept; one false
    reject in English and one in Hindi."""
    from llm_eval.items import ITEMS_DIR

    cases = load_scoring_cases(ITEMS_DIR / "labelled_replies_2.jsonl")
    assert len(cases) == 490
    for cond in ("en", "hi", "hinglish", "cs"):
        group = [c for c in cases if c["cond"] == cond]
        assert sum(c["expected"] == "correct" for c in group) >= 50
        assert sum(c["expected"] == "wrong" for c in group) >= 50
        got = [(c["expected"] == "correct", _verdict(c)) for c in group]
        assert sum(v == "unresolved" for _, v in got) <= 0.15 * len(got), cond
        assert sum(not pos and v == "correct" for pos, v in got) == 0, cond
        assert sum(pos and v in ("wrong", "unsure") for pos, v in got) <= 1, cond


# measured on the third held-out table after the rules for units, taken-back yes/no, letter-spaced
# words and years in words, and again after the rules its errors led to (the question's quantity
# restated, apologetic self-corrections, letter-spaced words before Devanagari, split Devanagari
# words): (false accepts, false rejects, unresolved) per group, plain replies
THIRD_TABLE_MEASURED = {"en": (0, 0, 5), "hi": (0, 0, 3), "hinglish": (0, 0, 3), "cs": (0, 0, 4)}


# measured on the fourth held-out table after the rules for the question's restated quantity,
# apologetic self-corrections, letter-spaced words before Devanagari and split Devanagari words:
# (false accepts, false rejects, unresolved) per group, plain replies
FOURTH_TABLE_MEASURED = {"en": (0, 0, 6), "hi": (0, 1, 6), "hinglish": (1, 0, 3), "cs": (0, 0, 2)}


# measured on the fifth table (realistic chat-model replies, a development table for the rules that
# a rival answer is of the question's kind, hedges about the question's reading, another model's
# numbers, the question restated in another script, Hindi clauses joined by "और" and hedged answers
# beside rivals ranked below them) after those rules
FIFTH_TABLE_MEASURED = {"en": (0, 0, 1), "hi": (0, 0, 2), "hinglish": (0, 0, 1), "cs": (0, 0, 0)}

# measured on the sixth table (realistic chat-model replies, held out) once before and once after
# the rules the fifth table's errors led to
SIXTH_TABLE_MEASURED = {"en": (0, 0, 3), "hi": (0, 0, 2), "hinglish": (0, 0, 3), "cs": (0, 0, 4)}


@pytest.mark.parametrize(
    ("table", "size", "per_group", "measured"),
    [
        # frozen before the rules for numbers in another unit, taken-back yes/no answers,
        # letter-spaced words and years in words
        ("labelled_replies_3.jsonl", 244, (30, 30), THIRD_TABLE_MEASURED),
        # frozen before the rule changes that the third table's errors led to
        ("labelled_replies_4.jsonl", 244, (30, 30), FOURTH_TABLE_MEASURED),
        # both frozen before the rule changes that the fifth table's errors led to
        ("labelled_replies_5.jsonl", 160, (20, 19), FIFTH_TABLE_MEASURED),
        ("labelled_replies_6.jsonl", 160, (20, 19), SIXTH_TABLE_MEASURED),
    ],
)
def test_later_held_out_table_rates(
    table: str, size: int, per_group: tuple[int, int], measured: dict[str, tuple[int, int, int]]
) -> None:
    """A later labelled table (``per_group``: its right and wrong replies per group; the
    held-out ones measured once before and once after the rule changes they were frozen for), plain
    replies: never worse than measured (README, "Measured rates"; the errors left are listed there)."""
    from llm_eval.items import ITEMS_DIR

    cases = load_scoring_cases(ITEMS_DIR / table)
    assert len(cases) == size
    for cond, (fa, fr, unresolved) in measured.items():
        group = [c for c in cases if c["cond"] == cond]
        assert sum(c["expected"] == "correct" for c in group) == per_group[0]
        assert sum(c["expected"] == "wrong" for c in group) == per_group[1]
        got = [(c["expected"] == "correct", _verdict(c)) for c in group]
        assert sum(not pos and v == "correct" for pos, v in got) <= fa, cond
        assert sum(pos and v in ("wrong", "unsure") for pos, v in got) <= fr, cond
        assert sum(v == "unresolved" for _, v in got) <= unresolved, cond


def _scoring_rates():  # type: ignore[no-untyped-def]
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "scoring_rates.py"
    spec = importlib.util.spec_from_file_location("scoring_rates", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_scoring_rates_intervals_are_exact() -> None:
    """Clopper-Pearson: 0 of n has upper bound 1 - 0.025 ** (1 / n); n of n has lower 0.025 ** (1 / n)."""
    rates = _scoring_rates()
    lo, hi = rates.exact_interval(0, 57)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 57))
    lo, hi = rates.exact_interval(57, 57)
    assert lo == pytest.approx(0.025 ** (1 / 57)) and hi == 1.0
    assert rates.exact_interval(0, 0) == (0.0, 1.0)


def test_scoring_rates_reports_plain_and_final_line_per_group() -> None:
    rates = _scoring_rates()
    out = rates.table(rates.HELD_OUT)
    for group in ("English", "Hindi", "Hinglish", "code-switched"):
        assert f"| rule: {group} |" in out and f"| final-line: {group} |" in out
        assert f"target {group}: " in out
    assert "[0.0%, " in out
    for table, head in [(rates.HELD_OUT_3, "244 replies, 120"), (rates.HELD_OUT_4, "244 replies, 120"),
                        (rates.DEV_5, "160 replies, 80"), (rates.HELD_OUT_6, "160 replies, 80")]:  # fmt: skip
        out = rates.table(table)
        assert f"{table.name} ({head} labelled correct)" in out
        assert all(f"target {group}: " in out for group in ("English", "Hindi", "Hinglish", "code-switched"))
