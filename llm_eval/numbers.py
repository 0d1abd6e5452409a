"""Reading numbers by value: digits of any script, thousands separators, currency, number words.

``$29.00``, ``29``, ``29.0`` and ``twenty-nine`` are one value; ``1,000`` = ``1000`` =
``1,00,000``/100 (Indian grouping); ``२४`` = ``૨૪`` = ``24``. Number words: English up to the
thousands ("two hundred and six"), Hindi 0-100 in Devanagari and romanized, with ``सौ``/``sau``,
``हज़ार``/``hazaar``, ``लाख``/``lakh`` as multipliers. A number is compared by value, never as a
substring ("711" is not "11"). Units are words after a number (:data:`UNITS`, folded to one name
per unit) so that "1,440 minutes" beside a question about hours is read as another quantity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

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

# a unit word after a number -> the unit's one name (the question's own unit words decide which are "other")
UNITS: dict[str, str] = {
    match_key(w): name
    for name, words in {
        "celsius": "c celsius centigrade सेल्सियस",
        "fahrenheit": "f fahrenheit फारेनहाइट फ़ारेनहाइट",
        "kelvin": "k kelvin",
        "second": "second seconds sec secs s सेकंड",
        "minute": "minute minutes min mins मिनट",
        "hour": "hour hours hr hrs घंटे घंटा ghante ghanta",
        "day": "day days दिन din",
        "week": "week weeks सप्ताह हफ्ते hafte",
        "metre": "metre metres meter meters m मीटर",
        "kilometre": "kilometre kilometres kilometer kilometers km किलोमीटर",
        "centimetre": "centimetre centimetres centimeter centimeters cm सेंटीमीटर",
        "millimetre": "millimetre millimetres millimeter millimeters mm",
        "inch": "inch inches इंच",
        "foot": "foot feet ft",
        "mile": "mile miles",
        "gram": "gram grams g ग्राम",
        "kilogram": "kilogram kilograms kg किलोग्राम",
        "pound": "pound pounds lb lbs",
        "litre": "litre litres liter liters l लीटर",
        "percent": "percent per cent प्रतिशत pratishat",
    }.items()
    for w in words.split()
}


def unit_of(key: str) -> str | None:
    """The unit a word names ("minutes" -> "minute"), or None."""
    return UNITS.get(key)


def _english(words: Sequence[str], i: int) -> tuple[int, float] | None:
    j, total, cur, seen = i, 0.0, 0.0, False
    while j < len(words):
        x = words[j]
        if x in _EN_UNITS:
            cur += _EN_UNITS[x]
        elif x in _EN_TENS:
            cur += _EN_TENS[x]
        elif x in _EN_SCALE and seen:
            if _EN_SCALE[x] == 100:
                cur = max(cur, 1) * 100
            else:
                total += max(cur, 1) * _EN_SCALE[x]
                cur = 0
        elif (
            x == "and"
            and seen
            and j + 1 < len(words)
            and (words[j + 1] in _EN_UNITS or words[j + 1] in _EN_TENS)
        ):
            pass  # "two hundred and six"
        else:
            break
        seen = True
        j += 1
    return (j - i, total + cur) if j > i else None


# English words that a folded romanization would read as a number ("aat" -> "at" = 8, "saat" ->
# "sat" = 7): written so, they are the English word ("boils at 100 °C")
_ENGLISH_HOMOGRAPHS = frozenset(("at", "sat", "tin"))


def _hindi(words: Sequence[str], i: int) -> tuple[int, float] | None:
    """A Hindi number word, with an optional multiplier after it ("ek hazaar", "दो सौ")."""
    if words[i] in _ENGLISH_HOMOGRAPHS:
        return None
    w = _rom(words[i])
    if w in _HI_SCALE_KEYS and w not in _HI_WORDS:
        return None
    if w not in _HI_WORDS:
        return None
    val, n = float(_HI_WORDS[w]), 1
    if i + 1 < len(words):
        nxt = _rom(words[i + 1])
        if nxt in _HI_SCALE_KEYS and _HI_SCALE_KEYS[nxt] > max(val, 1):
            val, n = max(val, 1) * _HI_SCALE_KEYS[nxt], 2
    return n, val


def word_numbers(
    words: Sequence[str], extra: Mapping[tuple[str, ...], float]
) -> dict[int, tuple[int, float]]:
    """start index -> (length, value) for numbers written in words (longest match at each start).

    ``words`` are match keys; ``extra`` maps an item's own word aliases (as key tuples) to the gold
    value ("ek sau" -> 100)."""
    out: dict[int, tuple[int, float]] = {}
    i = 0
    while i < len(words):
        best: tuple[int, float] | None = None
        for phrase, val in extra.items():
            k = len(phrase)
            if tuple(words[i : i + k]) == phrase and (best is None or k > best[0]):
                best = (k, val)
        for found in (_english(words, i), _hindi(words, i)):
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
