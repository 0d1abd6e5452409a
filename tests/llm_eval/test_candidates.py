"""Which candidate a reply offers: hedges and lists of alternatives in every language, negated
lists, rivals offered as possible beside a marked answer, bare answers with a copula or a
postposition, and the words that are no candidate (Hindi common words, titles, "at")."""

from __future__ import annotations

import pytest

from llm_eval.candidates import is_alternative, negated, offered_as_possible
from llm_eval.extract import final_answer_line
from llm_eval.items import load_multilingual
from llm_eval.numbers import word_numbers
from llm_eval.reply_view import ReplyView, lex
from llm_eval.scoring import Outcome, score_answer

C, W, U = Outcome.CORRECT, Outcome.WRONG, Outcome.UNRESOLVED
ITEMS = load_multilingual().by_id()


def verdict(reply: str, item: str, cond: str = "en") -> Outcome:
    it = ITEMS[item]
    return score_answer(
        reply,
        it.answers,
        answer_type=it.answer_type,
        question=it.question[cond],
        answer_class=it.answer_class,
    ).outcome


@pytest.mark.parametrize(
    ("reply", "item", "cond", "expected"),
    [
        # a hedge between two candidates, with a copula or the rest of a longer name before the "or"
        ("Red Planet Mars है या Venus, sure नहीं हूँ।", "ml-012", "cs", U),
        ("Red Planet Mars है या Venus?", "ml-012", "cs", U),
        ("Australia की capital Canberra है या Sydney, पता नहीं।", "ml-003", "cs", U),
        ("सबसे बड़ा ग्रह बृहस्पति ग्रह या फिर शनि है।", "ml-011", "hi", U),
        # hedges in every language beside another candidate
        ("Mars; Venus also looks reddish, so I'm not 100% sure.", "ml-012", "en", U),
        # an aside on the answer line that offers another candidate keeps the hedge
        ("Answer: Mars (or possibly Venus)", "ml-012", "en", U),
        ("उत्तर: मंगल (या शायद शुक्र)", "ml-012", "hi", U),
        ("Answer: 56 (or maybe 54)", "ml-021", "en", U),
        # a rival offered as possible beside a marked answer
        ("**Answer: Mars.** Though honestly, it might be Venus.", "ml-012", "en", U),
        ("Jawab: Mars. Par shayad Venus bhi ho sakta hai.", "ml-012", "hinglish", U),
        ("**उत्तर: मंगल।** हालाँकि यह शुक्र भी हो सकता है, मुझे पक्का नहीं पता।", "ml-012", "hi", U),
        ("**56**. Or possibly 54 — I always mix these up.", "ml-021", "en", U),
        ("India became independent in 1947 — or was it 1948?", "ml-029", "en", U),
        # negated lists: the alternatives are ruled out, each of them
        ("Canberra, not Sydney or Melbourne.", "ml-003", "en", C),
        ("कैनबरा, न कि सिडनी या मेलबर्न।", "ml-003", "hi", C),
        ("सिडनी या मेलबर्न नहीं, कैनबरा।", "ml-003", "hi", C),
        ("Sydney ya Melbourne nahi, Canberra.", "ml-003", "hinglish", C),
        ("Not Canberra or Melbourne — it's Sydney.", "ml-003", "en", W),
        # one hedged candidate is that answer; hedge words are no rival, "pakka nahi" negates nothing
        ("मुझे लगता है Canberra है।", "ml-003", "cs", C),
        ("संभवतः मंगल।", "ml-012", "hi", C),
        ("Pakka nahi Mars hai shayad.", "ml-012", "hinglish", C),
        # a bare answer with a copula or the question's postposition opens the reply
        ("कैनबरा है। सिडनी सबसे बड़ा शहर है, पर राजधानी नहीं।", "ml-003", "hi", C),
        ("Canberra hai. Sydney sabse bada shehar hai, rajdhani nahi.", "ml-003", "hinglish", C),
        ("Tokyo hai. Pehle Kyoto rajdhani thi, 1868 tak.", "ml-002", "hinglish", C),
        ("Royal Bengal Tiger है। 1973 से पहले Lion national animal था।", "ml-044", "cs", C),
        ("मिस्र में। ये काहिरा के पास गीज़ा के पठार पर बने हैं।", "ml-010", "hi", C),
        ("Kyoto hai. Tokyo sirf sabse bada shehar hai.", "ml-002", "hinglish", W),
        # a relative clause after the answer is context
        ("Peacock है, जिसे 1963 में national bird घोषित किया गया।", "ml-045", "cs", C),
        # words that are no candidate: "at", a month, a title; a unit after "degree"
        ("A cricket side fields 11 players at a time.", "ml-051", "en", C),
        ("नील आर्मस्ट्रांग ने 21 जुलाई 1969 को चाँद पर कदम रखा।", "ml-030", "hi", C),
        ("Rishi Valmiki composed it in Sanskrit.", "ml-043", "en", C),
        ("100 degree Celsius, yaani 212 degree Fahrenheit.", "ml-013", "hinglish", C),
        ("100 डिग्री सेल्सियस, यानी 212 डिग्री फ़ारेनहाइट।", "ml-013", "hi", C),
        # a transliterated two-word name is one name, not a name and a rival
        ("Jana Gana Mana Ravindranath Taigor ne likha tha.", "ml-046", "hinglish", C),
    ],
)
def test_candidate_rules(reply: str, item: str, cond: str, expected: Outcome) -> None:
    assert verdict(reply, item, cond) is expected


