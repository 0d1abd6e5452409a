"""A reply read as words, clauses and focus units: the view the scorer's rules work on.

The text is folded (:mod:`llm_eval.textfold`; letter-spaced words joined), markdown emphasis and
headings dropped and contractions expanded ("isn't" -> "is not"), then split into words, numbers
and punctuation, each tagged with its sentence, its clause (split at ``, ; : ( )``, dashes, "but",
"however", ``लेकिन``, ``बल्कि`` ...), its line and whether that line is a list item.
:class:`ReplyView` adds the focus units (:attr:`ReplyView.units`) and asides in parentheses. The
word sets below are the ones more than one rule module needs; each is folded like the words it is
compared with.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from llm_eval.textfold import base_fold, join_spaced_letters, match_key

__all__ = [
    "AND_WORDS",
    "CONCLUDE",
    "NEG_POST",
    "NEG_PRE",
    "NO",
    "OR_WORDS",
    "STOP",
    "VERBS",
    "YES",
    "ReplyView",
    "Token",
    "key_words",
    "lex",
    "polarity",
    "punct_between",
    "same_noun",
    "tokenize",
]


def lex(words: str) -> frozenset[str]:
    """A word set folded like the response words it is compared with (:func:`tokenize`'s fold, then
    :func:`llm_eval.textfold.match_key`): ``हाँ`` = ``हां``, ``ज़्यादा`` = ``ज्यादा``."""
    return frozenset(match_key(w) for w in base_fold(words).split())


@dataclass(frozen=True)
class Token:
    """One word, number or punctuation character of a reply, with where it stands."""

    text: str  # normalized word / number, or one punctuation character
    kind: str  # "w" word, "n" number (digits), "p" punctuation
    sent: int  # sentence index
    seg: int  # clause index (global)
    line_bullet: bool  # the token's line is a bulleted / numbered list item
    line: int
    cap: bool = False  # written with a capital first letter (Latin script)


_SENT_END = set(".!?।॥")
_SEG_PUNCT = set(',;:()[]{}—–"“”')
_SEG_WORDS = lex(
    "but however although though whereas lekin लेकिन बल्कि balki magar मगर parantu परंतु kintu किंतु jabki जबकि"
)
_ABBREV = lex("dr mr mrs ms mt st vs approx no e g i jr sr prof")
_BULLET_RE = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")
_MD_RE = re.compile(r"\*\*|__|`|^#+\s*", re.MULTILINE)
_CONTRACTION_RE = re.compile(r"n['’]t\b", re.IGNORECASE)


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMN"


def tokenize(text: str) -> list[Token]:
    """The reply's tokens (see the module docstring)."""
    text = join_spaced_letters(base_fold(text, fold_case=False))
    text = _MD_RE.sub("", text)
    text = _CONTRACTION_RE.sub(" not", text)
    toks: list[Token] = []
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
                toks.append(Token(line[i:j].replace("−", "-"), "n", sent, seg, bullet, ln))
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
                toks.append(Token(w, "w", sent, seg, bullet, ln, raw[:1].isupper()))
                i = j
            elif ch.isspace():
                i += 1
            else:
                if ch in _SENT_END:
                    prev = toks[-1] if toks else None
                    abbrev = ch == "." and prev is not None and prev.kind == "w" and prev.text in _ABBREV
                    toks.append(Token(ch, "p", sent, seg, bullet, ln))
                    if not abbrev:
                        sent += 1
                        seg += 1
                else:
                    if ch in _SEG_PUNCT or (ch in "-" and i + 1 < n and line[i + 1] == " "):
                        seg += 1
                    toks.append(Token(ch, "p", sent, seg, bullet, ln))
                i += 1
    return toks


def key_words(text: str) -> list[str]:
    """The words and numbers of ``text``, each folded by :func:`llm_eval.textfold.match_key`."""
    return list(_key_words_of(text))


@functools.lru_cache(maxsize=256)
def _key_words_of(text: str) -> tuple[str, ...]:
    """Tokenized once per distinct text: every variant of an item is scored against one clean question,
    and tokenizing a 200 KB question takes about a second."""
    return tuple(match_key(t.text) for t in tokenize(text) if t.kind != "p")


# the words a yes/no answer leads with
YES = lex(
    "yes yeah yep yup yea correct true indeed absolutely definitely certainly sure right affirmative "
    "haan han haa ji हां हा जी bilkul बिल्कुल बिलकुल sahi सही"
)
NO = lex("no nope nah not false incorrect wrong नहीं नही nahi nahin nhi ना galat गलत")


