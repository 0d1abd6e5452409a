"""Response language / script identification for the multilingual suite.

Signals: the Devanagari ratio (Devanagari letters / all Latin+Devanagari letters), lingua restricted
to English and Hindi (built once; its Hindi model is Devanagari-based, so it separates English from
Hindi script text but cannot see romanized Hindi), and a romanized-Hindi lexicon of common function
words for Hinglish.

Label rule (:func:`detect`), first that applies:

0. empty or whitespace-only                               -> ``empty`` (never consistent)
1. no Latin or Devanagari letters                         -> ``neutral`` (digits/symbols only)
2. Devanagari ratio >= 0.8                                 -> ``hi``
3. Devanagari ratio >= 0.2                                 -> ``mixed`` (Devanagari and Latin script)
4. Latin script with >= 1 lexicon word and lexicon share
   >= 0.15 of the Latin words                              -> ``hinglish``
5. Latin script with <= 3 words                            -> ``neutral`` (a bare entity such as "Paris")
6. lingua (English vs Hindi) says English                   -> ``en``;  otherwise ``hinglish``

Consistency with the expected language (:func:`consistent`):

- ``en``: label ``en`` or ``neutral``;
- ``hi``: label ``hi``, or ``mixed`` with Devanagari ratio >= 0.5 (Hindi with an English gloss), or
  ``neutral`` without Latin letters (digits only);
- ``hinglish``: label ``hinglish`` or ``neutral`` (Latin script, not pure English, no Devanagari);
- ``cs`` (code-switch): the response contains Hindi -- label ``hi``, ``mixed`` or ``hinglish`` -- or is
  ``neutral``; a pure-English sentence (``en``) is a language shift.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "EXPECTED_LANGUAGES",
    "HINGLISH_LEXICON",
    "LangResult",
    "consistent",
    "detect",
    "devanagari_ratio",
    "romanized_hindi_share",
]

EXPECTED_LANGUAGES = ("en", "hi", "hinglish", "cs")
LABELS = ("en", "hi", "hinglish", "mixed", "neutral", "empty")

# Common romanized-Hindi function words and very frequent verbs/pronouns. Chosen to be rare as
# English words (no "to", "is", "the", "me", "he"...): "hai" and "kya" are strong, "se", "ki" weak.
HINGLISH_LEXICON = frozenset(
    """
    hai hain haan han ha hota hoti hote hua hui hue tha thi the thay kya kyaa kyun kyon kaise kaisa kaun
    kahan kab kitna kitne kitni ki ka ke ko se mein me mai main mujhe mujhko hum humein ham tum tumhe
    aap aapka aapki apna apni apne yeh ye woh wo vo unka unki uske uski iska iski inka kuch koi sab bahut
    bohot nahi nahin nhi na aur ya lekin par bhi toh to sirf matlab jaise waise jab tab agar phir fir
    abhi kal aaj ek do teen char paanch saal baar wala wali wale karo karna karte karta kare kiya kiye
    kar raha rahi rahe gaya gayi gaye diya dijiye batao bataiye bata chahiye sakta sakti sakte hoga hogi
    jaata jaati jata jati jaate wahan yahan accha acha theek thik sahi galat uttar jawab sawal prashn
    """.split()  # noqa: SIM905
)
# words that are also common English and therefore never count alone
_AMBIGUOUS = frozenset("the to me main do par ha na char kar han ye ya ham tab fir jab hue teen bata".split())  # noqa: SIM905

_LATIN_WORD_RE = re.compile(r"[a-z]+")


def _is_devanagari(ch: str) -> bool:
    return "\u0900" <= ch <= "\u097f" and unicodedata.category(ch)[0] in "LM"


def _is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and ch.isascii()


def devanagari_ratio(text: str) -> float:
    """Share of Devanagari letters/marks among Latin + Devanagari letters (0.0 when there are none)."""
    text = unicodedata.normalize("NFKC", text)
    dev = sum(_is_devanagari(c) for c in text)
    lat = sum(_is_latin_letter(c) for c in text)
    return dev / (dev + lat) if dev + lat else 0.0


def _latin_words(text: str) -> list[str]:
    return _LATIN_WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold())


def romanized_hindi_share(text: str) -> tuple[float, int]:
    """(share of Latin words in the lexicon, number of unambiguous lexicon words)."""
    words = _latin_words(text)
    if not words:
        return 0.0, 0
    hits = [w for w in words if w in HINGLISH_LEXICON]
    strong = sum(w not in _AMBIGUOUS for w in hits)
    return len(hits) / len(words), strong


@lru_cache(maxsize=1)
def _detector() -> Any:
    """lingua detector for English vs Hindi, built once per process (building is the slow part)."""
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.HINDI).build()


def lingua_english_confidence(text: str) -> float:
    vals = _detector().compute_language_confidence_values(text)
    return next((float(v.value) for v in vals if v.language.name == "ENGLISH"), 0.0)


@dataclass(frozen=True)
class LangResult:
    label: str
    devanagari_ratio: float
    hinglish_share: float
    hinglish_words: int
    lingua_en: float | None  # lingua's English confidence (None when not consulted)
    n_latin_words: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def detect(text: str | None) -> LangResult:
    """Classify a response's language/script (rules in the module docstring)."""
    text = text or ""
    ratio = devanagari_ratio(text)
    share, strong = romanized_hindi_share(text)
    n_words = len(_latin_words(text))
    has_letters = any(_is_devanagari(c) or _is_latin_letter(c) for c in unicodedata.normalize("NFKC", text))
    lingua_en: float | None = None
    if not text.strip():
        label = "empty"
    elif not has_letters:
        label = "neutral"
    elif ratio >= 0.8:
        label = "hi"
    elif ratio >= 0.2:
        label = "mixed"
    elif strong >= 1 and share >= 0.15:
        label = "hinglish"
    elif n_words <= 3:
        label = "neutral"
    else:
        lingua_en = lingua_english_confidence(text)
        label = "en" if lingua_en >= 0.5 else "hinglish"
    return LangResult(label, round(ratio, 4), round(share, 4), strong, lingua_en, n_words)


def consistent(result: LangResult | str | None, expected: str) -> bool:
    """Does the response's language match the expected one? (rule in the module docstring)."""
    if expected not in EXPECTED_LANGUAGES:
        raise ValueError(f"`expected` must be one of {'|'.join(EXPECTED_LANGUAGES)}, got {expected!r}")
    r = result if isinstance(result, LangResult) else detect(result)
    if r.label == "empty":
        return False
    if expected == "en":
        return r.label in ("en", "neutral")
    if expected == "hi":
        return (
            r.label == "hi"
            or (r.label == "mixed" and r.devanagari_ratio >= 0.5)
            or (r.label == "neutral" and r.n_latin_words == 0)
        )
    if expected == "hinglish":
        return r.label in ("hinglish", "neutral")
    return r.label in ("hi", "mixed", "hinglish", "neutral")  # cs
