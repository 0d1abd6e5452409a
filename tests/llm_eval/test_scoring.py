"""Answer matching: a table of match / mismatch cases in both scripts and both digit systems."""

from __future__ import annotations

import pytest

from llm_eval.scoring import Outcome, extract_numbers, normalize, parse_number, score_answer

DELHI = ["New Delhi", "नई दिल्ली", "नयी दिल्ली", "Nai Dilli"]

CASES = [
    # (response, gold aliases, expected outcome)  -- English / Latin script
    ("New Delhi", DELHI, Outcome.CORRECT),
    ("The capital of India is New Delhi.", DELHI, Outcome.UNRESOLVED),  # no question: "India" may be a rival
    ("NEW   DELHI!!", DELHI, Outcome.CORRECT),
    ("Delhi", DELHI, Outcome.WRONG),  # the study's failure case: gold "New Delhi" does not occur
    ("New Delhite", DELHI, Outcome.WRONG),  # word boundary
    ("Ｐａｒｉｓ", ["Paris"], Outcome.CORRECT),  # fullwidth folded by NFKC
    ("Pa\u200bris.", ["Paris"], Outcome.CORRECT),  # zero-width removed
    ("paris", ["Paris"], Outcome.CORRECT),
    ("Parisian food", ["Paris"], Outcome.WRONG),
    ("Kyoto", ["Tokyo", "टोक्यो"], Outcome.WRONG),
    ("Yes, it is.", ["yes", "हाँ", "haan"], Outcome.CORRECT),
    ("No.", ["yes", "हाँ", "haan"], Outcome.WRONG),
    ("H2O", ["H2O", "H₂O"], Outcome.CORRECT),
    ("Haan, bilkul.", ["yes", "हाँ", "haan"], Outcome.CORRECT),  # romanized alias
    # Devanagari
    ("भारत की राजधानी नई दिल्ली है।", DELHI, Outcome.UNRESOLVED),  # no question: "भारत" unknown
    ("नयी दिल्ली", DELHI, Outcome.CORRECT),
    ("दिल्ली", DELHI, Outcome.WRONG),
    ("हां", ["yes", "हाँ"], Outcome.CORRECT),  # candrabindu / anusvara variant
    ("टोक्यो जापान की राजधानी है", ["Tokyo", "टोक्यो"], Outcome.UNRESOLVED),
    ("क्योटो", ["Tokyo", "टोक्यो"], Outcome.WRONG),
    # numbers, either digit system
    ("25", ["25"], Outcome.CORRECT),
    ("25.0", ["25"], Outcome.CORRECT),
    ("It is 25%.", ["25"], Outcome.CORRECT),
    ("२५ प्रतिशत", ["25"], Outcome.CORRECT),
    ("25", ["२५"], Outcome.CORRECT),
    ("250", ["25"], Outcome.WRONG),
    ("2.5", ["25"], Outcome.WRONG),
    ("1,000 metres", ["1000"], Outcome.CORRECT),
    ("1,00,000 लोग", ["100000"], Outcome.CORRECT),
    ("about 8849 m", ["8849", "8,849"], Outcome.CORRECT),
    ("1990-2000", ["2000"], Outcome.UNRESOLVED),  # a range names another year
    ("-5 degrees", ["5"], Outcome.WRONG),
    ("seven", ["7", "seven", "सात"], Outcome.CORRECT),
    ("सात", ["7", "seven", "सात"], Outcome.CORRECT),
    # UNSURE is its own outcome; a named gold answer wins over it
    ("UNSURE", ["Paris"], Outcome.UNSURE),
    ("I am unsure.", ["Paris"], Outcome.UNSURE),
    ("UNSURE, maybe Paris", ["Paris"], Outcome.UNRESOLVED),  # names the gold, but hedged
    ("", ["Paris"], Outcome.WRONG),
    (None, ["Paris"], Outcome.WRONG),
]


@pytest.mark.parametrize(("response", "answers", "expected"), CASES)
def test_score_table(response: str | None, answers: list[str], expected: Outcome) -> None:
    assert score_answer(response, answers).outcome is expected


def test_matched_alias_reported() -> None:
    r = score_answer("राजधानी नई दिल्ली है", DELHI)
    assert r.correct and r.matched == "नई दिल्ली"


