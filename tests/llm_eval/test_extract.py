"""Answer extraction before judging: marked answers, numbers by value in any script and in words,
transliterated names, and the reply's focus when the gold and another candidate are both named."""

from __future__ import annotations

import pytest

from llm_eval.extract import marked_answers, split_at_correction
from llm_eval.items import load_multilingual, load_noisy
from llm_eval.numbers import parse_number, word_numbers
from llm_eval.reply_view import key_words
from llm_eval.scoring import Outcome, score_answer
from llm_eval.textfold import match_key
from llm_eval.translit import same_name

C, W, U = Outcome.CORRECT, Outcome.WRONG, Outcome.UNRESOLVED
ITEMS = {**load_multilingual().by_id(), **load_noisy().by_id()}


def verdict(reply: str, item: str, cond: str = "en") -> Outcome:
    it = ITEMS[item]
    q = it.question[cond] if isinstance(it.question, dict) else it.question
    return score_answer(
        reply, it.answers, answer_type=it.answer_type, question=q, answer_class=it.answer_class
    ).outcome


@pytest.mark.parametrize(
    ("reply", "item", "expected"),
    [
        # marked final answers: the mark decides, the context around it does not
        ("Melbourne was the seat of government until 1927.\n\n**Canberra** is the capital.", "ml-003", C),
        (
            "Canberra has Parliament House, but Sydney is the real centre.\n\n**Final answer: Sydney**",
            "ml-003",
            W,
        ),
        ("**Answer: Ottawa**\n\nToronto is the largest city and Montreal the second.", "nz-005", C),
        ("## Answer\n\nThe **Atlantic Ocean** is the largest.\n\n- The Pacific is deeper", "ml-005", W),
        ("Sizes:\n1. **Jupiter** – largest\n2. Saturn\n3. Uranus", "ml-011", C),
        ("Sizes:\n- Saturn — **largest**\n- Jupiter — second", "ml-011", W),
        ("$7 \\times 8 = 56$\n\n$\\boxed{56}$", "ml-021", C),
        ("$7 \\times 8 = 54$\n\n$\\boxed{54}$", "ml-021", W),
        ("100 − 30 = 70\n70 − 7 = 63\n\n63", "ml-023", C),
        (
            "If asked about France you would answer Paris. For Australia, the capital is Canberra.",
            "ml-003",
            C,
        ),
        ("Answer: Mars or Venus", "ml-012", U),  # a hedge inside the marked answer stays a hedge
        # numbers by value: digits of any script, separators, currency, words, units
        ("मकड़ी के ૮ पैर होते हैं।", "ml-019", C),
        ("एक दिन में २४ घंटे होते हैं, यानी १,४४० मिनट।", "ml-037", C),
        ("There are 24 hours in a day, or 1,440 minutes.", "ml-037", C),
        ("Ek din mein chaubees ghante hote hain.", "ml-037", C),
        ("A cricket team has 111 players.", "ml-051", W),  # 111 is not 11
        ("7 × 8 = 156", "ml-021", W),  # 156 is not 56
        ("50 out of 200 is 2.5%.", "ml-022", W),
        ("96 को 8 से भाग देने पर 12 आता है, क्योंकि 8 × 12 = 96।", "ml-024", C),  # operands are no rivals
        ("Water boils at 212 °C at sea level.", "ml-013", W),  # Celsius is the question's own unit
        # transliterated names
        ("Bharat ke pehle Pradhan Mantri Jawaharlal Neharu the.", "ml-028", C),
        ("फ़्रांस की राजधानी पेरिस है।", "nz-001", C),
        # the focus: which candidate the reply offers as its answer
        ("Toronto is the largest city in Canada, but the capital is Ottawa.", "nz-005", C),
        ("Jupiter has the Great Red Spot, but the largest planet is Saturn.", "ml-011", W),
        ("Egypt. The pyramids stand on the Giza plateau near Cairo.", "ml-010", C),
        ("The Taj Mahal stands on the bank of the Yamuna River in Agra, Uttar Pradesh.", "ml-009", C),
        ("Buzz Aldrin walked first, followed by Neil Armstrong.", "ml-030", W),
        ("World War II lasted from 1939 to 1945.", "ml-034", C),
        ("Spiders have eight legs; insects have six.", "ml-019", C),
        ("It's either Mars or Jupiter.", "ml-012", U),
        ("Sydney is often mistaken for the capital, but it's Canberra.", "ml-003", C),
        ("I think it's Canberra.", "ml-003", C),  # one answer, given with doubt
    ],
)
def test_reply_styles(reply: str, item: str, expected: Outcome) -> None:
    cond = "hi" if item.startswith("ml") and any("\u0900" <= ch <= "\u097f" for ch in reply) else "en"
    if item == "ml-028":
        cond = "hinglish"
    got = score_answer(
        reply,
        ITEMS[item].answers,
        answer_type=ITEMS[item].answer_type,
        question=(
            ITEMS[item].question[cond] if isinstance(ITEMS[item].question, dict) else ITEMS[item].question
        ),
        answer_class=ITEMS[item].answer_class,
    )
    assert got.outcome is expected, got


