"""Scoring generated answers: exact match after normalisation, and the final number for math.

Answer formats (a generation card's `answer_format`):

* `exact`: the whole continuation against the whole target, both normalised by `normalize_text`
  (first line only, surrounding whitespace and a trailing period dropped, inner whitespace collapsed,
  case kept).
* `gsm8k`: the gold is the number after `####` on the target's last such line (GSM8K's format). The
  prediction's number is, in this order: the number after the last `####` in the continuation; else the
  number on the last line that starts with `Answer:` or contains `The answer is` (case-insensitive);
  else the last number anywhere in the continuation. A continuation with no number scores wrong.
* `number`: the gold is the last number in the target (e.g. MetaMathQA's "The answer is: 18"); the
  prediction is read as for `gsm8k`.

Numbers are compared as exact decimals after dropping thousands separators, a leading `$` and a trailing
`%`, so "1,000", "1000.00" and "$1000" all read as 1000; "0.5" and ".5" are equal; "1/2" is not a number.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

ANSWER_FORMATS = ("exact", "gsm8k", "number")

# a number as written in word problems: optional sign, digits with optional thousands commas, decimals
_NUM = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+"
NUM_RE = re.compile(rf"\$?\s*({_NUM})\s*%?")
GSM8K_GOLD_RE = re.compile(rf"####\s*\$?\s*({_NUM})")
ANSWER_LINE_RE = re.compile(r"^\s*(?:final\s+)?answer\s*[:：]|the\s+(?:final\s+)?answer\s+is", re.I)


def canonical_number(text: str) -> str | None:
    """`text` (one number as matched by NUM_RE) as a canonical decimal string: '1,000.50' -> '1000.5'."""
    try:
        d = Decimal(text.replace(",", "").replace("$", "").strip())
    except InvalidOperation:
        return None
    if not d.is_finite():
        return None
    d = d.normalize()
    if d == d.to_integral_value():
        d = d.quantize(Decimal(1))
    s = format(d, "f")
    return "0" if s in ("-0", "+0") else s


def last_number(text: str) -> str | None:
    hits = NUM_RE.findall(text)
    return canonical_number(hits[-1]) if hits else None


def gsm8k_gold(target: str) -> str | None:
    """The number after the last `####` of a GSM8K answer; None when the target has none."""
    hits = GSM8K_GOLD_RE.findall(target)
    return canonical_number(hits[-1]) if hits else None


def predicted_number(output: str) -> str | None:
    """The number a generated continuation answers with (see the module docstring for the order)."""
    marked = GSM8K_GOLD_RE.findall(output)
    if marked:
        return canonical_number(marked[-1])
    for line in reversed(output.splitlines()):
        if ANSWER_LINE_RE.search(line):
            m = re.split(ANSWER_LINE_RE, line, maxsplit=1)[-1]
            n = last_number(m) if NUM_RE.search(m) else None
            if n is not None:
                return n
    return last_number(output)


def normalize_text(text: str) -> str:
    """First non-empty line, whitespace collapsed, one trailing period dropped (case kept)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    s = " ".join(lines[0].split()) if lines else ""
    return s[:-1].rstrip() if s.endswith(".") else s


def gold_answer(target: str, answer_format: str) -> str | None:
    """What the target is scored as; None when the target holds no answer in that format."""
    if answer_format == "gsm8k":
        return gsm8k_gold(target)
    if answer_format == "number":
        return last_number(target)
    if answer_format == "exact":
        return normalize_text(target)
    raise ValueError(f"`answer_format` must be one of {ANSWER_FORMATS}, got {answer_format!r}")


def predicted_answer(output: str, answer_format: str) -> str:
    """What a continuation is scored as ("" when no answer can be read from it)."""
    if answer_format in ("gsm8k", "number"):
        return predicted_number(output) or ""
    if answer_format == "exact":
        return normalize_text(output)
    raise ValueError(f"`answer_format` must be one of {ANSWER_FORMATS}, got {answer_format!r}")


def exact_match(outputs: list[str], targets: list[str], answer_format: str) -> float:
    """Share of continuations whose answer equals the target's (0.0 for no items)."""
    if not targets:
        return 0.0
    hits = 0
    for out, tgt in zip(outputs, targets, strict=True):
        gold = gold_answer(tgt, answer_format)
        hits += gold is not None and predicted_answer(out, answer_format) == gold
    return hits / len(targets)


__all__ = [
    "ANSWER_FORMATS",
    "canonical_number",
    "exact_match",
    "gold_answer",
    "gsm8k_gold",
    "last_number",
    "normalize_text",
    "predicted_answer",
    "predicted_number",
]