def test_normalize() -> None:
    assert normalize("  Ｎｅｗ—Delhi!? ") == "new delhi"
    assert normalize("२०२४") == "2024"
    assert normalize("क़िला") == normalize("किला")  # nukta dropped


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("25", 25.0),
        ("25.0", 25.0),
        ("25%", 25.0),
        ("२५", 25.0),
        ("1,000", 1000.0),
        ("Paris", None),
        ("", None),
    ],
)
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


def test_extract_numbers() -> None:
    assert extract_numbers("Between 1990-2000 about 3.14 and २५%") == [1990.0, 2000.0, 3.14, 25.0]


def test_empty_gold_rejected() -> None:
    with pytest.raises(ValueError, match="`answers` must contain at least one gold alias"):
        score_answer("x", [])


def test_every_item_gold_matches_itself() -> None:
    """Authoring check: each alias of each item scores as correct inside a sentence."""
    from llm_eval.items import load_multilingual, load_noisy

    for items in (load_multilingual(), load_noisy()):
        for it in items.items:
            for alias in it.answers:
                assert score_answer(f"The answer is {alias}.", it.answers).correct, (it.id, alias)


SUN_STAR = "Is the Sun a star?"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("Of course not!", Outcome.WRONG),  # "of course" then no: the answer is no
        ("Absolutely not.", Outcome.WRONG),
        ("Ji nahi.", Outcome.WRONG),
        ("Of course it's a star.", Outcome.CORRECT),
        ("Yes, not a planet but a star.", Outcome.CORRECT),  # after the comma "not" opens the explanation
        ("Of course, not a planet but a star.", Outcome.CORRECT),
        ("Not only is it a star, it's the closest one to us.", Outcome.CORRECT),  # "not only" says no "no"
        ("Not a star, a planet.", Outcome.WRONG),
    ],
)
def test_yesno_leading_answer(response: str, expected: Outcome) -> None:
    assert score_answer(response, ["yes", "हाँ"], answer_type="yesno", question=SUN_STAR).outcome is expected


@pytest.mark.parametrize(
    ("response", "answers", "question", "expected"),
    [
        # a yes/no gold is read by its leading word, like a reply: "Yes, it is a star" is yes
        ("Yes.", ["Yes, it is a star"], SUN_STAR, Outcome.CORRECT),
        ("No.", ["Yes, it is a star"], SUN_STAR, Outcome.WRONG),
        ("No, it is a star.", ["No, it is not", "नहीं"], "Is the Sun a planet?", Outcome.CORRECT),
        ("Yes.", ["ji nahi", "नहीं"], "Is the Sun a planet?", Outcome.WRONG),
        ("The Sun is not a planet.", ["no"], "Is the Sun a planet?", Outcome.CORRECT),
    ],
)
def test_yesno_gold_is_read_by_its_leading_word(
    response: str, answers: list[str], question: str, expected: Outcome
) -> None:
    assert score_answer(response, answers, answer_type="yesno", question=question).outcome is expected


@pytest.mark.parametrize(
    ("response", "answers", "expected"),
    [
        # a number gold written only in words is compared by value
        ("Spiders have 8 legs.", ["eight"], Outcome.CORRECT),
        ("मकड़ी के ८ पैर होते हैं।", ["eight legs"], Outcome.CORRECT),
        ("Spiders have 6 legs.", ["eight"], Outcome.WRONG),
        ("Spiders have 18 legs.", ["आठ"], Outcome.WRONG),
    ],
)
def test_number_gold_in_words(response: str, answers: list[str], expected: Outcome) -> None:
    q = "How many legs does a spider have?"
    assert score_answer(response, answers, answer_type="number", question=q).outcome is expected


BODY_C = ("What is normal human body temperature, in degrees Celsius?", ["37", "37 °C", "३७", "सैंतीस"])
QUTUB_M = ("How tall is the Qutub Minar, in metres?", ["73", "73 m", "73 metres", "७३"])
GANGA_KM = ("How long is the Ganga, in kilometres?", ["2525", "2,525 km"])
LION_KG = ("Roughly how much does an adult male lion weigh, in kilograms?", ["190", "190 kg"])


