"""Rule-based error taxonomy for failed responses (wrong, UNSURE, or in the wrong language).

Each failure gets exactly one *primary* category: the first rule below that fires, in order. The
rules use only the response, the gold aliases, the langid result and (noisy suite) the perturbed
prompt, so they are reproducible and can be audited against the examples in the report.

Multilingual (a failure = not correct, or correct but not in the expected language):

1. ``refusal/UNSURE``      said UNSURE, or a refusal / "I don't know" phrase
2. ``format``              empty, truncated (stop at max_tokens), or > 150 words for a short question
3. ``script issue``        expected Hindi (Devanagari) but written in Latin script, expected
                           Hinglish/English but written in Devanagari, or U+FFFD / mojibake
4. ``unintended language shift``  expected hi/hinglish/cs but answered in English (or en -> Hindi)
5. ``literal translation/terminology drift``  wrong, but shares a content word with a gold alias
                           (near miss: partial name, other term/register, e.g. "Delhi" for "New Delhi")
6. ``wrong fact``          everything else

Noisy (a failure = not correct):

1. ``refusal/UNSURE``      as above
2. ``incomplete/parse failure``  empty (or no words at all)
3. ``encoding issue``      response contains fullwidth, zero-width or homoglyph (non-ASCII Latin-like)
                           characters
4. ``emoji interference``  response contains emoji or talks about emoji/icons/symbols
5. ``incomplete/parse failure``  truncated (hit the token cap), or asks for clarification / says it
                           can't parse the question
6. ``entity misrecognition``  the noise hit a question entity (it no longer occurs verbatim in the
                           prompt) and the response does not name that entity
7. ``semantic drift``      everything else (question read, answer about something else / wrong)
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llm_eval.langid import LangResult
from llm_eval.scoring import normalize

__all__ = [
    "MULTILINGUAL_CATEGORIES",
    "NOISY_CATEGORIES",
    "Failure",
    "classify_multilingual",
    "classify_noisy",
    "summarize_taxonomy",
]

MULTILINGUAL_CATEGORIES = (
    "refusal/UNSURE",
    "format",
    "script issue",
    "unintended language shift",
    "literal translation/terminology drift",
    "wrong fact",
)
NOISY_CATEGORIES = (
    "refusal/UNSURE",
    "incomplete/parse failure",
    "encoding issue",
    "emoji interference",
    "entity misrecognition",
    "semantic drift",
)

_REFUSAL_RE = re.compile(
    r"\b(unsure|i (?:do not|don't|cannot|can't) (?:know|answer|help|provide)|i'm not sure|i am not sure|"
    r"i'm sorry|i am sorry|as an ai)\b|मुझे नहीं पता|पता नहीं|मालूम नहीं",
    re.IGNORECASE,
)
_CLARIFY_RE = re.compile(
    r"\b(could you (?:please )?(?:clarify|rephrase)|not sure what you mean|unclear|did you mean|"
    r"can(?:not|'t) (?:understand|parse|read)|seems? to (?:be|contain) (?:a )?typo|garbled)\b",
    re.IGNORECASE,
)
_EMOJI_TALK_RE = re.compile(r"\b(emojis?|icons?|emoticons?|symbols?)\b", re.IGNORECASE)
_ZERO_WIDTH = set("\u200b\u200c\u200d\u2060\ufeff")
_STOP = frozenset("the a an of in is and to de la le ki ka ke है की का के".split())  # noqa: SIM905


def _has_emoji(text: str) -> bool:
    return any(
        unicodedata.category(ch) == "So" and (ord(ch) >= 0x1F000 or 0x2600 <= ord(ch) <= 0x27BF)
        for ch in text
    )


def _has_encoding_artifact(text: str) -> bool:
    for ch in text:
        o = ord(ch)
        if ch in _ZERO_WIDTH or 0xFF01 <= o <= 0xFF5E or ch == "\ufffd":
            return True
        if o > 0x7F and unicodedata.category(ch).startswith("L"):
            name = unicodedata.name(ch, "")
            # Greek/Cyrillic/Armenian letters inside otherwise-Latin words are homoglyphs
            if name.startswith(("CYRILLIC", "ARMENIAN")) or (
                name.startswith("GREEK")
                and re.search(rf"[A-Za-z]{re.escape(ch)}|{re.escape(ch)}[A-Za-z]", text)
            ):
                return True
    return False


def _content_words(text: str) -> set[str]:
    return {w for w in normalize(text).split() if w not in _STOP and len(w) > 1 and not w.isdigit()}


def _too_long_or_truncated(text: str, truncated: bool) -> bool:
    return truncated or len(text.split()) > 150


@dataclass(frozen=True)
class Failure:
    sample_id: str
    category: str
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)


def classify_multilingual(
    response: str | None,
    answers: Sequence[str],
    expected_language: str,
    lang: LangResult,
    *,
    unsure: bool = False,
    truncated: bool = False,
    correct: bool = False,
) -> tuple[str, str]:
    """(category, reason) for a failed multilingual response (rules in the module docstring)."""
    text = (response or "").strip()
    if unsure or _REFUSAL_RE.search(text):
        return "refusal/UNSURE", "said UNSURE or refused"
    if not text or _too_long_or_truncated(text, truncated):
        return "format", "empty" if not text else ("truncated" if truncated else "over 150 words")
    if "\ufffd" in text:
        return "script issue", "replacement characters (mojibake)"
    if expected_language == "hi" and lang.label in ("en", "hinglish", "neutral") and lang.n_latin_words > 0:
        return "script issue", f"expected Devanagari, got Latin script ({lang.label})"
    if expected_language in ("en", "hinglish") and lang.label in ("hi", "mixed"):
        return "script issue", f"expected Latin script, got Devanagari ({lang.label})"
    if expected_language == "hi" and lang.label == "mixed":
        return "script issue", "expected Devanagari, got mostly Latin script"
    if expected_language in ("hinglish", "cs") and lang.label == "en":
        return "unintended language shift", "answered in English"
    if expected_language == "en" and lang.label == "hinglish":
        return "unintended language shift", "answered in romanized Hindi"
    if correct:
        return (
            "unintended language shift",
            f"correct answer, language {lang.label!r} not {expected_language!r}",
        )
    gold_words: set[str] = set().union(*(_content_words(a) for a in answers))
    overlap = gold_words & _content_words(text)
    if overlap:
        return "literal translation/terminology drift", f"near miss: shares {sorted(overlap)[:3]} with gold"
    return "wrong fact", "no gold alias or gold word in response"


def classify_noisy(
    response: str | None,
    answers: Sequence[str],
    entities: Sequence[str],
    prompt: str,
    *,
    unsure: bool = False,
    truncated: bool = False,
) -> tuple[str, str]:
    """(category, reason) for a failed noisy-suite response (rules in the module docstring)."""
    text = (response or "").strip()
    if unsure or _REFUSAL_RE.search(text):
        return "refusal/UNSURE", "said UNSURE or refused"
    if not text or not normalize(text):
        return "incomplete/parse failure", "empty" if not text else "no words"
    if _has_encoding_artifact(text):
        return "encoding issue", "fullwidth / zero-width / homoglyph characters in response"
    if _has_emoji(text) or _EMOJI_TALK_RE.search(text):
        return "emoji interference", "emoji in response or answer about emoji/symbols"
    if truncated:
        return "incomplete/parse failure", "truncated at the token cap"
    if _CLARIFY_RE.search(text):
        return "incomplete/parse failure", "asked for clarification / could not parse"
    norm_prompt = f" {normalize(prompt)} "
    norm_resp = f" {normalize(text)} "
    hit = [e for e in entities if f" {normalize(e)} " not in norm_prompt]
    missed = [e for e in hit if f" {normalize(e)} " not in norm_resp]
    if missed:
        return "entity misrecognition", f"noise hit entity {missed[0]!r} and the response does not name it"
    return "semantic drift", "question entities intact, answer wrong"


def summarize_taxonomy(
    failures: Sequence[Failure], categories: Sequence[str], examples: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """Counts, percentages (of failures) and up to 3 examples per category, in category order."""
    counts = Counter(f.category for f in failures)
    n = len(failures)
    return {
        "n_failures": n,
        "categories": [
            {
                "category": c,
                "count": counts.get(c, 0),
                "pct": (100.0 * counts.get(c, 0) / n) if n else 0.0,
                "examples": examples.get(c, [])[:3],
            }
            for c in categories
        ],
    }
