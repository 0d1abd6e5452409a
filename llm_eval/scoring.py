"""Answer scoring for short factual answers in English, Devanagari Hindi and romanized Hindi.

The scorer reads the answer a response *asserts*, not every string in it. It is rule-based and
deterministic; the rules, in the order they apply (see also README, "Scoring"):

Normalization (:func:`normalize`, :func:`match_key`): Unicode NFKC (folds fullwidth forms), removal
of zero-width characters, Devanagari digits -> ASCII, casefold, markdown emphasis dropped, contractions
expanded ("isn't" -> "is not"). For matching, Devanagari spelling variants are folded: candrabindu ->
anusvara, nukta dropped, ``ऑ``/``ॉ`` -> ``आ``/``ा``, long and short i/u merged (``वाल्मिकी`` = ``वाल्मीकि``);
romanized ``ee``/``oo`` -> ``i``/``u``. An alias's last word also matches its inflected forms: English
plural ``-s``/``-es`` and the Hindi oblique/feminine ``-ा`` -> ``-े``/``-ी`` (``हरा``: ``हरे``, ``हरी``).

The response is split into sentences and clauses (at ``, ; : ( )``, dashes, "but", "however",
``लेकिन``, ``बल्कि`` ...). Then, by answer type (``answer_type=``; inferred from the gold when absent):

- **entity / short text**: every occurrence of a gold alias (whole words) is checked.
  An occurrence is *negated* when a negation precedes it in its clause (within 3 words: "not Paris",
  "rather than", "instead of", ``न कि``), a Hindi negation follows it (``पेरिस नहीं``, "Paris nahi"),
  or it sits in a belief ascribed to others ("although many people think it's Canberra").
  It is *one of several candidates* when it is joined to a non-gold phrase by "or", "/", ``या``, "ya"
  (also at the end of a comma list: "Mumbai, Kolkata or New Delhi"), when it is one short bulleted
  candidate among others, or when a bare, verb-less answer lists it with "and". The response is
  CORRECT when at least one occurrence is neither; WRONG when the gold only occurs negated or among
  candidates ("Oxygen, not nitrogen" is wrong for nitrogen; "Canberra, not Sydney" is right for
  Canberra), and also when another name is asserted first: an earlier clause that restates the
  question with another capitalized name ("Sydney is the capital of Australia, though Canberra ..."),
  or a hedge to another name in the gold's sentence ("probably Paris, though it might be Lyon").
  A correct answer followed by an explanation stays correct.
- **number**: numbers are read in digits (either digit system, ``1,00,000``, decimals) and in words
  (English, Hindi, romanized Hindi, and the item's own word aliases). Numbers that occur in the
  question (operands), negated numbers, numbers in another unit than the question's ("212 °F" for a
  Celsius question) and, for non-year golds, bare years are set aside; numbers in a clause naming the
  question's subject are preferred ("Insects have 6 legs; spiders have 8"). With a "how many <noun>"
  question the asserted number is the first one attached to that noun ("8 eyes and 6 legs" asserts 6
  legs); otherwise the first remaining number. A range or alternative ("7 or 8", "between 6 and 8")
  is WRONG. CORRECT when the asserted number equals the gold.
- **yes/no** (the card's rule: the *leading* answer): a leading yes-word (yes, haan, हाँ, ji,
  absolutely, ...) is yes and a leading no-word is no; a reply that starts with neither is read as a
  statement: the clause that names the question's predicate ("star" in "Is the Sun a star?") is
  yes unless negated. "No. Yes is the wrong answer" is no; "The Sun is a star." is yes.

A response that says UNSURE and asserts no gold answer is UNSURE: its own outcome, neither right
nor wrong. Provider errors never reach this module: they are excluded and counted by the analysis.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

__all__ = [
    "MatchResult",
    "Outcome",
    "extract_numbers",
    "fold_digits",
    "is_unsure",
    "match_key",
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
_ZERO_WIDTH_RE = re.compile(
    "[\u200b\u200c\u200d\u2060\ufeff\u00ad\ufe0e\ufe0f]"
)  # and emoji variation selectors
# digits not glued to other digits; a minus sign only at the start of a token ("1990-2000" is two years)
_NUM_RE = re.compile(r"(?<!\d)(?:(?<![^\s(])[-−])?\d+(?:[,.]\d+)*(?!\d)")
_UNSURE_RE = re.compile(r"\bunsure\b")


def fold_digits(text: str) -> str:
    """Devanagari digits ०-९ -> ASCII 0-9."""
    return text.translate(_DEVANAGARI_DIGITS)


def _base_fold(text: str, *, fold_case: bool = True) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH_RE.sub("", text)
    text = fold_digits(text)
    # Devanagari spelling variants that NFKC leaves apart: candrabindu -> anusvara, nukta dropped.
    text = text.replace("\u0901", "\u0902").replace("\u093c", "")
    return text.casefold() if fold_case else text


def normalize(text: str) -> str:
    """Fold a string for comparison (NFKC, digits, case, punctuation -> space); words separated by one space."""
    text = _base_fold(text)
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


def _lex(words: str) -> frozenset[str]:
    """A word set folded like the response words it is compared with."""
    return frozenset(match_key(w) for w in words.split())


def parse_number(text: str) -> float | None:
    """Parse a whole string as a number ("25", "25.0", "1,000", "1,00,000", "२५", "25%"); else None."""
    s = _base_fold(text).strip().rstrip("%").strip()
    s = s.replace("−", "-")
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{2,3})+(\.\d+)?", s):  # thousands separators (incl. Indian 1,00,000)
        s = s.replace(",", "")
    if not re.fullmatch(r"[-+]?\d+(\.\d+)?", s):
        return None
    return float(s)


def _number_token_values(tok: str) -> list[float]:
    v = parse_number(tok)
    if v is not None:
        return [v]
    # "25,30" as a list, or a trailing sentence dot glued on: take the parts
    return [float(p) for p in tok.split(",") if re.fullmatch(r"[-+]?\d+(\.\d+)?", p)]


def extract_numbers(text: str) -> list[float]:
    """Every number written with digits in the text (either digit system), as floats."""
    s = _base_fold(text)
    out: list[float] = []
    for m in _NUM_RE.finditer(s):
        tok = m.group().replace("−", "-")
        v = parse_number(tok)
        if v is None and "," in tok:
            out.extend(float(p) for p in tok.split(",") if re.fullmatch(r"[-+]?\d+(\.\d+)?", p))
        elif v is not None:
            out.append(v)
    return out


def is_unsure(text: str) -> bool:
    return bool(_UNSURE_RE.search(normalize(text)))


# ------------------------------------------------------------------------------------------ tokens
@dataclass(frozen=True)
class _Tok:
    text: str  # normalized word / number, or one punctuation character
    kind: str  # "w" word, "n" number (digits), "p" punctuation
    sent: int  # sentence index
    seg: int  # clause index (global)
    line_bullet: bool  # the token's line is a bulleted / numbered list item
    line: int
    cap: bool = False  # written with a capital first letter (Latin script)


_SENT_END = set(".!?।॥")
_SEG_PUNCT = set(',;:()[]{}—–"“”')
_SEG_WORDS = _lex(
    "but however although though whereas lekin लेकिन बल्कि balki magar मगर parantu परंतु kintu किंतु jabki जबकि"
)
_ABBREV = _lex("dr mr mrs ms mt st vs approx no e g i jr sr prof")
_BULLET_RE = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")
_MD_RE = re.compile(r"\*\*|__|`|^#+\s*", re.MULTILINE)
_CONTRACTION_RE = re.compile(r"n['’]t\b", re.IGNORECASE)


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMN"


def _tokenize(text: str) -> list[_Tok]:
    text = _base_fold(text, fold_case=False)
    text = _MD_RE.sub("", text)
    text = _CONTRACTION_RE.sub(" not", text)
    toks: list[_Tok] = []
    sent = seg = 0
    for ln, line in enumerate(text.split("\n")):
        bullet = bool(_BULLET_RE.match(line))
        if bullet:
            line = _BULLET_RE.sub("", line, count=1)
        if toks and (toks[-1].sent == sent):
            sent += 1
            seg += 1
        i, n = 0, len(line)
        while i < n:
            ch = line[i]
            signed = ch in "-−" and i + 1 < n and line[i + 1].isdigit() and (i == 0 or line[i - 1] in " (")
            if ch.isdigit() or signed:
                j = i + 1 if signed else i
                while j < n and (
                    line[j].isdigit() or (line[j] in ".," and j + 1 < n and line[j + 1].isdigit())
                ):
                    j += 1
                toks.append(_Tok(line[i:j].replace("−", "-"), "n", sent, seg, bullet, ln))
                i = j
            elif _is_word_char(ch):
                j = i
                while j < n and _is_word_char(line[j]) and not line[j].isdigit():
                    j += 1
                if j < n and line[j].isdigit():  # letters glued to digits are one word: H2O, CO2, H2O2
                    while j < n and _is_word_char(line[j]):
                        j += 1
                raw = line[i:j]
                w = raw.casefold()
                if w in _SEG_WORDS:
                    seg += 1
                toks.append(_Tok(w, "w", sent, seg, bullet, ln, raw[:1].isupper()))
                i = j
            elif ch.isspace():
                i += 1
            else:
                if ch in _SENT_END:
                    prev = toks[-1] if toks else None
                    abbrev = ch == "." and prev is not None and prev.kind == "w" and prev.text in _ABBREV
                    toks.append(_Tok(ch, "p", sent, seg, bullet, ln))
                    if not abbrev:
                        sent += 1
                        seg += 1
                else:
                    if ch in _SEG_PUNCT or (ch in "-" and i + 1 < n and line[i + 1] == " "):
                        seg += 1
                    toks.append(_Tok(ch, "p", sent, seg, bullet, ln))
                i += 1
    return toks


def _key_words(text: str) -> list[str]:
    return list(_key_words_of(text))


@functools.lru_cache(maxsize=256)
def _key_words_of(text: str) -> tuple[str, ...]:
    """Tokenized once per distinct text: every variant of an item is scored against one clean question,
    and tokenizing a 200 KB question takes about a second."""
    return tuple(match_key(t.text) for t in _tokenize(text) if t.kind != "p")


# ------------------------------------------------------------------------------------------ lexicons
_NEG_PRE = _lex("not never nor neither nahi nahin nhi नहीं नही unlike")
_NEG_PHRASES = (("rather", "than"), ("instead", "of"), ("other", "than"), ("as", "opposed", "to"),
                ("न", "कि"), ("na", "ki"), ("mistaken", "for"), ("confused", "with"), ("except",),
                ("followed", "by"), ("second", "to"))  # fmt: skip
_NEG_EXCEPT_NEXT = _lex("only just sure certain merely entirely completely quite 100")
_NEG_POST = _lex("नहीं नही nahi nahin nhi")
_COPULA_SKIP = _lex("है हैं था थी थे hai hain h tha thi the")
_OR = _lex("or या ya athva अथवा nor")
_AND = _lex("and और aur evam एवं")
_VERBS = _lex(
    "is are was were be been has have had does do did called known named has है हैं था थे थी hai hain tha "
    "the thi hota hoti hote होता होती होते"
)
_YES = _lex(
    "yes yeah yep yup yea correct true indeed absolutely definitely certainly sure right affirmative "
    "haan han haa ji हां हा जी bilkul बिल्कुल बिलकुल sahi सही"
)
_NO = _lex("no nope nah not false incorrect wrong नहीं नही nahi nahin nhi ना galat गलत")
_STOP = _lex(
    "the a an of in on at to is are was were be do does did what which who how many much is it its this "
    "they he she we you i these those them his her their "
    "that there our your for from by with and or क्या है हैं का की के को में से एक kya hai hain ka ki ke ko "
    "mein me se ek kaun kitne kitna kitni कौन कितने कितना कितनी sa si se सा सी से kis किस"
)

_EN_UNITS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"])}  # fmt: skip
_EN_TENS = {
    w: 10 * (i + 2)
    for i, w in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])
}
_HI_WORDS = {
    "शून्य": 0, "एक": 1, "दो": 2, "तीन": 3, "चार": 4, "पांच": 5, "छह": 6, "छः": 6, "छे": 6, "सात": 7,
    "आठ": 8, "नौ": 9, "दस": 10, "ग्यारह": 11, "बारह": 12, "तेरह": 13, "चौदह": 14, "पंद्रह": 15,
    "सोलह": 16, "सत्रह": 17, "अठारह": 18, "उन्नीस": 19, "बीस": 20, "चौबीस": 24, "पच्चीस": 25, "तीस": 30,
    "चालीस": 40, "बयालीस": 42, "पचास": 50, "छप्पन": 56, "साठ": 60, "तिरसठ": 63, "सत्तर": 70,
    "अस्सी": 80, "नब्बे": 90, "सौ": 100,
    "shunya": 0, "ek": 1, "teen": 3, "paanch": 5, "panch": 5, "chhe": 6, "chhah": 6, "saat": 7, "aath": 8,
    "nau": 9, "das": 10, "gyarah": 11, "gyaarah": 11, "barah": 12, "baarah": 12, "bees": 20, "chaubis": 24,
    "chaubees": 24, "pachchis": 25, "pachees": 25, "pachis": 25, "pachas": 50, "pachaas": 50,
    "chhappan": 56, "chappan": 56, "tirsath": 63, "bayalis": 42, "byalis": 42, "sau": 100,
}  # fmt: skip
_EN_UNITS = {match_key(k): v for k, v in _EN_UNITS.items()}
_EN_TENS = {match_key(k): v for k, v in _EN_TENS.items()}
_HI_WORDS = {match_key(k): v for k, v in _HI_WORDS.items()}
_OTHER_UNITS = _lex(
    "f fahrenheit k kelvin cm mm centimeters centimetres millimeters millimetres फारेनहाइट सेंटीमीटर"
)


def _word_numbers(words: list[str], extra: dict[tuple[str, ...], float]) -> dict[int, tuple[int, float]]:
    """start index -> (length, value) for numbers written in words (longest match at each start)."""
    out: dict[int, tuple[int, float]] = {}
    i = 0
    while i < len(words):
        best: tuple[int, float] | None = None
        for phrase, val in extra.items():
            k = len(phrase)
            if tuple(words[i : i + k]) == phrase and (best is None or k > best[0]):
                best = (k, val)
        w = words[i]
        if w in _EN_UNITS or w in _EN_TENS:
            j, total, cur = i, 0, 0
            while j < len(words):
                x = words[j]
                if x in _EN_UNITS:
                    cur += _EN_UNITS[x]
                elif x in _EN_TENS:
                    cur += _EN_TENS[x]
                elif x == "hundred" and j > i:
                    cur = max(cur, 1) * 100
                elif x == "thousand" and j > i:
                    total += max(cur, 1) * 1000
                    cur = 0
                elif (
                    x == "and"
                    and j > i
                    and j + 1 < len(words)
                    and (words[j + 1] in _EN_UNITS or words[j + 1] in _EN_TENS)
                    and words[j - 1] in ("hundred", "thousand")
                ):
                    pass
                else:
                    break
                j += 1
            if best is None or j - i > best[0]:
                best = (j - i, float(total + cur))
        elif w in _HI_WORDS and (best is None or best[0] < 1):
            best = (1, float(_HI_WORDS[w]))
        if best is not None:
            out[i] = best
            i += best[0]
        else:
            i += 1
    return out


# ------------------------------------------------------------------------------------------ scoring
@dataclass
class _View:
    toks: list[_Tok]
    words: list[int]  # indices into toks of word/number tokens
    keys: list[str]  # match_key of each word token

    @classmethod
    def of(cls, text: str) -> _View:
        toks = _tokenize(text)
        words = [i for i, t in enumerate(toks) if t.kind != "p"]
        return cls(toks, words, [match_key(toks[i].text) for i in words])

    def tok(self, w: int) -> _Tok:
        return self.toks[self.words[w]]

    @cached_property
    def by_seg(self) -> dict[int, list[int]]:
        """Clause index -> its word indices."""
        out: dict[int, list[int]] = {}
        for w, i in enumerate(self.words):
            out.setdefault(self.toks[i].seg, []).append(w)
        return out

    @cached_property
    def by_sent(self) -> dict[int, list[int]]:
        """Sentence index -> its word indices."""
        out: dict[int, list[int]] = {}
        for w, i in enumerate(self.words):
            out.setdefault(self.toks[i].sent, []).append(w)
        return out


def _alias_keys(alias: str) -> list[str]:
    return _key_words(alias)


def _inflected(resp: str, alias: str, last: bool) -> bool:
    if resp == alias:
        return True
    if not last or len(alias) < 3:
        return False
    if alias.isascii():
        return resp in (alias + "s", alias + "es")
    return alias.endswith("\u093e") and resp in (
        alias[:-1] + "\u0947",
        alias[:-1] + "\u093f",
    )  # ा -> े / ी(folded ि)


def _find(view: _View, alias: list[str]) -> list[tuple[int, int]]:
    k = len(alias)
    out = []
    for i in range(len(view.keys) - k + 1):
        if all(_inflected(view.keys[i + j], alias[j], j == k - 1) for j in range(k)):
            out.append((i, i + k))
    return out


_CONJ_FILLERS = _lex("phir else maybe perhaps possibly even फिर")
# fixed phrases that contain an alias word with another meaning: "aam taur par" = "usually", not "mango"
_IDIOMS = {
    match_key(k): _lex(v) for k, v in {"aam": "taur tor aadmi log janta", "आम": "तौर आदमी लोग जनता"}.items()
}


def _gold_spans(view: _View, answers: Sequence[str]) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for a in answers:
        keys = _alias_keys(a)
        if keys:
            for s, e in _find(view, keys):
                nxt = view.keys[e] if e < len(view.keys) else ""
                if not (e - s == 1 and nxt in _IDIOMS.get(view.keys[s], ())):
                    spans.append((s, e, a))
    return spans


_THIRD_PARTY = _lex("people many some others most log लोग kai कई")
_BELIEF = _lex("think thinks thought believe believed believes assume assumed mistake mistaken confuse confused "
               "samajhte sochte सोचते समझते मानते")  # fmt: skip


def _attributed(view: _View, s: int) -> bool:
    """The gold sits in a belief ascribed to others: "although many people think it's Canberra"."""
    before = [view.keys[w] for w in view.by_seg[view.tok(s).seg] if w < s]
    return bool(set(before) & _BELIEF) and bool(set(before) & _THIRD_PARTY)


def _negated(view: _View, s: int, e: int) -> bool:
    if _attributed(view, s):
        return True
    seg = view.tok(s).seg
    before = [w for w in range(max(0, s - 4), s) if view.tok(w).seg == seg]
    for w in before[-3:]:
        key = view.keys[w]
        nxt = view.keys[w + 1] if w + 1 < len(view.keys) else ""
        if key in _NEG_PRE and nxt not in _NEG_EXCEPT_NEXT:
            return True
    bk = [view.keys[w] for w in before]
    for ph in _NEG_PHRASES:
        k = len(ph)
        if any(tuple(bk[i : i + k]) == ph for i in range(len(bk) - k + 1)):
            return True
    after = [w for w in range(e, min(len(view.keys), e + 2)) if view.tok(w).seg == view.tok(e - 1).seg]
    for w in after:
        if view.keys[w] in _NEG_POST:
            return True
        if view.keys[w] not in _COPULA_SKIP:
            break
    return False


def _covered(spans: list[tuple[int, int, str]], lo: int, hi: int) -> bool:
    """Words lo..hi-1 all inside gold spans."""
    return all(any(s <= w < e for s, e, _ in spans) for w in range(lo, hi))


def _neighbour(view: _View, start: int, step: int) -> tuple[int, int] | None:
    """Up to 3 words from `start` in direction `step`, stopping at punctuation / conjunctions / sentence ends."""
    sent = view.tok(start).sent if 0 <= start < len(view.words) else None
    ws: list[int] = []
    w = start
    while 0 <= w < len(view.words) and len(ws) < 3:
        if (
            view.tok(w).sent != sent
            or view.keys[w] in _OR
            or view.keys[w] in _AND
            or view.keys[w] == "either"
        ):
            break
        if ws:  # punctuation between consecutive words ends the phrase
            a, b = sorted((view.words[ws[-1]], view.words[w]))
            if any(view.toks[x].kind == "p" for x in range(a + 1, b)):
                break
        ws.append(w)
        w += step
    if not ws:
        return None
    return (min(ws), max(ws) + 1)


def _punct_between(view: _View, a: int, b: int) -> list[str]:
    """Punctuation tokens between word a and word b (a < b)."""
    return [view.toks[x].text for x in range(view.words[a] + 1, view.words[b]) if view.toks[x].kind == "p"]


def _alternative(view: _View, spans: list[tuple[int, int, str]], s: int, e: int, singular_q: bool) -> bool:
    """Is gold occurrence [s, e) one of several candidates?"""
    n = len(view.words)
    sent = view.tok(s).sent
    conj = _OR
    sent_words = view.by_sent[sent]
    if len(sent_words) <= 7 and not any(view.keys[w] in _VERBS for w in sent_words):
        conj = _OR | _AND  # a bare, verb-less list answer: "Jupiter and Saturn"
    elif singular_q and any(view.keys[w] in _lex("are were") for w in sent_words if w < s):
        conj = (
            _OR | _AND
        )  # one thing asked, several asserted: "The largest oceans are the Pacific and the Atlantic"

    def other(rng: tuple[int, int] | None) -> bool:
        return (
            rng is not None
            and not _covered(spans, *rng)
            and not all(view.keys[w] in _STOP for w in range(*rng))
        )

    # left: "... X or <gold>", "X or maybe <gold>", "X ya phir <gold>", "X / <gold>"
    if s > 0 and view.tok(s - 1).sent == sent:
        c = s - 1
        if c > 0 and view.keys[c] in _CONJ_FILLERS and view.keys[c - 1] in conj:
            c -= 1
        if view.keys[c] in conj and other(_neighbour(view, c - 1, -1)):
            return True
        if "/" in _punct_between(view, s - 1, s) and other(_neighbour(view, s - 1, -1)):
            return True
    # right: "<gold> or X", "<gold>, X or Y", "<gold> / X"
    w = e
    hops = 0
    while w < n and view.tok(w).sent == sent and hops < 5:
        if view.keys[w] in conj:
            if other(_neighbour(view, w + 1, 1)) or hops > 0:
                return True
            break
        p = _punct_between(view, w - 1, w)
        if "/" in p and other(_neighbour(view, w, 1)):
            return True
        if hops == 0 and not p:
            break  # "<gold> is ..." : not a list
        if "," not in p and hops > 0:
            break
        rng = _neighbour(view, w, 1)
        if rng is None:
            break
        hops += 1
        w = rng[1]
    # a short bulleted candidate among other short bulleted candidates
    t = view.tok(s)
    if t.line_bullet:
        line_words = [x for x in range(n) if view.tok(x).line == t.line]
        if _covered(spans, line_words[0], line_words[-1] + 1):
            others = {
                view.tok(x).line for x in range(n) if view.tok(x).line_bullet and view.tok(x).line != t.line
            }
            for ln in others:
                lw = [x for x in range(n) if view.tok(x).line == ln]
                if len(lw) <= 3 and not _covered(spans, lw[0], lw[-1] + 1):
                    return True
    return False


def _score_entity(view: _View, answers: Sequence[str], unsure: bool, question: str | None) -> MatchResult:
    spans = _gold_spans(view, answers)
    qk = _key_words(question) if question else []
    singular_q = bool(qk) and bool(set(qk[:4]) & _lex("is was")) and not set(qk[:4]) & _lex("are were")
    if not spans:
        return _no_match(view, unsure)
    status = []
    for s, e, a in sorted(spans):
        neg = _negated(view, s, e)
        alt = not neg and _alternative(view, spans, s, e, singular_q)
        status.append((s, e, a, neg, alt))
        if not neg and not alt:
            rival = _rival_assertion(view, spans, s, question)
            if rival:
                return MatchResult(Outcome.WRONG, a, f"gold named beside another answer ({rival})")
            return MatchResult(Outcome.CORRECT, a, "alias match")
    if unsure:
        return MatchResult(Outcome.UNSURE, None, "said UNSURE")
    if any(alt for *_, alt in status):
        a = next(a for _, _, a, _, alt in status if alt)
        return MatchResult(Outcome.WRONG, a, "gold is one of several candidates")
    return MatchResult(Outcome.WRONG, status[0][2], "gold is negated")


_HEDGE_ALT = (("might", "be"), ("could", "be"), ("may", "be"), ("or", "maybe"), ("or", "perhaps"),
              ("or", "possibly"), ("possibly",), ("perhaps",))  # fmt: skip
_ATTRIBUTION = _lex("think thinks thought believe believed assume assumed mistaken mistake confused "
                    "often commonly misconception myth wrongly incorrectly sometimes")  # fmt: skip


def _proper_candidate(view: _View, w: int, spans: list[tuple[int, int, str]], qwords: set[str]) -> bool:
    """Word w reads as another named answer: capitalized (not just as a sentence's first word, unless a
    verb follows), not gold, not from the question, not a stop word."""
    t = view.tok(w)
    if t.kind != "w" or not t.cap or any(s <= w < e for s, e, _ in spans):
        return False
    k = view.keys[w]
    if k in _STOP or k in _VERBS or k in qwords or k in _YES or k in _NO or len(k) < 2:
        return False
    nxt = view.tok(w + 1) if w + 1 < len(view.words) else None
    glued = nxt is not None and view.words[w + 1] == view.words[w] + 1  # no punctuation in between
    if glued and nxt is not None and nxt.sent == t.sent and nxt.kind == "w" and not nxt.cap:
        nk = view.keys[w + 1]
        if nk not in _STOP and nk not in _VERBS and nk not in _AND and nk not in _OR:
            return False  # an adjective or demonym before a noun: "Hindu epic", "American astronaut"
    first = w == 0 or view.tok(w - 1).sent != t.sent
    return not first or (nxt is not None and view.keys[w + 1] in _VERBS)


def _rival_assertion(view: _View, spans: list[tuple[int, int, str]], s: int, question: str | None) -> str:
    """Another named answer asserted before (or in the sentence of) the gold occurrence at s: a clause
    that restates the question with another name ("Sydney is the capital of Australia, though
    Canberra ...") or hedges to another name ("probably Paris, though it might be Lyon")."""
    if not question:
        return ""
    qwords = set(_key_words(question))
    qcontent = {k for k in qwords if k not in _STOP and k not in _VERBS and len(k) > 1}
    gold_sent, gold_seg = view.tok(s).sent, view.tok(s).seg
    # "located in the Americas, specifically in South America": the gold's clause refines the earlier one
    first_of_seg = view.by_seg[gold_seg][0]
    refines = view.keys[first_of_seg] in _lex("specifically namely precisely particularly yaani yani")
    # the gold only in a concession ("..., although an older version is attributed to Valmiki")
    concedes = view.keys[first_of_seg] in _lex("although though while whereas jabki जबकि")
    for seg, ws in view.by_seg.items():
        if seg == gold_seg or any(a <= w < b for a, b, _ in spans for w in ws):
            continue
        sent = view.tok(ws[0]).sent
        if sent > gold_sent:
            break
        keys = [view.keys[w] for w in ws]
        if set(keys) & (_ATTRIBUTION | _NEG_PRE | _NEG_POST) or any(
            tuple(keys[i : i + len(ph)]) == ph for ph in _NEG_PHRASES for i in range(len(keys))
        ):
            continue
        names = [view.toks[view.words[w]].text for w in ws if _proper_candidate(view, w, spans, qwords)]
        if not names:
            continue
        need = 1 if concedes and sent == gold_sent else min(2, len(qcontent))
        restates = len(set(keys) & qcontent) >= need and set(keys) & _VERBS
        hedged = any(tuple(keys[i : i + len(ph)]) == ph for ph in _HEDGE_ALT for i in range(len(keys)))
        if (restates and seg < gold_seg and not refines) or (hedged and sent == gold_sent and seg > gold_seg):
            return names[0]
    return ""


def _no_match(view: _View, unsure: bool) -> MatchResult:
    if unsure:
        return MatchResult(Outcome.UNSURE, None, "said UNSURE")
    if not view.words:
        return MatchResult(Outcome.WRONG, None, "empty response")
    return MatchResult(Outcome.WRONG, None, "no gold alias in response")


def _numbers(view: _View, extra: dict[tuple[str, ...], float]) -> list[tuple[int, int, float]]:
    """(start word, end word, value) for every number in digits or words, in order."""
    out: list[tuple[int, int, float]] = []
    for w in range(len(view.words)):
        t = view.tok(w)
        if t.kind == "n":
            vals = _number_token_values(t.text)
            if len(vals) == 1:
                out.append((w, w + 1, vals[0]))
            else:
                out.extend((w, w + 1, v) for v in vals)
    wn = _word_numbers(view.keys, extra)
    out.extend((i, i + k, v) for i, (k, v) in wn.items())
    return sorted(out)


def _unit_nouns(question: str | None) -> list[str]:
    if not question:
        return []
    keys = _key_words(question)
    out = []
    for i, k in enumerate(keys[:-1]):
        if k in _lex("many कितने कितनी कितना kitne kitni kitna kitny"):
            nxt = keys[i + 1]
            if nxt in ("players",) or nxt not in _STOP:
                out.append(nxt)
    return out


def _subject_words(question: str | None, units: list[str]) -> set[str]:
    if not question:
        return set()
    return {k for k in _key_words(question) if k not in _STOP and k not in _VERBS and len(k) > 2
            and not any(_same_noun(k, u) for u in units) and not k.isdigit()}  # fmt: skip


def _clause_mentions(view: _View, w: int, words: set[str]) -> bool:
    return any(any(_same_noun(view.keys[x], q) for q in words) for x in view.by_seg[view.tok(w).seg])


def _same_noun(a: str, b: str) -> bool:
    """The same word up to a plural / inflection ending (romanized "taara" = "tara")."""
    if a.isascii() and b.isascii():
        a, b = a.replace("aa", "a"), b.replace("aa", "a")
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 3 and long_.startswith(short) and len(long_) - len(short) <= 2


def _year_like(v: float) -> bool:
    return v.is_integer() and 1000 <= v <= 2100


def _alias_number(alias: str) -> float | None:
    """The value of a numeric alias: "25", "25%", "100 degrees Celsius", "6.1-inch"; None for words."""
    v = parse_number(alias)
    if v is not None:
        return v
    m = re.match(r"\s*([-−]?\d+(?:[.,]\d+)*)", fold_digits(unicodedata.normalize("NFKC", alias)))
    return parse_number(m.group(1)) if m else None


def _score_number(view: _View, answers: Sequence[str], golds: list[float], question: str | None,
                  unsure: bool) -> MatchResult:  # fmt: skip
    gold = golds[0]
    extra: dict[tuple[str, ...], float] = {}
    for a in answers:
        if parse_number(a) is None and not re.search(r"\d", fold_digits(a)):
            keys = tuple(_alias_keys(a))
            if keys:
                extra[keys] = _alias_number(answers[0]) or gold
    nums = _numbers(view, extra)
    qnums: set[float] = set()
    qwords: set[str] = set()
    if question:
        qv = _View.of(question)
        qnums = {v for *_, v in _numbers(qv, {})}
        qwords = set(qv.keys)
    cands = []
    for s, e, v in nums:
        if _negated(view, s, e):
            continue
        nxt = view.keys[e] if e < len(view.keys) else ""
        if nxt in _OTHER_UNITS and nxt not in qwords:
            continue
        if _year_like(gold) != _year_like(v) and (_year_like(gold) or view.tok(s).kind == "n"):
            continue
        cands.append((s, e, v))
    kept = [c for c in cands if c[2] not in qnums or any(math.isclose(c[2], g) for g in golds)]
    if not kept:
        kept = cands
    if not kept:
        return _no_match(view, unsure)
    # a concluding sentence ("So ...", "Therefore ...", "The answer is ...") states the answer of a worked reply
    for sent, seg in reversed(_conclusion_regions(view)):  # the last conclusion that names a number
        concl = [c for c in kept if view.tok(c[0]).sent == sent and view.tok(c[0]).seg >= seg]
        if concl:
            kept = concl
            break
    units = _unit_nouns(question)
    # "Insects have 6 legs; spiders have 8": prefer numbers in a clause that names the question's subject
    subject = _subject_words(question, units)
    if subject:
        about = [c for c in kept if _clause_mentions(view, c[0], subject)]
        if about and len(about) < len(kept):
            kept = about
    attached = [
        c for c in kept
        if any(c[1] + d < len(view.keys) and _same_noun(view.keys[c[1] + d], u) for u in units for d in (0, 1))
    ]  # fmt: skip
    anchored = [c for c in kept if _after_phrase(view, c[0], _focus_bigrams(question))]
    results = [c for c in kept if c[0] > 0 and "=" in _punct_between(view, c[0] - 1, c[0])]  # "... = 50"
    if results:  # the first equation states the result; a chain "a = b = c" ends in it
        results = [c for c in results if view.tok(c[0]).sent == view.tok(results[0][0]).sent][-1:]
    s, e, v = (attached or anchored or results or kept)[0]
    qkeys = set(_key_words(question)) if question else set()
    # a range or an alternative around the asserted number: "6 or 8", "7-8", "between 6 and 8"
    sent = view.tok(s).sent
    for o in [c for c in cands if c[2] not in qnums] or cands:
        if view.tok(o[0]).sent != sent or math.isclose(o[2], v) or (o[0], o[1]) == (s, e):
            continue
        lo, hi = (e, o[0]) if o[0] >= e else (o[1], s)
        if not 0 <= hi - lo <= 2:
            continue
        between = view.keys[lo:hi]
        dash = not between and "-" in _punct_between(view, lo - 1, hi) if lo > 0 else False
        slash = not between and "/" in _punct_between(view, lo - 1, hi) if lo > 0 else False
        is_range = any(b in _lex("to se से") for b in between) or dash
        if is_range and _year_like(v) and _year_like(o[2]):
            # "from 1939 to 1945" answers "when did it end" (the later year) and "when did it begin" (the earlier)
            if qkeys & _lex("end ended finish finished over खत्म समाप्त khatam khatm samapt"):
                v = max(v, o[2])
                continue
            if qkeys & _lex("begin began start started outbreak शुरू आरंभ shuru aarambh"):
                v = min(v, o[2])
                continue
        if any(b in _OR for b in between) or is_range or slash:
            return MatchResult(Outcome.WRONG, None, "a range or alternatives, not one number")
    if s > 0 and view.keys[s - 1] in _lex("between either"):
        return MatchResult(Outcome.WRONG, None, "a range or alternatives, not one number")
    if any(math.isclose(v, g, rel_tol=1e-9, abs_tol=1e-9) for g in golds):
        return MatchResult(Outcome.CORRECT, _fmt_num(v, answers), "number match")
    if unsure:
        return MatchResult(Outcome.UNSURE, None, "said UNSURE")
    return MatchResult(Outcome.WRONG, None, f"asserted {v:g}, gold {gold:g}")


_CONCLUSION = (("so",), ("therefore",), ("thus",), ("hence",), ("the", "answer", "is"), ("answer",),
               ("final", "answer"), ("इसलिए",), ("अतः",), ("isliye",), ("toh",), ("matlab",))  # fmt: skip


_CONCLUSION_KEYS = tuple(tuple(match_key(x) for x in ph) for ph in _CONCLUSION)


def _conclusion_regions(view: _View) -> list[tuple[int, int]]:
    """(sentence, first clause) of every stretch that opens with a conclusion marker ("So ...",
    "..., so 8 in total"), up to its sentence's end; the reply's very first clause is not one."""
    out: list[tuple[int, int]] = []
    for seg, ws in sorted(view.by_seg.items()):
        w = ws[0]
        if w == 0:
            continue
        for ph in _CONCLUSION_KEYS:
            if tuple(view.keys[w : w + len(ph)]) == ph:
                out.append((view.tok(w).sent, seg))
                break
    return out


def _focus_bigrams(question: str | None) -> list[tuple[str, str]]:
    if not question:
        return []
    k = [x for x in _key_words(question) if x not in _STOP]
    return [(a, b) for a, b in itertools.pairwise(k) if a not in _VERBS and b not in _VERBS]


def _after_phrase(view: _View, w: int, bigrams: list[tuple[str, str]]) -> bool:
    """Number at word w follows one of the question's content bigrams within 4 words, same clause."""
    seg = view.tok(w).seg
    for d in range(2, 7):
        i = w - d
        if i < 0 or view.tok(i).seg != seg:
            break
        if (view.keys[i], view.keys[i + 1]) in bigrams:
            return True
    return False


def _fmt_num(gold: float, answers: Sequence[str]) -> str:
    return next((a for a in answers if _alias_number(a) == gold), answers[0])


def _predicate(question: str | None) -> list[str]:
    if not question:
        return []
    content = [k for k in _key_words(question) if k not in _STOP and k not in _VERBS]
    return content[-1:]


_QUESTION_OPENERS = _lex("kya क्या is are does do did was")


def _score_yesno(view: _View, answers: Sequence[str], question: str | None, unsure: bool) -> MatchResult:
    gold_yes = any(match_key(normalize(a).split()[-1]) in _YES for a in answers if normalize(a))
    if not view.words:
        return _no_match(view, unsure)
    first_sent = view.tok(0).sent
    sent_words = view.by_sent[first_sent]
    keys = [view.keys[w] for w in sent_words]
    said: bool | None = None
    if keys[0] in _YES and len(keys) > 1 and keys[1] in _NO:
        said = False  # "ji nahi", "जी नहीं": the polite particle, then no
    elif keys[0] in _YES or keys[:2] == ["of", "course"]:
        said = not (len(keys) >= 3 and keys[1] in _AND | _OR and keys[2] in _NO)
        if not said:
            return MatchResult(Outcome.WRONG, None, "yes and no")
    elif keys[0] in _NO:
        said = False
    else:
        pred = _predicate(question)
        # a sentence that asks (ends in "?" or opens like a question) asserts nothing
        questions = {t.sent for t in view.toks if t.text == "?"}
        for w in range(len(view.words)):
            opens = w == 0 or view.tok(w - 1).sent != view.tok(w).sent
            if opens and view.keys[w] in _QUESTION_OPENERS:
                questions.add(view.tok(w).sent)
        for w in range(len(view.words)):
            if pred and _same_noun(view.keys[w], pred[0]) and view.tok(w).sent not in questions:
                seg_keys = [view.keys[x] for x in view.by_seg[view.tok(w).seg]]
                if any(k in _NEG_PRE or k in _NEG_POST or k == "no" for k in seg_keys):
                    said = False
                    break
                if set(seg_keys) & _lex("is are was were s है हैं था hai hain h tha"):
                    said = True
                    break
                # "... orbits our star": the predicate is not what the clause asserts; read on
        if said is None:
            polar = [k for k in keys if k in _YES or k in _NO]
            if polar:
                said = polar[0] in _YES
    if said is None:
        if unsure:
            return MatchResult(Outcome.UNSURE, None, "said UNSURE")
        return MatchResult(Outcome.WRONG, None, "no leading yes/no answer")
    ok = said == gold_yes
    return MatchResult(Outcome.CORRECT if ok else Outcome.WRONG, answers[0] if ok else None,
                       f"leading answer {'yes' if said else 'no'}")  # fmt: skip


def _infer_type(answers: Sequence[str]) -> str:
    if parse_number(answers[0]) is not None:
        return "number"
    first = normalize(answers[0]).split()
    if first and match_key(first[-1]) in (_YES | _NO) and len(first) <= 2:
        return "yesno"
    return "entity"


def score_answer(
    response: str | None,
    answers: Sequence[str] | Iterable[str],
    *,
    answer_type: str | None = None,
    question: str | None = None,
) -> MatchResult:
    """Score one response against its gold aliases (any script, either digit system).

    ``answer_type`` (entity | number | yesno | short_text) picks the rule set; inferred from the gold
    when None. ``question`` (the clean question) lets the number and yes/no rules set aside the
    question's own numbers and find its unit noun / predicate; without it those rules fall back to
    the first number / the leading yes-no word.
    """
    answers = list(answers)
    if not answers:
        raise ValueError("`answers` must contain at least one gold alias, got []")
    kind = answer_type or _infer_type(answers)
    if kind not in ("entity", "number", "yesno", "short_text"):
        raise ValueError(f"`answer_type` must be entity|number|yesno|short_text, got {answer_type!r}")
    text = response or ""
    view = _View.of(text)
    unsure = bool(_UNSURE_RE.search(normalize(text)))
    if kind == "yesno":
        return _score_yesno(view, answers, question, unsure)
    if kind == "number":
        golds = sorted({v for a in answers if (v := _alias_number(a)) is not None})
        if golds:
            return _score_number(view, answers, golds, question, unsure)
    return _score_entity(view, answers, unsure, question)
