"""Answer extraction: the parts of a reply that mark its answer, strongest first.

A careful reader looks for the answer a reply marks before reading the rest as its argument. The
scorer (:func:`llm_eval.scoring.score_answer`) judges the first of these that names a candidate
answer, and the whole reply only when none does:

1. ``boxed``: the last ``\\boxed{...}``;
2. ``label``: the last line that starts with an answer label (``Answer:``, ``Final answer:``,
   ``**Answer:**``, ``उत्तर:``, ``जवाब:``, ``Jawab:``), cut before any aside that follows the
   answer on that line (``(``, a spaced dash, ``;``, the end of a sentence, a closing ``**``); a
   label alone on its line (a heading ``## Answer``) marks the next line;
3. ``phrase``: the last sentence that says what the answer is ("So the answer is 73.", ``इसलिए
   उत्तर 50 है``, "Toh jawab hai 56") or draws the conclusion ("So 50 is 25% of 200."), unless it
   is hypothetical ("the answer would be", "for example", "if"), which is how recited examples
   read;
4. ``bold``: each sentence holding bold text (``**Canberra** is the capital``); the scorer uses
   them only when they agree;
5. ``last-line``: the reply's last line when it is short (at most 6 words), follows other lines
   and is not a list item, heading or table row: the result under a worked calculation.

Everything after a marked answer is context: it neither confirms nor contradicts it, unless the reply
corrects itself (:func:`split_at_correction`: "Paris. Actually, no: Lyon.", "Sydney — no wait,
Canberra.", "56? No. 54.", "Tokyo — sorry, Kyoto.", ``सिडनी, माफ़ कीजिए, कैनबरा``): what it says after
its last self-correction replaces what it said before. A hedge
inside the marked answer ("Answer: Mars or Venus") stays a hedge, and so does an aside on the answer
line that offers another candidate or hedges ("Answer: Mars (or possibly Venus)"). A rival that the
rest of the reply offers as possible ("**Answer: Mars.** It might be Venus.") leaves the reply
unresolved (:func:`llm_eval.candidates.offered_as_possible`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from llm_eval.lexicon import HEDGES

__all__ = ["MARK_KINDS", "Marked", "final_answer_line", "marked_answers", "split_at_correction"]

MARK_KINDS = ("boxed", "label", "phrase", "bold", "last-line")

_LABEL = r"(?:final\s+answer|short\s+answer|answer|उत्तर|जवाब|uttar|jawab|javab)"
_LABEL_LINE_RE = re.compile(rf"^[\s>#*_-]*{_LABEL}[\s*_]*[:：][\s*_]*(?P<answer>.*?)\s*$", re.IGNORECASE)
_LABEL_ALONE_RE = re.compile(rf"^[\s>#*_]*{_LABEL}[\s*_:：]*$", re.IGNORECASE)
_BOXED_RE = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_BOLD_RE = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_PHRASE_RE = re.compile(
    r"\b(?:answer|uttar|jawab|javab)\b|उत्तर|जवाब|^\W*(?:so|therefore|thus|hence|toh|to|isliye|इसलिए|अतः|तो)\b",
    re.IGNORECASE,
)
_HYPOTHETICAL_RE = re.compile(
    r"\b(?:would|could|if|example|e\.g|like|such as|for instance|suppose|depends)\b|अगर|उदाहरण|agar|jaise",
    re.IGNORECASE,
)
_LIST_LINE_RE = re.compile(r"^\s*(?:[-*•·+]|\d{1,2}[.)]|#|\|)")
# a sentence ends at . ! ? । followed by space, unless the word before the dot is a one- or two-letter
# abbreviation ("Dr.", "Mt.", "पं.")
# (also when bold closes after the mark: "**Tokyo.** It became ...")
_SENT_END_RE = re.compile(
    r"(?:(?<=[!?।॥])|(?<=[!?।॥]\*\*)|(?<!\s\D\D\.)(?<!\s\D\.)(?<!^\D\D\.)(?<!^\D\.)(?<=\.)|(?<=\.\*\*))\s+"
)
_ASIDE_RE = re.compile(r"\s*(?:\(|\s[—–]\s|\s-\s(?=\D)|;|\*\*|__)")
_OR_WORDS = frozenset(("or", "या", "ya", "athva", "अथवा"))
_HEDGE_STARTS = frozenset(tuple(w.casefold() for w in h) for h in HEDGES)


@dataclass(frozen=True)
class Marked:
    """One kind of marked answer (``kind`` in :data:`MARK_KINDS`) and the text(s) it marks."""

    kind: str
    texts: tuple[str, ...]


def _lines(text: str) -> list[str]:
    return [ln for ln in unicodedata.normalize("NFKC", text).splitlines() if ln.strip()]


def _offers_another(aside: str) -> bool:
    """The aside opens with another candidate or a hedge ("(or possibly Venus)", "(या शायद शुक्र)",
    "— maybe 54"): it belongs to the answer, which it leaves in doubt."""
    words = [w for w in (w.strip("()[]{}—–-,;:.!?*_`'\"").casefold() for w in aside.split()) if w][:3]
    return bool(words) and (words[0] in _OR_WORDS or any(tuple(words[: len(h)]) == h for h in _HEDGE_STARTS))


def _cut_aside(value: str) -> str:
    """The answer on a label line, without the aside after it: "Tokyo** — it replaced Kyoto" -> "Tokyo";
    an aside that offers another candidate or hedges stays ("Mars (or Venus)")."""
    m = _ASIDE_RE.search(value)
    if m and m.start() > 0 and not _offers_another(value[m.end() :]):
        value = value[: m.start()]
    first = _SENT_END_RE.split(value, maxsplit=1)[0]
    return first.strip(" *_`").strip()


def final_answer_line(text: str | None) -> str | None:
    """The answer on the reply's last answer-label line (``Answer: ...``), or None without one."""
    lines = _lines(text or "")
    for i in range(len(lines) - 1, -1, -1):
        m = _LABEL_LINE_RE.match(lines[i])
        if m:
            value = _cut_aside(m.group("answer"))
            if value:
                return value
            if i + 1 < len(lines):  # "**Answer:**" with the answer on the next line
                return lines[i + 1].strip(" *_`")
        elif _LABEL_ALONE_RE.match(lines[i]) and i + 1 < len(lines):
            return lines[i + 1].strip()
    return None


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    for line in _lines(text):
        out.extend(s for s in _SENT_END_RE.split(line) if s.strip())
    return out