@pytest.mark.parametrize(
    ("text", "value"),
    [("$29.00", 29.0), ("1,000", 1000.0), ("1,00,000", 100000.0), ("२४", 24.0), ("૨૪", 24.0), ("২৪", 24.0),
     ("₹500", 500.0), ("Rs. 500", 500.0), ("25%", 25.0), ("7-11", None), ("eleven", None)],
)  # fmt: skip
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


def test_inline_items_compare_currency_and_thousands_by_value() -> None:
    assert score_answer("Two books cost 2 × $14.50 = $29.00.", ["29"], answer_type="number",
                        question="A book costs $14.50. How much do two cost?").correct  # fmt: skip
    assert score_answer("A kilometre is 1,000 metres.", ["1000"], answer_type="number",
                        question="How many metres are in a kilometre?").correct  # fmt: skip


@pytest.mark.parametrize(
    ("words", "value"),
    [("two hundred and six", 206), ("ek hazaar", 1000), ("दो सौ", 200), ("gyaarah", 11), ("बयालीस", 42),
     ("twenty four", 24), ("two thousand five hundred and six", 2506), ("one hundred twenty thousand", 120_000),
     # years: in two pairs of digits, and with Hindi multipliers
     ("nineteen forty five", 1945), ("twenty twenty three", 2023), ("nineteen oh five", 1905),
     ("fourteen ninety two", 1492), ("nineteen hundred and forty five", 1945), ("two thousand and eight", 2008),
     ("उन्नीस सौ सैंतालीस", 1947), ("do hazaar aath", 2008), ("ek hazaar nau sau saintalis", 1947)],
)  # fmt: skip
def test_number_words(words: str, value: int) -> None:
    keys = key_words(words)
    assert word_numbers(keys, {}) == {0: (len(keys), float(value))}


@pytest.mark.parametrize(
    ("words", "breaks", "numbers"),
    [
        # words in no number's order are separate numbers, never a sum
        ("nineteen five", (), {0: (1, 19.0), 1: (1, 5.0)}),
        ("seven eight", (), {0: (1, 7.0), 1: (1, 8.0)}),
        ("saat aath", (), {0: (1, 7.0), 1: (1, 8.0)}),
        ("forty sixty", (), {0: (1, 40.0), 1: (1, 60.0)}),
        ("nineteen forty five", (1,), {0: (1, 19.0), 1: (2, 45.0)}),  # "nineteen, forty-five"
        ("do", (), {}),  # romanized "do" is a number only before a multiplier
    ],
)  # fmt: skip
def test_number_words_keep_place_value(words: str, breaks: tuple[int, ...], numbers: dict) -> None:
    assert word_numbers(key_words(words), {}, breaks) == numbers


@pytest.mark.parametrize(
    ("reply", "alias", "same"),
    [("बर्लिन", "berlin", True), ("मैड्रिड", "madrid", True), ("मॉस्को", "moscow", True), ("neharu", "nehru", True),
     ("niger", "nigeria", False), ("sudan", "sydney", False), ("delhi", "new delhi", False)],
)  # fmt: skip
def test_same_name_across_transliterations(reply: str, alias: str, same: bool) -> None:
    from llm_eval.textfold import base_fold

    assert (
        same_name([match_key(w) for w in base_fold(reply).split()], [match_key(w) for w in alias.split()])
        is same
    )


