"""Answer scoring for short factual answers in English, Devanagari Hindi and romanized Hindi.

The scorer reads the answer a response *asserts*, not every string in it. It is rule-based and
deterministic (see also README, "Scoring"). The answer a reply marks is judged first
(:mod:`llm_eval.extract`: a boxed value, an ``Answer:`` line, "the answer is ...", bold, a short
last line); the whole reply only when it marks none that names a candidate.

Normalization (:mod:`llm_eval.textfold`): Unicode NFKC (folds fullwidth forms), removal of
zero-width characters, every script's digits -> ASCII, casefold, markdown emphasis dropped,
contractions expanded ("isn't" -> "is not"). For matching, Devanagari spelling variants are folded: candrabindu ->
anusvara, nukta dropped, ``ऑ``/``ॉ`` -> ``आ``/``ा``, long and short i/u merged (``वाल्मिकी`` = ``वाल्मीकि``);
romanized ``ee``/``oo`` -> ``i``/``u``. An alias's last word also matches its inflected forms: English
plural ``-s``/``-es`` and the Hindi oblique/feminine ``-ा`` -> ``-े``/``-ी`` (``हरा``: ``हरे``, ``हरी``).

The response is split into sentences and clauses (at ``, ; : ( )``, dashes, "but", "however",
``लेकिन``, ``बल्कि`` ...). The verdict has three values, and CORRECT is said only when sure:

- **CORRECT**: a gold occurrence is asserted (neither *negated* -- a negation before it in its clause,
  "not Paris", "rather than", ``न कि``, a Hindi negation after it, ``पेरिस नहीं``, or a belief ascribed
  to others -- nor *one of several candidates* joined by "or", "/", ``या``, "ya", a comma list, short
  bullets) and the reply names no *rival* of the item's answer type, or offers the gold, not the
  rival, as its answer (:func:`_focus`);
- **WRONG**: no gold alias (for numbers: no gold value) occurs, or the reply offers a rival as its
  answer with the gold only in context or negated;
- **UNRESOLVED**: everything else. Rules written against one set of answers always meet the next
  set, so a reply the rules cannot be sure of is left to the model grader (``--scorer auto``) or
  counted apart, never guessed.

The focus: when the gold and a rival are both named, the candidate that opens the reply as a bare
answer, stands in the clause that draws the conclusion, in the clause that restates more of the
question, in the question's slot (a Hindi postposition) or is written as the question's type wins;
a runner-up, a mistaken belief, an aside, the object of a comparison or the other end of a span of
time ranks below; no winner is UNRESOLVED.

Rivals, by answer type (``answer_type=``; inferred from the gold when absent):

- **entity / short text**: another name: a capitalized Latin word that is not in the question, not
  part of a gold occurrence and not a common sentence word (:mod:`llm_eval.lexicon`); in Devanagari,
  which has no case, any word outside the question, the gold and the common-word list; and any member
  of the item's answer class (``answer_class=``: "oxygen" beside "carbon dioxide"). A rival that is
  itself negated ("Canberra, not Sydney") is not asserted.
- **number / year**: numbers are read by value (:mod:`llm_eval.numbers`: any script's digits,
  ``1,00,000``, ``$29.00``, decimals, English and Hindi number words, the item's word aliases). The
  question's own numbers, the operands of a worked calculation, ordinals, numbers in another unit
  ("212 °F" for a Celsius question) and the article "one" / ``एक`` are set aside; for a number, bare years are set aside; for a year, only years count (a day of the month is
  no rival). Any other non-negated number is a rival.
- **yes/no** (the card's rule: the *leading* answer): a leading yes-word (yes, haan, हाँ, ji,
  absolutely, ...) is yes and a leading no-word is no; a reply that starts with neither is read as a
  statement: the clause that names the question's predicate ("star" in "Is the Sun a star?") is
  yes unless negated. No answer found, or yes and no together, is UNRESOLVED.

A hedge ("probably", "I think", ``shayad``, ``शायद``) with the gold as the only candidate is that
answer (CORRECT, as SimpleQA grades it); beside another candidate it is UNRESOLVED. A gold alias
also matches the same name in another script or romanization (:mod:`llm_eval.translit`). A response
that says UNSURE and names no gold answer is UNSURE: resolved, not correct, counted apart.
Provider errors never reach this module: they are excluded and counted by the analysis.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from llm_eval.extract import final_answer_line, marked_answers
from llm_eval.langid import HINGLISH_LEXICON
from llm_eval.lexicon import EN_COMMON_CAPITALIZED, HEDGES, HINDI_COMMON, INDEFINITE_ONE, TYPE_NOUNS
from llm_eval.numbers import is_number_word, parse_number, unit_of, word_numbers
from llm_eval.textfold import base_fold, fold_digits, match_key, normalize
from llm_eval.translit import same_name

__all__ = [
    "ANSWER_FORMATS",
    "ANSWER_TYPES",
    "MatchResult",
    "Outcome",
    "extract_numbers",
    "final_answer_line",
    "fold_digits",
    "is_unsure",
    "match_key",
    "names_gold",
    "normalize",
    "parse_number",
    "score_answer",
]


class Outcome(StrEnum):
    CORRECT = "correct"  # sure: the gold is asserted and no other candidate is named
    WRONG = "wrong"  # the gold is absent
    UNSURE = "unsure"  # the reply says UNSURE and names no gold: resolved, not correct
    UNRESOLVED = "unresolved"  # the gold is named, but so is another candidate, a hedge or a negation

    @property
    def resolved(self) -> bool:
        return self is not Outcome.UNRESOLVED


@dataclass(frozen=True)
class MatchResult:
    outcome: Outcome
    matched: str | None = None  # the gold alias that matched, if any
    reason: str = ""
    judged: str | None = None  # the marked answer that decided (llm_eval.extract); None: the whole reply

    @property
    def correct(self) -> bool:
        return self.outcome is Outcome.CORRECT


# digits not glued to other digits; a minus sign only at the start of a token ("1990-2000" is two years)
ANSWER_TYPES = ("entity", "number", "year", "yesno", "short_text")
ANSWER_FORMATS = ("plain", "final-line")
_NUM_RE = re.compile(r"(?<!\d)(?:(?<![^\s(])[-−])?\d+(?:[,.]\d+)*(?!\d)")
_UNSURE_RE = re.compile(r"\bunsure\b")
_base_fold = base_fold


def _lex(words: str) -> frozenset[str]:
    """A word set folded like the response words it is compared with."""
    return frozenset(match_key(w) for w in words.split())


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
_POSTPOSITIONS = _lex("ने को से में पर का की के ne ko se mein me par ka ki ke")
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

_EN_COMMON = _lex(
    " ".join(EN_COMMON_CAPITALIZED | HINGLISH_LEXICON)
    + " dr mr mrs ms mt st prof sri shri bc ad ce bce january "
    "february march april may june july august september october november december"
)
_HINDI_COMMON = _lex(" ".join(HINDI_COMMON))
_HINDI_STEMS = frozenset(w[:-1] if w[-1] in "ाेीिो" else w for w in _HINDI_COMMON)
_HEDGE_KEYS = tuple(tuple(match_key(w) for w in ph) for ph in HEDGES)
_HEDGE_WORDS = frozenset(w for ph in _HEDGE_KEYS for w in ph)
_UNIT_PUNCT = set(";:()[]{}—–")
_SUBORD = _lex("which who whom whose where when while whereas because although though jo jab jahan jisme "
               "jiska jiski jiske jinke kyunki kyonki uske iske जो जब जहाँ जहां जिसमें जिसका जिसकी जिसके जिनके क्योंकि उसके इसके "
               "so therefore thus hence toh isliye इसलिए अतः followed named called known located situated")  # fmt: skip
# a unit that opens with one of these draws the conclusion ("..., so 8 in total")
_CONCLUDE = _lex("so therefore thus hence toh isliye इसलिए अतः तो")
# a unit with one of these ranks its candidates below the answer: a runner-up, a former holder
_RUNNER_UP = _lex("second third fourth fifth runner former formerly previously earlier next followed after later "
                  "subsequently afterwards बाद baad "
                  "दूसरा दूसरे दूसरी तीसरा तीसरे तीसरी doosra doosre doosri dusra dusre dusri teesra tisra पूर्व")  # fmt: skip
# which end of a span of time the question asks for: a candidate near the other end's words is context
_BEGIN_PRE, _END_PRE = _lex("from since"), _lex("to until till")
_BEGIN_POST, _END_POST = _lex("से se"), _lex("तक tak")
_IN = _lex("in on during mein me में")
_ORDINAL_SUFFIX = _lex("th st nd rd वां वीं वें va vi ve")
_THAN = _lex("than")
_LINKS = _lex("of the a an का की के ka ki ke")
_ARTICLES = _lex("the a an")
_WH = _lex("which what who whom whose where when how kis kaun kaunsa kaunsi kya किस कौन कौनसा कौनसी क्या")
_INDEFINITE_ONE = _lex(" ".join(INDEFINITE_ONE))
_TYPE_NOUNS = _lex(" ".join(TYPE_NOUNS))


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
    def units(self) -> list[int]:
        """Focus unit of each word: a sentence, split further at ``; : ( ) —``, at "but" /
        ``लेकिन`` ..., and at a comma before a relative, causal or participial clause or a
        conclusion (", when", ", which", ``, जो``, ``, क्योंकि``, ", named", ", leading", ", so");
        after such a clause closes with a comma, the words belong to the unit it interrupted."""
        out: list[int] = []
        unit, prev_sent, comma, top = 0, -1, False, 0
        aside: int | None = None  # the unit a clause between commas interrupts (", which ..., is")
        for t in self.toks:
            if t.kind == "p":
                if t.text in _UNIT_PUNCT:
                    top += 1
                    unit, aside = top, None
                if t.text == "," and aside is not None:
                    unit, aside = aside, None
                comma = t.text == ","
                continue
            k = match_key(t.text)
            participle = k.isascii() and len(k) > 4 and k.endswith(("ing", "ed"))  # ", leading to ..."
            if (prev_sent >= 0 and t.sent != prev_sent) or k in _SEG_WORDS:
                top += 1
                unit, aside = top, None
            elif comma and (k in _SUBORD or participle):
                top += 1
                aside = None if k in _CONCLUDE else unit
                unit = top
            top = max(top, unit)
            comma, prev_sent = False, t.sent
            out.append(unit)
        return out

    @cached_property
    def in_parens(self) -> list[bool]:
        """Each word: inside parentheses (an aside)."""
        out: list[bool] = []
        depth = 0
        for t in self.toks:
            if t.kind == "p":
                depth = max(0, depth + (t.text in "([") - (t.text in ")]"))
            else:
                out.append(depth > 0)
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


def _gold_spans(
    view: _View, answers: Sequence[str], question: str | None = None
) -> list[tuple[int, int, str]]:
    """Where a gold alias occurs: spelled as listed (up to the spelling folds and inflections), or
    the same name in another transliteration (``बर्लिन`` for "Berlin", "Neharu" for "Nehru";
    :mod:`llm_eval.translit`), never a word of the question or a common word."""
    spans: list[tuple[int, int, str]] = []
    for a in answers:
        keys = _alias_keys(a)
        if keys:
            for s, e in _find(view, keys):
                nxt = view.keys[e] if e < len(view.keys) else ""
                if not (e - s == 1 and nxt in _IDIOMS.get(view.keys[s], ())):
                    spans.append((s, e, a))
    qkeys = set(_key_words(question)) if question else set()
    for a in answers:
        keys = _alias_keys(a)
        if not keys or any(ch.isdigit() for k in keys for ch in k):
            continue
        k = len(keys)
        for i in range(len(view.keys) - k + 1):
            window = view.keys[i : i + k]
            if any(i < e and s < i + k for s, e, _ in spans):
                continue
            if any(w in qkeys or w in _STOP or w in _EN_COMMON or _hindi_known(w) for w in window):
                continue
            if all(view.tok(i + j).kind == "w" for j in range(k)) and same_name(window, keys):
                spans.append((i, i + k, a))
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
    after = [w for w in range(e, min(len(view.keys), e + 3)) if view.tok(w).seg == view.tok(e - 1).seg]
    for i, w in enumerate(after):
        if view.keys[w] in _NEG_POST:
            return True
        if view.keys[w] not in _COPULA_SKIP and not (i == 0 and view.keys[w] in _POSTPOSITIONS):
            break  # "पेरिस नहीं", "शाहजहाँ ने नहीं"
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


def _hedged(view: _View) -> str:
    """The first hedge phrase in the reply ("probably", "shayad", "I think"), or ""."""
    for ph in _HEDGE_KEYS:
        k = len(ph)
        for i in range(len(view.keys) - k + 1):
            if tuple(view.keys[i : i + k]) == ph:
                return " ".join(ph)
    return ""


def _is_devanagari_word(word: str) -> bool:
    return any("\u0900" <= ch <= "\u097f" for ch in word)


def _hindi_known(key: str) -> bool:
    """A Devanagari word from the common-word list, also in an oblique / plural form (शहरों, ग्रहों)."""
    if key in _HINDI_COMMON:
        return True
    for suffix in ("ों", "ें", "ो", "े", "ि", "ा"):
        if key.endswith(suffix) and len(key) > len(suffix) + 1 and key[: -len(suffix)] in _HINDI_STEMS:
            return True
    return False


def _stem(key: str) -> str:
    """A Devanagari word without its final inflecting vowel sign (नीले, नीला -> नील)."""
    return key[:-1] if len(key) > 2 and key[-1] in "ाेीिोंँ" else key


def _in_question(key: str, qkeys: set[str]) -> bool:
    return key in qkeys or any(_same_noun(key, q) or _stem(key) == _stem(q) for q in qkeys if len(q) > 2)


def _entity_rivals(view: _View, spans: list[tuple[int, int, str]], question: str | None,
                   members: Sequence[str]) -> list[tuple[int, int, str]]:  # fmt: skip
    """Other candidate answers named in the reply and not negated, as (start, end, text): a
    capitalized Latin name, a Devanagari word outside the common-word list, or a member of the
    item's answer class; none of them a word of the question or of a gold occurrence."""
    qkeys = set(_key_words(question)) if question else set()
    out: list[tuple[int, int, str]] = []
    for w in range(len(view.words)):
        t = view.tok(w)
        k = view.keys[w]
        if t.kind != "w" or any(s <= w < e for s, e, _ in spans) or _in_question(k, qkeys):
            continue
        if is_number_word(k) or len(k) < 2 or any(same_name([k], [q]) for q in qkeys):
            continue  # a number word is no entity; a question word in another script no rival
        if _is_devanagari_word(k):
            rival = not _hindi_known(k) and k not in _STOP and k not in _VERBS and k not in _YES | _NO
        else:
            rival = t.cap and not (
                k in _EN_COMMON or k in _STOP or k in _VERBS or k in _YES | _NO or k in _HEDGE_WORDS
            )
        if rival and not _negated(view, w, w + 1):
            out.append((w, w + 1, t.text))
    gold_keys = {tuple(_alias_keys(a)) for _, _, a in spans}
    for m in members:
        keys = _alias_keys(m)
        if not keys or tuple(keys) in gold_keys or all(_in_question(k, qkeys) for k in keys):
            continue
        for s, e in _find(view, keys):
            if not any(a < e and s < b for a, b, _ in spans) and not _negated(view, s, e):
                out.append((s, e, m))
    return out


