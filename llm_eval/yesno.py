"""Whether a yes/no reply takes its leading answer back: "Sure, but it's actually a planet".

The item card reads a yes/no reply by its leading word (:func:`llm_eval.scoring.score_answer`). A
careful reader reads on: a leading "yes" followed by a *turn* that denies the claim is no yes. A
turn is a clause after the leading word that opens with a contrast ("but", "however", "though",
``लेकिन``, "lekin", ``मगर``; ``पर`` / "par" only where it opens a clause, since elsewhere it is the
postposition "on, at") or a correcting word ("actually", "in fact", "technically", ``असल में``,
``दरअसल``, "asal mein"). From there to the end of its sentence, the turn

- **denies** the question's predicate ("star" in "Is the Sun a star?") when a negation stands right
  next to it: "is not a star", "not mammals", ``तारा नहीं``, "tara nahi". In Hindi word order the
  predicate must open its clause or follow its subject, a pronoun or ``एक``: after a modifier
  ("sabse bada tara nahi", "not the biggest star") the negation denies something narrower;
- **affirms** it after a correcting word: "actually, it is a planet", "asal mein Pluto ek grah hai";
- **asserts something else** after a correcting word: a copula and a content word other than the
  predicate, "it's actually a planet", ``असल में सूर्य एक ग्रह है``.

A caveat is no turn: "Yes, but it's a fairly ordinary star", ``हाँ, पर वह स्तनधारी है``, "Yes,
though it lives in the sea".
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from llm_eval.reply_view import NEG_POST, NEG_PRE, NO, STOP, VERBS, YES, ReplyView, lex, same_noun

__all__ = ["Turn", "turn"]

Turn = Literal["denies", "affirms", "other"]

_CONTRAST = lex("but however though although yet lekin लेकिन magar मगर parantu परंतु परन्तु kintu किंतु किन्तु")
_CLAUSE_BUT = lex("par पर")  # "but" only where it opens a clause; elsewhere the postposition
_CORRECTING = lex("actually technically strictly darasal दरअसल asal असल vastav vaastav वास्तव")
_ARTICLES = lex("a an the ek एक")
_PRONOUNS = lex("it this that they yeh ye woh wo vo यह वह ये वे")
# words that may stand between a negation and the predicate without narrowing it: "not really a star"
_BETWEEN = _ARTICLES | lex("really actually truly technically strictly exactly considered called classed "
                           "classified as")  # fmt: skip
_EMPHASIS = lex("hi bhi ही भी")
_POSTPOSITION_IN = lex("mein me में")  # "asal mein", "असल में"
_COPULAS = lex("is are was were s है हैं था थी थे hai hain h tha thi")


def _in_fact(view: ReplyView, w: int) -> bool:
    return view.keys[w] == "in" and w + 1 < len(view.keys) and view.keys[w + 1] == "fact"


def _opens_turn(view: ReplyView, w: int, start: int) -> tuple[bool, bool]:
    """(word ``w`` opens a turn, it is a correcting word)."""
    k = view.keys[w]
    if k in _CORRECTING or _in_fact(view, w):
        return True, True
    if k in _CONTRAST:
        return True, False
    clause_start = w == start or view.tok(w - 1).seg != view.tok(w).seg
    return k in _CLAUSE_BUT and clause_start, False


def _fronted(view: ReplyView, p: int, lo: int, qkeys: Collection[str]) -> bool:
    """In Hindi order the predicate at word ``p`` opens its clause or follows its subject, a
    pronoun, ``एक`` or the turn's own words, never a modifier."""
    if p == lo or view.tok(p - 1).seg != view.tok(p).seg:
        return True
    before = view.keys[p - 1]
    return (
        before in _ARTICLES
        or before in _PRONOUNS
        or before in qkeys
        or before in _POSTPOSITION_IN
        or before in _CONTRAST | _CLAUSE_BUT | _CORRECTING
    )


def _denied(view: ReplyView, p: int, lo: int, qkeys: Collection[str]) -> bool:
    """A negation right next to the predicate at ``p``: "not (a) star", ``तारा नहीं``."""
    w = p - 1
    while w >= lo and view.keys[w] in _BETWEEN and p - w <= 3:
        w -= 1
    if w >= lo and view.keys[w] in NEG_PRE | lex("no") and view.tok(w).sent == view.tok(p).sent:
        return True
    nxt = p + 1
    while nxt < len(view.keys) and view.keys[nxt] in _EMPHASIS:
        nxt += 1
    return (
        nxt < len(view.keys)
        and view.keys[nxt] in NEG_POST
        and view.tok(nxt).seg == view.tok(p).seg
        and _fronted(view, p, lo, qkeys)
    )


def _affirmed(view: ReplyView, p: int, lo: int, qkeys: Collection[str]) -> bool:
    """The predicate at ``p`` as the complement of a copula: "is (actually) a planet", "ek grah hai"."""
    w = p - 1
    while w >= lo and view.keys[w] in _ARTICLES | _CORRECTING:
        w -= 1
    if w >= lo and view.keys[w] in _COPULAS:
        return True
    nxt = p + 1
    while nxt < len(view.keys) and view.keys[nxt] in _EMPHASIS:
        nxt += 1
    return nxt < len(view.keys) and view.keys[nxt] in _COPULAS and _fronted(view, p, lo, qkeys)


def _content(key: str, qkeys: Collection[str]) -> bool:
    """A word that can name what something is: not a function word, marker or word of the question."""
    small = STOP | VERBS | YES | NO | NEG_PRE | _COPULAS | _ARTICLES | _PRONOUNS | _BETWEEN | _EMPHASIS
    return len(key) > 1 and key not in small | _CONTRAST | _CLAUSE_BUT | _CORRECTING and key not in qkeys


def turn(view: ReplyView, start: int, predicate: str | None, qkeys: Collection[str]) -> Turn | None:
    """How a turn after the leading answer (which ends before word ``start``) bears on the
    question's ``predicate`` (a match key; ``qkeys`` are the question's words), or None when the
    reply takes no turn (see the module docstring). "denies" comes before "affirms", and both
    before "other"."""
    found: set[Turn] = set()
    sentences: dict[int, list[int]] = {}
    for w in range(start, len(view.words)):
        sentences.setdefault(view.tok(w).sent, []).append(w)
    for words in sentences.values():
        opened = [(w, corr) for w in words for opens, corr in [_opens_turn(view, w, start)] if opens]
        if not opened:
            continue
        lo = opened[0][0]
        scope = [w for w in words if w >= lo]
        correcting = any(corr for w, corr in opened)
        preds = [w for w in scope if predicate and same_noun(view.keys[w], predicate)]
        if any(_denied(view, p, lo, qkeys) for p in preds):
            found.add("denies")
        elif correcting and any(_affirmed(view, p, lo, qkeys) for p in preds):
            found.add("affirms")
        elif (
            correcting
            and not preds
            and any(view.keys[w] in _COPULAS for w in scope)
            and any(_content(view.keys[w], qkeys) for w in scope)
        ):
            found.add("other")
    order: tuple[Turn, ...] = ("denies", "affirms", "other")
    return next((kind for kind in order if kind in found), None)
