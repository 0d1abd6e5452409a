"""Answer scoring for short factual answers in English, Devanagari Hindi and romanized Hindi.

The scorer reads the answer a response *asserts*, not every string in it. It is rule-based and
deterministic (see also README, "Scoring"). The answer a reply marks is judged first
(:mod:`llm_eval.extract`: a boxed value, an ``Answer:`` line, "the answer is ...", bold, a short
last line); the whole reply only when it marks none that names a candidate. A reply that takes a
candidate back ("Paris. Actually, no: Lyon.", "56? No. 54.", "Sydney — no wait, Canberra.", "Tokyo
— sorry, Kyoto.", ``मुंबई, माफ़ कीजिए, नई दिल्ली``; :func:`llm_eval.extract.split_at_correction`) is
judged on what it says after its last self-correction; taken back with nothing named instead, it is
never CORRECT.

Normalization (:mod:`llm_eval.textfold`): Unicode NFKC (folds fullwidth forms), removal of
zero-width characters, every script's digits -> ASCII, casefold, markdown emphasis dropped,
contractions expanded ("isn't" -> "is not"), letter-spaced Latin words joined ("C a n b e r r a",
also right before a Devanagari word). A one-word Devanagari alias split in two at a syllable
(``टो क्यो``) matches when at least one piece is no word on its own. For
matching, Devanagari spelling variants are folded: candrabindu -> anusvara, nukta dropped,
``ऑ``/``ॉ`` -> ``आ``/``ा``, long and short i/u merged (``वाल्मिकी`` = ``वाल्मीकि``); romanized
``ee``/``oo`` -> ``i``/``u``. An alias's last word also matches its inflected forms: English
plural ``-s``/``-es`` and the Hindi oblique/feminine ``-ा`` -> ``-े``/``-ी`` (``हरा``: ``हरे``, ``हरी``).

The response is read as words, clauses and focus units (:mod:`llm_eval.reply_view`). The verdict
has three values, and CORRECT is said only when sure:

- **CORRECT**: a gold occurrence is asserted -- neither negated nor one of several candidates
  (:mod:`llm_eval.candidates`) -- and the reply names no *rival* of the item's answer type, or
  offers the gold, not the rival, as its answer (:func:`llm_eval.candidates.focus`);
- **WRONG**: no gold alias (for numbers: no gold value) occurs, or the reply offers a rival as its
  answer with the gold only in context or negated;
- **UNRESOLVED**: everything else. Rules written against one set of answers always meet the next
  set, so a reply the rules cannot be sure of is left to the model grader (``--scorer auto``) or
  counted apart, never guessed.

Rivals, by answer type (``answer_type=``; inferred from the gold when absent):

- **entity / short text**: another name: a capitalized Latin word that is not in the question, not
  part of a gold occurrence and not a common sentence word (:mod:`llm_eval.lexicon`); in Devanagari,
  which has no case, any word outside the question, the gold and the common-word list; and any member
  of the item's answer class (``answer_class=``: "oxygen" beside "carbon dioxide"). A rival that is
  itself negated ("Canberra, not Sydney") is not asserted. A rival must be of the question's kind
  (:mod:`llm_eval.answer_kind`): beside a *who* question and a person's name, no nationality,
  language or sky word ("the Soviet cosmonaut", "the Moon") and no craft with its number ("Apollo
  11"); beside a symbol or formula ("Au", "H2O"), only another code; never the question's word in
  another language (``भारत`` for "India").
- **number / year**: numbers are read by value (:mod:`llm_eval.numbers`: any script's digits,
  ``1,00,000``, ``$29.00``, decimals, English and Hindi number words, the item's word aliases). The
  question's own numbers, the operands of a worked calculation, ordinals, numbers in another unit
  than the question's and the gold's ("212 °F" for a Celsius question; also the gold's value,
  "100 °F", which is WRONG), the question's given quantity restated in its unit, in digits or words
  ("one litre" / ``एक लीटर`` / "ek litre" beside a question that asks for kilograms) and the article
  "one" / ``एक`` are set aside; for a number, bare years
  are set aside; for a year, only years count (a day of the month is no rival). Any other
  non-negated number is a rival.
- **yes/no** (the card's rule: the *leading* answer): a leading yes-word (yes, haan, हाँ, ji,
  absolutely, ...) is yes and a leading no-word is no, unless the reply takes it back after a turn
  (:mod:`llm_eval.yesno`: "Sure, but it's actually a planet" is UNRESOLVED; "Yes, but it is not a
  star" is no yes, WRONG when the gold is yes); a reply that starts with neither is read as a
  statement: the clause that names the question's predicate ("star" in "Is the Sun a star?") is
  yes unless negated. No answer found, or yes and no together, is UNRESOLVED.

A hedge ("probably", "I think", ``shayad``, ``शायद``, ``sure नहीं``) with the gold as the only
candidate is that answer (CORRECT, as SimpleQA grades it), and so it is when every other candidate is
one the reply ranks below the gold outside the hedge's clause ("I believe it was Armstrong. Aldrin
followed later."); beside another candidate, or with a rival offered as possible ("it might be
Venus"), it is UNRESOLVED (:mod:`llm_eval.candidates`). A gold alias
also matches the same name in another script or romanization (:mod:`llm_eval.translit`). A response
that says UNSURE and names no gold answer is UNSURE: resolved, not correct, counted apart.
Provider errors never reach this module: they are excluded and counted by the analysis.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from llm_eval.answer_kind import code_gold, could_answer, person_question, question_keys
from llm_eval.candidates import (
    HEDGE_WORDS,
    focus,
    hedge_phrase,
    hedge_units,
    is_alternative,
    negated,
    offered_as_possible,
    ranked_below,
)
from llm_eval.extract import final_answer_line, marked_answers, split_at_correction
from llm_eval.langid import HINGLISH_LEXICON
from llm_eval.lexicon import EN_COMMON_CAPITALIZED, HINDI_COMMON, INDEFINITE_ONE
from llm_eval.numbers import is_number_word, parse_number, unit_of, word_numbers
from llm_eval.reply_view import (
    AND_WORDS,
    NEG_POST,
    NEG_PRE,
    NO,
    OR_WORDS,
    STOP,
    VERBS,
    YES,
    ReplyView,
    key_words,
    lex,
    polarity,
    punct_between,
    same_noun,
)
from llm_eval.textfold import base_fold, fold_digits, match_key, normalize
from llm_eval.translit import same_name
from llm_eval.yesno import turn

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


def _number_token_values(tok: str) -> list[float]:
    v = parse_number(tok)
    if v is not None:
        return [v]
    # "25,30" as a list, or a trailing sentence dot glued on: take the parts
    return [float(p) for p in tok.split(",") if re.fullmatch(r"[-+]?\d+(\.\d+)?", p)]


def extract_numbers(text: str) -> list[float]:
    """Every number written with digits in the text (either digit system), as floats."""
    s = base_fold(text)
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


_EN_COMMON = lex(
    " ".join(EN_COMMON_CAPITALIZED | HINGLISH_LEXICON)
    + " dr mr mrs ms mt st prof sri shri bc ad ce bce january "
    "february march april may june july august september october november december"
)
_HINDI_COMMON = lex(" ".join(HINDI_COMMON))
_HINDI_STEMS = frozenset(w[:-1] if w[-1] in "ाेीिो" else w for w in _HINDI_COMMON)
_ORDINAL_SUFFIX = lex("th st nd rd वां वीं वें va vi ve")
_INDEFINITE_ONE = lex(" ".join(INDEFINITE_ONE))


def _alias_keys(alias: str) -> list[str]:
    return key_words(alias)


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


def _find(view: ReplyView, alias: list[str]) -> list[tuple[int, int]]:
    k = len(alias)
    out = []
    for i in range(len(view.keys) - k + 1):
        if all(_inflected(view.keys[i + j], alias[j], j == k - 1) for j in range(k)):
            out.append((i, i + k))
    return out


# fixed phrases that contain an alias word with another meaning: "aam taur par" = "usually", not "mango"
_IDIOMS = {
    match_key(k): lex(v) for k, v in {"aam": "taur tor aadmi log janta", "आम": "तौर आदमी लोग जनता"}.items()
}


def _gold_spans(
    view: ReplyView, answers: Sequence[str], question: str | None = None
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
    qkeys = set(key_words(question)) if question else set()
    # the longest names first: "Ravindranath Taigor" is "Ravindranath Tagore", not a name and "Tagore"
    for a in sorted(answers, key=lambda a: -len(_alias_keys(a))):
        keys = _alias_keys(a)
        if not keys or any(ch.isdigit() for k in keys for ch in k):
            continue
        k = len(keys)
        for i in range(len(view.keys) - k + 1):
            window = view.keys[i : i + k]
            if any(i < e and s < i + k for s, e, _ in spans):
                continue
            if any(w in qkeys or w in STOP or w in _EN_COMMON or _hindi_known(w) for w in window):
                continue
            if all(view.tok(i + j).kind == "w" for j in range(k)) and same_name(window, keys):
                spans.append((i, i + k, a))
    spans.extend(_split_spans(view, answers, spans, qkeys))
    return spans


def _word_like(key: str) -> bool:
    """A Devanagari piece that is a word on its own (a common word, a function word, a number)."""
    return _hindi_known(key) or key in STOP | VERBS | YES | NO | HEDGE_WORDS or is_number_word(key)


def _split_spans(view: ReplyView, answers: Sequence[str], spans: list[tuple[int, int, str]],
                 qkeys: set[str]) -> list[tuple[int, int, str]]:  # fmt: skip
    """A one-word Devanagari alias written in two pieces with a space between (``टो क्यो`` for
    ``टोक्यो``, as a word is split at a syllable): the two adjacent Devanagari words of one clause
    that join into the alias, at least one of them no word on its own, neither a word of the
    question. Two real words that happen to join into the gold are read as written."""
    out: list[tuple[int, int, str]] = []
    aliases = [
        (keys[0], a) for a in answers if len(keys := _alias_keys(a)) == 1 and _is_devanagari_word(keys[0])
    ]
    for i in range(len(view.keys) - 1):
        a, b = view.keys[i], view.keys[i + 1]
        if not (_is_devanagari_word(a) and _is_devanagari_word(b)):
            continue
        if punct_between(view, i, i + 1) or view.tok(i).seg != view.tok(i + 1).seg:
            continue
        if (_word_like(a) and _word_like(b)) or a in qkeys or b in qkeys:
            continue
        if any(s < i + 2 and i < e for s, e, _ in spans + out):
            continue
        hit = next((alias for key, alias in aliases if len(key) > 3 and _inflected(a + b, key, True)), None)
        if hit is not None:
            out.append((i, i + 2, hit))
    return out


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
    return key in qkeys or any(same_noun(key, q) or _stem(key) == _stem(q) for q in qkeys if len(q) > 2)


def _entity_rivals(view: ReplyView, spans: list[tuple[int, int, str]], question: str | None,
                   members: Sequence[str], answers: Sequence[str]) -> list[tuple[int, int, str]]:  # fmt: skip
    """Other candidate answers named in the reply and not negated, as (start, end, text): a
    capitalized Latin name, a Devanagari word outside the common-word list, or a member of the
    item's answer class; none of them a word of the question (in any language) or of a gold
    occurrence, and each but the class members of the question's kind
    (:func:`llm_eval.answer_kind.could_answer`)."""
    qkeys = question_keys(question)
    person, code = person_question(question, answers), code_gold(answers)
    out: list[tuple[int, int, str]] = []
    for w in range(len(view.words)):
        t = view.tok(w)
        k = view.keys[w]
        if t.kind != "w" or any(s <= w < e for s, e, _ in spans) or _in_question(k, qkeys):
            continue
        if is_number_word(k) or len(k) < 2 or any(same_name([k], [q]) for q in qkeys):
            continue  # a number word is no entity; a question word in another script no rival
        if _is_devanagari_word(k):
            rival = not _hindi_known(k) and k not in STOP | VERBS | YES | NO | HEDGE_WORDS
        else:
            rival = t.cap and not (
                k in _EN_COMMON or k in STOP or k in VERBS or k in YES | NO or k in HEDGE_WORDS
            )
        if rival and could_answer(view, w, person, code) and not negated(view, w, w + 1, question):
            out.append((w, w + 1, t.text))
    gold_keys = {tuple(_alias_keys(a)) for _, _, a in spans}
    for m in members:
        keys = _alias_keys(m)
        if not keys or tuple(keys) in gold_keys or all(_in_question(k, qkeys) for k in keys):
            continue
        for s, e in _find(view, keys):
            if not any(a < e and s < b for a, b, _ in spans) and not negated(view, s, e, question):
                out.append((s, e, m))
    return out


def _decide(view: ReplyView, gold: str, golds: list[tuple[int, int]], rivals: list[tuple[int, int, str]],
            question: str | None, unsure: bool, what: str) -> MatchResult:  # fmt: skip
    """The gold is asserted: CORRECT when no rival is named, or when the reply's focus is on the
    gold and it does not hedge; WRONG when its focus is on a rival; else UNRESOLVED."""
    if not rivals:
        return _sure(view, gold, unsure, f"{what} match, no other candidate")
    offered = focus(view, golds, [(s, e) for s, e, _ in rivals], question)
    hedge = hedge_phrase(view)
    possible = any(offered_as_possible(view, s, e) for s, e, _ in rivals)
    if offered == "gold" and hedge and not unsure and not possible:
        # one answer given with doubt, the others ranked below it outside the hedge's clauses: "I
        # believe it was Armstrong. Aldrin followed him later."
        hedged = hedge_units(view)
        if all(ranked_below(view, s, e, question) and view.units[s] not in hedged for s, e, _ in rivals):
            return MatchResult(
                Outcome.CORRECT, gold, f"{what} match (hedged: {hedge}); other candidates ranked below"
            )
    if offered is None or hedge or unsure or possible:
        why = f"hedged ({hedge})" if hedge and offered else f"another candidate named: {rivals[0][2]}"
        return MatchResult(Outcome.UNRESOLVED, gold, why)
    if offered == "rival":
        return MatchResult(Outcome.WRONG, None, f"answers {rivals[0][2]}; the gold only in context")
    return MatchResult(Outcome.CORRECT, gold, f"{what} match; other candidates only in context")


def _score_entity(view: ReplyView, answers: Sequence[str], unsure: bool, question: str | None,
                  members: Sequence[str]) -> tuple[MatchResult, bool]:  # fmt: skip
    """(verdict, whether the text names any candidate answer at all)."""
    spans = _gold_spans(view, answers, question)
    rivals = _entity_rivals(view, spans, question, members, answers)
    if not spans:
        return _no_match(view, unsure), bool(rivals)
    qk = key_words(question) if question else []
    singular_q = bool(qk) and bool(set(qk[:4]) & lex("is was")) and not set(qk[:4]) & lex("are were")
    # a negated occurrence is no candidate, also in a list: "Not Canberra or Melbourne -- Sydney."
    listed = [
        (s, e, a)
        for s, e, a in sorted(spans)
        if not negated(view, s, e, question) and is_alternative(view, spans, s, e, singular_q)
    ]
    asserted = [
        (s, e, a)
        for s, e, a in sorted(spans)
        if not negated(view, s, e, question) and (s, e, a) not in listed
    ]
    if not asserted:
        if rivals and not listed and not hedge_phrase(view):
            return MatchResult(Outcome.WRONG, None, f"gold only negated; answers {rivals[0][2]}"), True
        return MatchResult(Outcome.UNRESOLVED, spans[0][2], "gold only negated or among candidates"), True
    golds = [(s, e) for s, e, _ in asserted]
    return _decide(view, asserted[0][2], golds, rivals, question, unsure, "alias"), True


def _sure(view: ReplyView, gold: str, unsure: bool, reason: str) -> MatchResult:
    """The gold and no other candidate: CORRECT, also when hedged ("I think it's Canberra": one
    answer, given with doubt), unless the reply also says UNSURE."""
    if unsure:
        return MatchResult(Outcome.UNRESOLVED, gold, "names the gold and says UNSURE")
    hedge = hedge_phrase(view)
    return MatchResult(Outcome.CORRECT, gold, reason + (f" (hedged: {hedge})" if hedge else ""))


def _no_match(view: ReplyView, unsure: bool) -> MatchResult:
    if unsure:
        return MatchResult(Outcome.UNSURE, None, "said UNSURE")
    if not view.words:
        return MatchResult(Outcome.WRONG, None, "empty response")
    return MatchResult(Outcome.WRONG, None, "no gold alias in response")


def _numbers(view: ReplyView, extra: dict[tuple[str, ...], float]) -> list[tuple[int, int, float]]:
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
    # no number goes on across punctuation other than a hyphen: "nineteen, forty-five" is two
    breaks = {
        w
        for w in range(1, len(view.words))
        if set(punct_between(view, w - 1, w)) - {"-"} or view.tok(w).sent != view.tok(w - 1).sent
    }
    wn = word_numbers(view.keys, extra, breaks)
    out.extend((i, i + k, v) for i, (k, v) in wn.items())
    return sorted(out)


def _year_like(v: float) -> bool:
    return v.is_integer() and 1000 <= v <= 2100


def _alias_number(alias: str) -> float | None:
    """The value a numeric alias leads with: "25", "25%", "100 degrees Celsius", "6.1-inch", "eight
    legs", ``सात``; None for other words."""
    v = parse_number(alias)
    if v is not None:
        return v
    m = re.match(r"\s*([-−]?\d+(?:[.,]\d+)*)", fold_digits(unicodedata.normalize("NFKC", alias)))
    if m:
        return parse_number(m.group(1))
    lead = word_numbers(_alias_keys(alias), {}).get(0)  # "eight", "eight legs", "सात"
    return lead[1] if lead is not None else None