@pytest.mark.parametrize(
    "reply",
    [
        "**Answer: Canberra.** Many people assume it is Sydney, perhaps because Sydney is larger.",
        "**Answer: Tokyo.** Kyoto could be called the old capital.",
        "The capital is **Canberra**. Sydney is probably the better-known city.",
    ],
)
def test_context_with_a_hedge_word_is_no_hedge_between_candidates(reply: str) -> None:
    """A hedge word about something else, or a rival that is not offered as the answer, leaves a
    marked answer correct."""
    item = "ml-002" if "Tokyo" in reply else "ml-003"
    assert verdict(reply, item) is C


def _spans(view: ReplyView, words: str) -> tuple[int, int]:
    keys = words.casefold().split()
    for i in range(len(view.keys)):
        if view.keys[i : i + len(keys)] == keys:
            return i, i + len(keys)
    raise AssertionError(words)


def test_is_alternative_bridges_a_copula_but_not_a_dash_or_negation() -> None:
    view = ReplyView.of("Mars hai ya Venus, pakka nahi.")
    s, e = _spans(view, "Mars")
    assert is_alternative(view, [(s, e, "Mars")], s, e, singular_q=True)
    view = ReplyView.of("Canberra — not Sydney or Melbourne.")
    s, e = _spans(view, "Canberra")
    assert not is_alternative(view, [(s, e, "Canberra")], s, e, singular_q=True)


def test_negation_after_alternatives_negates_each() -> None:
    view = ReplyView.of("Sydney ya Melbourne nahi, Canberra.")
    assert negated(view, *_spans(view, "Sydney"))
    assert negated(view, *_spans(view, "Melbourne"))
    assert not negated(view, *_spans(view, "Canberra"))


@pytest.mark.parametrize(
    ("reply", "rival", "offered"),
    [
        ("Answer: Mars. It might be Venus.", "Venus", True),
        ("Answer: Mars. It could also be Venus.", "Venus", True),
        ("Answer: Mars. Par Venus bhi ho sakta hai.", "Venus", True),
        ("Answer: 56. Or maybe 54.", "54", True),
        ("Answer: Tokyo. Kyoto could be called the old capital.", "Kyoto", False),
        ("Answer: Tokyo. It might be worth visiting Kyoto.", "Kyoto", False),
    ],
)
def test_offered_as_possible(reply: str, rival: str, offered: bool) -> None:
    view = ReplyView.of(reply)
    assert offered_as_possible(view, *_spans(view, rival)) is offered


def test_answer_line_keeps_an_aside_that_offers_another_candidate() -> None:
    assert final_answer_line("Answer: Mars (or possibly Venus)") == "Mars (or possibly Venus)"
    assert final_answer_line("उत्तर: मंगल (या शायद शुक्र)") == "मंगल (या शायद शुक्र)"
    assert final_answer_line("Answer: Tokyo (it replaced Kyoto)") == "Tokyo"


def test_english_at_is_no_hindi_number() -> None:
    assert word_numbers(["boils", "at", "sea", "level"], {}) == {}
    assert word_numbers(["aat", "pair"], {}) == {0: (1, 8.0)}


def test_word_sets_fold_like_replies() -> None:
    """Nukta and candrabindu are folded in replies, so word lists must be too."""
    assert lex("ज़्यादा हाँ") == lex("ज्यादा हां")


@pytest.mark.parametrize(
    ("reply", "item"),
    [
        ("Neil Armstrong was first, but it might have been Buzz Aldrin, who followed him.", "ml-030"),
        ("Neil Armstrong, though it may have been Buzz Aldrin.", "ml-030"),
        ("Canberra. It could have been Sydney, though.", "ml-003"),
        ("The capital is Canberra; it may also be Melbourne.", "ml-003"),
    ],
)
def test_a_rival_offered_in_the_past_or_as_well_hedges_between_two(reply: str, item: str) -> None:
    """'might have been Y', 'may also be Y' offer Y beside the answer, as 'might be Y' does: the reply
    hedges between two candidates and is not scored correct."""
    assert verdict(reply, item) is U