@pytest.mark.parametrize(
    ("item", "response", "expected"),
    [
        # the gold's value in another unit is another quantity: never the answer
        (BODY_C, "It is about 37 °F.", Outcome.WRONG),
        (BODY_C, "Normal body temperature is 37 degrees Fahrenheit.", Outcome.WRONG),
        (BODY_C, "शरीर का सामान्य तापमान 37 डिग्री फ़ारेनहाइट होता है।", Outcome.WRONG),
        (BODY_C, "Lagbhag 37 degree Fahrenheit hota hai.", Outcome.WRONG),
        (QUTUB_M, "The Qutub Minar is 73 feet tall.", Outcome.WRONG),
        (QUTUB_M, "क़ुतुब मीनार 73 फ़ीट ऊँची है।", Outcome.WRONG),
        (GANGA_KM, "The Ganga is 2,525 miles long.", Outcome.WRONG),
        (GANGA_KM, "गंगा 2,525 मील लंबी है।", Outcome.WRONG),
        (LION_KG, "About 190 lb.", Outcome.WRONG),
        (LION_KG, "Lagbhag 190 pound.", Outcome.WRONG),
        (LION_KG, "लगभग 190 पाउंड।", Outcome.WRONG),
        # the gold in its own unit, the other units beside it as context; a bare number as before
        (BODY_C, "About 37 °C (98.6 °F).", Outcome.CORRECT),
        (BODY_C, "Lagbhag 37.", Outcome.CORRECT),
        (QUTUB_M, "It is 73 m (240 ft) tall.", Outcome.CORRECT),
        (QUTUB_M, "क़ुतुब मीनार 73 मीटर ऊँची है।", Outcome.CORRECT),
        (GANGA_KM, "About 2,525 km, or 1,569 miles.", Outcome.CORRECT),
        (LION_KG, "Around 190 kilo.", Outcome.CORRECT),
    ],
)
def test_a_number_in_another_unit_than_the_gold_is_not_the_gold(
    item: tuple[str, list[str]], response: str, expected: Outcome
) -> None:
    question, answers = item
    assert score_answer(response, answers, answer_type="number", question=question).outcome is expected


MILK_KG = (
    "Roughly how many kilograms does one litre of milk weigh?",
    ["1", "1 kg", "one kilogram", "एक किलो", "ek kilo"],
)
DROP_G = (
    "How many grams does one millilitre of water weigh?",
    ["1", "1 g", "one gram", "एक ग्राम", "ek gram"],
)
HOUR = ("How many hours is 60 minutes?", ["1", "1 hour", "one hour", "एक घंटा", "ek ghanta"])
TRAIN = ("If a train covers 60 km in one hour, how far does it go in two hours?", ["120"])


@pytest.mark.parametrize(
    ("item", "response", "expected"),
    [
        # the question's quantity restated ("one litre") is the question's, not the answer, in words
        # or digits, in any script; a number in any other unit than the one asked for is no answer
        (MILK_KG, "One litre of milk weighs roughly one pound.", Outcome.WRONG),
        (MILK_KG, "1 litre of milk is about 1 lb.", Outcome.WRONG),
        (MILK_KG, "Ek litre doodh lagbhag ek pound ka hota hai.", Outcome.WRONG),
        (MILK_KG, "एक लीटर दूध लगभग एक पाउंड का होता है।", Outcome.WRONG),
        (MILK_KG, "One litre of milk weighs roughly 1 kg.", Outcome.CORRECT),
        (MILK_KG, "Ek litre doodh lagbhag ek kilo ka hota hai.", Outcome.CORRECT),
        (MILK_KG, "एक लीटर दूध का वज़न लगभग एक किलो होता है।", Outcome.CORRECT),
        (MILK_KG, "Roughly one.", Outcome.CORRECT),
        (DROP_G, "One millilitre of water weighs one milligram.", Outcome.WRONG),
        (DROP_G, "एक मिलीलीटर पानी का वज़न 1 मिलीग्राम होता है।", Outcome.WRONG),
        (DROP_G, "Ek ml paani ek mg ka hota hai.", Outcome.WRONG),
        (DROP_G, "One millilitre of water weighs one gram.", Outcome.CORRECT),
        (DROP_G, "Ek ml paani ek gram ka hota hai.", Outcome.CORRECT),
        (HOUR, "60 minutes make one day.", Outcome.WRONG),
        (HOUR, "Sixty minutes make one hour.", Outcome.CORRECT),
        # a question whose every unit measures a given quantity keeps them all as the answer's
        (TRAIN, "It goes 120 miles.", Outcome.WRONG),
        (TRAIN, "It goes 120 km.", Outcome.CORRECT),
    ],
)
def test_the_question_quantity_restated_is_not_the_answer(
    item: tuple[str, list[str]], response: str, expected: Outcome
) -> None:
    question, answers = item
    got = score_answer(response, answers, answer_type="number", question=question)
    assert got.outcome is expected, got.reason


