"""Seeded, pure input perturbations for the noisy-input suite (HELM-style augmentations).

Every perturbation is a ``str -> str`` function of (text, rate, rng). The rng is derived from
``(seed, item_id, kind, level, attempt)`` only, so a variant is reproducible, differs across items and
seeds, and never depends on run order. Only the *question* is perturbed: gold answers are never
touched, and every variant keeps its item id so it pairs with its clean twin in the statistics.

Every variant differs from its clean text: a draw that leaves the text unchanged is redrawn from the
same seed stream (attempt 1, 2, ...; :attr:`PerturbResult.attempts` counts the draws, up to
:data:`MAX_ATTEMPTS`). Numerals keep their value: digits, the punctuation inside numbers ("6.1",
"1,000") and Roman numerals ("World War II") are never typo'd, dropped or replaced by look-alikes.

Rates are per opportunity and documented in :data:`RATES` (and README / the report):

=============  =====  =====  ==========================================================================
kind           light  heavy  what one event is (opportunity = unit the rate applies to)
=============  =====  =====  ==========================================================================
typos          0.05   0.15   per ASCII letter outside numerals: QWERTY-neighbour substitution (1/2),
                             drop (1/4), swap with the next letter (1/4; a swapped pair is one event)
spacing        0.10   0.30   per space: a run of 2-4 spaces (1/2) or the space removed (1/2; next to a
                             numeral always a run);
                             per punctuation mark outside numbers: dropped (1/2) or doubled (1/2)
confusables    0.10   0.30   per ASCII letter that has a visible look-alike (outside numerals): replaced
                             by a Greek/Cyrillic/Latin homoglyph that NFKC does not fold back
fullwidth      0.10   0.30   per ASCII letter/digit: its fullwidth form (U+FF01..U+FF5E; NFKC folds it)
zero_width     0.10   0.30   per ASCII letter/digit: an invisible zero-width character inserted after it
emoji          0.15   0.50   per word gap (before the first word, between words, after the last):
                             one emoji inserted, separated by a space
mixed          -      -      typos, spacing, confusables, emoji in that order, each at its own rate
                             for the level (independent rngs)
=============  =====  =====  ==========================================================================
"""

from __future__ import annotations

import json
import random
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

__all__ = [
    "EMOJI",
    "KINDS",
    "LEVELS",
    "MAX_ATTEMPTS",
    "MIXED_KINDS",
    "NOISE_KINDS",
    "RATES",
    "ZERO_WIDTH",
    "PerturbResult",
    "homoglyph_table",
    "perturb",
    "perturb_with_stats",
    "rates_table_markdown",
    "rng_for",
]

NOISE_KINDS = ("typos", "spacing", "confusables", "fullwidth", "zero_width", "emoji")
MIXED_KINDS = ("typos", "spacing", "confusables", "emoji")  # what "mixed" chains (the visible kinds)
KINDS = (*NOISE_KINDS, "mixed")
MAX_ATTEMPTS = 100
LEVELS = ("light", "heavy")

# kind -> level -> per-opportunity rate (see the module docstring for the unit of each kind).
RATES: dict[str, dict[str, float]] = {
    "typos": {"light": 0.05, "heavy": 0.15},
    "spacing": {"light": 0.10, "heavy": 0.30},
    "confusables": {"light": 0.10, "heavy": 0.30},
    "fullwidth": {"light": 0.10, "heavy": 0.30},
    "zero_width": {"light": 0.10, "heavy": 0.30},
    "emoji": {"light": 0.15, "heavy": 0.50},
}
UNITS: dict[str, str] = {
    "typos": "per ASCII letter outside numerals: QWERTY-neighbour substitution 1/2, drop 1/4, "
    "swap with next letter 1/4",
    "spacing": "per space: run of 2-4 spaces 1/2, removed 1/2 (never next to a numeral); per punctuation mark outside numbers: "
    "dropped 1/2, doubled 1/2",
    "confusables": "per ASCII letter with a visible look-alike (outside numerals): Greek/Cyrillic/Latin homoglyph",
    "fullwidth": "per ASCII letter/digit: fullwidth form (NFKC folds it back)",
    "zero_width": "per ASCII letter/digit: invisible zero-width character inserted after it",
    "emoji": "per word gap (start, between words, end): one emoji inserted",
    "mixed": "typos, spacing, confusables, emoji applied in turn, each at its own rate for the level",
}