def _question_content(question: str | None) -> set[str]:
    """The question's content words (no stop words, verbs or wh-words)."""
    if not question:
        return set()
    return {
        k for k in _key_words(question) if k not in _STOP and k not in _VERBS and k not in _WH and len(k) > 1
    }


_MISTAKE = _lex("mistaken mistake mistakenly confused confuse wrongly incorrectly misconception myth guess "
                "guessed galti गलती भ्रम")  # fmt: skip
_FILLER = _lex("it it's its s is was the a an answer final yes ji haan हाँ जी")
_BEGIN_Q = _lex("begin began start started shuru शुरू आरंभ प्रारंभ")
_END_Q = _lex("end ended finish finished over khatam समाप्त खत्म")


def _lead(view: _View, s: int, e: int) -> bool:
    """The reply opens with its answer: the first focus unit is this candidate, with at most three
    filler words ("Egypt.", "It's Canberra.") or a negated rival ("Canberra, not Sydney."), before
    anything else ("Winston Churchill, who succeeded ...", "Valmiki — often called ...")."""
    if s > 3 or not view.words:
        return False
    first = [w for w in range(len(view.words)) if view.units[w] == view.units[0]]
    if not s <= first[-1]:
        return False
    others = [w for w in first if not s <= w < e]
    fillers = [w for w in others if view.keys[w] in _FILLER]
    negated = [w for w in others if view.keys[w] in _NEG_PRE | _NEG_POST or _negated(view, w, w + 1)]
    return len(fillers) <= 3 and len(fillers) + len(negated) == len(others)