_DEGREE = lex("degree degrees deg डिग्री")
_OPERATORS = set("×÷+−*/=")
_TIMES = lex("x times into")


def _operand(view: ReplyView, s: int, e: int) -> bool:
    """A number written as an operand of a calculation ("8 × 12 = 96": 8 and 12; "60 minutes × 60
    seconds"), not its result."""
    nxt = e + (e < len(view.words) and view.tok(e).kind == "w" and unit_of(view.keys[e]) is not None)
    if nxt < len(view.words):
        if set(punct_between(view, nxt - 1, nxt)) & (_OPERATORS - {"="}):
            return True
        if view.keys[nxt] in _TIMES and nxt + 1 < len(view.words) and view.tok(nxt + 1).kind == "n":
            return True
    if s > 0 and set(punct_between(view, s - 1, s)) & (_OPERATORS - {"="}):
        return True
    return s > 1 and view.keys[s - 1] in _TIMES and view.tok(s - 2).kind == "n"


def _units_named(keys: Iterable[str]) -> set[str]:
    return {u for k in keys if (u := unit_of(k)) is not None}


def _unit_after(view: ReplyView, e: int) -> str | None:
    """The unit written after the number that ends before word ``e`` ("100 °F", "212 degree
    Fahrenheit", "8,849 फ़ीट"), or None."""
    nxt = view.keys[e] if e < len(view.keys) else ""
    if nxt in _DEGREE and e + 1 < len(view.keys):
        return unit_of(view.keys[e + 1])  # "212 डिग्री फ़ारेनहाइट", "212 degree Fahrenheit"
    return unit_of(nxt)


