"""Answer matching: a table of match / mismatch cases in both scripts and both digit systems."""

from __future__ import annotations

import pytest

from llm_eval.scoring import Outcome, extract_numbers, normalize, parse_number, score_answer

DELHI = ["New Delhi", "नई दिल्ली", "नयी दिल्ली", "Nai Dilli"]

CASES = [
    # (response, gold aliases, expected outcome)  -- English / Latin script
    ("New Delhi", DELHI, Outcome.CORRECT),
    ("The capital of India is New Delhi.", DELHI, Outcome.UNRESOLVED),  # no question: "India" may be a rival
    ("NEW   DELHI!!", DELHI, Outcome.CORRECT),
    ("Delhi", DELHI, Outcome.WRONG),  # the study's failure case: gold "New Delhi" does not occur
    ("New Delhite", DELHI, Outcome.WRONG),  # word boundary
    ("Ｐａｒｉｓ", ["Paris"], Outcome.CORRECT),  # fullwidth folded by NFKC
    ("Pa\u200bris.", ["Paris"], Outcome.CORRECT),  # zero-width removed
    ("paris", ["Paris"], Outcome.CORRECT),
    ("Parisian food", ["Paris"], Outcome.WRONG),
    ("Kyoto", ["Tokyo", "टोक्यो"], Outcome.WRONG),
    ("Yes, it is.", ["yes", "हाँ", "haan"], Outcome.CORRECT),
    ("No.", ["yes", "हाँ", "haan"], Outcome.WRONG),
    ("H2O", ["H2O", "H₂O"], Outcome.CORRECT),
    ("Haan, bilkul.", ["yes", "हाँ", "haan"], Outcome.CORRECT),  # romanized alias
    # Devanagari
    ("भारत की राजधानी नई दिल्ली है।", DELHI, Outcome.UNRESOLVED),  # no question: "भारत" unknown
    ("नयी दिल्ली", DELHI, Outcome.CORRECT),
    ("दिल्ली", DELHI, Outcome.WRONG),
    ("हां", ["yes", "हाँ"], Outcome.CORRECT),  # candrabindu / anusvara variant
    ("टोक्यो जापान की राजधानी है", ["Tokyo", "टोक्यो"], Outcome.UNRESOLVED),
    ("क्योटो", ["Tokyo", "टोक्यो"], Outcome.WRONG),
    # numbers, either digit system
    ("25", ["25"], Outcome.CORRECT),
    ("25.0", ["25"], Outcome.CORRECT),
    ("It is 25%.", ["25"], Outcome.CORRECT),
    ("२५ प्रतिशत", ["25"], Outcome.CORRECT),
    ("25", ["२५"], Outcome.CORRECT),
    ("250", ["25"], Outcome.WRONG),
    ("2.5", ["25"], Outcome.WRONG),
    ("1,000 metres", ["1000"], Outcome.CORRECT),
    ("1,00,000 लोग", ["100000"], Outcome.CORRECT),
    ("about 8849 m", ["8849", "8,849"], Outcome.CORRECT),
    ("1990-2000", ["2000"], Outcome.UNRESOLVED),  # a range names another year
    ("-5 degrees", ["5"], Outcome.WRONG),
    ("seven", ["7", "seven", "सात"], Outcome.CORRECT),
    ("सात", ["7", "seven", "सात"], Outcome.CORRECT),
    # UNSURE is its own outcome; a named gold answer wins over it
    ("UNSURE", ["Paris"], Outcome.UNSURE),
    ("I am unsure.", ["Paris"], Outcome.UNSURE),
    ("UNSURE, maybe Paris", ["Paris"], Outcome.UNRESOLVED),  # names the gold, but hedged
    ("", ["Paris"], Outcome.WRONG),
    (None, ["Paris"], Outcome.WRONG),
]


@pytest.mark.parametrize(("response", "answers", "expected"), CASES)
def test_score_table(response: str | None, answers: list[str], expected: Outcome) -> None:
    assert score_answer(response, answers).outcome is expected


