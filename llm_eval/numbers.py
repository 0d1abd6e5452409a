"""Reading numbers by value: digits of any script, thousands separators, currency, number words.

``$29.00``, ``29``, ``29.0`` and ``twenty-nine`` are one value; ``1,000`` = ``1000`` =
``1,00,000``/100 (Indian grouping); ``२४`` = ``૨૪`` = ``24``. Number words, read by place value:
English up to the millions ("two hundred and six", "two thousand and eight") and years said in
two pairs of digits ("nineteen forty-five", "twenty twenty-three", "nineteen oh five"); Hindi
0-100 in Devanagari and romanized, with ``सौ``/``sau``, ``हज़ार``/``hazaar``, ``लाख``/``lakh`` as
falling multipliers (``उन्नीस सौ सैंतालीस`` = 1947, "do hazaar aath" = 2008). Words in no number's
order, or apart across punctuation, are separate numbers ("nineteen, forty-five"; ``सात आठ``,
"seven or eight"), never a sum. A number is compared by value, never as a substring ("711" is not
"11"). Units are words after a number (:data:`UNITS`, English, Devanagari and romanized spellings
folded to one name per unit) so that "1,440 minutes" beside a question about hours, or "100 °F"
beside one about degrees Celsius, is read as another quantity.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence

from llm_eval.textfold import base_fold, match_key

__all__ = ["UNITS", "is_number_word", "parse_number", "unit_of", "word_numbers"]

_CURRENCY = "$€£¥₹"


def parse_number(text: str) -> float | None:
    """Parse a whole string as a number ("25", "25.0", "1,000", "1,00,000", "२५", "25%", "$29.00",
    "₹500", "Rs. 500"); else None."""
    s = base_fold(text).strip().rstrip("%").strip()
    s = re.sub(r"^(?:rs\.?|inr|usd)\s*", "", s).strip(_CURRENCY + " ").replace("−", "-")
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{2,3})+(\.\d+)?", s):  # thousands separators (incl. Indian 1,00,000)
        s = s.replace(",", "")
    if not re.fullmatch(r"[-+]?\d+(\.\d+)?", s):
        return None
    return float(s)


def _keys(table: Mapping[str, float]) -> dict[str, float]:
    return {match_key(k): v for k, v in table.items()}


_EN_UNITS = _keys({w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
     "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"])})  # fmt: skip
_EN_TENS = _keys({w: 10 * (i + 2) for i, w in enumerate(
    ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])})  # fmt: skip
_EN_SCALE = {"hundred": 100, "thousand": 1000, "million": 1_000_000}

_HI_DEV = "शून्य एक दो तीन चार पांच छह सात आठ नौ दस ग्यारह बारह तेरह चौदह पंद्रह सोलह सत्रह अठारह उन्नीस बीस इक्कीस बाईस तेईस चौबीस पच्चीस छब्बीस सत्ताईस अट्ठाईस उनतीस तीस इकतीस बत्तीस तैंतीस चौंतीस पैंतीस छत्तीस सैंतीस अड़तीस उनतालीस चालीस इकतालीस बयालीस तैंतालीस चौवालीस पैंतालीस छियालीस सैंतालीस अड़तालीस उनचास पचास इक्यावन बावन तिरपन चौवन पचपन छप्पन सत्तावन अट्ठावन उनसठ साठ इकसठ बासठ तिरसठ चौंसठ पैंसठ छियासठ सड़सठ अड़सठ उनहत्तर सत्तर इकहत्तर बहत्तर तिहत्तर चौहत्तर पचहत्तर छिहत्तर सतहत्तर अठहत्तर उन्यासी अस्सी इक्यासी बयासी तिरासी चौरासी पचासी छियासी सत्तासी अट्ठासी नवासी नब्बे इक्यानवे बानवे तिरानवे चौरानवे पचानवे छियानवे सत्तानवे अट्ठानवे निन्यानवे"
# romanized forms; "do" (two), "char" (four) and "saath" (sixty; also "with") are left out: the other
# meanings are far commoner
_HI_ROM = "shunya ek - teen - paanch chhah saat aath nau das gyaarah baarah terah chaudah pandrah solah satrah athaarah unnees bees ikkees baais teis chaubees pachchees chhabbees sattaais atthaais untees tees iktees battees taintees chauntees paintees chhattees saintees adtees untaalees chaalees iktaalees bayaalees taintaalees chauvaalees paintaalees chhiyaalees saintaalees adtaalees unchaas pachaas ikyaavan baavan tirpan chauvan pachpan chhappan sattaavan atthaavan unsath - iksath baasath tirsath chaunsath painsath chhiyaasath sadsath adsath unhattar sattar ikhattar bahattar tihattar chauhattar pachhattar chhihattar sathattar athhattar unyaasi assi ikyaasi bayaasi tiraasi chauraasi pachaasi chhiyaasi sattaasi atthaasi navaasi nabbe ikyaanve baanve tiraanve chauraanve pachaanve chhiyaanve sattaanve atthaanve ninyaanve"
_HI_EXTRA = {"छः": 6, "छे": 6, "chhe": 6, "chhah": 6, "che": 6, "panch": 5, "aat": 8, "sau": 100, "सौ": 100,
             "chappan": 56, "chhapan": 56, "bayalis": 42, "byalis": 42, "tiresath": 63, "tirasath": 63,
             "pacchis": 25, "pachhis": 25, "sifar": 0, "सिफर": 0, "zero": 0}  # fmt: skip
_HI_SCALE = {"सौ": 100, "sau": 100, "हजार": 1000, "hazar": 1000, "hajar": 1000, "लाख": 100_000,
             "lakh": 100_000, "lac": 100_000, "करोड": 10_000_000, "karod": 10_000_000, "crore": 10_000_000}  # fmt: skip


def _rom(word: str) -> str:
    """Romanized Hindi spelling folded: doubled vowels single ("gyaarah" = "gyarah")."""
    return re.sub(r"([aeiou])\1+", r"\1", match_key(word)) if word.isascii() else match_key(word)


_HI_WORDS: dict[str, float] = {}
for _i, (_d, _r) in enumerate(zip(_HI_DEV.split(), _HI_ROM.split(), strict=True)):
    _HI_WORDS[match_key(_d)] = _i
    if _r != "-":
        _HI_WORDS[_rom(_r)] = _i
_HI_WORDS.update({_rom(k): v for k, v in _HI_EXTRA.items()})
_HI_SCALE_KEYS = {_rom(k): v for k, v in _HI_SCALE.items()}

# a unit word after a number -> the unit's one name (the question's own unit words decide which are
# "other"), in English, Devanagari and romanized Hindi spellings
UNITS: dict[str, str] = {
    match_key(base_fold(w)): name
    for name, words in {
        "celsius": "c celsius centigrade सेल्सियस सेल्सिअस",
        "fahrenheit": "f fahrenheit farenheit फ़ारेनहाइट फ़ैरनहाइट फ़ॉरेनहाइट",
        "kelvin": "k kelvin केल्विन",
        "second": "second seconds sec secs s सेकंड सेकेंड",
        "minute": "minute minutes min mins मिनट",
        "hour": "hour hours hr hrs घंटे घंटा ghante ghanta",
        "day": "day days दिन din",
        "week": "week weeks सप्ताह हफ़्ते hafte",
        "metre": "metre metres meter meters m मीटर",
        "kilometre": "kilometre kilometres kilometer kilometers km kms किलोमीटर किमी",
        "centimetre": "centimetre centimetres centimeter centimeters cm सेंटीमीटर सेमी",
        "millimetre": "millimetre millimetres millimeter millimeters mm मिलीमीटर",
        "inch": "inch inches इंच",
        "foot": "foot feet ft फ़ीट फ़ुट फ़िट",
        "yard": "yard yards yd",
        "mile": "mile miles मील meel",
        "milligram": "milligram milligrams mg मिलीग्राम",
        "gram": "gram grams gm g ग्राम",
        "kilogram": "kilogram kilograms kg kgs kilo kilos किलोग्राम किलो",
        "pound": "pound pounds lb lbs पाउंड पौंड",
        "ounce": "ounce ounces oz",
        "tonne": "tonne tonnes ton tons टन",
        "litre": "litre litres liter liters l लीटर",
        "millilitre": "millilitre millilitres milliliter milliliters ml मिलीलीटर",
        "gallon": "gallon gallons गैलन",
        "percent": "percent per cent प्रतिशत pratishat",
    }.items()
    for w in words.split()
}


def unit_of(key: str) -> str | None:
    """The unit a word names ("minutes" -> "minute"), or None."""
    return UNITS.get(key)


def _tens(words: Sequence[str], j: int, breaks: Collection[int]) -> tuple[int, float] | None:
    """A number below 100 written in English words at ``j``: "five", "nineteen", "forty", "forty-five"."""
    if j >= len(words):
        return None
    x = words[j]
    if x in _EN_TENS:
        nxt = words[j + 1] if j + 1 < len(words) and j + 1 not in breaks else ""
        if 1 <= _EN_UNITS.get(nxt, 0) <= 9:
            return 2, _EN_TENS[x] + _EN_UNITS[nxt]
        return 1, _EN_TENS[x]
    return (1, _EN_UNITS[x]) if x in _EN_UNITS else None


_OH = frozenset(("oh", "o"))


def _year_pair(
    words: Sequence[str], j: int, first: float, breaks: Collection[int]
) -> tuple[int, float] | None:
    """The second half of a year said in two pairs of digits, after a first half of 10-20 ("nineteen
    | forty-five" = 1945, "twenty | twenty-three" = 2023, "nineteen | oh five" = 1905): (words, year)."""
    if not 10 <= first <= 20 or j >= len(words) or j in breaks:
        return None
    if (
        words[j] in _OH
        and j + 1 < len(words)
        and j + 1 not in breaks
        and 1 <= _EN_UNITS.get(words[j + 1], 0) <= 9
    ):
        return 2, float(first * 100 + _EN_UNITS[words[j + 1]])
    second = _tens(words, j, breaks)
    if second is not None and second[1] >= 10:
        return second[0], float(first * 100 + second[1])
    return None


def _english(words: Sequence[str], i: int, breaks: Collection[int] = ()) -> tuple[int, float] | None:
    """An English number at ``i`` by place value: "two hundred and six", "two thousand and eight",
    "nineteen hundred and forty-five", and a year in pairs ("nineteen forty-five"); words in no
    number's order ("nineteen, forty-five") are separate numbers, never a sum."""
    first = _tens(words, i, breaks)
    if first is None:
        return None
    j, cur = i + first[0], first[1]
    pair = _year_pair(words, j, cur, breaks)
    if pair is not None:
        return j + pair[0] - i, pair[1]
    total, scale_cap, can_hundred, can_group = 0.0, math.inf, True, False
    while j < len(words) and j not in breaks:
        x = words[j]
        if x == "hundred" and can_hundred:
            cur, can_hundred, can_group = cur * 100, False, True
        elif x in _EN_SCALE and x != "hundred" and _EN_SCALE[x] < scale_cap and cur > 0:
            total, cur, scale_cap = total + cur * _EN_SCALE[x], 0.0, _EN_SCALE[x]
            can_hundred, can_group = False, True
        elif can_group:
            k = j + 1 if x == "and" and j + 1 not in breaks else j  # "two hundred and six"
            group = _tens(words, k, breaks)
            if group is None:
                break
            cur, j = cur + group[1], k + group[0]
            can_hundred, can_group = cur < 100, False  # "two thousand five hundred"
            continue
        else:
            break
        j += 1
    return j - i, total + cur


# English words that a folded romanization would read as a number ("aat" -> "at" = 8, "saat" ->
# "sat" = 7): written so, they are the English word ("boils at 100 °C")
_ENGLISH_HOMOGRAPHS = frozenset(("at", "sat", "tin"))
# romanized number words read as numbers only before a multiplier ("do hazaar" = 2000): alone they
# are the commoner English "do" and Hindi "char" (four; also "char" the verb)
_HI_BEFORE_SCALE = {"do": 2.0, "char": 4.0}


def _hindi_word(words: Sequence[str], j: int, breaks: Collection[int]) -> tuple[float, float | None] | None:
    """(value, multiplier after it or None) of the Hindi number word at ``j``."""
    if words[j] in _ENGLISH_HOMOGRAPHS:
        return None
    w = _rom(words[j])
    scale = None
    if j + 1 < len(words) and j + 1 not in breaks:
        scale = _HI_SCALE_KEYS.get(_rom(words[j + 1]))
    if w in _HI_WORDS:
        val = float(_HI_WORDS[w])
    elif w in _HI_BEFORE_SCALE and scale is not None:
        val = _HI_BEFORE_SCALE[w]
    else:
        return None
    return val, (scale if scale is not None and scale > max(val, 1) else None)


def _hindi(words: Sequence[str], i: int, breaks: Collection[int] = ()) -> tuple[int, float] | None:
    """A Hindi number at ``i``: a number word, each with an optional multiplier, multipliers
    falling, then at most one word below the last multiplier ("ek hazaar", "दो सौ", "उन्नीस सौ
    सैंतालीस" = 1947, "do hazaar aath" = 2008); "saat aath" (seven or eight) is two numbers."""
    j, total, cap = i, 0.0, math.inf
    while j < len(words) and (j == i or j not in breaks):
        word = _hindi_word(words, j, breaks)
        if word is None:
            break
        val, scale = word
        if scale is not None and scale < cap:
            total, cap, j = total + max(val, 1) * scale, scale, j + 2
            continue
        if j > i and val >= cap:
            break
        total, j = total + val, j + 1
        break
    return (j - i, total) if j > i else None


def word_numbers(
    words: Sequence[str], extra: Mapping[tuple[str, ...], float], breaks: Collection[int] = ()
) -> dict[int, tuple[int, float]]:
    """start index -> (length, value) for numbers written in words (longest match at each start).

    ``words`` are match keys; ``extra`` maps an item's own word aliases (as key tuples) to the gold
    value ("ek sau" -> 100); ``breaks`` are the indices of words that punctuation other than a
    hyphen separates from the word before, where no number goes on ("nineteen, forty-five")."""
    out: dict[int, tuple[int, float]] = {}
    i = 0
    while i < len(words):
        best: tuple[int, float] | None = None
        for phrase, val in extra.items():
            k = len(phrase)
            if tuple(words[i : i + k]) == phrase and (best is None or k > best[0]):
                best = (k, val)
        for found in (_english(words, i, breaks), _hindi(words, i, breaks)):
            if found is not None and (best is None or found[0] > best[0]):
                best = found
        if best is not None:
            out[i] = best
            i += best[0]
        else:
            i += 1
    return out


def is_number_word(key: str) -> bool:
    """A (match-key folded) number word of English or Hindi: never a name."""
    return (
        key in _EN_UNITS
        or key in _EN_TENS
        or key in _EN_SCALE
        or (key not in _ENGLISH_HOMOGRAPHS and _rom(key) in _HI_WORDS)
    )
