"""Item sets for the robustness suites: loading, schema validation and a content hash.

The item files are small authored JSONL files in ``datasets/llm_eval/``. They are validated line
by line so an authoring mistake fails with the file, line and field named, and every loaded set
carries the sha256 of its bytes so a report can say exactly which version of the items it scored.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from llm_eval.reply_view import polarity

__all__ = [
    "ANSWER_TYPES",
    "CLASSES_FILE",
    "ITEMS_DIR",
    "MULTILINGUAL_CONDITIONS",
    "ItemSchemaError",
    "ItemSet",
    "MultilingualItem",
    "NoisyItem",
    "items_dir",
    "load_answer_classes",
    "load_multilingual",
    "load_noisy",
    "load_scoring_cases",
]

# "year" is a number whose rivals are other years (a day of the month beside it is no rival); a
# "number" sets bare years aside. See llm_eval.scoring.
ANSWER_TYPES = ("entity", "number", "year", "yesno", "short_text")
CLASSES_FILE = "answer_classes.json"
# Condition keys of the multilingual suite, in report order: English (L1), Hindi in Devanagari (L2),
# Hinglish = romanized Hindi (L3), code-switch = English and Hindi mixed within one prompt (CS).
MULTILINGUAL_CONDITIONS = ("en", "hi", "hinglish", "cs")
ITEMS_DIR = Path(__file__).resolve().parent.parent / "datasets" / "llm_eval"


def items_dir() -> Path:
    """Where the item files live; ``FLATBENCH_LLM_ITEMS_DIR`` overrides (tests, alternative sets)."""
    env = os.environ.get("FLATBENCH_LLM_ITEMS_DIR")
    return Path(env) if env else ITEMS_DIR


class ItemSchemaError(ValueError):
    """An item file does not match its schema; the message names file, line and field."""


@lru_cache(maxsize=4)
def _classes(path: Path) -> dict[str, tuple[str, ...]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ItemSchemaError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise ItemSchemaError(f"{path}: must be a JSON object class -> list of members")
    out: dict[str, tuple[str, ...]] = {}
    for name, members in raw.items():
        if name.startswith("_"):
            continue
        if not isinstance(members, list) or not all(isinstance(m, str) and m.strip() for m in members):
            raise ItemSchemaError(f"{path}: class {name!r} must be a list of non-empty strings")
        out[name] = tuple(members)
    return out


def load_answer_classes(path: str | Path | None = None) -> dict[str, tuple[str, ...]]:
    """Answer class -> its members (other answers of the same kind), from ``answer_classes.json``."""
    return _classes(Path(path) if path else items_dir() / CLASSES_FILE)


@dataclass(frozen=True)
class MultilingualItem:
    id: str
    topic: str
    question: dict[str, str]  # condition -> prompt text
    answers: tuple[str, ...]  # gold aliases in both scripts and both digit systems
    answer_type: str
    expected_language: dict[str, str]  # condition -> expected response language
    notes: str = ""
    answer_class: str | None = None  # common-noun answers: the class whose other members are rivals


@dataclass(frozen=True)
class NoisyItem:
    id: str
    domain: str
    question: str
    answers: tuple[str, ...]
    entities: tuple[str, ...]  # entities named in the question (for entity-misrecognition rules)
    answer_type: str
    answer_class: str | None = None


@dataclass(frozen=True)
class ItemSet:
    """A loaded, validated item file plus its provenance."""

    name: str
    path: Path
    sha256: str
    items: tuple[Any, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.items)

    def by_id(self) -> dict[str, Any]:
        return {it.id: it for it in self.items}

    def provenance(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256, "n_items": len(self.items)}


def _fail(path: Path, line: int, msg: str) -> ItemSchemaError:
    return ItemSchemaError(f"{path}:{line}: {msg}")


def _req_str(obj: dict[str, Any], key: str, path: Path, line: int, *, allow_empty: bool = False) -> str:
    if key not in obj:
        raise _fail(path, line, f"missing field `{key}`")
    val = obj[key]
    if not isinstance(val, str) or (not allow_empty and not val.strip()):
        raise _fail(path, line, f"`{key}` must be a non-empty string, got {val!r}")
    return val


def _req_str_list(
    obj: dict[str, Any], key: str, path: Path, line: int, *, min_len: int = 1
) -> tuple[str, ...]:
    if key not in obj:
        raise _fail(path, line, f"missing field `{key}`")
    val = obj[key]
    if not isinstance(val, list) or len(val) < min_len:
        raise _fail(path, line, f"`{key}` must be a list with >= {min_len} strings, got {val!r}")
    for i, v in enumerate(val):
        if not isinstance(v, str) or not v.strip():
            raise _fail(path, line, f"`{key}[{i}]` must be a non-empty string, got {v!r}")
    return tuple(val)


def _answer_type(obj: dict[str, Any], path: Path, line: int) -> str:
    at = _req_str(obj, "answer_type", path, line)
    if at not in ANSWER_TYPES:
        raise _fail(path, line, f"`answer_type` must be one of {'|'.join(ANSWER_TYPES)}, got {at!r}")
    return at


def _answers(obj: dict[str, Any], path: Path, line: int, answer_type: str) -> tuple[str, ...]:
    """The gold aliases; those of a yes/no item lead with one answer, yes or no, as the scorer reads it."""
    answers = _req_str_list(obj, "answers", path, line)
    if answer_type == "yesno":
        said = {polarity(a) for a in answers} - {None}
        if len(said) != 1:
            why = "mix yes and no" if said else "lead with no yes- or no-word"
            raise _fail(
                path,
                line,
                f"`answers` of a yesno item must lead with one answer, yes (yes, हाँ, haan) or no "
                f"(no, नहीं, nahi); they {why}: {list(answers)!r}",
            )
    return answers


def _answer_class(obj: dict[str, Any], path: Path, line: int) -> str | None:
    name = obj.get("answer_class")
    if name is None:
        return None
    known = load_answer_classes(path.parent / CLASSES_FILE)
    if not isinstance(name, str) or name not in known:
        raise _fail(path, line, f"`answer_class` must be one of {'|'.join(sorted(known))}, got {name!r}")
    return str(name)


def _read_jsonl(path: Path) -> tuple[bytes, list[tuple[int, dict[str, Any]]]]:
    if not path.is_file():
        raise FileNotFoundError(f"item file not found: {path}")
    raw = path.read_bytes()
    try:
        decoded = raw.decode("utf-8-sig")  # a byte-order mark (as some editors save UTF-8) is no content
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _fail(
            path,
            line,
            f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {col} of the line): save it as UTF-8",
        ) from None
    rows: list[tuple[int, dict[str, Any]]] = []
    for lineno, text in enumerate(decoded.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _fail(path, lineno, f"invalid JSON: {exc.msg}") from exc
        if not isinstance(obj, dict):
            raise _fail(path, lineno, f"each line must be a JSON object, got {type(obj).__name__}")
        rows.append((lineno, obj))
    if not rows:
        raise ItemSchemaError(f"{path}: no items")
    return raw, rows


def _check_unique(ids: list[tuple[int, str]], path: Path) -> None:
    seen: dict[str, int] = {}
    for line, id_ in ids:
        if id_ in seen:
            raise _fail(path, line, f"duplicate `id` {id_!r} (first on line {seen[id_]})")
        if "|" in id_:
            raise _fail(path, line, f"`id` must not contain '|', got {id_!r}")
        seen[id_] = line


def parse_multilingual(obj: dict[str, Any], path: Path, line: int) -> MultilingualItem:
    id_ = _req_str(obj, "id", path, line)
    q = obj.get("question")
    if not isinstance(q, dict):
        raise _fail(path, line, f"`question` must be an object keyed by {MULTILINGUAL_CONDITIONS}, got {q!r}")
    for cond in MULTILINGUAL_CONDITIONS:
        if cond not in q:
            raise _fail(path, line, f"missing field `question.{cond}`")
        if not isinstance(q[cond], str) or not q[cond].strip():
            raise _fail(path, line, f"`question.{cond}` must be a non-empty string, got {q[cond]!r}")
    exp = obj.get("expected_language")
    if not isinstance(exp, dict):
        raise _fail(path, line, f"`expected_language` must be an object, got {exp!r}")
    for cond in MULTILINGUAL_CONDITIONS:
        if exp.get(cond) not in MULTILINGUAL_CONDITIONS:
            raise _fail(
                path,
                line,
                f"`expected_language.{cond}` must be one of {'|'.join(MULTILINGUAL_CONDITIONS)}, "
                f"got {exp.get(cond)!r}",
            )
    notes = obj.get("notes", "")
    if not isinstance(notes, str):
        raise _fail(path, line, f"`notes` must be a string, got {notes!r}")
    topic = _req_str(obj, "topic", path, line)
    answer_type = _answer_type(obj, path, line)
    return MultilingualItem(
        id=id_,
        topic=topic,
        question={c: q[c] for c in MULTILINGUAL_CONDITIONS},
        answers=_answers(obj, path, line, answer_type),
        answer_type=answer_type,
        expected_language={c: exp[c] for c in MULTILINGUAL_CONDITIONS},
        notes=notes,
        answer_class=_answer_class(obj, path, line),
    )


def parse_noisy(obj: dict[str, Any], path: Path, line: int) -> NoisyItem:
    id_ = _req_str(obj, "id", path, line)
    domain = _req_str(obj, "domain", path, line)
    question = _req_str(obj, "question", path, line)
    answer_type = _answer_type(obj, path, line)
    return NoisyItem(
        id=id_,
        domain=domain,
        question=question,
        answers=_answers(obj, path, line, answer_type),
        entities=_req_str_list(obj, "entities", path, line, min_len=0),
        answer_type=answer_type,
        answer_class=_answer_class(obj, path, line),
    )


def _load(name: str, path: Path, parse: Any) -> ItemSet:
    raw, rows = _read_jsonl(path)
    items = [parse(obj, path, line) for line, obj in rows]
    _check_unique([(line, it.id) for (line, _), it in zip(rows, items, strict=True)], path)
    return ItemSet(name=name, path=path, sha256=hashlib.sha256(raw).hexdigest(), items=tuple(items))


def load_multilingual(path: str | Path | None = None) -> ItemSet:
    """Load and validate ``multilingual.jsonl`` (parallel en/hi/hinglish/cs questions)."""
    return _load(
        "multilingual", Path(path) if path else items_dir() / "multilingual.jsonl", parse_multilingual
    )


def load_noisy(path: str | Path | None = None) -> ItemSet:
    """Load and validate ``noisy.jsonl`` (clean English factual QA, perturbed at run time)."""
    return _load("noisy", Path(path) if path else items_dir() / "noisy.jsonl", parse_noisy)


def load_scoring_cases(path: str | Path) -> list[dict[str, Any]]:
    """A hand-labelled scoring table (JSONL: ``id, item, cond, expected, tags, response``), each case
    joined with its item's ``question`` (for ``cond``), ``answers`` and ``answer_type``.

    A row for a question outside the item files carries its own ``question``, ``answers`` and
    ``answer_type`` (and optionally ``answer_class``) instead of naming a known item."""
    ml, nz = load_multilingual().by_id(), load_noisy().by_id()
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        case = json.loads(line)
        if case.get("expected") not in ("correct", "wrong", "unsure"):
            raise ValueError(
                f"{path}:{n}: `expected` must be correct|wrong|unsure, got {case.get('expected')!r}"
            )
        if "answers" in case:  # an inline item
            for key in ("question", "answer_type"):
                if not isinstance(case.get(key), str) or not case[key].strip():
                    raise ValueError(f"{path}:{n}: an inline item needs a non-empty `{key}`")
            out.append({"answer_class": None, **case, "answers": [str(a) for a in case["answers"]]})
            continue
        item = ml.get(case["item"]) or nz.get(case["item"])
        if item is None:
            raise ValueError(
                f"{path}:{n}: unknown item id {case['item']!r}: name an item of the item files, or give "
                "the row its own `question`, `answers` and `answer_type`"
            )
        q = item.question[case["cond"]] if isinstance(item.question, dict) else item.question
        out.append({**case, "question": q, "answers": list(item.answers), "answer_type": item.answer_type,
                    "answer_class": item.answer_class})  # fmt: skip
    return out