YES = ["yes", "हाँ", "हां", "haan", "ji haan"]
DOLPHIN = {"en": "Is a dolphin a mammal?", "hi": "क्या डॉल्फ़िन एक स्तनधारी है?", "hinglish": "Kya dolphin ek mammal hai?",
           "cs": "क्या dolphin एक mammal है?"}  # fmt: skip


@pytest.mark.parametrize(
    ("cond", "response", "expected"),
    [
        # a leading yes, then a turn that denies the claim: no yes
        ("en", "Yes. However, a dolphin is not a mammal.", Outcome.WRONG),
        ("en", "Sure — but dolphins aren't mammals, they're fish.", Outcome.WRONG),
        ("hi", "हाँ, लेकिन डॉल्फ़िन स्तनधारी नहीं है।", Outcome.WRONG),
        ("hi", "हाँ, पर यह स्तनधारी नहीं, मछली है।", Outcome.WRONG),
        ("hinglish", "Haan, lekin dolphin mammal nahi hai.", Outcome.WRONG),
        ("hinglish", "Haan par yeh mammal nahi hai.", Outcome.WRONG),
        ("cs", "हाँ, but dolphin एक mammal नहीं है।", Outcome.WRONG),
        # ... or that says it is something else: the reader hesitates
        ("en", "Yes, but it is actually a fish.", Outcome.UNRESOLVED),
        ("en", "Of course. In fact, it's a large fish.", Outcome.UNRESOLVED),
        ("hi", "हाँ, पर असल में यह एक मछली है।", Outcome.UNRESOLVED),
        ("hinglish", "Haan, lekin asal mein yeh ek machhli hai.", Outcome.UNRESOLVED),
        ("cs", "Yes, लेकिन actually यह एक fish है।", Outcome.UNRESOLVED),
        # a caveat after the yes is no turn
        ("en", "Yes, but it spends its whole life in water.", Outcome.CORRECT),
        ("en", "Yes, but it is not the largest mammal.", Outcome.CORRECT),
        ("en", "Yes, though it looks like a fish, it is a mammal.", Outcome.CORRECT),
        ("hi", "हाँ, पर यह पूरी ज़िंदगी पानी में रहती है।", Outcome.CORRECT),
        ("hi", "हाँ, लेकिन यह सबसे बड़ा स्तनधारी नहीं है।", Outcome.CORRECT),
        ("hinglish", "Haan, par yeh paani mein rehti hai.", Outcome.CORRECT),
        ("hinglish", "Haan, yeh samudra par rehti hai aur mammal hai.", Outcome.CORRECT),
        ("cs", "हाँ, लेकिन यह water में रहती है, फिर भी mammal है।", Outcome.CORRECT),
    ],
)
def test_a_leading_yes_taken_back_is_no_yes(cond: str, response: str, expected: Outcome) -> None:
    got = score_answer(response, YES, answer_type="yesno", question=DOLPHIN[cond])
    assert got.outcome is expected, got.reason


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("No, but actually it is a bird.", Outcome.UNRESOLVED),  # a leading no taken back
        ("No, but it can fly like a bird.", Outcome.CORRECT),  # a caveat
        ("No. In fact, it is a mammal.", Outcome.CORRECT),  # the turn asserts something else: still no
    ],
)
def test_a_leading_no_taken_back_is_no_no(response: str, expected: Outcome) -> None:
    got = score_answer(response, ["no", "नहीं", "nahi"], answer_type="yesno", question="Is a bat a bird?")
    assert got.outcome is expected, got.reason