def test_matched_alias_reported() -> None:
    r = score_answer("राजधानी नई दिल्ली है", DELHI)
    assert r.correct and r.matched == "नई दिल्ली"


def test_normalize() -> None:
    assert normalize("  Ｎｅｗ—Delhi!? ") == "new delhi"
    assert normalize("२०२४") == "2024"
    assert normalize("क़िला") == normalize("किला")  # nukta dropped


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("25", 25.0),
        ("25.0", 25.0),
        ("25%", 25.0),
        ("२५", 25.0),
        ("1,000", 1000.0),
        ("Paris", None),
        ("", None),
    ],
)
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


def test_extract_numbers() -> None:
    assert extract_numbers("Between 1990-2000 about 3.14 and २५%") == [1990.0, 2000.0, 3.14, 25.0]


def test_empty_gold_rejected() -> None:
    with pytest.raises(ValueError, match="`answers` must contain at least one gold alias"):
        score_answer("x", [])


def test_every_item_gold_matches_itself() -> None:
    """Authoring check: each alias of each item scores as correct inside a sentence."""
    from llm_eval.items import load_multilingual, load_noisy

    for items in (load_multilingual(), load_noisy()):
        for it in items.items:
            for alias in it.answers:
                assert score_answer(f"The answer is {alias}.", it.answers).correct, (it.id, alias)


SUN_STAR = "Is the Sun a star?"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("Of course not!", Outcome.WRONG),  # "of course" then no: the answer is no
        ("Absolutely not.", Outcome.WRONG),
        ("Ji nahi.", Outcome.WRONG),
        ("Of course it's a star.", Outcome.CORRECT),
        ("Yes, not a planet but a star.", Outcome.CORRECT),  # after the comma "not" opens the explanation
        ("Of course, not a planet but a star.", Outcome.CORRECT),
        ("Not only is it a star, it's the closest one to us.", Outcome.CORRECT),  # "not only" says no "no"
        ("Not a star, a planet.", Outcome.WRONG),
    ],
)
def test_yesno_leading_answer(response: str, expected: Outcome) -> None:
    assert score_answer(response, ["yes", "हाँ"], answer_type="yesno", question=SUN_STAR).outcome is expected


@pytest.mark.parametrize(
    ("response", "answers", "question", "expected"),
    [
        # a yes/no gold is read by its leading word, like a reply: "Yes, it is a star" is yes
        ("Yes.", ["Yes, it is a star"], SUN_STAR, Outcome.CORRECT),
        ("No.", ["Yes, it is a star"], SUN_STAR, Outcome.WRONG),
        ("No, it is a star.", ["No, it is not", "नहीं"], "Is the Sun a planet?", Outcome.CORRECT),
        ("Yes.", ["ji nahi", "नहीं"], "Is the Sun a planet?", Outcome.WRONG),
        ("The Sun is not a planet.", ["no"], "Is the Sun a planet?", Outcome.CORRECT),
    ],
)
def test_yesno_gold_is_read_by_its_leading_word(
    response: str, answers: list[str], question: str, expected: Outcome
) -> None:
    assert score_answer(response, answers, answer_type="yesno", question=question).outcome is expected


@pytest.mark.parametrize(
    ("response", "answers", "expected"),
    [
        # a number gold written only in words is compared by value
        ("Spiders have 8 legs.", ["eight"], Outcome.CORRECT),
        ("मकड़ी के ८ पैर होते हैं।", ["eight legs"], Outcome.CORRECT),
        ("Spiders have 6 legs.", ["eight"], Outcome.WRONG),
        ("Spiders have 18 legs.", ["आठ"], Outcome.WRONG),
    ],
)
def test_number_gold_in_words(response: str, answers: list[str], expected: Outcome) -> None:
    q = "How many legs does a spider have?"
    assert score_answer(response, answers, answer_type="number", question=q).outcome is expected
