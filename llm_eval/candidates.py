"""Which candidate a reply offers as its answer: negation, lists of alternatives, hedges, focus.

A gold occurrence counts only when the reply *asserts* it:

- not *negated* (:func:`negated`): a negation before it in its clause ("not Paris", "rather
  than", ``न कि``), a Hindi negation after it (``पेरिस नहीं``), a verdict after it that calls it
  wrong ("Sydney was a typo", "Sydney is wrong", ``सिडनी गलत है``), a belief ascribed to others
  ("many people think it's Sydney"), or, given the question, the subject of a negated copula that
  restates it ("Sydney is not the capital", ``सिडनी राजधानी नहीं है``);
- not *one of several candidates* (:func:`is_alternative`): joined by "or", "/", ``या``, "ya", a comma
  list or short bullets, also across a copula or the rest of a longer name ("Mars है या Venus",
  "Mangal hoga ya Shukra", ``मंगल ग्रह या फिर शुक्र``). A list goes on at commas only, and a negated
  list rules its members out, each of them ("Canberra, not Sydney or Melbourne", ``सिडनी या मेलबर्न
  नहीं``).

A hedge (:func:`hedge_phrase`: "probably", "I think", "not 100% sure", ``shayad``, ``शायद``, ``sure
नहीं``, ``पक्का नहीं``, ``हो सकता``) with one candidate is that answer; beside another candidate it
leaves the reply unresolved, and so does a rival offered as possible (:func:`offered_as_possible`:
"it might be Venus", "Venus bhi ho sakta hai", "— or was it 1948?"). A hedge whose clause is about
the asker ("I think you're asking about ...", "maybe you meant ...") doubts how the question reads,
not the answer, and hedges nothing.

The focus (:func:`focus`): when the gold and a rival are both named, the candidate that opens the
reply as a bare answer, stands in the clause that draws the conclusion, in the clause that
restates more of the question (its words also in another script or language: ``राजधानी`` for
"rajdhani", ``भारत`` for "India"), in the question's slot (a Hindi postposition) or is written as the
question's type wins; a runner-up, a mistaken belief, an aside, the object of a comparison, the
other end of a span of time or a statement about another model than the question's ("the iPhone 15
Plus has ..." for the iPhone 15) ranks below; no winner leaves the reply unresolved.
"""

from __future__ import annotations

from llm_eval.answer_kind import question_word_forms
from llm_eval.lexicon import EN_COMMON_CAPITALIZED, HEDGES, TYPE_NOUNS
from llm_eval.reply_view import (
    AND_WORDS,
    CONCLUDE,
    NEG_POST,
    NEG_PRE,
    OR_WORDS,
    STOP,
    VERBS,
    ReplyView,
    key_words,
    lex,
    punct_between,
    same_noun,
)
from llm_eval.textfold import base_fold, match_key
from llm_eval.translit import same_name

__all__ = [
    "HEDGE_WORDS",
    "focus",
    "hedge_phrase",
    "hedge_units",
    "is_alternative",
    "negated",
    "offered_as_possible",
    "ranked_below",
]


_NEG_PHRASES = (("rather", "than"), ("instead", "of"), ("other", "than"), ("as", "opposed", "to"),
                ("न", "कि"), ("na", "ki"), ("mistaken", "for"), ("confused", "with"), ("except",),
                ("followed", "by"), ("second", "to"))  # fmt: skip