KENYA = ("What is the capital of Kenya?", ["Nairobi", "नैरोबी"])


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("N a i r o b i", Outcome.CORRECT),  # letter-spaced, as noisy input is echoed
        ("The capital is N a i r o b i.", Outcome.CORRECT),
        ("T h e  a n s w e r  i s  N a i r o b i", Outcome.CORRECT),  # words two spaces apart
        ("Kenya ki rajdhani N a i r o b i hai.", Outcome.CORRECT),
        ("M o m b a s a", Outcome.WRONG),
        ("N a i r o b i  or  M o m b a s a", Outcome.UNRESOLVED),  # still a hedge between two
        ("Not N a i r o b i, but M o m b a s a.", Outcome.WRONG),
        ("Nai r o b i", Outcome.WRONG),  # not one word spelled out
        # a spelled-out word ends where another script begins
        ("Kenya की capital N a i r o b i है।", Outcome.CORRECT),
        ("Kenya की राजधानी M o m b a s a है।", Outcome.WRONG),
        # a Devanagari word split at a syllable, one piece no word on its own
        ("केन्या की राजधानी नैरो बी है।", Outcome.CORRECT),
        ("केन्या की राजधानी मोम्बा सा है।", Outcome.WRONG),
    ],
)
def test_letter_spaced_words_are_read_joined(response: str, expected: Outcome) -> None:
    question, answers = KENYA
    assert score_answer(response, answers, question=question).outcome is expected


@pytest.mark.parametrize(
    ("text", "joined"),
    [
        ("N a i r o b i", "Nairobi"),
        ("M a r s  or  V e n u s", "Mars  or  Venus"),
        ("I a m sure", "I a m sure"),  # three letters stay apart: words or a list
        ("R i o", "R i o"),
        ("न म क", "न म क"),  # single Devanagari characters are common words
        ("H 2 O", "H 2 O"),
        ("Japan की capital T o k y o है", "Japan की capital Tokyo है"),
        ("India की capital N e w  D e l h i है", "India की capital New  Delhi है"),  # a short word beside
        ("a b c  d e", "a b c  d e"),
    ],
)
def test_join_spaced_letters(text: str, joined: str) -> None:
    from llm_eval.textfold import join_spaced_letters

    assert join_spaced_letters(text) == joined


def test_two_words_that_join_into_the_gold_are_read_as_written() -> None:
    """``जो कर`` ("who does") is two words, not ``जोकर`` (joker) split at a syllable."""
    got = score_answer(
        "वह जो कर सकता है, करेगा।", ["जोकर"], answer_type="entity", question="What is a clown called?"
    )
    assert got.outcome is not Outcome.CORRECT


BERLIN = "In which year did the Berlin Wall fall?"
BEIJING = "In which year were the Beijing Summer Olympics held?"


@pytest.mark.parametrize(
    ("response", "answers", "question", "kind", "expected"),
    [
        # a year said in two pairs of digits, or with a Hindi multiplier, is that year
        ("nineteen eighty-nine", ["1989"], BERLIN, "year", Outcome.CORRECT),
        ("It fell in November nineteen eighty nine.", ["1989"], BERLIN, "year", Outcome.CORRECT),
        ("बर्लिन की दीवार उन्नीस सौ नवासी में गिरी।", ["1989", "१९८९"], BERLIN, "year", Outcome.CORRECT),
        ("Berlin Wall unnis sau navasi mein giri.", ["1989"], BERLIN, "year", Outcome.CORRECT),
        ("twenty oh eight", ["2008"], BEIJING, "year", Outcome.CORRECT),
        ("Beijing Olympics do hazaar aath mein hue.", ["2008"], BEIJING, "year", Outcome.CORRECT),
        ("बीजिंग ओलंपिक दो हज़ार आठ में हुए।", ["2008"], BEIJING, "year", Outcome.CORRECT),
        ("nineteen ninety", ["1989"], BERLIN, "year", Outcome.WRONG),
        ("Beijing Olympics do hazaar chaar mein hue.", ["2008"], BEIJING, "year", Outcome.WRONG),
        ("nineteen eighty-nine or nineteen ninety", ["1989"], BERLIN, "year", Outcome.UNRESOLVED),
        # a gold written in words is read by place value too: "nineteen forty-seven" is not 19 + 47
        (
            "66",
            ["1947", "nineteen forty-seven"],
            "In which year did India gain independence?",
            "number",
            Outcome.WRONG,
        ),
    ],
)
def test_years_in_words(
    response: str, answers: list[str], question: str, kind: str, expected: Outcome
) -> None:
    assert score_answer(response, answers, answer_type=kind, question=question).outcome is expected


