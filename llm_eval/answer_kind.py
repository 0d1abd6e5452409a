"""Which words could answer the question: a rival answer is of the question's kind.

A word named beside the gold counts as another candidate (:mod:`llm_eval.scoring`) only when it
could be an answer to the question:

- beside a question that asks *who* and a gold that is a person's name, never a word that names no
  person (:data:`llm_eval.lexicon.NOT_A_PERSON`: "the Soviet cosmonaut", "the Latin word", "on the
  Moon") nor a name followed by a number, which designates a craft, a mission or a model ("Apollo
  11", "Vostok 1");
- beside a gold written as a code (a chemical symbol or formula: "Au", "H2O", "CO2"), only another
  code ("Ag", "H2O2", ``एच2ओ2``), never a word ("from the Latin *aurum*", ``अणु``, ``हाइड्रोजन``);
- never the question's own word in another language (:data:`llm_eval.lexicon.SAME_WORD`: ``भारत``
  for "India", "Moon" for "chaand").

The lists are generic: they hold no item's answer. A member of the item's answer class is a rival
whatever this module says.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from llm_eval.lexicon import NOT_A_PERSON, SAME_WORD
from llm_eval.reply_view import ReplyView, key_words, lex, punct_between

__all__ = ["code_gold", "could_answer", "person_question", "question_keys", "question_word_forms"]

_NOT_A_PERSON = lex(" ".join(NOT_A_PERSON))
_SAME_WORD = tuple(lex(" ".join(group)) for group in SAME_WORD)
_WHO = lex("who whom whose किसने kisne")
_KAUN = lex("kaun कौन")
_WHICH_ONE = lex("sa si se सा सी से")  # "kaun sa": which, not who
_KIS, _NE = lex("kis किस"), lex("ne ने")
# a chemical symbol or formula: capitalized element symbols, each with an optional count
_CODE_RE = re.compile(r"(?:[A-Z][a-z]?\d*)+")
_NAME_WORD_RE = re.compile(r"[A-Z][a-z]+")


def question_word_forms(question: str | None) -> dict[str, str]:
    """Each of the question's words, and each of its forms in the other languages it is commonly
    written in, -> the question's own word (``भारत`` -> "india" for a question that says "India")."""
    keys = key_words(question) if question else []
    forms = {k: k for k in keys}
    for group in _SAME_WORD:
        own = next((k for k in keys if k in group), None)
        if own is not None:
            forms.update({w: own for w in group if w not in forms})
    return forms


def question_keys(question: str | None) -> set[str]:
    """The question's words, each also in the other languages it is commonly written in."""
    return set(question_word_forms(question))


def person_question(question: str | None, answers: Sequence[str]) -> bool:
    """The question asks *who* ("who", "kaun", ``किसने``; not "kaun sa", which) and the gold is a
    person's name: an alias of at least two Latin words, the first and last capitalized ("Yuri Gagarin", "Leonardo da Vinci")."""
    keys = key_words(question) if question else []
    asks_who = any(
        k in _WHO
        or (k in _KAUN and (i + 1 >= len(keys) or keys[i + 1] not in _WHICH_ONE))
        or (k in _KIS and i + 1 < len(keys) and keys[i + 1] in _NE)
        for i, k in enumerate(keys)
    )
    named = any(
        len(ws := a.split()) >= 2 and all(_NAME_WORD_RE.fullmatch(w) for w in (ws[0], ws[-1]))
        for a in answers
    )
    return asks_who and named


def _is_code(text: str) -> bool:
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return bool(_CODE_RE.fullmatch(text)) and len(text) <= 8
    return any(ch.isdigit() for ch in text) and any(ch.isalpha() for ch in text)


def code_gold(answers: Sequence[str]) -> bool:
    """Every Latin-script alias is a chemical symbol or formula ("Au"; "H2O", "H₂O")."""
    latin = [unicodedata.normalize("NFKC", a).strip() for a in answers]
    latin = [a for a in latin if a.isascii()]
    return bool(latin) and all(_is_code(a) for a in latin)


def _code_word(view: ReplyView, w: int) -> bool:
    """Word ``w`` may be a symbol or formula: letters glued to digits ("H2O2", ``एच2ओ``), or a short
    capitalized Latin word ("Ag", "NaCl"; the reply's case is folded, so "Rome" may be one too)."""
    t = view.tok(w)
    if any(ch.isdigit() for ch in t.text):
        return any(ch.isalpha() for ch in t.text)
    return t.text.isascii() and t.cap and len(t.text) <= 4


def could_answer(view: ReplyView, w: int, person: bool, code: bool) -> bool:
    """Whether word ``w`` could be an answer of the question's kind (see the module docstring):
    ``person`` for a *who* question with a person's name as gold, ``code`` for a gold written as a
    symbol or formula."""
    if code:
        return _code_word(view, w)
    if person:
        if view.keys[w] in _NOT_A_PERSON:
            return False
        nxt = w + 1
        if nxt < len(view.words) and view.tok(nxt).kind == "n" and set(punct_between(view, w, nxt)) <= {"-"}:
            return False  # "Apollo 11", "Vostok 1", "Chandrayaan-3": a craft or a mission
    return True