_NEG_EXCEPT_NEXT = lex("only just sure certain merely entirely completely quite 100")
# "pakka nahi Mars", ``sure नहीं Mars``: a negation after one of these says the reply is unsure
_CONFIDENCE = lex("sure certain pakka पक्का yakeen यकीन nishchit निश्चित confirm pata पता yaad याद")
_COPULA_SKIP = lex("है हैं था थी थे hai hain h tha thi the")
# a copula or auxiliary between a candidate and the "or" that offers another: "Mars है या Venus",
# "Mangal hoga ya Shukra", "1947 था या 1948"
_BRIDGE = lex("है हैं था थी थे हो होगा होगी होंगे hai hain h tha thi the ho hoga hogi honge")
_POSTPOSITIONS = lex("ने को से में पर का की के ne ko se mein me par ka ki ke")
# a candidate declared wrong after it: "Canberra was a typo", "Sydney is wrong", ``सिडनी गलत है``
_DECLARED_WRONG = lex("wrong incorrect typo mistake galat गलत")
_BEFORE_VERDICT = lex("is was s a an the just simply है था hai tha")
_HEDGE_KEYS = tuple(tuple(match_key(w) for w in base_fold(" ".join(ph)).split()) for ph in HEDGES)
HEDGE_WORDS = frozenset(w for ph in _HEDGE_KEYS for w in ph)
# a unit with one of these ranks its candidates below the answer: a runner-up, a former holder
_RUNNER_UP = lex("second third fourth fifth runner former formerly previously earlier next followed after later "
                  "subsequently afterwards बाद baad "
                  "दूसरा दूसरे दूसरी तीसरा तीसरे तीसरी doosra doosre doosri dusra dusre dusri teesra tisra पूर्व")  # fmt: skip
# which end of a span of time the question asks for: a candidate near the other end's words is context
_BEGIN_PRE, _END_PRE = lex("from since"), lex("to until till")
_BEGIN_POST, _END_POST = lex("से se"), lex("तक tak")
_IN = lex("in on during mein me में")
_THAN = lex("than")
_LINKS = lex("of the a an का की के ka ki ke")
_ARTICLES = lex("the a an")
_WH = lex("which what who whom whose where when how kis kaun kaunsa kaunsi kya किस कौन कौनसा कौनसी क्या")
_TYPE_NOUNS = lex(" ".join(TYPE_NOUNS))
_CONJ_FILLERS = lex("phir else maybe perhaps possibly probably even फिर shayad shaayad शायद")
_THIRD_PARTY = lex("people many some others most log लोग kai कई")
_BELIEF = lex("think thinks thought believe believed believes assume assumed mistake mistaken confuse confused "
               "samajhte sochte सोचते समझते मानते")  # fmt: skip


def _attributed(view: ReplyView, s: int) -> bool:
    """The gold sits in a belief ascribed to others: "although many people think it's Canberra"."""
    before = [view.keys[w] for w in view.by_seg[view.tok(s).seg] if w < s]
    return bool(set(before) & _BELIEF) and bool(set(before) & _THIRD_PARTY)


_NOT = lex("not never")
_SUBJECT_COPULAS = lex("is are was were has have had been s")
_ANSWER_WORDS = lex("answer correct right उत्तर जवाब uttar jawab sahi सही")


def _denied_subject(view: ReplyView, s: int, e: int, question: str) -> bool:
    """The candidate at [s, e) is the subject of a negated copula whose complement restates the
    question: "Sydney is not the capital of Australia", "Jupiter isn't the largest planet", "Sydney
    rajdhani nahi hai", ``सिडनी राजधानी नहीं है``. Every word of the complement is a word of the
    question (or "answer", "correct"), so "Canberra is not the largest city" denies nothing."""
    qkeys = set(key_words(question)) | _ANSWER_WORDS
    seg, n = view.tok(e - 1).seg, len(view.words)

    def restates(words: list[int]) -> bool:
        return any(view.keys[w] not in STOP for w in words) and all(
            view.keys[w] in qkeys or view.keys[w] in STOP or view.keys[w] in _POSTPOSITIONS for w in words
        )

    w = e
    while w < n and view.tok(w).seg == seg and view.tok(w).cap and view.tok(w).kind == "w":
        w += 1  # the rest of a name: "Gulzarilal Nanda was not ..."
    start = w
    while w < n and view.tok(w).seg == seg and view.keys[w] in _SUBJECT_COPULAS:
        w += 1
    if start < w < n and view.tok(w).seg == seg and view.keys[w] in _NOT:
        rest = [x for x in range(w + 1, min(n, w + 9)) if view.tok(x).seg == seg]
        return bool(rest) and view.keys[rest[0]] not in _NEG_EXCEPT_NEXT and restates(rest)
    # Hindi word order: the complement, then the negation ("Sydney Australia ki rajdhani nahi hai")
    between: list[int] = []
    for x in range(start, min(n, start + 6)):
        if view.tok(x).seg != seg:
            break
        if view.keys[x] in NEG_POST:
            return bool(between) and restates(between)
        between.append(x)
    return False