CURIE = ["Marie Curie", "Curie", "मैरी क्यूरी"]
SHEPARD = ["Alan Shepard", "Shepard"]


@pytest.mark.parametrize(
    ("response", "answers", "question", "answer_class", "expected"),
    [
        # a who-question about a person: nationality, language and sky words, and a craft with its
        # number, name no rival person
        ("Marie Curie, the Polish-born French physicist, won it in 1903.", CURIE,
         "Who was the first woman to win a Nobel Prize?", None, Outcome.CORRECT),
        ("Alan Shepard, aboard Freedom 7 in May 1961, on a flight that never reached orbit around the Earth.",
         SHEPARD, "Who was the first American in space?", None, Outcome.CORRECT),
        # a real rival person still blocks, and the gold named only to be rejected is wrong
        ("Probably Alan Shepard, or else Gus Grissom, the other Mercury pilot.", SHEPARD,
         "Who was the first American in space?", None, Outcome.UNRESOLVED),
        ("It was not Marie Curie but Bertha von Suttner, the Austrian writer.", CURIE,
         "Who was the first woman to win a Nobel Prize?", None, Outcome.WRONG),
        # a who-question whose gold is no person's name keeps them as rivals
        ("India won; the Australian side had won the three before.", ["India"],
         "Who won the 2011 Cricket World Cup?", None, Outcome.UNRESOLVED),
        # a gold written as a symbol or formula: only another code is a rival
        ("The symbol for silver is Ag, from the Latin argentum.", ["Ag"],
         "What is the chemical symbol for silver?", None, Outcome.CORRECT),
        ("नमक का रासायनिक सूत्र NaCl है, यानी सोडियम और क्लोरीन का यौगिक।", ["NaCl"],
         "नमक का रासायनिक सूत्र क्या है?", None, Outcome.CORRECT),
        ("It is Ag or Au, I forget which.", ["Ag"], "What is the chemical symbol for silver?", None,
         Outcome.UNRESOLVED),
        ("It is H2O2, not H2O.", ["H2O"], "What is the chemical formula of hydrogen peroxide?", None,
         Outcome.WRONG),
        # the question's own word in another language is no rival
        ("India का national fruit आम है।", ["mango", "aam", "आम"], "Bharat ka rashtriya phal kya hai?",
         "fruit", Outcome.CORRECT),
        ("India का national fruit आम नहीं, केला है।", ["mango", "aam", "आम"],
         "Bharat ka rashtriya phal kya hai?", "fruit", Outcome.WRONG),
        # a relative adverb is no name
        ("राजस्थान की राजधानी जयपुर है जहाँ मैं रहता हूँ।", ["Jaipur", "जयपुर"], "राजस्थान की राजधानी क्या है?",
         None, Outcome.CORRECT),
    ],
)  # fmt: skip
def test_a_rival_is_a_word_of_the_question_kind(
    response: str, answers: list[str], question: str, answer_class: str | None, expected: Outcome
) -> None:
    got = score_answer(response, answers, question=question, answer_class=answer_class)
    assert got.outcome is expected, got


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        # the hedge doubts how the question reads, not the answer stated after it
        ("I think you mean Austria (not Australia, whose capital is Canberra). Austria's capital is Vienna.",
         Outcome.CORRECT),
        ("Maybe you meant Austria rather than Australia? Austria's capital is Vienna; Graz is its second city.",
         Outcome.CORRECT),
        # a hedge on the answer itself, beside another candidate, still leaves it open
        ("I think it's Vienna, though Salzburg is also a guess of mine.", Outcome.UNRESOLVED),
        ("I think you're asking about Austria. Probably Vienna, or maybe Salzburg.", Outcome.UNRESOLVED),
    ],
)  # fmt: skip
def test_a_hedge_on_the_question_reading_does_not_hedge_the_answer(response: str, expected: Outcome) -> None:
    got = score_answer(response, ["Vienna", "Wien"], question="What is the capital of Austria?")
    assert got.outcome is expected, got


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        # the first statement answers the question's model; the later numbers are other models'
        ("The Galaxy S23 has a 3,900 mAh battery. The Galaxy S23 Plus has 4,700 mAh and the S23 Ultra 5,000 mAh.",
         Outcome.CORRECT),
        ("Galaxy S23: 3,900 mAh. The S23 Ultra packs a bigger 5,000 mAh cell.", Outcome.CORRECT),
        # the gold given only for another model, the question's model given another number
        ("The Galaxy S23 has a 4,700 mAh battery, while the S23 Ultra has 3,900 mAh.", Outcome.WRONG),
        # two numbers for the question's own model stay open
        ("The Galaxy S23 has 3,900 or 4,700 mAh, I am not sure which.", Outcome.UNRESOLVED),
    ],
)  # fmt: skip
def test_numbers_for_another_model_are_context(response: str, expected: Outcome) -> None:
    got = score_answer(response, ["3900", "3,900"], answer_type="number",
                       question="What is the battery capacity of the Galaxy S23, in mAh?")  # fmt: skip
    assert got.outcome is expected, got


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        # the clause that restates the romanized question in Devanagari gives the answer
        ("राजस्थान की राजधानी जयपुर है, जबकि उदयपुर झीलों के लिए मशहूर है।", Outcome.CORRECT),
        # ... also when it names a rival as the answer, or names the gold only to deny it
        ("जयपुर एक सुंदर शहर है, लेकिन राजस्थान की राजधानी उदयपुर है।", Outcome.WRONG),
        ("उदयपुर राजस्थान की राजधानी है, जयपुर नहीं।", Outcome.WRONG),
        ("राजस्थान की राजधानी जयपुर या उदयपुर है, पक्का नहीं।", Outcome.UNRESOLVED),
    ],
)
def test_the_question_restated_in_another_script_draws_the_focus(response: str, expected: Outcome) -> None:
    got = score_answer(response, ["Jaipur", "जयपुर"], question="Rajasthan ki rajdhani kya hai?")
    assert got.outcome is expected, got


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        # "और" after a clause's closing copula opens another clause: the one that restates the
        # question gives the answer
        ("हम साँस में ऑक्सीजन अंदर लेते हैं और कार्बन डाइऑक्साइड बाहर छोड़ते हैं।", Outcome.CORRECT),
        ("हम साँस में कार्बन डाइऑक्साइड अंदर लेते हैं और ऑक्सीजन बाहर छोड़ते हैं।", Outcome.WRONG),
        ("Hum saans mein carbon dioxide andar lete hain aur oxygen bahar chhodte hain.", Outcome.WRONG),
        # two candidates joined in one clause stay open
        ("हम साँस में ऑक्सीजन और नाइट्रोजन अंदर लेते हैं।", Outcome.UNRESOLVED),
    ],
)
def test_a_hindi_clause_after_its_copula_is_its_own_unit(response: str, expected: Outcome) -> None:
    got = score_answer(response, ["oxygen", "ऑक्सीजन"], question="मनुष्य साँस में कौन सी गैस अंदर लेते हैं?",
                       answer_class="gas")  # fmt: skip
    assert got.outcome is expected, got