def _other_end(view: _View, s: int, e: int, qkeys: set[str]) -> bool:
    """The question asks when something began (ended) and this candidate is written as the other
    end of a span: "from 1939 to 1945", ``1939 से 1945 तक``, "ended in 1918", "1946 mein khatam"."""
    wants = "begin" if qkeys & _BEGIN_Q else "end" if qkeys & _END_Q else ""
    if not wants:
        return False
    pre, post, verbs = (
        (_BEGIN_PRE, _BEGIN_POST, _BEGIN_Q) if wants == "end" else (_END_PRE, _END_POST, _END_Q)
    )
    unit = view.units[s]

    def key(w: int) -> str:
        return view.keys[w] if 0 <= w < len(view.words) and view.units[w] == unit else ""

    if key(s - 1) in pre or key(e) in post or key(s - 1) in verbs:
        return True
    if key(s - 1) in _IN and key(s - 2) in verbs:
        return True  # "ended in 1918"
    return key(e) in _IN and key(e + 1) in verbs  # "1946 mein khatam hua", "1945 में समाप्त"


def _typed(view: _View, s: int, e: int, types: set[str]) -> bool:
    """The candidate is written as the question's type: the type noun ends it ("Yamuna River",
    ``यमुना नदी``), follows it as part of the name (capitalized in Latin script) or comes before it
    ("the planet Jupiter", ``ग्रह``)."""

    def is_type(w: int) -> bool:
        return 0 <= w < len(view.words) and any(
            view.keys[w] == t or _same_noun(view.keys[w], t) for t in types
        )

    after = e
    while after < len(view.words) and view.keys[after] in _LINKS and not view.keys[after].isascii():
        after += 1  # Hindi: "मंगल ग्रह", "थार का रेगिस्तान"
    if is_type(e - 1) and e - s > 1:
        return True
    if is_type(after) and view.units[after] == view.units[s]:
        return not view.keys[after].isascii() or view.tok(after).cap
    before = s - 1
    while before >= 0 and view.keys[before] in _ARTICLES:
        before -= 1  # "the planet Jupiter"; never across "of": "the president of South Africa"
    return is_type(before) and view.units[before] == view.units[s] and view.keys[before].isascii()