def _other_unit(view: ReplyView, e: int, own_units: set[str]) -> str | None:
    """The unit after the number ending before word ``e`` when the question or the gold names units
    and this is none of them, else None. A bare number keeps its reading."""
    unit = _unit_after(view, e)
    return unit if unit is not None and own_units and unit not in own_units else None


def _own_units(answers: Sequence[str], question: str | None) -> set[str]:
    """The units the answer is asked for in: the gold's aliases' and the question's, except a unit
    the question gives a quantity in ("one litre" in "How much does one litre of water weigh, in
    kilograms?", ``एक लीटर``): that quantity restated ("one litre", "ek litre") is the question's,
    not the answer. A question whose every unit measures a given quantity keeps them all."""
    gold = _units_named(k for a in answers for k in _alias_keys(a))
    if not question:
        return gold
    view = ReplyView.of(question)
    given = set()  # the positions of the unit words right after a number of the question
    for _, e, _ in _numbers(view, {}):
        at = e + 1 if e < len(view.keys) and view.keys[e] in _DEGREE else e
        if _unit_after(view, e) is not None:
            given.add(at)
    asked = {u for w, k in enumerate(view.keys) if w not in given and (u := unit_of(k)) is not None}
    return gold | asked if gold | asked else gold | _units_named(view.keys)


