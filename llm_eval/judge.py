"""Fluency 1-5: a model judge with a written rubric, or the deterministic ``heuristic-v1`` fallback.

The model judge is any Provider (by default the same provider/model as the evaluation); its
requests are ordinary Samples run through ``run_samples`` into their own ``judge/`` folder, so they
are cached and recorded separately from the answers they grade. The heuristic judge makes no
requests and is always named as such in the report: it measures form (language match, length,
repetition), not the quality of the language.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llm_eval.langid import LangResult, consistent, detect
from llm_eval.types import Record, Request, Sample

__all__ = [
    "FLUENCY_SUITES",
    "HEURISTIC_JUDGE",
    "JUDGE_CHOICES",
    "JUDGE_SYSTEM",
    "LANGUAGE_NAMES",
    "RUBRIC",
    "FluencyScore",
    "heuristic_fluency",
    "judge_request",
    "judge_samples",
    "parse_score",
    "resolve_judge",
]

HEURISTIC_JUDGE = "heuristic-v1"

JUDGE_CHOICES = ("auto", "provider", "heuristic")
# Suites whose report uses fluency; "auto" sends model-judge requests for these only.
FLUENCY_SUITES = ("multilingual",)


def resolve_judge(choice: str, provider: str, suites: Sequence[str]) -> tuple[str, tuple[str, ...] | None]:
    """(judge kind, suites the model judge grades; None = all) for ``--judge CHOICE``.

    ``auto``: the model judge (same provider) only for the run's suites whose report uses fluency
    (multilingual), and no judge requests at all for a local provider or a run without such a
    suite; ``provider``: the model judge for every suite (opt-in); ``heuristic``: no requests.
    """
    if choice not in JUDGE_CHOICES:
        raise ValueError(f"`judge` must be one of {'|'.join(JUDGE_CHOICES)}, got {choice!r}")
    if choice == "provider":
        return "provider", None
    if choice == "heuristic" or provider == "local":
        return "heuristic", None
    used = tuple(s for s in FLUENCY_SUITES if s in suites)
    return ("provider", used) if used else ("heuristic", None)


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
    + "\n\nReply with exactly one line, Score: N, where N is 1, 2, 3, 4 or 5, and nothing else: "
    "no explanation, no other words."
)

HEURISTIC_RUBRIC = """\
heuristic-v1 (no model; deterministic): start at 5, then
-3 if the response's language/script does not match the expected one (llm_eval.langid.consistent);
-2 if under half of its word trigrams are distinct (repetition loops);
-1 if it is longer than 150 words (a short factual question);
-1 if it contains U+FFFD or control characters;
an empty response scores 1; the result is clamped to [1, 5]."""

# The whole reply (after trimming whitespace, markdown emphasis/code marks and one final period)
# must be "Score: N" (":" or "=", optional "/5"), a bare N, or a JSON object {"score": N}.
_STRICT_RE = re.compile(r"(?:score\s*[:=]\s*)?([1-5])(?:\s*/\s*5)?", re.IGNORECASE)
_CONTROL_RE = re.compile(r"[\ufffd\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class FluencyScore:
    score: int | None  # None: the judge's reply could not be parsed or the judge request failed
    judge: str  # "heuristic-v1" or "<provider>:<model>"
    detail: str = ""


def _json_score(text: str) -> int | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or len(obj) != 1:
        return None
    ((key, val),) = obj.items()
    if str(key).strip().lower() != "score":
        return None
    if isinstance(val, bool):
        return None
    if isinstance(val, int | float) and float(val) in (1, 2, 3, 4, 5):
        return int(val)
    if isinstance(val, str) and val.strip() in ("1", "2", "3", "4", "5"):
        return int(val.strip())
    return None


def parse_score(text: str | None) -> int | None:
    """The 1-5 score of a judge reply in the constrained format, else None (unparseable).

    Parsed strictly, never guessed: the whole reply must be ``Score: N`` (also ``SCORE: N``,
    ``Score=N``, ``Score: N/5``, markdown emphasis allowed), a bare ``N``, or ``{"score": N}``.
    A reply with any other words ("Rating out of 5: 4", "On a 1-5 scale, this is a 4.") is
    unparseable and counted as such.
    """
    if not text:
        return None
    t = text.strip()
    if t.startswith("```") and t.endswith("```") and len(t) >= 6:  # a fenced JSON object
        t = t[3:-3].strip()
        if t.lower().startswith("json"):
            t = t[4:].strip()
    if t.startswith("{"):
        return _json_score(t)
    t = t.replace("*", "").replace("`", "").strip()
    if t.endswith("."):
        t = t[:-1].rstrip()
    m = _STRICT_RE.fullmatch(t)
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
        "Rate the fluency of the response. Reply with exactly: Score: N"
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