def _salience(view: _View, s: int, e: int, qkeys: set[str], types: set[str],
              unit_score: dict[int, int], slot_mark: str = "") -> tuple[int, int, int, int, int]:  # fmt: skip
    """How strongly the reply offers the candidate at [s, e) as its answer: (opens the reply as its
    answer; its unit draws the conclusion; how much of the question its focus unit restates, -1
    for a runner-up, a mistaken belief, an aside, the object of a comparison or the other end of a
    span of time; whether it fills the question's slot (:func:`_slot_mark`); whether it is written
    as the question's type)."""
    unit = view.units[s]
    unit_words = [w for w in range(len(view.words)) if view.units[w] == unit]
    before = [view.keys[w] for w in unit_words if w < s]
    demoted = (
        any(view.keys[w] in _RUNNER_UP | _MISTAKE and view.keys[w] not in qkeys for w in unit_words)
        or all(view.in_parens[w] for w in range(s, e))
        or bool(set(before) & _THAN)
        or _other_end(view, s, e, qkeys)
    )
    conclude = bool(unit_words) and view.keys[unit_words[0]] in _CONCLUDE
    slot = bool(slot_mark) and e < len(view.words) and view.keys[e] == slot_mark and view.units[e] == unit
    return (
        int(_lead(view, s, e)),
        int(conclude and not demoted),
        -1 if demoted else unit_score.get(unit, 0),
        int(slot and not demoted),
        int(_typed(view, s, e, types)),
    )