def _is_gold_number(v: float, golds: Sequence[float]) -> bool:
    return any(math.isclose(v, g, rel_tol=1e-9, abs_tol=1e-9) for g in golds)


def _number_candidates(view: ReplyView, answers: Sequence[str], golds: list[float], question: str | None,
                       year: bool) -> list[tuple[int, int, float, bool]]:  # fmt: skip
    """(start, end, value, negated) of every number of the answer's kind (years for a year, other
    numbers otherwise) that is not the question's own, not an operand of a calculation, not in
    another unit and not the indefinite "one"."""

    def is_gold(v: float) -> bool:
        return _is_gold_number(v, golds)

    extra: dict[tuple[str, ...], float] = {}
    for a in answers:
        if parse_number(a) is None and not re.search(r"\d", fold_digits(a)):
            keys = tuple(_alias_keys(a))
            if keys:
                extra[keys] = _alias_number(answers[0]) or golds[0]
    qnums: set[float] = set()
    # the units the question and the gold speak in; a number in any other unit is another quantity
    own_units = _own_units(answers, question)
    if question:
        qnums = {v for *_, v in _numbers(ReplyView.of(question), {})}
    cands: list[tuple[int, int, float, bool]] = []
    for s, e, v in _numbers(view, extra):
        nxt = view.keys[e] if e < len(view.keys) else ""
        if _other_unit(view, e, own_units):
            # "212 °F", "1,440 minutes": the same quantity, or another one, in another unit; the gold's
            # value in another unit is another quantity too ("100 °F" for 100 °C, "8,849 feet")
            continue
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
        cands.append((s, e, v, negated(view, s, e, question)))
    return cands