def negated(view: ReplyView, s: int, e: int, question: str | None = None) -> bool:
    """Is the candidate at words [s, e) negated or ascribed to others (see the module docstring)?
    Given the question, also when it is the subject of a negated copula that restates the question
    ("Sydney is not the capital")."""
    if _attributed(view, s):
        return True
    if question and _denied_subject(view, s, e, question):
        return True
    seg = view.tok(s).seg
    before = [w for w in range(max(0, s - 4), s) if view.tok(w).seg == seg]
    for w in before[-3:]:
        key = view.keys[w]
        nxt = view.keys[w + 1] if w + 1 < len(view.keys) else ""
        prev = view.keys[w - 1] if w > 0 else ""
        if key in NEG_PRE and nxt not in _NEG_EXCEPT_NEXT and prev not in _CONFIDENCE:
            return True
    bk = [view.keys[w] for w in before]
    for ph in _NEG_PHRASES:
        k = len(ph)
        if any(tuple(bk[i : i + k]) == ph for i in range(len(bk) - k + 1)):
            return True
    if _declared_wrong(view, e):
        return True
    # "पेरिस नहीं", "शाहजहाँ ने नहीं"; a negation after alternatives negates each of them: "सिडनी या
    # मेलबर्न नहीं", "Sydney ya Melbourne nahi"
    seg, w, other_words = view.tok(e - 1).seg, e, 0
    while w < min(len(view.keys), e + 8) and view.tok(w).seg == seg:
        key = view.keys[w]
        if key in NEG_POST:
            return True
        if key in OR_WORDS:
            other_words = 3  # the words of the other alternative
        elif other_words:
            other_words -= 1
        elif key not in _COPULA_SKIP and not (w == e and key in _POSTPOSITIONS):
            break
        w += 1
    return False


def _declared_wrong(view: ReplyView, e: int) -> bool:
    """The candidate ending before word ``e`` is called wrong in its clause: "Canberra was a typo",
    "Sydney is the wrong answer", ``सिडनी गलत है``, "Sydney galat hai"."""
    seg, w = view.tok(e - 1).seg, e
    while w < min(len(view.keys), e + 4) and view.tok(w).seg == seg:
        if view.keys[w] in _DECLARED_WRONG:
            return True
        if view.keys[w] not in _BEFORE_VERDICT:
            return False
        w += 1
    return False


def _opens_negation(view: ReplyView, w: int) -> bool:
    """Word w starts a negation: "not Sydney", ``न कि सिडनी``, "rather than Sydney"."""
    return view.keys[w] in NEG_PRE or any(tuple(view.keys[w : w + len(ph)]) == ph for ph in _NEG_PHRASES)


def _covered(spans: list[tuple[int, int, str]], lo: int, hi: int) -> bool:
    """Words lo..hi-1 all inside gold spans."""
    return all(any(s <= w < e for s, e, _ in spans) for w in range(lo, hi))