def _slot_mark(question: str | None) -> str:
    """The postposition that marks the answer's slot in a Hindi question ("किस बादशाह ने बनवाया":
    ``ने``): a candidate followed by it fills that slot."""
    keys = _key_words(question) if question else []
    for i, k in enumerate(keys):
        if k in _WH:
            for nxt in keys[i + 1 : i + 4]:
                if nxt in _POSTPOSITIONS:
                    return nxt
    return ""


def _name_spans(
    view: _View, rivals: list[tuple[int, int]], golds: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Rival words grown into the capitalized name they belong to ("Australian Capital Territory"),
    never into a gold occurrence."""
    gold_words = {w for s, e in golds for w in range(s, e)}

    def name_word(w: int) -> bool:
        t = view.tok(w)
        return t.kind == "w" and t.cap and w not in gold_words and view.units[w] == view.units[s]

    out = []
    for s, e in rivals:
        while s > 0 and name_word(s - 1) and view.tok(s - 1).sent == view.tok(s).sent:
            s -= 1
        while e < len(view.words) and name_word(e):
            e += 1
        out.append((s, e))
    return out


def _focus(view: _View, golds: list[tuple[int, int]], rivals: list[tuple[int, int]],
           question: str | None) -> str | None:  # fmt: skip
    """Which kind of candidate the reply offers as its answer when it names both: "gold", "rival",
    or None when neither stands out. A candidate stands out by opening the reply as a bare answer,
    then by its focus unit restating more of the question ("the capital of Australia is Canberra"
    beside "Sydney is the largest city"), then by being written as the question's type ("the
    Yamuna River in Agra")."""
    content = _question_content(question)
    qkeys = set(_key_words(question)) if question else set()
    types = {k for k in content if k in _TYPE_NOUNS}
    rivals = _name_spans(view, rivals, golds)
    # a question word inside a rival's name still restates the question ("the South African ...")
    taken = {w for s, e in golds for w in range(s, e)}
    hits: dict[int, set[str]] = {}
    for w, k in enumerate(view.keys):
        if w in taken:
            continue
        for q in content:
            if k == q or (len(q) > 2 and _same_noun(k, q)):
                hits.setdefault(view.units[w], set()).add(q)
    # only the question's words that tell the candidates' units apart count; its type noun twice
    cand_units = [hits.get(view.units[s], set()) for s, _ in golds + rivals]
    common = set.intersection(*cand_units) if cand_units else set()
    unit_score = {u: sum(1 + (q in types) for q in v - common) for u, v in hits.items()}
    slot = _slot_mark(question)
    best_gold = max(_salience(view, s, e, qkeys, types, unit_score, slot) for s, e in golds)
    best_rival = max(_salience(view, s, e, qkeys, types, unit_score, slot) for s, e in rivals)
    if best_gold > best_rival:
        return "gold"
    if best_rival > best_gold:
        return "rival"
    return None


def _decide(view: _View, gold: str, golds: list[tuple[int, int]], rivals: list[tuple[int, int, str]],
            question: str | None, unsure: bool, what: str) -> MatchResult:  # fmt: skip
    """The gold is asserted: CORRECT when no rival is named, or when the reply's focus is on the
    gold and it does not hedge; WRONG when its focus is on a rival; else UNRESOLVED."""
    if not rivals:
        return _sure(view, gold, unsure, f"{what} match, no other candidate")
    focus = _focus(view, golds, [(s, e) for s, e, _ in rivals], question)
    hedge = _hedged(view)
    if focus is None or hedge or unsure:
        why = f"hedged ({hedge})" if hedge and focus else f"another candidate named: {rivals[0][2]}"
        return MatchResult(Outcome.UNRESOLVED, gold, why)
    if focus == "rival":
        return MatchResult(Outcome.WRONG, None, f"answers {rivals[0][2]}; the gold only in context")
    return MatchResult(Outcome.CORRECT, gold, f"{what} match; other candidates only in context")


def _score_entity(view: _View, answers: Sequence[str], unsure: bool, question: str | None,
                  members: Sequence[str]) -> tuple[MatchResult, bool]:  # fmt: skip
    """(verdict, whether the text names any candidate answer at all)."""
    spans = _gold_spans(view, answers, question)
    rivals = _entity_rivals(view, spans, question, members)
    if not spans:
        return _no_match(view, unsure), bool(rivals)
    qk = _key_words(question) if question else []
    singular_q = bool(qk) and bool(set(qk[:4]) & _lex("is was")) and not set(qk[:4]) & _lex("are were")
    listed = [(s, e, a) for s, e, a in sorted(spans) if _alternative(view, spans, s, e, singular_q)]
    asserted = [
        (s, e, a) for s, e, a in sorted(spans) if not _negated(view, s, e) and (s, e, a) not in listed
    ]
    if not asserted:
        if rivals and not listed and not _hedged(view):
            return MatchResult(Outcome.WRONG, None, f"gold only negated; answers {rivals[0][2]}"), True
        return MatchResult(Outcome.UNRESOLVED, spans[0][2], "gold only negated or among candidates"), True
    golds = [(s, e) for s, e, _ in asserted]
    return _decide(view, asserted[0][2], golds, rivals, question, unsure, "alias"), True


def _sure(view: _View, gold: str, unsure: bool, reason: str) -> MatchResult:
    """The gold and no other candidate: CORRECT, also when hedged ("I think it's Canberra": one
    answer, given with doubt), unless the reply also says UNSURE."""
    if unsure:
        return MatchResult(Outcome.UNRESOLVED, gold, "names the gold and says UNSURE")
    hedge = _hedged(view)
    return MatchResult(Outcome.CORRECT, gold, reason + (f" (hedged: {hedge})" if hedge else ""))


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
    wn = word_numbers(view.keys, extra)
    out.extend((i, i + k, v) for i, (k, v) in wn.items())
    return sorted(out)


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


_OPERATORS = set("×÷+−*/=")
_TIMES = _lex("x times into")


def _operand(view: _View, s: int, e: int) -> bool:
    """A number written as an operand of a calculation ("8 × 12 = 96": 8 and 12; "60 minutes × 60
    seconds"), not its result."""
    nxt = e + (e < len(view.words) and view.tok(e).kind == "w" and unit_of(view.keys[e]) is not None)
    if nxt < len(view.words):
        if set(_punct_between(view, nxt - 1, nxt)) & (_OPERATORS - {"="}):
            return True
        if view.keys[nxt] in _TIMES and nxt + 1 < len(view.words) and view.tok(nxt + 1).kind == "n":
            return True
    if s > 0 and set(_punct_between(view, s - 1, s)) & (_OPERATORS - {"="}):
        return True
    return s > 1 and view.keys[s - 1] in _TIMES and view.tok(s - 2).kind == "n"


def _units_named(keys: Iterable[str]) -> set[str]:
    return {u for k in keys if (u := unit_of(k)) is not None}


def _score_number(view: _View, answers: Sequence[str], golds: list[float], question: str | None,
                  unsure: bool, year: bool) -> tuple[MatchResult, bool]:  # fmt: skip
    """Numbers of the answer's kind (years for a year, other numbers otherwise) that are not the
    question's own, not an operand of a calculation, not in another unit and not the indefinite
    "one": the gold among them and no other -> CORRECT; the gold not among them -> WRONG; the gold
    beside others -> decided by the reply's focus (:func:`_decide`)."""

    def is_gold(v: float) -> bool:
        return any(math.isclose(v, g, rel_tol=1e-9, abs_tol=1e-9) for g in golds)

    extra: dict[tuple[str, ...], float] = {}
    for a in answers:
        if parse_number(a) is None and not re.search(r"\d", fold_digits(a)):
            keys = tuple(_alias_keys(a))
            if keys:
                extra[keys] = _alias_number(answers[0]) or golds[0]
    qnums: set[float] = set()
    # the units the question and the gold speak in; a number in any other unit is another quantity
    own_units = _units_named(k for a in answers for k in _alias_keys(a))
    if question:
        qv = _View.of(question)
        qnums = {v for *_, v in _numbers(qv, {})}
        own_units |= _units_named(qv.keys)
    cands: list[tuple[int, int, float, bool]] = []
    for s, e, v in _numbers(view, extra):
        nxt = view.keys[e] if e < len(view.keys) else ""
        unit = unit_of(nxt)
        if unit is not None and own_units and unit not in own_units and not is_gold(v):
            continue  # "212 °F", "1,440 minutes": the same quantity, or another one, in another unit
        if year != _year_like(v) and (year or view.tok(s).kind == "n"):
            continue  # a year item's day of the month; a count's bare year
        if e - s == 1 and view.keys[s] in _INDEFINITE_ONE and not is_gold(1.0):
            continue  # "a" / "एक": the article, not a rival number
        if v in qnums and not is_gold(v):
            continue  # the question's operands
        if view.tok(s).kind == "n" and _operand(view, s, e):
            continue  # "8 × 12 = 96": the operands of a worked calculation
        if nxt in _ORDINAL_SUFFIX and view.tok(s).kind == "n":
            continue  # "12वां", "12th": an ordinal, not a count
        cands.append((s, e, v, _negated(view, s, e)))
    hits = [c for c in cands if is_gold(c[2])]
    named = bool(cands)
    if not hits:
        if unsure:
            return MatchResult(Outcome.UNSURE, None, "said UNSURE"), named
        others = [c[2] for c in cands if not c[3]]
        why = f"asserted {others[0]:g}, gold {golds[0]:g}" if others else "no gold number in response"
        return MatchResult(Outcome.WRONG, None, why), named
    rivals = [(c[0], c[1], f"{c[2]:g}") for c in cands if not is_gold(c[2]) and not c[3]]
    gold = _fmt_num(hits[0][2], answers)
    asserted = [(c[0], c[1]) for c in hits if not c[3]]
    if not asserted:
        if rivals and not _hedged(view):
            return MatchResult(Outcome.WRONG, None, f"gold number only negated; answers {rivals[0][2]}"), True
        return MatchResult(Outcome.UNRESOLVED, gold, "gold number only negated"), True
    return _decide(view, gold, asserted, rivals, question, unsure, "number"), True


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
            return MatchResult(Outcome.UNRESOLVED, None, "yes and no")
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
        return MatchResult(Outcome.UNRESOLVED, None, "no leading yes/no answer")
    if said != gold_yes:
        return MatchResult(Outcome.WRONG, None, f"leading answer {'yes' if said else 'no'}")
    return _sure(view, answers[0], unsure, f"leading answer {'yes' if said else 'no'}")


def _infer_type(answers: Sequence[str]) -> str:
    v = parse_number(answers[0])
    if v is not None:
        return "year" if _year_like(v) else "number"
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
    answer_class: str | None = None,
    answer_format: str = "plain",
) -> MatchResult:
    """Score one response against its gold aliases (any script, any digit system): CORRECT only
    when sure, WRONG when the gold is absent or the reply answers something else, UNRESOLVED
    otherwise (see the module docstring).

    The answer a reply marks is judged first (:func:`llm_eval.extract.marked_answers`: a boxed
    value, an ``Answer:`` line, "the answer is ...", bold, a short last line), the whole reply
    only when it marks none that names a candidate. ``answer_type`` (entity | number | year |
    yesno | short_text) picks the rule set; inferred from the gold when None. ``question`` (the
    clean question) sets its own words and numbers aside. ``answer_class`` names the item's class
    in ``answer_classes.json`` (its other members are rivals). ``answer_format`` records how the
    reply was asked for (``final-line`` replies end with an ``Answer:`` line, which is read first
    either way).
    """
    answers = list(answers)
    if not answers:
        raise ValueError("`answers` must contain at least one gold alias, got []")
    kind = answer_type or _infer_type(answers)
    if kind not in ANSWER_TYPES:
        raise ValueError(f"`answer_type` must be {'|'.join(ANSWER_TYPES)}, got {answer_type!r}")
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"`answer_format` must be {'|'.join(ANSWER_FORMATS)}, got {answer_format!r}")
    text = response or ""
    members = _class_members(answer_class, answers)
    for mark in marked_answers(text):
        judged = [(t, *_score(t, answers, kind, question, members)) for t in mark.texts]
        named = [(t, res) for t, res, names in judged if names]
        if named and len({r.outcome for _, r in named}) == 1:
            t, res = named[-1]
            return MatchResult(res.outcome, res.matched, f"{mark.kind}: {res.reason}", judged=t)
    return _score(text, answers, kind, question, members)[0]