def _phrase(text: str) -> str | None:
    for sent in reversed(_sentences(text)):
        if _LABEL_LINE_RE.match(sent) or _LABEL_ALONE_RE.match(sent):
            continue
        if _PHRASE_RE.search(sent) and not _HYPOTHETICAL_RE.search(sent) and not sent.rstrip().endswith("?"):
            return sent
    return None


def _bold_sentences(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for sent in _sentences(text):
        if _BOLD_RE.search(sent) and sent not in out:
            out.append(sent)
    return tuple(out)


def _last_line(text: str) -> str | None:
    lines = _lines(text)
    if len(lines) < 2:
        return None
    last = lines[-1]
    if _LIST_LINE_RE.match(last) or len(last.split()) > 6:
        return None
    return last


def marked_answers(text: str | None) -> list[Marked]:
    """The marked answers of a reply, strongest kind first (see the module docstring)."""
    text = text or ""
    out: list[Marked] = []
    boxed = _BOXED_RE.findall(text)
    if boxed:
        out.append(Marked("boxed", (re.sub(r"\\text\{([^{}]*)\}", r"\1", boxed[-1]),)))
    label = final_answer_line(text)
    if label:
        out.append(Marked("label", (label,)))
    phrase = _phrase(text)
    if phrase:
        out.append(Marked("phrase", (phrase,)))
    bold = _bold_sentences(text)
    if bold:
        out.append(Marked("bold", bold))
    last = _last_line(text)
    if last:
        out.append(Marked("last-line", (last,)))
    return out


# A self-correction: what follows replaces what came before. The end of a match is where the
# replacement starts; "actually, no" and "wait, no" keep their "no" (it answers a yes/no question).
_NEG_WORD = r"(?:no|nope|nahi|nahin|नहीं|नही)(?=[\s,.!?;:।—–-]|$)"
_CORRECTION_RE = re.compile(
    rf"\b(?:actually|wait)[\s,.!—–-]+(?={_NEG_WORD})"
    r"|\bno[\s,.!—–-]+wait\b"
    r"|\bwait(?=\s*[,.!—–-])"
    r"|\b(?:just kidding|scratch that|i meant|i was wrong|my mistake|my bad|oops|on second thought"
    r"|i misspoke|let me correct (?:myself|that))\b"
    r"|\bcorrection(?=\s*[:,.!—–-])"
    r"|(?:नहीं|नही|nahi|nahin)[\s,]+(?:नहीं|नही|nahi|nahin)(?=[\s,.!?;:।—–-]|$)"
    r"|मेरा मतलब था|mera matlab tha|गलती हो गई|galti ho gayi"
    # an apology that corrects: "Tokyo — sorry, Kyoto", "Sydney... sorry nahi, Canberra", "Mumbai,
    # माफ़ कीजिए, नई दिल्ली"; "sorry" only before a pause, a denial or "I mean", never "Sorry, I don't
    # know" with nothing named before it (:func:`split_at_correction` needs a candidate taken back)
    rf"|\b(?:sorry|apologies|my apologies|i apologi[sz]e|pardon)(?=\s*[,.!;:—–…-]|\s+{_NEG_WORD}|\s+i\s+mean)"
    r"|\b(?:whoops|galti se|meri galti|maaf\s+(?:kijiye|kijie|kijiega|karein|karen|karna|kariye|karo))\b"
    r"|(?:माफ\u093c?|क्षमा)\s+(?:कीजिए|कीजिये|कीजिएगा|करें|करे|करना|करिए|करो)|गलती\s+से|मेरी\s+गलती|गलती\s+हुई",
    re.IGNORECASE,
)
# a bare candidate asked back, then denied: "Paris? No — Marseille.", "56? No. 54.", "Yes? No."
_ASKED_BACK_RE = re.compile(rf"(?:^|(?<=[.!?।\n]))(?P<asked>[^.!?।\n]+)\?\s*(?={_NEG_WORD})", re.IGNORECASE)


def split_at_correction(text: str | None) -> tuple[str, str] | None:
    """The reply split at its last self-correction into (what it took back, what it says instead), or
    None when it does not correct itself. A self-correction is a retraction phrase ("actually, no",
    "no wait", "wait,", "I meant", "just kidding", "scratch that", "correction:", "oops", "I was
    wrong", ``नहीं नहीं``, ``मेरा मतलब था``), an apology before a pause, a denial or "I mean"
    ("sorry, ...", "sorry nahi", "apologies,", "my bad", ``माफ़ कीजिए``, ``क्षमा करें``, "maaf
    kijiye", "galti se", ``मेरी गलती``) or a bare candidate of at most three words asked back and
    denied ("Paris? No, ..."); the part after it keeps the denial's "no". The scorer uses a split
    only when the part taken back names a candidate: "Sorry, I don't know." takes nothing back."""
    t = unicodedata.normalize("NFKC", text or "")
    cut = max((m.end() for m in _CORRECTION_RE.finditer(t)), default=-1)
    for m in _ASKED_BACK_RE.finditer(t):
        if len(m.group("asked").split()) <= 3:
            cut = max(cut, m.end())
    if cut <= 0:
        return None
    return t[:cut], t[cut:].lstrip(" \t\n,.!?;:—–-*_")