def test_a_question_word_counts_once_across_scripts() -> None:
    """ "shehar" and ``शहर`` are one word of the question: the clause that names the type noun in the
    other script does not outweigh the one that says which city is the capital."""
    got = score_answer("उदयपुर राजधानी है और जयपुर एक बड़ा शहर है।", ["Jaipur", "जयपुर"],
                       question="Rajasthan ki rajdhani kaun sa shehar hai?")  # fmt: skip
    assert got.outcome is not Outcome.CORRECT, got


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        # one answer given with doubt; the other name ranked below it, outside the hedge's clause
        ("I believe it was Alan Shepard. John Glenn followed later, as the first to orbit.", Outcome.CORRECT),
        ("Probably Alan Shepard (John Glenn was the second to fly).", Outcome.CORRECT),
        # a hedge between two stays open; so does a rival that is not ranked below the answer
        ("I think it was Alan Shepard, though it might be John Glenn.", Outcome.UNRESOLVED),
        ("Probably Alan Shepard or John Glenn.", Outcome.UNRESOLVED),
        ("I think Alan Shepard; John Glenn is another name people give.", Outcome.UNRESOLVED),
        # the gold ranked below a hedged rival is never correct
        ("Maybe John Glenn; Alan Shepard flew later.", Outcome.UNRESOLVED),
    ],
)
def test_a_hedged_answer_beside_rivals_ranked_below_it(response: str, expected: Outcome) -> None:
    got = score_answer(response, SHEPARD, question="Who was the first American in space?")
    assert got.outcome is expected, got
