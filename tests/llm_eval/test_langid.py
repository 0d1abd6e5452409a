"""Language / script identification and consistency with the expected response language."""

from __future__ import annotations

import pytest

from llm_eval.langid import EXPECTED_LANGUAGES, consistent, detect, devanagari_ratio, romanized_hindi_share

CASES = [
    # (response, label, consistent with en / hi / hinglish / cs)
    ("The capital of India is New Delhi.", "en", (True, False, False, False)),
    ("Paris is the capital and the largest city of France.", "en", (True, False, False, False)),
    ("भारत की राजधानी नई दिल्ली है।", "hi", (False, True, False, True)),
    ("Bharat ki rajdhani New Delhi hai.", "hinglish", (False, False, True, True)),
    ("Haan, yeh sahi hai, Mount Everest sabse uncha hai.", "hinglish", (False, False, True, True)),
    ("नई दिल्ली (New Delhi)", "mixed", (False, True, False, True)),
    ("The answer is नई दिल्ली", "mixed", (False, False, False, True)),
    ("New Delhi", "neutral", (True, False, True, True)),
    ("२५", "neutral", (True, True, True, True)),
    ("25%", "neutral", (True, True, True, True)),
    ("", "empty", (False, False, False, False)),
]


@pytest.mark.parametrize(("text", "label", "expected"), CASES)
def test_detect_and_consistency(text: str, label: str, expected: tuple[bool, ...]) -> None:
    r = detect(text)
    assert r.label == label
    assert tuple(consistent(r, e) for e in EXPECTED_LANGUAGES) == expected


def test_ratios() -> None:
    assert devanagari_ratio("नमस्ते") == 1.0
    assert devanagari_ratio("hello") == 0.0
    assert 0.4 < devanagari_ratio("नमस्ते hello") < 0.6
    share, strong = romanized_hindi_share("kya hai the answer")
    assert share == 0.75 and strong == 2  # "the" is in the lexicon but ambiguous


def test_lingua_is_consulted_for_long_latin_text_and_built_once() -> None:
    from llm_eval.langid import _detector

    r = detect("Photosynthesis converts light energy into chemical energy in plants.")
    assert r.label == "en" and r.lingua_en is not None and r.lingua_en > 0.5
    assert _detector() is _detector()


def test_bad_expected_language() -> None:
    with pytest.raises(ValueError, match="`expected` must be one of en\\|hi\\|hinglish\\|cs, got 'fr'"):
        consistent("hello", "fr")
