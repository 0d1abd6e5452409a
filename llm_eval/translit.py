"""Transliteration keys: a name written in Devanagari and in Latin letters gets the same key.

Transliteration keeps a name's consonants and loses its vowels: ``बर्लिन`` is "Berlin", ``नेहरू``
"Nehru", ``मैड्रिड`` "Madrid". The key (:func:`consonant_key`) is the sequence of consonant
classes (k/g/c/j/t/d/n/p/b/v/m/y/r/l/s/h), aspiration and doubling folded, vowels dropped. A gold
alias matches a reply word in the *other* script when their keys are equal and have at least three
consonants. Two Latin spellings of one romanized name ("Neharu" for "Nehru", "Prasaad" for
"Prasad") match when, besides the key, they agree in how they end (a vowel or a consonant, a final
silent ``e`` dropped): that keeps "Niger" apart from "Nigeria". Two Devanagari spellings are left
to the alias lists and the spelling folds of :mod:`llm_eval.textfold`.
"""

from __future__ import annotations

import re

__all__ = ["consonant_key", "same_name"]

_DEV = {
    # nukta forms (क़, ज़, फ़, ड़) arrive without their nukta (llm_eval.textfold.base_fold)
    **dict.fromkeys("कख", "k"), **dict.fromkeys("गघ", "g"), **dict.fromkeys("चछ", "c"),
    **dict.fromkeys("जझ", "j"), **dict.fromkeys("टठतथ", "t"), **dict.fromkeys("डढदध", "d"),
    **dict.fromkeys("णनञङंँ", "n"), **dict.fromkeys("पफ", "p"), **dict.fromkeys("बभ", "b"),
    "म": "m", "य": "y", **dict.fromkeys("रऋृ", "r"), "ल": "l", "व": "v", **dict.fromkeys("शषस", "s"), "ह": "h",
}  # fmt: skip
_LATIN = [("sch", "s"), ("ch", "ç"), ("sh", "s"), ("th", "t"), ("dh", "d"), ("ph", "p"), ("bh", "b"),
          ("kh", "k"), ("gh", "g"), ("jh", "j"), ("ck", "k"), ("qu", "k"), ("x", "ks")]  # fmt: skip
_LATIN_ONE = {"c": "k", "ç": "c", "q": "k", "z": "j", "f": "p", "w": "v"}
_VOWELS = set("aeiou")


def _latin_key(word: str) -> str:
    w = word.lower()
    w = re.sub(r"c(?=[eiy])", "s", w)  # soft c
    for a, b in _LATIN:
        w = w.replace(a, b)
    out = []
    for i, ch in enumerate(w):
        if ch in _VOWELS or not (ch.isalpha() or ch == "ç"):
            continue
        if ch in "wy" and (i + 1 >= len(w) or w[i + 1] not in _VOWELS):
            continue  # "Moscow", "Sydney": a vowel sound, not a consonant
        if ch == "h" and i > 0 and w[i - 1] not in _VOWELS:
            continue  # aspiration after a consonant
        out.append(_LATIN_ONE.get(ch, ch))
    return "".join(out)


def consonant_key(word: str) -> str:
    """The consonant classes of one word in either script, doubled letters merged ("Canberra",
    ``कैनबरा`` -> "knbr")."""
    key = _latin_key(word) if word.isascii() else "".join(_DEV.get(ch, "") for ch in word)
    return re.sub(r"(.)\1+", r"\1", key)


def _ending(word: str) -> str:
    w = word.lower()
    if w.endswith("e") and len(w) > 3 and w[-2] not in _VOWELS:
        w = w[:-1]  # silent e: "Tagore"
    return "v" if w[-1:] in _VOWELS or w[-1:] in "y" else "c"


def same_name(reply_words: list[str], alias_words: list[str]) -> bool:
    """The reply's words spell the alias in another transliteration (see the module docstring)."""
    if len(reply_words) != len(alias_words) or not reply_words:
        return False
    total = 0
    for r, a in zip(reply_words, alias_words, strict=True):
        if r == a:
            total += len(consonant_key(a))
            continue
        kr, ka = consonant_key(r), consonant_key(a)
        if not kr or kr != ka:
            return False
        if r.isascii() and a.isascii() and _ending(r) != _ending(a):
            return False
        if r.isascii() == a.isascii() and not r.isascii():
            return False  # two Devanagari spellings: the alias lists decide
        total += len(kr)
    return total >= 3 and any(r != a for r, a in zip(reply_words, alias_words, strict=True))
