"""Fluency 1-5: a model judge with a written rubric, or the deterministic ``heuristic-v1`` fallback.

The model judge is any Provider (by default the same provider/model as the evaluation); its
requests are ordinary Samples run through ``run_samples`` into their own ``judge/`` folder, so they
are cached and recorded separately from the answers they grade. The heuristic judge makes no
requests and is always named as such in the report: it measures form (language match, length,
repetition), not the quality of the language.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llm_eval.langid import LangResult, consistent, detect
from llm_eval.types import Record, Request, Sample

__all__ = [
    "HEURISTIC_JUDGE",
    "JUDGE_SYSTEM",
    "LANGUAGE_NAMES",
    "RUBRIC",
    "FluencyScore",
    "heuristic_fluency",
    "judge_request",
    "judge_samples",
    "parse_score",
]

HEURISTIC_JUDGE = "heuristic-v1"

LANGUAGE_NAMES = {
    "en": "English",
    "hi": "Hindi in Devanagari script",
    "hinglish": "Hinglish (romanized Hindi in Latin script, English words allowed)",
    "cs": "code-switched Hindi-English (Hindi and English mixed, either script)",
}

RUBRIC = """\
Fluency of the response in the expected language (not its factual correctness):
5 - natural and fluent in the expected language/script; idiomatic; no errors.
4 - fluent with minor slips (an odd word choice, a small grammar or spelling error).
3 - understandable but clearly awkward: literal-translation phrasing, register mismatch, or partly
    in another language/script than expected.
2 - hard to read: broken grammar, heavy mixing of the wrong language/script, repetition.
1 - not fluent: gibberish, empty, truncated mid-sentence, or entirely in the wrong language."""

JUDGE_SYSTEM = (
    "You are a strict rater of language fluency. Rate the assistant response using this rubric.\n\n"
    + RUBRIC
    + "\n\nReply with exactly one line: 'Score: N' where N is 1, 2, 3, 4 or 5."
)

HEURISTIC_RUBRIC = """\
heuristic-v1 (no model; deterministic): start at 5, then
-3 if the response's language/script does not match the expected one (llm_eval.langid.consistent);
-2 if under half of its word trigrams are distinct (repetition loops);
-1 if it is longer than 150 words (a short factual question);
-1 if it contains U+FFFD or control characters;
an empty response scores 1; the result is clamped to [1, 5]."""

_SCORE_RE = re.compile(r"score\s*[:=]?\s*\**\s*([1-5])\b", re.IGNORECASE)
_BARE_RE = re.compile(r"(?<![\d.])([1-5])(?:\s*/\s*5)?(?![\d.])")
_CONTROL_RE = re.compile(r"[\ufffd\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class FluencyScore:
    score: int | None  # None: the judge's reply could not be parsed or the judge request failed
    judge: str  # "heuristic-v1" or "<provider>:<model>"
    detail: str = ""


def parse_score(text: str | None) -> int | None:
    """The 1-5 score in a judge reply: 'Score: N' if present, else a lone digit 1-5 (first one)."""
    if not text:
        return None
    m = _SCORE_RE.search(text) or _BARE_RE.search(text)
    return int(m.group(1)) if m else None


def heuristic_fluency(response: str | None, expected_language: str, lang: LangResult | None = None) -> int:
    """Deterministic fallback fluency score (rules in ``HEURISTIC_RUBRIC``)."""
    text = (response or "").strip()
    if not text:
        return 1
    score = 5
    lang = lang or detect(text)
    if not consistent(lang, expected_language):
        score -= 3
    words = text.split()
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    if len(trigrams) >= 6 and len(set(trigrams)) / len(trigrams) < 0.5:
        score -= 2
    if len(words) > 150:
        score -= 1
    if _CONTROL_RE.search(text):
        score -= 1
    return max(1, min(5, score))


def judge_request(question: str, response: str, expected_language: str) -> Request:
    """The judge's request; temperature 0 and a short reply (the score line)."""
    lang = LANGUAGE_NAMES.get(expected_language, expected_language)
    user = (
        f"Expected language: {lang}\n\n"
        f"Question given to the assistant:\n<question>\n{question}\n</question>\n\n"
        f"Assistant response:\n<response>\n{response}\n</response>\n\n"
        "Rate the fluency of the response. Reply 'Score: N'."
    )
    return Request(
        messages=[{"role": "user", "content": user}], system=JUDGE_SYSTEM, temperature=0.0, max_tokens=16
    )


def question_of(record: Record) -> str:
    msgs = [m["content"] for m in record.messages if m.get("role") == "user"]
    return msgs[-1] if msgs else ""


def judge_samples(records: Sequence[Record], expected: dict[str, str]) -> list[Sample]:
    """One judge Sample per answered, non-empty record; ``expected`` maps sample_id -> language."""
    out: list[Sample] = []
    for r in records:
        if r.error is not None or not (r.response_text or "").strip():
            continue
        exp = expected.get(r.sample_id, "en")
        out.append(
            Sample(
                id=f"judge|{r.sample_id}",
                item_id=r.item_id,
                condition=r.condition,
                variant=r.variant,
                request=judge_request(question_of(r), r.response_text or "", exp),
                meta={"judged_sample_id": r.sample_id, "expected_language": exp, "role": "judge"},
            )
        )
    return out


def judge_info(kind: str, provider: Any | None = None) -> dict[str, Any]:
    """How fluency was judged, for provenance and the report."""
    if kind == "heuristic" or provider is None:
        return {"kind": "heuristic", "name": HEURISTIC_JUDGE, "rubric": HEURISTIC_RUBRIC}
    return {
        "kind": "provider",
        "name": f"{provider.name}:{provider.model}",
        "provider": provider.name,
        "model": provider.model,
        "rubric": RUBRIC,
    }