def _score_number(view: ReplyView, answers: Sequence[str], golds: list[float], question: str | None,
                  unsure: bool, year: bool) -> tuple[MatchResult, bool]:  # fmt: skip
    """The gold among the reply's candidate numbers (:func:`_number_candidates`) and no other ->
    CORRECT; the gold not among them -> WRONG; the gold beside others -> decided by the reply's
    focus (:func:`_decide`)."""

    def is_gold(v: float) -> bool:
        return _is_gold_number(v, golds)

    cands = _number_candidates(view, answers, golds, question, year)
    hits = [c for c in cands if is_gold(c[2])]
    named = bool(cands)
    if not hits:
        if unsure:
            return MatchResult(Outcome.UNSURE, None, "said UNSURE"), named
        others = [c[2] for c in cands if not c[3]]
        why = f"asserted {others[0]:g}, gold {golds[0]:g}" if others else "no gold number in response"
        own = _own_units(answers, question)
        elsewhere = [u for s, e, v in _numbers(view, {}) if is_gold(v) and (u := _other_unit(view, e, own))]
        if not others and elsewhere:  # "100 °F" for 100 °C: it names a candidate, and not the gold
            return MatchResult(
                Outcome.WRONG, None, f"the gold value only in another unit ({elsewhere[0]})"
            ), True
        return MatchResult(Outcome.WRONG, None, why), named
    rivals = [(c[0], c[1], f"{c[2]:g}") for c in cands if not is_gold(c[2]) and not c[3]]
    gold = _fmt_num(hits[0][2], answers)
    asserted = [(c[0], c[1]) for c in hits if not c[3]]
    if not asserted:
        if rivals and not hedge_phrase(view):
            return MatchResult(Outcome.WRONG, None, f"gold number only negated; answers {rivals[0][2]}"), True
        return MatchResult(Outcome.UNRESOLVED, gold, "gold number only negated"), True
    return _decide(view, gold, asserted, rivals, question, unsure, "number"), True


