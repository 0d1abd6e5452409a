"""Answer matching for short factual answers in English, Devanagari Hindi and romanized Hindi.

A response is CORRECT when any gold alias *occurs in it* at word boundaries after normalization
(so gold "New Delhi" does not occur in the response "Delhi": wrong, as in the study's failure case),
or, for numeric aliases, when the response contains the same number (25 = 25.0 = 25% = २५).
A response that says UNSURE and matches no alias is UNSURE: its own outcome, neither right nor
wrong. Provider errors never reach this module: they are excluded and counted by the analysis.

Normalization (:func:`normalize`): Unicode NFKC (folds fullwidth forms), removal of zero-width
characters, Devanagari digits -> ASCII, candrabindu -> anusvara and nukta dropped (common spelling
variants: हाँ/हां, ज़/ज), casefold, and every punctuation/symbol character -> a space.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "MatchResult",
    "Outcome",
    "extract_numbers",
    "fold_digits",
    "is_unsure",
    "normalize",
    "parse_number",
    "score_answer",
]


class Outcome(StrEnum):
    CORRECT = "correct"
    WRONG = "wrong"
    UNSURE = "unsure"


@dataclass(frozen=True)
class MatchResult:
    outcome: Outcome
    matched: str | None = None  # the gold alias that matched, if any
    reason: str = ""

    @property
    def correct(self) -> bool:
        return self.outcome is Outcome.CORRECT


_DEVANAGARI_DIGITS = {0x0966 + i: str(i) for i in range(10)}
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# digits not glued to other digits; a minus sign only at the start of a token ("1990-2000" is two years)
_NUM_RE = re.compile(r"(?<!\d)(?:(?<![^\s(])[-−])?\d+(?:[,.]\d+)*(?!\d)")
_UNSURE_RE = re.compile(r"\bunsure\b")


def fold_digits(text: str) -> str:
    """Devanagari digits ०-९ -> ASCII 0-9."""
    return text.translate(_DEVANAGARI_DIGITS)


def _base_fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH_RE.sub("", text)
    text = fold_digits(text)
    # Devanagari spelling variants that NFKC leaves apart: candrabindu -> anusvara, nukta dropped.
    return text.replace("\u0901", "\u0902").replace("\u093c", "").casefold()


def normalize(text: str) -> str:
    """Fold a string for alias matching (see the module docstring); words separated by one space."""
    text = _base_fold(text)
    chars = [" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text]
    return " ".join("".join(chars).split())


def parse_number(text: str) -> float | None:
    """Parse a whole string as a number ("25", "25.0", "1,000", "1,00,000", "२५", "25%"); else None."""
    s = _base_fold(text).strip().rstrip("%").strip()
    s = s.replace("−", "-")
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{2,3})+(\.\d+)?", s):  # thousands separators (incl. Indian 1,00,000)
        s = s.replace(",", "")
    if not re.fullmatch(r"[-+]?\d+(\.\d+)?", s):
        return None
    return float(s)


def extract_numbers(text: str) -> list[float]:
    """Every number written with digits in the text (either digit system), as floats."""
    s = _base_fold(text)
    out: list[float] = []
    for m in _NUM_RE.finditer(s):
        tok = m.group().replace("−", "-")
        v = parse_number(tok)
        if v is None and "," in tok:  # "25,30" as a list: take the parts
            out.extend(float(p) for p in tok.split(",") if re.fullmatch(r"[-+]?\d+(\.\d+)?", p))
        elif v is not None:
            out.append(v)
    return out


def is_unsure(text: str) -> bool:
    return bool(_UNSURE_RE.search(normalize(text)))


def _contains_alias(norm_response: str, alias: str) -> bool:
    a = normalize(alias)
    return bool(a) and f" {a} " in f" {norm_response} "


def score_answer(response: str | None, answers: Sequence[str] | Iterable[str]) -> MatchResult:
    """Score one response against its gold aliases (any script, either digit system)."""
    answers = list(answers)
    if not answers:
        raise ValueError("`answers` must contain at least one gold alias, got []")
    text = response or ""
    norm = normalize(text)
    numbers: list[float] | None = None
    for alias in answers:
        gold_num = parse_number(alias)
        if gold_num is not None:
            if numbers is None:
                numbers = extract_numbers(text)
            if any(math.isclose(gold_num, v, rel_tol=1e-9, abs_tol=1e-9) for v in numbers):
                return MatchResult(Outcome.CORRECT, alias, "number match")
        elif _contains_alias(norm, alias):
            return MatchResult(Outcome.CORRECT, alias, "alias match")
    if _UNSURE_RE.search(norm):
        return MatchResult(Outcome.UNSURE, None, "said UNSURE")
    if not norm:
        return MatchResult(Outcome.WRONG, None, "empty response")
    return MatchResult(Outcome.WRONG, None, "no gold alias in response")