def names_gold(response: str | None, answers: Sequence[str], *, answer_type: str | None = None) -> bool:
    """Whether the gold occurs anywhere in the reply: an alias in any spelling or script, or for a
    number the gold value in any digits or words, asserted or not ("not 8 but 6" names it)."""
    answers = list(answers)
    if not answers or not response:
        return False
    view = _View.of(response)
    kind = answer_type or _infer_type(answers)
    golds = {v for a in answers if (v := _alias_number(a)) is not None}
    if kind in ("number", "year") and golds:
        extra = {
            tuple(_alias_keys(a)): min(golds)
            for a in answers
            if parse_number(a) is None and not re.search(r"\d", fold_digits(a))
        }
        values = [v for *_, v in _numbers(view, {k: v for k, v in extra.items() if k})]
        return any(math.isclose(v, g, rel_tol=1e-9, abs_tol=1e-9) for v in values for g in golds)
    return bool(_gold_spans(view, answers))


def _score(
    text: str, answers: list[str], kind: str, question: str | None, members: Sequence[str]
) -> tuple[MatchResult, bool]:
    """(verdict on ``text``, whether it names any candidate answer)."""
    view = _View.of(text)
    unsure = bool(_UNSURE_RE.search(normalize(text)))
    if kind == "yesno":
        res = _score_yesno(view, answers, question, unsure)
        return res, res.reason not in (
            "no leading yes/no answer",
            "empty response",
            "no gold alias in response",
        )
    if kind in ("number", "year"):
        golds = sorted({v for a in answers if (v := _alias_number(a)) is not None})
        if golds:
            year = kind == "year" or all(_year_like(g) for g in golds)
            return _score_number(view, answers, golds, question, unsure, year)
    return _score_entity(view, answers, unsure, question, members)


def _class_members(answer_class: str | None, answers: Sequence[str]) -> tuple[str, ...]:
    if not answer_class:
        return ()
    from llm_eval.items import load_answer_classes

    classes = load_answer_classes()
    if answer_class not in classes:
        raise ValueError(f"`answer_class` must be one of {'|'.join(sorted(classes))}, got {answer_class!r}")
    gold = {tuple(_alias_keys(a)) for a in answers}
    return tuple(m for m in classes[answer_class] if tuple(_alias_keys(m)) not in gold)