# US QWERTY adjacency (same row and the rows above/below), lower case.
_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060")  # ZWSP, ZWNJ, ZWJ, word joiner
EMOJI = (
    "😂", "🔥", "👍", "🙏", "😊", "🤔", "✨", "🎉", "💯", "👉",
    "🌍", "📚", "🚀", "❤️", "⭐", "✅", "❓", "😅", "🙄", "💡",
    "📌", "🧐", "😎", "🤷", "🎯", "⚡", "🌟", "👀", "📍", "🤓",
)  # fmt: skip
_PUNCT = set(string.punctuation)
_SPACE_RUN = (2, 4)


@dataclass(frozen=True)
class PerturbResult:
    """A perturbed text plus event counts, so tests can check rates against their definition."""

    text: str
    events: dict[str, int] = field(default_factory=dict)  # event type -> count
    opportunities: dict[str, int] = field(default_factory=dict)  # unit -> count
    attempts: int = 1  # draws until the text differed from the input (MAX_ATTEMPTS: gave up)


def rng_for(seed: int, item_id: str, kind: str, level: str, attempt: int = 0) -> random.Random:
    """The one way a perturbation gets randomness: a private rng keyed like HELM's seed + instance id
    (attempt k > 0 = the k-th redraw after an unchanged result)."""
    key = f"{seed}:{item_id}:{kind}:{level}" + (f":{attempt}" if attempt else "")
    return random.Random(key)


_ROMAN_RE = re.compile(r"\b(?=[IVXLCDM]+\b)M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})\b")
_NUMBER_RE = re.compile(r"\d+(?:[.,:/]\d+)*")


def protected_mask(text: str) -> list[bool]:
    """True at every character of a numeral (digits, the punctuation inside a number, Roman numerals)."""
    mask = [False] * len(text)
    for rx in (_ROMAN_RE, _NUMBER_RE):
        for m in rx.finditer(text):
            for i in range(m.start(), m.end()):
                mask[i] = True
    return mask


@lru_cache(maxsize=1)
def _qwerty_neighbours() -> dict[str, str]:
    pos = {ch: (r, c) for r, row in enumerate(_QWERTY_ROWS) for c, ch in enumerate(row)}
    out: dict[str, str] = {}
    for ch, (r, c) in pos.items():
        # rows are staggered right by half a key: above = (c, c+1), below = (c-1, c)
        allowed = {(r, c - 1), (r, c + 1), (r - 1, c), (r - 1, c + 1), (r + 1, c - 1), (r + 1, c)}
        out[ch] = "".join(sorted(o for o, p in pos.items() if p in allowed))
    return out


@lru_cache(maxsize=1)
def homoglyph_table() -> dict[str, str]:
    """ASCII letter/digit -> visually confusable single characters, from confusable_homoglyphs' data.

    Kept: Latin/Greek/Cyrillic/Armenian letters and digits that NFKC does *not* fold back to the
    original (fullwidth and mathematical styles are excluded; fullwidth is its own operation).
    """
    import confusable_homoglyphs

    data = json.loads((Path(confusable_homoglyphs.__file__).parent / "confusables.json").read_text("utf-8"))
    prefixes = ("CYRILLIC", "GREEK", "LATIN", "DIGIT", "ARMENIAN")
    table: dict[str, str] = {}
    for ch in string.ascii_letters + string.digits:
        cands = [
            x["c"]
            for x in data.get(ch, [])
            if len(x["c"]) == 1
            and x["n"].startswith(prefixes)
            and unicodedata.normalize("NFKC", x["c"]) != ch
        ]
        if cands:
            table[ch] = "".join(cands)
    return table


