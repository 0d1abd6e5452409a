"""The error taxonomy against a small hand-labelled table of failed replies (both suites)."""

from __future__ import annotations

import pytest

from llm_eval.langid import detect
from llm_eval.taxonomy import classify_multilingual, classify_noisy, is_echo, is_gibberish

Q_EN = "What is the capital of Australia?"
Q_HI = "ऑस्ट्रेलिया की राजधानी कौन सा शहर है?"
GOLD = ["Canberra", "कैनबरा", "कैनबेरा"]

# (reply, expected language, prompt, truncated, label a person gives it)
MULTILINGUAL = [
    ("UNSURE", "en", Q_EN, False, "refusal/UNSURE"),
    ("", "en", Q_EN, False, "format"),
    ("🇦🇺🏙️", "en", Q_EN, False, "format"),
    ("What is the capital of Australia?", "en", Q_EN, False, "echo of the prompt"),
    ("What is the capital of Australia? What is the capital of Australia? What is the capital of",
     "en", Q_EN, True, "echo of the prompt"),
    ("ऑस्ट्रेलिया की राजधानी कौन सा शहर है? ऑस्ट्रेलिया की राजधानी", "hi", Q_HI, True, "echo of the prompt"),
    ("Sydney Sydney Sydney Sydney Sydney Sydney Sydney Sydney Sydney Sydney", "en", Q_EN, True, "gibberish"),
    ("the city the city the city the city the city the city", "en", Q_EN, True, "gibberish"),
    ("xkcd brrt pfft zxqw mrrp hmm", "en", Q_EN, False, "gibberish"),
    ("The capital of Australia is Sydney, which is a large city known for the Opera House and the Harbour "
     "Bridge, and it has a population of about five million people, making it the", "en", Q_EN, True, "format"),
    ("The capital is Sydney.", "hi", Q_HI, False, "script issue"),
    ("Australia ki rajdhani Sydney hai.", "hi", Q_HI, False, "script issue"),
    ("ऑस्ट्रेलिया की राजधानी सिडनी है।", "hi", Q_HI, False, "wrong fact"),
    ("The capital of Australia is Sydney.", "hinglish", "Australia ki rajdhani kaun sa shehar hai?", False,
     "unintended language shift"),
]  # fmt: skip

# (reply, prompt, truncated, label)
NOISY = [
    ("🙏✨", "What is the 🙏 capital of France?", False, "emoji interference"),
    ("", "What is the capital of France?", False, "incomplete/parse failure"),
    ("Waht is teh captial of Frnace?", "Waht is teh captial of Frnace?", False, "echo of the prompt"),
    ("What is the capital of France? What is the capital of France? What is", "What is the capital of France?",
     True, "echo of the prompt"),
    ("Lyon Lyon Lyon Lyon Lyon Lyon Lyon Lyon", "What is the capital of France?", True, "gibberish"),
    ("Ｌｙｏｎ", "What is the capital of France?", False, "encoding issue"),
    ("🔥 Lyon", "🔥 What is the capital of France?", False, "emoji interference"),
    ("The capital of France is Lyon, a city on the Rhône which is known for its food and its old town and it",
     "What is the capital of France?", True, "incomplete/parse failure"),
    ("Could you clarify the question?", "Waht is teh capital?", False, "incomplete/parse failure"),
    ("Berlin", "What is the capital of Frаnce?", False, "entity misrecognition"),
    ("Lyon", "What is the capital of France?", False, "semantic drift"),
]  # fmt: skip


@pytest.mark.parametrize(("reply", "exp", "prompt", "truncated", "label"), MULTILINGUAL)
def test_multilingual_table(reply: str, exp: str, prompt: str, truncated: bool, label: str) -> None:
    got, reason = classify_multilingual(reply, GOLD, exp, detect(reply), truncated=truncated, prompt=prompt)
    assert got == label, reason


@pytest.mark.parametrize(("reply", "prompt", "truncated", "label"), NOISY)
def test_noisy_table(reply: str, prompt: str, truncated: bool, label: str) -> None:
    clean = "What is the capital of France?"
    got, reason = classify_noisy(
        reply, ["Paris"], ["France"], prompt, truncated=truncated, clean_question=clean
    )
    assert got == label, reason


def test_emoji_only_reply_is_not_a_no_words_parse_failure() -> None:
    assert classify_noisy("😂😂😂", ["Paris"], ["France"], "What is 😂 the capital of France?")[0] == (
        "emoji interference"
    )


def test_truncation_does_not_absorb_echo_or_gibberish() -> None:
    echo = "What is the capital of Australia? What is the capital of Australia?"
    assert classify_multilingual(echo, GOLD, "en", detect(echo), truncated=True, prompt=Q_EN)[0] == (
        "echo of the prompt"
    )
    loop = "Sydney is is is is is is is is is is is is"
    assert (
        classify_multilingual(loop, GOLD, "en", detect(loop), truncated=True, prompt=Q_EN)[0] == "gibberish"
    )


def test_a_restating_answer_is_neither_echo_nor_gibberish() -> None:
    assert not is_echo("The capital of Australia is Sydney.", Q_EN)
    assert not is_gibberish("The capital of Australia is Sydney.")
    assert not is_gibberish("ऑस्ट्रेलिया की राजधानी सिडनी है।")
    assert not is_gibberish("Australia ki rajdhani Sydney hai.")