def polarity(text: str) -> bool | None:
    """The answer a yes/no text leads with: True for a leading yes-word ("Yes, it is a star",
    ``जी हाँ``), False for a leading no-word or a yes-word then a no-word ("ji nahi", "absolutely
    not"); None when it opens with neither."""
    keys = key_words(text)
    if not keys or keys[0] not in YES | NO:
        return None
    return keys[0] in YES and not (len(keys) > 1 and keys[1] in NO)


# negations before a candidate ("not Paris") and after it (``पेरिस नहीं``)
NEG_PRE = lex("not never nor neither nahi nahin nhi नहीं नही unlike")
NEG_POST = lex("नहीं नही nahi nahin nhi")
# the words that join alternatives ("Mars or Venus", ``मंगल या शुक्र``) and items of a list
OR_WORDS = lex("or या ya athva अथवा nor")
AND_WORDS = lex("and और aur evam एवं")
# copulas and common verbs: never a candidate, and a list with one is a sentence, not a bare list
VERBS = lex(
    "is are was were be been has have had does do did called known named has है हैं था थे थी hai hain tha "
    "the thi hota hoti hote होता होती होते"
)
# function words and the question's wh-words: never part of a candidate
STOP = lex(
    "the a an of in on at to is are was were be do does did what which who how many much is it its this "
    "they he she we you i these those them his her their "
    "that there our your for from by with and or क्या है हैं का की के को में से एक kya hai hain ka ki ke ko "
    "mein me se ek kaun kitne kitna kitni कौन कितने कितना कितनी sa si se सा सी से kis किस"
)
_UNIT_PUNCT = set(";:()[]{}—–")
_SUBORD = lex("which who whom whose where when while whereas because although though jo jab jahan jisme "
               "jiska jiski jiske jinke jise jisne jinhe jinhone kyunki kyonki uske iske जो जब जहाँ जहां जिसमें जिसका जिसकी "
               "जिसके जिनके जिसे जिसने जिन्हें जिन्होंने क्योंकि उसके इसके "
               "so therefore thus hence toh isliye इसलिए अतः followed named called known located situated")  # fmt: skip
# a Hindi clause ends in its copula or auxiliary: "और" after one opens another clause ("CO2 लेते हैं और
# ऑक्सीजन छोड़ते हैं")
_CLAUSE_END = lex("है हैं था थी थे hai hain tha thi the")
# a unit that opens with one of these draws the conclusion ("..., so 8 in total")
CONCLUDE = lex("so therefore thus hence toh isliye इसलिए अतः तो")


@dataclass
class ReplyView:
    """A reply's tokens, its words (indices into ``toks``) and their match keys; ``tok(w)`` is word
    ``w``'s token. Rules address words by index and read clauses, sentences and focus units here."""

    toks: list[Token]
    words: list[int]  # indices into toks of word/number tokens
    keys: list[str]  # match_key of each word token

    @classmethod
    def of(cls, text: str) -> ReplyView:
        toks = tokenize(text)
        words = [i for i, t in enumerate(toks) if t.kind != "p"]
        return cls(toks, words, [match_key(toks[i].text) for i in words])

    def tok(self, w: int) -> Token:
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
        ``लेकिन`` ..., at ``और`` / "aur" after a Hindi clause's closing copula, and at a comma before a relative, causal or participial clause or a
        conclusion (", when", ", which", ``, जो``, ``, क्योंकि``, ", named", ", leading", ", so");
        after such a clause closes with a comma, the words belong to the unit it interrupted."""
        out: list[int] = []
        unit, prev_sent, comma, top = 0, -1, False, 0
        aside: int | None = None  # the unit a clause between commas interrupts (", which ..., is")
        prev = ""  # the previous word's key
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
            if (
                (prev_sent >= 0 and t.sent != prev_sent)
                or k in _SEG_WORDS
                or (k in AND_WORDS and prev in _CLAUSE_END)
            ):
                top += 1
                unit, aside = top, None
            elif comma and (k in _SUBORD or participle):
                top += 1
                aside = None if k in CONCLUDE else unit
                unit = top
            top = max(top, unit)
            comma, prev_sent, prev = False, t.sent, k
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


def punct_between(view: ReplyView, a: int, b: int) -> list[str]:
    """Punctuation tokens between word a and word b (a < b)."""
    return [view.toks[x].text for x in range(view.words[a] + 1, view.words[b]) if view.toks[x].kind == "p"]


def same_noun(a: str, b: str) -> bool:
    """The same word up to a plural / inflection ending (romanized "taara" = "tara")."""
    if a.isascii() and b.isascii():
        a, b = a.replace("aa", "a"), b.replace("aa", "a")
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 3 and long_.startswith(short) and len(long_) - len(short) <= 2