def _typos(text: str, rate: float, rng: random.Random) -> PerturbResult:
    nb = _qwerty_neighbours()
    keep = protected_mask(text)
    out: list[str] = []
    ev = {"substitute": 0, "drop": 0, "swap": 0}
    opp = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if not (ch.isascii() and ch.isalpha()) or keep[i]:
            out.append(ch)
            i += 1
            continue
        opp += 1
        if rng.random() >= rate:
            out.append(ch)
            i += 1
            continue
        u = rng.random()
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if u < 0.25:
            ev["drop"] += 1
            i += 1
        elif u < 0.5 and nxt.isascii() and nxt.isalpha() and not keep[i + 1]:
            ev["swap"] += 1
            out.append(nxt + ch)
            i += 2  # the swapped partner is consumed: it is not a separate opportunity
        else:  # substitution (also the fallback when there is no letter to swap with)
            sub = rng.choice(nb[ch.lower()])
            out.append(sub.upper() if ch.isupper() else sub)
            ev["substitute"] += 1
            i += 1
    return PerturbResult("".join(out), ev, {"letters": opp})


def _spacing(text: str, rate: float, rng: random.Random) -> PerturbResult:
    out: list[str] = []
    ev = {"space_run": 0, "space_removed": 0, "punct_dropped": 0, "punct_doubled": 0}
    opp = {"spaces": 0, "punctuation": 0}
    keep = protected_mask(text)
    for i, ch in enumerate(text):
        if ch == " ":
            opp["spaces"] += 1
            if rng.random() < rate:
                # a space next to a numeral is never removed: "II end" must not become "IIend"
                beside = (i > 0 and keep[i - 1]) or (i + 1 < len(text) and keep[i + 1])
                if rng.random() < 0.5 or beside:
                    out.append(" " * rng.randint(*_SPACE_RUN))
                    ev["space_run"] += 1
                else:
                    ev["space_removed"] += 1
                continue
        elif ch in _PUNCT and not keep[i]:
            opp["punctuation"] += 1
            if rng.random() < rate:
                if rng.random() < 0.5:
                    ev["punct_dropped"] += 1
                else:
                    out.append(ch + ch)
                    ev["punct_doubled"] += 1
                continue
        out.append(ch)
    return PerturbResult("".join(out), ev, opp)


def _confusables(text: str, rate: float, rng: random.Random) -> PerturbResult:
    table = homoglyph_table()
    keep = protected_mask(text)
    out: list[str] = []
    n_ev = opp = 0
    for i, ch in enumerate(text):
        if not (ch.isascii() and ch.isalpha()) or keep[i] or ch not in table:
            out.append(ch)
            continue
        opp += 1
        if rng.random() < rate:
            out.append(rng.choice(table[ch]))
            n_ev += 1
        else:
            out.append(ch)
    return PerturbResult("".join(out), {"homoglyph": n_ev}, {"letters_with_lookalike": opp})


def _fullwidth(text: str, rate: float, rng: random.Random) -> PerturbResult:
    out: list[str] = []
    n_ev = opp = 0
    for ch in text:
        if ch.isascii() and ch.isalnum():
            opp += 1
            if rng.random() < rate:
                out.append(chr(ord(ch) + 0xFEE0))  # ASCII '!'..'~' -> fullwidth U+FF01..U+FF5E
                n_ev += 1
                continue
        out.append(ch)
    return PerturbResult("".join(out), {"fullwidth": n_ev}, {"alnum": opp})


def _zero_width(text: str, rate: float, rng: random.Random) -> PerturbResult:
    out: list[str] = []
    n_ev = opp = 0
    for ch in text:
        out.append(ch)
        if ch.isascii() and ch.isalnum():
            opp += 1
            if rng.random() < rate:
                out.append(rng.choice(ZERO_WIDTH))
                n_ev += 1
    return PerturbResult("".join(out), {"zero_width": n_ev}, {"alnum": opp})


