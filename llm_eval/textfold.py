"""Folding text for comparison: the one place where replies, golds and questions are normalized.

Unicode NFKC (fullwidth and mathematical forms), zero-width characters and variation selectors
removed, every script's decimal digits (Devanagari ``२४``, Gujarati ``૨૪``, Bengali ``২৪``, Arabic-
Indic, ...) to ASCII, Devanagari candrabindu -> anusvara and nukta dropped, casefold. For matching
words (:func:`match_key`), Devanagari vowel-length variants are folded (``वाल्मिकी`` = ``वाल्मीकि``)
and romanized ``ee``/``oo`` become ``i``/``u``. A word written letter by letter ("C a n b e r r a",
as noisy input is often echoed) is read joined (:func:`join_spaced_letters`).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["base_fold", "fold_digits", "join_spaced_letters", "match_key", "normalize"]

# every decimal digit of the Basic Multilingual Plane (category Nd) -> its ASCII digit
_DIGITS = {
    cp: str(unicodedata.decimal(chr(cp)))
    for cp in range(0x0660, 0x10000)
    if unicodedata.category(chr(cp)) == "Nd" and not 0x30 <= cp <= 0x39
}
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\ufe0e\ufe0f]")  # and emoji selectors


def fold_digits(text: str) -> str:
    """Decimal digits of any script (``२५``, ``૨૫``, ``২৫``) -> ASCII ``25``."""
    return text.translate(_DIGITS)


def base_fold(text: str, *, fold_case: bool = True) -> str:
    """NFKC, zero-width characters removed, digits to ASCII, Devanagari candrabindu -> anusvara and
    nukta dropped, casefold (unless ``fold_case`` is False)."""
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH_RE.sub("", text)
    text = fold_digits(text)
    text = text.replace("\u0901", "\u0902").replace("\u093c", "")
    return text.casefold() if fold_case else text


# four or more single Latin letters, each one space from the next ("C a n b e r r a"); words of a
# letter-spaced sentence are two or more spaces apart ("T h e  c a p i t a l"). Three letters stay
# apart: "I a m" or "a b c" are more often words or a list than one word spelled out.
_SPACED_LETTERS_RE = re.compile(r"(?<![^\W\d_])[^\W\d_](?: [^\W\d_](?![^\W\d_])){3,}")


def join_spaced_letters(text: str) -> str:
    """Letter-spaced words joined: "C a n b e r r a" -> "Canberra", "M a r s  or  V e n u s" ->
    "Mars  or  Venus". Only Latin letters: single Devanagari characters are common words (``न``,
    ``व``)."""

    def join(m: re.Match[str]) -> str:
        run = m.group()
        return run.replace(" ", "") if run.isascii() or all(_is_latin(ch) for ch in run if ch != " ") else run

    return _SPACED_LETTERS_RE.sub(join, text)


def _is_latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN ")


def normalize(text: str) -> str:
    """Fold a string for comparison (NFKC, digits, case, punctuation -> space); words separated by one space."""
    text = base_fold(text)
    chars = [" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text]
    return " ".join("".join(chars).split())


# Devanagari vowel-length and the English-o vowel: common spelling variants, folded for matching only.
_DEV_FOLD = str.maketrans({"\u0940": "\u093f", "\u0942": "\u0941", "\u0908": "\u0907", "\u090a": "\u0909",
                           "\u0949": "\u093e", "\u0911": "\u0906", "\u0945": "\u0947", "\u090d": "\u090f"})  # fmt: skip


def match_key(word: str) -> str:
    """One normalized word folded further for alias matching (spelling variants, see the module docstring)."""
    w = word.translate(_DEV_FOLD)
    if w.isascii():
        w = w.replace("ee", "i").replace("oo", "u")
    return w