def _fmt_num(gold: float, answers: Sequence[str]) -> str:
    return next((a for a in answers if _alias_number(a) == gold), answers[0])


def _predicate(question: str | None) -> list[str]:
    if not question:
        return []
    content = [k for k in key_words(question) if k not in STOP and k not in VERBS]
    return content[-1:]


_QUESTION_OPENERS = lex("kya क्या is are does do did was")
_NOT_ONLY = lex("only just merely")


def _score_yesno(view: ReplyView, answers: Sequence[str], question: str | None, unsure: bool) -> MatchResult:
    gold_yes = any(polarity(a) for a in answers)  # "Yes, it is a star" leads with yes
    if not view.words:
        return _no_match(view, unsure)
    first_sent = view.tok(0).sent
    sent_words = view.by_sent[first_sent]
    keys = [view.keys[w] for w in sent_words]
    said: bool | None = None
    lead_end = 0  # the words of the leading answer, when the reply leads with one
    lead = 2 if keys[:2] == ["of", "course"] else 1 if keys[0] in YES else 0
    if lead and len(keys) > lead and keys[lead] in NO and not punct_between(view, sent_words[lead - 1],
                                                                             sent_words[lead]):  # fmt: skip
        # the polite particle or intensifier, then no: "ji nahi", "जी नहीं", "absolutely not", "of
        # course not"; after a comma the no-word opens the explanation ("Yes, not a planet but a star")
        said, lead_end = False, lead + 1
    elif lead:
        said, lead_end = not (len(keys) >= 3 and keys[1] in AND_WORDS | OR_WORDS and keys[2] in NO), lead
        if not said:
            return MatchResult(Outcome.UNRESOLVED, None, "yes and no")
    elif keys[0] in NO and not (len(keys) > 1 and keys[1] in _NOT_ONLY):
        said, lead_end = False, 1  # "Not only is it a star, ..." opens no answer
    else:
        pred = _predicate(question)
        # a sentence that asks (ends in "?" or opens like a question) asserts nothing
        questions = {t.sent for t in view.toks if t.text == "?"}
        for w in range(len(view.words)):
            opens = w == 0 or view.tok(w - 1).sent != view.tok(w).sent
            if opens and view.keys[w] in _QUESTION_OPENERS:
                questions.add(view.tok(w).sent)
        for w in range(len(view.words)):
            if pred and same_noun(view.keys[w], pred[0]) and view.tok(w).sent not in questions:
                seg_keys = [view.keys[x] for x in view.by_seg[view.tok(w).seg]]
                nxt = [*seg_keys[1:], ""]
                if any((k in NEG_PRE or k in NEG_POST or k == "no") and n not in _NOT_ONLY
                       for k, n in zip(seg_keys, nxt, strict=True)):  # fmt: skip
                    said = False
                    break
                if set(seg_keys) & lex("is are was were s है हैं था hai hain h tha"):
                    said = True
                    break
                # "... orbits our star": the predicate is not what the clause asserts; read on
        if said is None:
            polar = [k for k in keys if k in YES or k in NO]
            if polar:
                said = polar[0] in YES
    if said is None:
        if unsure:
            return MatchResult(Outcome.UNSURE, None, "said UNSURE")
        return MatchResult(Outcome.UNRESOLVED, None, "no leading yes/no answer")
    if lead_end:
        # read on: "Sure, but it's actually a planet" takes its yes back (llm_eval.yesno)
        pred = _predicate(question)
        qkeys = set(key_words(question)) if question else set()
        taken = turn(view, lead_end, pred[0] if pred else None, qkeys)
        if said and taken == "denies":  # never correct; wrong when the claim is the gold's yes
            return MatchResult(Outcome.WRONG if gold_yes else Outcome.UNRESOLVED, None,
                               "leading yes, then the claim denied")  # fmt: skip
        if (said and taken == "other") or (not said and taken == "affirms"):
            why = f"leading {'yes' if said else 'no'} taken back ({taken})"
            return MatchResult(Outcome.UNRESOLVED, None, why)
    if said != gold_yes:
        return MatchResult(Outcome.WRONG, None, f"leading answer {'yes' if said else 'no'}")
    return _sure(view, answers[0], unsure, f"leading answer {'yes' if said else 'no'}")