def _emoji(text: str, rate: float, rng: random.Random) -> PerturbResult:
    words = list(re.finditer(r"\S+", text))
    if not words:
        return PerturbResult(text, {"emoji": 0}, {"gaps": 0})
    # gap k sits before word k (k < n) or after the last word (k == n)
    n_ev = 0
    pieces: list[str] = []
    prev_end = 0
    for k in range(len(words) + 1):
        if k < len(words):
            start = words[k].start()
            pieces.append(text[prev_end:start])
        else:
            start = len(text)
        if rng.random() < rate:
            e = rng.choice(EMOJI)
            pieces.append(f"{e} " if k < len(words) else f" {e}")
            n_ev += 1
        if k < len(words):
            pieces.append(words[k].group())
            prev_end = words[k].end()
    pieces.append(text[prev_end:])
    return PerturbResult("".join(pieces), {"emoji": n_ev}, {"gaps": len(words) + 1})


_FUNCS: dict[str, Callable[[str, float, random.Random], PerturbResult]] = {
    "typos": _typos,
    "spacing": _spacing,
    "confusables": _confusables,
    "fullwidth": _fullwidth,
    "zero_width": _zero_width,
    "emoji": _emoji,
}


def perturb_with_stats(
    text: str, kind: str, level: str, *, seed: int, item_id: str, rate: float | None = None
) -> PerturbResult:
    """Apply perturbation ``kind`` at ``level`` (or an explicit ``rate``) and report event counts."""
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {'|'.join(KINDS)}, got {kind!r}")
    if level not in LEVELS:
        raise ValueError(f"`level` must be one of {'|'.join(LEVELS)}, got {level!r}")
    if rate is not None and not 0.0 <= rate <= 1.0:
        raise ValueError(f"`rate` must be in [0, 1], got {rate}")
    if rate == 0.0:
        return _draw(text, kind, level, seed, item_id, rate, 0)  # identity by definition: nothing to redraw
    res = PerturbResult(text)
    for attempt in range(MAX_ATTEMPTS):
        res = _draw(text, kind, level, seed, item_id, rate, attempt)
        if res.text != text:
            return replace(res, attempts=attempt + 1)
    return replace(res, attempts=MAX_ATTEMPTS)


def _draw(
    text: str, kind: str, level: str, seed: int, item_id: str, rate: float | None, attempt: int
) -> PerturbResult:
    if kind != "mixed":
        r = RATES[kind][level] if rate is None else rate
        return _FUNCS[kind](text, r, rng_for(seed, item_id, kind, level, attempt))
    events: dict[str, int] = {}
    opps: dict[str, int] = {}
    for sub in MIXED_KINDS:
        r = RATES[sub][level] if rate is None else rate
        res = _FUNCS[sub](text, r, rng_for(seed, item_id, f"mixed/{sub}", level, attempt))
        text = res.text
        events.update({f"{sub}.{k}": v for k, v in res.events.items()})
        opps.update({f"{sub}.{k}": v for k, v in res.opportunities.items()})
    return PerturbResult(text, events, opps)


def perturb(text: str, kind: str, level: str, *, seed: int, item_id: str) -> str:
    """The perturbed text; pure: the same (text, kind, level, seed, item_id) always gives the same output."""
    return perturb_with_stats(text, kind, level, seed=seed, item_id=item_id).text


def rates_table_markdown() -> str:
    """The documented levels as a markdown table (used by the report and README)."""
    lines = ["| Noise type | light | heavy | Unit / operations |", "|---|---|---|---|"]
    for kind in KINDS:
        if kind == "mixed":
            lines.append(f"| mixed | each at light | each at heavy | {UNITS['mixed']} |")
        else:
            lines.append(
                f"| {kind} | {RATES[kind]['light']:.0%} | {RATES[kind]['heavy']:.0%} | {UNITS[kind]} |"
            )
    return "\n".join(lines)