def test_marked_answers_order_and_cuts() -> None:
    kinds = [m.kind for m in marked_answers("So the answer is **12**.\n\nAnswer: 12 (8 × 12 = 96)")]
    assert kinds == ["label", "phrase", "bold"]
    assert marked_answers("Answer: Dr. Rajendra Prasad — the first president")[0].texts == (
        "Dr. Rajendra Prasad",
    )
    assert marked_answers("One line only") == []


@pytest.mark.parametrize(
    ("reply", "item", "cond", "expected"),
    [
        # a reply that takes an answer back: what it says after its last self-correction is the answer
        ("Paris. Actually, no, I was wrong: it is Lyon.", "ml-004", "en", W),
        ("Paris? No — Marseille.", "ml-004", "en", W),
        ("Is it Lyon? No, it is Paris.", "ml-004", "en", C),
        ("Answer: Paris\n\nWait, correction. Answer: Lyon", "ml-004", "en", W),
        ("Canberra — no wait, Sydney.", "ml-003", "en", W),
        ("Sydney — no wait, Canberra.", "ml-003", "en", C),
        ("The capital is Canberra. Just kidding — it's Sydney.", "ml-003", "en", W),
        ("The capital is Sydney. Sorry, I meant Canberra.", "ml-003", "en", C),
        ("Scratch that: not Canberra, Sydney.", "ml-003", "en", W),
        ("सिडनी... नहीं नहीं, कैनबरा।", "ml-003", "hi", C),
        ("कैनबरा... नहीं नहीं, सिडनी।", "ml-003", "hi", W),
        ("A spider has 8 legs... wait, no, 6 legs.", "ml-019", "en", W),
        ("56? No. 54.", "ml-021", "en", W),
        ("The answer is 56... just kidding, it's 48.", "ml-021", "en", W),
        ("54 — no wait, 56.", "ml-021", "en", C),
        ("JUPITER? NO. SATURN.", "ml-011", "en", W),
        ("True? No.", "ml-020", "en", W),
        ("Yes? No. The Sun is a planet.", "ml-020", "en", W),
        ("No wait — yes, the Sun is a star.", "ml-020", "en", C),  # nothing was taken back
        ("Paris. Actually, no, I'm not sure.", "ml-004", "en", U),  # taken back, nothing instead
    ],
)
def test_self_correction_replaces_what_it_took_back(
    reply: str, item: str, cond: str, expected: Outcome
) -> None:
    assert verdict(reply, item, cond) is expected


@pytest.mark.parametrize(
    ("reply", "split"),
    [
        ("Paris? No — Marseille.", ("Paris? ", "No — Marseille.")),
        ("8 legs... wait, no, 6 legs.", ("8 legs... wait, ", "no, 6 legs.")),
        ("Sydney — no wait, Canberra.", ("Sydney — no wait", "Canberra.")),
        ("Is the Sun a planet? No, it is a star.", None),  # a question of more than three words
        ("The capital is Canberra.", None),
        ("The correction of the border followed in 1920.", None),  # "correction" as a noun
    ],
)
def test_split_at_correction(reply: str, split: tuple[str, str] | None) -> None:
    assert split_at_correction(reply) == split


