"""Rule-based error taxonomy for failed responses (wrong, UNSURE, or in the wrong language).

Each failure gets exactly one *primary* category: the first rule below that fires, in order. The
rules use only the response, the gold aliases, the langid result and (noisy suite) the perturbed
prompt, so they are reproducible and can be audited against the examples in the report.

Labels describe wrong replies only (scored wrong or UNSURE; an unresolved or correct reply gets
none), and they are computed after answer extraction: a near miss is read in the answer the reply
marks, and no label says the gold is absent when its value or an alias occurs in any script.

Multilingual (a failure = scored wrong or UNSURE):

1. ``refusal/UNSURE``      said UNSURE, or a refusal / "I don't know" phrase
2. ``format``              empty, or no words at all
3. ``echo of the prompt``  the reply repeats the question and adds no content word of its own
                           (or adds under 20% new content words after quoting it whole)
4. ``gibberish``           a repetition loop (one 3-gram covering >= 30% of the reply, or < 35%
                           distinct words among the first 100 of a reply of >= 8 words), or word
                           salad: >= 30% of the words are vowel-less Latin strings or mix Latin
                           and Devanagari letters
5. ``format``              truncated (stop at max_tokens), or > 150 words for a short question
6. ``script issue``        expected Hindi (Devanagari) but written in Latin script, expected
                           Hinglish/English but written in Devanagari, or U+FFFD / mojibake
7. ``unintended language shift``  expected hi/hinglish/cs but answered in English (or en -> Hindi)
8. ``wrong fact``          the gold occurs (in any script or digit system) but only in context or
                           negated: the reply answers something else
9. ``literal translation/terminology drift``  the answer shares a content word with a gold alias
                           (near miss: partial name, other term/register, e.g. "Delhi" for "New Delhi")
10. ``wrong fact``         everything else

Noisy (a failure = not correct):

1. ``refusal/UNSURE``      as above
2. ``emoji interference``  an emoji-only reply (emoji and no words)
3. ``incomplete/parse failure``  empty (or no words at all)
4. ``echo of the prompt``  as above (the perturbed prompt or its clean question)
5. ``gibberish``           as above
6. ``encoding issue``      response contains fullwidth, zero-width or homoglyph (non-ASCII Latin-like)
                           characters
7. ``emoji interference``  response contains emoji or talks about emoji/icons/symbols
8. ``incomplete/parse failure``  truncated (hit the token cap), or asks for clarification / says it
                           can't parse the question
9. ``entity misrecognition``  the noise hit a question entity (it no longer occurs verbatim in the
                           prompt) and the response does not name that entity
10. ``semantic drift``     everything else (question read, answer about something else / wrong)
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llm_eval.langid import LangResult
from llm_eval.scoring import names_gold, normalize

__all__ = [
    "MULTILINGUAL_CATEGORIES",
    "NOISY_CATEGORIES",
    "Failure",
    "classify_multilingual",
    "classify_noisy",
    "is_echo",
    "is_gibberish",
    "summarize_taxonomy",
]

MULTILINGUAL_CATEGORIES = (
    "refusal/UNSURE",
    "format",
    "echo of the prompt",
    "gibberish",
    "script issue",
    "unintended language shift",
    "literal translation/terminology drift",
    "wrong fact",
)
NOISY_CATEGORIES = (
    "refusal/UNSURE",
    "incomplete/parse failure",
    "echo of the prompt",
    "gibberish",
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


def is_echo(text: str, *prompts: str) -> bool:
    """The reply repeats the prompt(s) and adds (almost) no content word of its own."""
    words = normalize(text).split()
    if len(words) < 3:
        return False
    pw: set[str] = set()
    for p in prompts:
        pw |= set(normalize(p).split())
    if not pw:
        return False
    content = [w for w in words if w not in _STOP and len(w) > 1]
    new = [w for w in content if w not in pw]
    if not new:
        return True
    quoted = any(
        len(normalize(p).split()) >= 3 and f" {normalize(p)} " in f" {' '.join(words)} " for p in prompts
    )
    return quoted and len(new) / max(len(content), 1) < 0.2


def is_gibberish(text: str) -> bool:
    """A repetition loop or word salad (thresholds in the module docstring)."""
    words = normalize(text).split()
    n = len(words)
    if n >= 6:
        grams = Counter(zip(words, words[1:], words[2:], strict=False))
        top = grams.most_common(1)[0][1] if grams else 0
        if top >= 3 and top / max(len(grams), 1) >= 0.3:
            return True
    head = words[:100]  # distinct-word share falls with length: judge a fixed window
    if n >= 8 and len(set(head)) / len(head) < 0.35:
        return True
    if n >= 3:
        latin = [w for w in words if w.isascii() and w.isalpha() and len(w) >= 3]
        vowelless = sum(not re.search(r"[aeiouy]", w) for w in latin)
        mixed = sum(bool(re.search(r"[a-z]", w)) and bool(re.search(r"[\u0900-\u097f]", w)) for w in words)
        if latin and vowelless / len(latin) >= 0.3 and vowelless >= 2:
            return True
        if mixed / n >= 0.3:
            return True
    return False


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
    prompt: str = "",
    answer: str | None = None,
    answer_type: str | None = None,
) -> tuple[str, str]:
    """(category, reason) for a wrong multilingual response (rules in the module docstring).

    ``answer`` is the part of the reply the scorer judged (its marked answer,
    :attr:`llm_eval.scoring.MatchResult.judged`; default the whole reply): a near miss is read
    there, not in the context around it."""
    text = (response or "").strip()
    if unsure or _REFUSAL_RE.search(text):
        return "refusal/UNSURE", "said UNSURE or refused"
    if not text or not normalize(text):
        return "format", "empty" if not text else "no words"
    if prompt and is_echo(text, prompt):
        return "echo of the prompt", "repeats the question, adds no answer"
    if is_gibberish(text):
        return "gibberish", "repetition loop or word salad"
    if _too_long_or_truncated(text, truncated):
        return "format", "truncated" if truncated else "over 150 words"
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
    if names_gold(text, answers, answer_type=answer_type):
        return "wrong fact", "names the gold only in context or negated, and answers something else"
    gold_words: set[str] = set().union(*(_content_words(a) for a in answers))
    overlap = gold_words & _content_words(answer if answer is not None else text)
    if overlap:
        return "literal translation/terminology drift", f"near miss: shares {sorted(overlap)[:3]} with gold"
    return "wrong fact", "neither the gold (in any script) nor a gold word in the response"


def classify_noisy(
    response: str | None,
    answers: Sequence[str],
    entities: Sequence[str],
    prompt: str,
    *,
    unsure: bool = False,
    truncated: bool = False,
    clean_question: str = "",
) -> tuple[str, str]:
    """(category, reason) for a failed noisy-suite response (rules in the module docstring)."""
    text = (response or "").strip()
    if unsure or _REFUSAL_RE.search(text):
        return "refusal/UNSURE", "said UNSURE or refused"
    if text and not normalize(text) and _has_emoji(text):
        return "emoji interference", "emoji-only reply"
    if not text or not normalize(text):
        return "incomplete/parse failure", "empty" if not text else "no words"
    if is_echo(text, prompt, *([clean_question] if clean_question else [])):
        return "echo of the prompt", "repeats the question, adds no answer"
    if is_gibberish(text):
        return "gibberish", "repetition loop or word salad"
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