def _neighbour(view: ReplyView, start: int, step: int) -> tuple[int, int] | None:
    """Up to 3 words from `start` in direction `step`, stopping at punctuation / conjunctions / sentence ends."""
    sent = view.tok(start).sent if 0 <= start < len(view.words) else None
    ws: list[int] = []
    w = start
    while 0 <= w < len(view.words) and len(ws) < 3:
        if (
            view.tok(w).sent != sent
            or view.keys[w] in OR_WORDS
            or view.keys[w] in AND_WORDS
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


def is_alternative(
    view: ReplyView, spans: list[tuple[int, int, str]], s: int, e: int, singular_q: bool
) -> bool:
    """Is gold occurrence [s, e) one of several candidates?"""
    n = len(view.words)
    sent = view.tok(s).sent
    conj = OR_WORDS
    sent_words = view.by_sent[sent]
    if len(sent_words) <= 7 and not any(view.keys[w] in VERBS for w in sent_words):
        conj = OR_WORDS | AND_WORDS  # a bare, verb-less list answer: "Jupiter and Saturn"
    elif singular_q and any(view.keys[w] in lex("are were") for w in sent_words if w < s):
        conj = (
            OR_WORDS | AND_WORDS
        )  # one thing asked, several asserted: "The largest oceans are the Pacific and the Atlantic"

    def other(rng: tuple[int, int] | None) -> bool:
        return (
            rng is not None
            and not _covered(spans, *rng)
            and not all(view.keys[w] in STOP | NEG_PRE | NEG_POST for w in range(*rng))
        )

    # left: "... X or <gold>", "X or maybe <gold>", "X ya phir <gold>", "X / <gold>"
    if s > 0 and view.tok(s - 1).sent == sent:
        c = s - 1
        if c > 0 and view.keys[c] in _CONJ_FILLERS and view.keys[c - 1] in conj:
            c -= 1
        if view.keys[c] in conj and other(_neighbour(view, c - 1, -1)):
            return True
        if "/" in punct_between(view, s - 1, s) and other(_neighbour(view, s - 1, -1)):
            return True
    # right: "<gold> or X", "<gold>, X or Y", "<gold> / X"; a copula or the rest of a longer gold
    # name may stand before the "or": "Mars है या Venus", "मंगल ग्रह या फिर शुक्र"
    w = e
    while (
        w < min(n, e + 2)
        and view.tok(w).sent == sent
        and not punct_between(view, w - 1, w)
        and (view.keys[w] in _BRIDGE or _covered(spans, w, w + 1))
    ):
        w += 1
    bridged = w > e
    hops = 0
    while w < n and view.tok(w).sent == sent and hops < 5:
        if view.keys[w] in conj:
            if other(_neighbour(view, w + 1, 1)) or hops > 0:
                return True
            break
        p = punct_between(view, w - 1, w)
        if "/" in p and other(_neighbour(view, w, 1)):
            return True
        if hops == 0 and not p:
            break  # "<gold> is ..." : not a list
        if bridged or set(p) - {","} or ("," not in p and hops > 0):
            break  # a list goes on at commas only: "Canberra — not Sydney or Melbourne" is none
        if _opens_negation(view, w):
            break  # "Canberra, not Sydney or Melbourne": the alternatives are ruled out
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


_MODALS = lex("might could may")
_MODAL_FILL = lex("also even well just still")
_CAN_BE = (("हो", "सकता"), ("हो", "सकती"), ("हो", "सकते"), ("ho", "sakta"), ("ho", "sakti"), ("ho", "sakte"))
_CAN_BE_FILL = lex("भी ही तो bhi hi to")


def offered_as_possible(view: ReplyView, s: int, e: int) -> bool:
    """The candidate at [s, e) is offered as a possible answer: the complement of "might be" /
    "could also be", the subject of ``भी हो सकता है`` / "bhi ho sakta hai", or a candidate in a
    sentence or clause that opens with "or" / ``या`` ("Or possibly 54.", "1947 — or was it
    1948?"). Beside the answer such a candidate hedges between two; "Kyoto could be called ..."
    names no alternative."""
    unit = view.units[s]
    before = [w for w in range(max(0, s - 5), s) if view.units[w] == unit]
    for i, w in enumerate(before):
        if view.keys[w] in _MODALS:
            between = [view.keys[x] for x in before[i + 1 :]]
            be = next((j for j, k in enumerate(between) if k == "be"), None)
            if (
                be is not None
                and all(k in _MODAL_FILL for k in between[:be])
                and all(k in STOP | _MODAL_FILL for k in between[be + 1 :])
            ):
                return True
    after = [view.keys[w] for w in range(e, min(len(view.words), e + 4)) if view.units[w] == unit]
    while after and after[0] in _CAN_BE_FILL:
        after.pop(0)
    if tuple(after[:2]) in _CAN_BE:
        return True
    first = min(w for w in view.by_sent[view.tok(s).sent] if view.units[w] == unit)
    return first < s and view.keys[first] in OR_WORDS


# a hedge whose clause is about the asker ("I think you're asking about ...", "maybe you meant
# ...") doubts the reading of the question, not the answer
_ASKER = lex("you your aap आप tum तुम")


def _hedges(view: ReplyView) -> list[tuple[int, str]]:
    """(first word, phrase) of every hedge that doubts the answer: not one followed by the asker
    ("I think you mean ...": it doubts the question's reading)."""
    out = []
    for ph in _HEDGE_KEYS:
        k = len(ph)
        for i in range(len(view.keys) - k + 1):
            if tuple(view.keys[i : i + k]) == ph:
                if (
                    i + k < len(view.keys)
                    and view.keys[i + k] in _ASKER
                    and view.units[i + k] == view.units[i]
                ):
                    continue
                out.append((i, " ".join(ph)))
    return out


def hedge_phrase(view: ReplyView) -> str:
    """The first hedge phrase in the reply ("probably", "shayad", "I think") that doubts the
    answer, or "": one followed by the asker ("I think you mean ...") doubts the question's reading."""
    found = _hedges(view)
    return found[0][1] if found else ""


def hedge_units(view: ReplyView) -> set[int]:
    """The focus units the reply's hedges stand in."""
    return {view.units[i] for i, _ in _hedges(view)}


def _question_content(question: str | None) -> set[str]:
    """The question's content words (no stop words, verbs or wh-words)."""
    if not question:
        return set()
    return {
        k for k in key_words(question) if k not in STOP and k not in VERBS and k not in _WH and len(k) > 1
    }


_MISTAKE = lex("mistaken mistake mistakenly confused confuse wrongly incorrectly misconception myth guess "
                "guessed galti गलती भ्रम")  # fmt: skip
# words a bare answer may carry: "It's Canberra.", "In Egypt.", "Canberra है।", ``मिस्र में।``, ``शाहजहाँ ने।``
_FILLER = lex(
    "it it's its s is was the a an answer final yes ji haan हाँ जी है हैं था थे थी hai hain h tha the thi "
    "in on at by from ने को से में पर ne ko se mein me par"
)
_BEGIN_Q = lex("begin began start started shuru शुरू आरंभ प्रारंभ")
_END_Q = lex("end ended finish finished over khatam समाप्त खत्म")


def _lead(view: ReplyView, s: int, e: int) -> bool:
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
    denied = [w for w in others if view.keys[w] in NEG_PRE | NEG_POST or negated(view, w, w + 1)]
    return len(fillers) <= 3 and len(fillers) + len(denied) == len(others)


def _other_end(view: ReplyView, s: int, e: int, qkeys: set[str]) -> bool:
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


def _typed(view: ReplyView, s: int, e: int, types: set[str]) -> bool:
    """The candidate is written as the question's type: the type noun ends it ("Yamuna River",
    ``यमुना नदी``), follows it as part of the name (capitalized in Latin script) or comes before it
    ("the planet Jupiter", ``ग्रह``)."""

    def is_type(w: int) -> bool:
        return 0 <= w < len(view.words) and any(
            view.keys[w] == t or same_noun(view.keys[w], t) for t in types
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


_COMMON_CAPITALIZED = lex(" ".join(EN_COMMON_CAPITALIZED))


def _other_subject(view: ReplyView, s: int, qkeys: set[str]) -> bool:
    """The candidate's unit is about another model than the question's: before the candidate, the
    question's model number runs on into a capitalized name ("the iPhone 15 Plus and 15 Pro Max have
    6.7-inch screens" for the iPhone 15, "the S23 Ultra" for the Galaxy S23). A name without a number
    is left alone: "Taj Mahal Agra mein", "World War II"."""
    unit = view.units[s]
    for w in range(max(0, s - 8), s - 1):
        nxt = w + 1
        if view.units[w] != unit or view.units[nxt] != unit or punct_between(view, w, nxt):
            continue
        k, t = view.keys[w], view.tok(nxt)
        numbered = any(ch.isdigit() for ch in k)
        if numbered and k in qkeys and t.kind == "w" and t.cap:
            nk = view.keys[nxt]
            if nk not in qkeys and nk not in STOP and nk not in _COMMON_CAPITALIZED:
                return True
    return False


def _demoted(view: ReplyView, s: int, e: int, qkeys: set[str]) -> bool:
    """The candidate at [s, e) is ranked below the answer: a runner-up, a mistaken belief, an aside,
    the object of a comparison, the other end of a span of time or another model's figure."""
    unit = view.units[s]
    unit_words = [w for w in range(len(view.words)) if view.units[w] == unit]
    before = [view.keys[w] for w in unit_words if w < s]
    return (
        any(view.keys[w] in _RUNNER_UP | _MISTAKE and view.keys[w] not in qkeys for w in unit_words)
        or all(view.in_parens[w] for w in range(s, e))
        or bool(set(before) & _THAN)
        or _other_end(view, s, e, qkeys)
        or _other_subject(view, s, qkeys)
    )


_GUESS = lex("guess guessed guesses")


def ranked_below(view: ReplyView, s: int, e: int, question: str | None) -> bool:
    """The candidate at [s, e) is one the reply itself ranks below its answer (:func:`_demoted`):
    "Buzz Aldrin followed him later", "(not Sydney)", "larger than Mars"; not one called a guess
    ("Salzburg is also a guess of mine"), which is offered beside the answer."""
    unit = view.units[s]
    if any(view.keys[w] in _GUESS for w in range(len(view.words)) if view.units[w] == unit):
        return False
    return _demoted(view, s, e, set(key_words(question)) if question else set())


def _salience(view: ReplyView, s: int, e: int, qkeys: set[str], types: set[str],
              unit_score: dict[int, int], slot_mark: str = "") -> tuple[int, int, int, int, int]:  # fmt: skip
    """How strongly the reply offers the candidate at [s, e) as its answer: (opens the reply as its
    answer; its unit draws the conclusion; how much of the question its focus unit restates, -1
    for a runner-up, a mistaken belief, an aside, the object of a comparison or the other end of a
    span of time; whether it fills the question's slot (:func:`_slot_mark`); whether it is written
    as the question's type)."""
    unit = view.units[s]
    unit_words = [w for w in range(len(view.words)) if view.units[w] == unit]
    demoted = _demoted(view, s, e, qkeys)
    conclude = bool(unit_words) and view.keys[unit_words[0]] in CONCLUDE
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
    keys = key_words(question) if question else []
    for i, k in enumerate(keys):
        if k in _WH:
            for nxt in keys[i + 1 : i + 4]:
                if nxt in _POSTPOSITIONS:
                    return nxt
    return ""


def _name_spans(
    view: ReplyView, rivals: list[tuple[int, int]], golds: list[tuple[int, int]]
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


def focus(view: ReplyView, golds: list[tuple[int, int]], rivals: list[tuple[int, int]],
           question: str | None) -> str | None:  # fmt: skip
    """Which kind of candidate the reply offers as its answer when it names both: "gold", "rival",
    or None when neither stands out. A candidate stands out by opening the reply as a bare answer,
    then by its focus unit restating more of the question ("the capital of Australia is Canberra"
    beside "Sydney is the largest city"), then by being written as the question's type ("the
    Yamuna River in Agra")."""
    content = _question_content(question)
    qkeys = set(key_words(question)) if question else set()
    types = {k for k in content if k in _TYPE_NOUNS}
    # the question's words also count in the other script, as the same name ("rajdhani" for
    # ``राजधानी``) or the same word in the other language ("India" for ``भारत``); each once, as the
    # question's own word
    forms = question_word_forms(question)
    own = {f: o for f, o in forms.items() if o in content and (f == o or f.isascii() != o.isascii())}
    rivals = _name_spans(view, rivals, golds)
    # a question word inside a rival's name still restates the question ("the South African ...")
    taken = {w for s, e in golds for w in range(s, e)}
    hits: dict[int, set[str]] = {}
    for w, k in enumerate(view.keys):
        if w in taken:
            continue
        for q, o in own.items():
            if (
                k == q
                or (len(q) > 2 and same_noun(k, q))
                or (k.isascii() != q.isascii() and same_name([k], [q]))
            ):
                hits.setdefault(view.units[w], set()).add(o)
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