@pytest.mark.parametrize(
    ("reply", "item", "cond", "expected"),
    [
        # an apology that corrects: what follows it replaces what came before
        ("Berlin — sorry, Paris.", "ml-004", "en", C),
        ("Paris... sorry, no: Marseille.", "ml-004", "en", W),
        ("Marseille... sorry, no: Paris.", "ml-004", "en", C),
        ("Lyon. Apologies, it is Paris.", "ml-004", "en", C),
        ("Paris, whoops, Lyon.", "ml-004", "en", W),
        ("Sydney. My apologies — Canberra.", "ml-003", "en", C),
        ("Canberra, sorry I mean Sydney.", "ml-003", "en", W),
        ("सिडनी, माफ़ कीजिए, कैनबरा।", "ml-003", "hi", C),
        ("कैनबरा — क्षमा करें, सिडनी।", "ml-003", "hi", W),
        ("सिडनी... मेरी गलती, कैनबरा।", "ml-003", "hi", C),
        ("Sydney, sorry nahi, Canberra.", "ml-003", "hinglish", C),
        ("Canberra galti se likha, Sydney hai.", "ml-003", "hinglish", W),
        ("Sydney... maaf kijiye, Canberra hai.", "ml-003", "hinglish", C),
        ("Canberra... sorry, नहीं, Sydney है।", "ml-003", "cs", W),
        ("Sydney है — माफ करें, Canberra.", "ml-003", "cs", C),
        ("No — sorry, yes, it is a star.", "ml-020", "en", C),
        ("हाँ... माफ़ कीजिए, नहीं।", "ml-020", "hi", W),
        # a candidate called wrong after the apology is taken back, not given
        ("Sydney. Sorry, Canberra was a typo.", "ml-003", "en", U),
        ("Canberra galat hai, Sydney sahi hai.", "ml-003", "hinglish", W),
        ("कैनबरा गलत है।", "ml-003", "hi", U),
        # an apology that takes nothing back is no correction
        ("Paris. Sorry for being brief.", "ml-004", "en", C),
        ("Sorry, it is Paris.", "ml-004", "en", C),
        ("माफ़ कीजिए, मुझे नहीं पता।", "ml-004", "hi", W),
    ],
)
def test_an_apology_that_corrects_replaces_what_it_took_back(
    reply: str, item: str, cond: str, expected: Outcome
) -> None:
    assert verdict(reply, item, cond) is expected


@pytest.mark.parametrize(
    ("reply", "split"),
    [
        ("Tokio — sorry, Kyoto.", ("Tokio — sorry", "Kyoto.")),
        ("Sydney, sorry nahi, Canberra.", ("Sydney, sorry", "nahi, Canberra.")),
        ("सिडनी, माफ़ कीजिए, कैनबरा।", ("सिडनी, माफ़ कीजिए", "कैनबरा।")),
        ("Mumbai, maaf karna, Delhi.", ("Mumbai, maaf karna", "Delhi.")),
        ("I'm sorry to say it is Paris.", None),
        ("Paris. Sorry for the confusion.", None),
    ],
)
def test_split_at_an_apology(reply: str, split: tuple[str, str] | None) -> None:
    assert split_at_correction(reply) == split


@pytest.mark.parametrize(
    ("reply", "item", "cond", "expected"),
    [
        # the subject of a negated copula that restates the question is denied, not offered
        ("Sydney is not the capital of Australia. The capital is Canberra.", "ml-003", "en", C),
        ("Sydney isn't the capital; Canberra is.", "ml-003", "en", C),
        ("Canberra isn't the capital; Sydney is.", "ml-003", "en", W),
        ("Jupiter is not the largest planet. Saturn is.", "ml-011", "en", W),
        ("Saturn is not the largest planet. Jupiter is.", "ml-011", "en", C),
        ("Venus is not known as the Red Planet; Mars is.", "ml-012", "en", C),
        ("Jawaharlal Nehru was not the first Prime Minister of India; Sardar Patel was.", "ml-028", "en", W),
        ("8 is not correct; spiders have 6 legs.", "ml-019", "en", W),
        ("1950 was not the year of independence; India became independent in 1947.", "ml-029", "en", C),
        ("Sydney rajdhani nahi hai, Canberra hai.", "ml-003", "hinglish", C),
        ("Canberra rajdhani nahi hai, Sydney hai.", "ml-003", "hinglish", W),
        ("सिडनी ऑस्ट्रेलिया की राजधानी नहीं है, राजधानी कैनबरा है।", "ml-003", "hi", C),
        # a complement that says something else denies nothing
        ("Canberra is not the largest city in Australia, but it is the capital.", "ml-003", "en", C),
        (
            "Canberra is not only the capital of Australia but also its largest inland city.",
            "ml-003",
            "en",
            C,
        ),
        ("Jupiter is not a star; it is the largest planet.", "ml-011", "en", C),
    ],
)
def test_subject_of_a_negated_copula(reply: str, item: str, cond: str, expected: Outcome) -> None:
    assert verdict(reply, item, cond) is expected