def _infer_type(answers: Sequence[str]) -> str:
    v = parse_number(answers[0])
    if v is not None:
        return "year" if _year_like(v) else "number"
    first = normalize(answers[0]).split()
    if first and match_key(first[-1]) in (YES | NO) and len(first) <= 2:
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
    only when it marks none that names a candidate. A marked answer judged correct is unresolved
    when the rest of the reply offers a rival as possible ("**Mars.** It might be Venus."). ``answer_type`` (entity | number | year |
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
    split = split_at_correction(text)
    if split is not None and _score(split[0], answers, kind, question, members)[1]:
        # the reply takes back a candidate: what it says after its last self-correction is its answer
        tail = split[1]
        if _score(tail, answers, kind, question, members)[1]:
            res = _score_reply(tail, answers, kind, question, members)
            return MatchResult(res.outcome, res.matched, f"self-corrected; {res.reason}", res.judged or tail)
        res = _score_reply(text, answers, kind, question, members)
        if res.correct:  # "Paris. Actually, no, I'm not sure.": taken back, and nothing given instead
            return MatchResult(Outcome.UNRESOLVED, res.matched, f"taken back, no other answer; {res.reason}")
        return res
    return _score_reply(text, answers, kind, question, members)


def _score_reply(
    text: str, answers: list[str], kind: str, question: str | None, members: Sequence[str]
) -> MatchResult:
    """The verdict on a reply: its marked answer first, else the whole reply (:func:`score_answer`)."""
    for mark in marked_answers(text):
        judged = [(t, *_score(t, answers, kind, question, members)) for t in mark.texts]
        named = [(t, res) for t, res, names in judged if names]
        if named and len({r.outcome for _, r in named}) == 1:
            t, res = named[-1]
            other = _possible_other(text, answers, kind, question, members) if res.correct else None
            if other:  # "**Answer: Mars.** Though it might be Venus."
                why = f"{mark.kind}: {res.reason}; but {other} is offered as possible too"
                return MatchResult(Outcome.UNRESOLVED, res.matched, why, judged=t)
            return MatchResult(res.outcome, res.matched, f"{mark.kind}: {res.reason}", judged=t)
    return _score(text, answers, kind, question, members)[0]


def _possible_other(
    text: str, answers: list[str], kind: str, question: str | None, members: Sequence[str]
) -> str | None:
    """A rival the reply offers as a possible answer outside its marked answer
    (:func:`llm_eval.candidates.offered_as_possible`), or None: a hedge between two candidates."""
    view = ReplyView.of(text)
    rivals: list[tuple[int, int, str]] = []
    if kind in ("number", "year"):
        golds = sorted({v for a in answers if (v := _alias_number(a)) is not None})
        if golds:
            year = kind == "year" or all(_year_like(g) for g in golds)
            cands = _number_candidates(view, answers, golds, question, year)
            rivals = [(s, e, f"{v:g}") for s, e, v, neg in cands if not neg and not _is_gold_number(v, golds)]
    elif kind != "yesno":
        rivals = _entity_rivals(view, _gold_spans(view, answers, question), question, members, answers)
    return next((r for s, e, r in rivals if offered_as_possible(view, s, e)), None)


def names_gold(response: str | None, answers: Sequence[str], *, answer_type: str | None = None) -> bool:
    """Whether the gold occurs anywhere in the reply: an alias in any spelling or script, or for a
    number the gold value in any digits or words, asserted or not ("not 8 but 6" names it)."""
    answers = list(answers)
    if not answers or not response:
        return False
    view = ReplyView.of(response)
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
    view = ReplyView.of(text)
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
