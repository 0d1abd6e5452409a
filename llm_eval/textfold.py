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


# Latin letters only: a spelled-out word ends where another script begins ("T o k y o है" is
# "Tokyo है"), since single Devanagari characters are common words (``न``, ``व``)
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
# single Latin letters, each one space from the next, not glued to another letter of any script
_SPACED_RUN = rf"(?<![^\W\d_])[{_LATIN}](?: [{_LATIN}](?![^\W\d_]))+(?![^\W\d_])"
# runs two or more spaces apart are the words of one letter-spaced sentence ("T h e  c a p i t a l")
_SPACED_LETTERS_RE = re.compile(rf"{_SPACED_RUN}(?: {{2,}}{_SPACED_RUN})*")
_RUN_RE = re.compile(_SPACED_RUN)


def join_spaced_letters(text: str) -> str:
    """Letter-spaced words joined: "C a n b e r r a" -> "Canberra", "M a r s  or  V e n u s" ->
    "Mars  or  Venus", "N e w  D e l h i" -> "New  Delhi". A word spelled out has four or more
    letters; a shorter run is joined only beside one in the same letter-spaced sentence, since alone
    "I a m" or "a b c" are more often words or a list than one word spelled out. Only Latin letters:
    single Devanagari characters are common words (``न``, ``व``), and a spelled-out word ends where
    another script begins ("Japan की capital T o k y o है")."""

    def join(m: re.Match[str]) -> str:
        runs = _RUN_RE.findall(m.group())
        if max(len(r.replace(" ", "")) for r in runs) < 4:
            return m.group()
        return _RUN_RE.sub(lambda r: r.group().replace(" ", ""), m.group())

    return _SPACED_LETTERS_RE.sub(join, text)


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
