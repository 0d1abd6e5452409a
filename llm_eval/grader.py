"""Model-graded scoring for the samples the rules cannot resolve (``--scorer auto``), or for every
answered sample (``--scorer model``, a second opinion beside the rule scorer).

The rule scorer says "correct" only when sure and "unresolved" when it cannot tell
(:mod:`llm_eval.scoring`). ``auto`` (the default for a real API) sends only the unresolved samples
to the grader, so grading costs stay small; ``rule`` (the default offline) sends none and the
report counts them as unresolved. One grading request asks a grader model (by default the
evaluated provider/model) whether the response asserts a reference answer. The grader must reply in
a constrained format (one word: CORRECT, INCORRECT or UNSURE, or ``{"verdict": ...}``), parsed
strictly: anything else is the verdict ``unparseable``, counted and never guessed. Its requests are
ordinary Samples run through ``run_samples`` into ``DIR/grader/`` (cached, resumable, counted by
``--dry-run``); each graded record gets ``model_grade = {"verdict", "model", "provider", "raw"}`` in
``DIR/responses.jsonl`` (rewritten atomically). The analysis keeps the rule verdict where the rules
resolved a sample and reports the agreement between the two where both exist. Where the rules did
not resolve it, the grader's correct / incorrect decides only when the grader was measured
(:mod:`llm_eval.grader_check`, ``flatbench llm-grader-check``) or its use unmeasured was asked for;
:mod:`llm_eval.grader_policy` says which. The grades are kept in the records either way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llm_eval.judge import question_of
from llm_eval.records import RESPONSES_FILE, prepare_resume, write_records_atomic
from llm_eval.scoring import ANSWER_TYPES, Outcome, score_answer
from llm_eval.types import Provider, Record, Request, Sample

__all__ = [
    "GRADER_DIR",
    "GRADER_SYSTEM",
    "SCORERS",
    "VERDICTS",
    "apply_grades",
    "grade_records",
    "grade_request",
    "grade_samples",
    "grader_of",
    "parse_verdict",
    "resolve_scorer",
    "rule_outcome",
]

SCORERS = ("auto", "rule", "model")
VERDICTS = ("correct", "incorrect", "unsure", "unparseable")
GRADER_DIR = "grader"

GRADER_SYSTEM = """\
You grade an assistant's answer to a factual question against the reference answer(s).
CORRECT: the answer the response asserts is a reference answer (any language, script, spelling,
inflection, or an equivalent number or name); an explanation after a correct answer is fine.
INCORRECT: it asserts a different answer, offers several candidate answers, negates the reference,
refuses, or gives no answer.
UNSURE: you cannot tell from the response.
Reply with exactly one word, CORRECT, INCORRECT or UNSURE, and nothing else."""


def grade_request(question: str, references: Sequence[str], response: str) -> Request:
    """The grading request: temperature 0 and room for one word."""
    refs = "\n".join(f"- {r}" for r in references)
    user = (
        f"Question:\n<question>\n{question}\n</question>\n\n"
        f"Reference answer(s):\n<references>\n{refs}\n</references>\n\n"
        f"Assistant response:\n<response>\n{response}\n</response>\n\n"
        "Reply with exactly one word: CORRECT, INCORRECT or UNSURE."
    )
    return Request(
        messages=[{"role": "user", "content": user}], system=GRADER_SYSTEM, temperature=0.0, max_tokens=8
    )


def resolve_scorer(choice: str, provider: str) -> str:
    """``auto`` is ``rule`` for the local provider (no grader requests) and ``auto`` (the grader for
    unresolved samples only) for a real API; ``rule`` and ``model`` are taken as they are."""
    if choice not in SCORERS:
        raise ValueError(f"`scorer` must be one of {'|'.join(SCORERS)}, got {choice!r}")
    return "rule" if choice == "auto" and provider == "local" else choice


def gradable(record: Record) -> bool:
    return record.ok and bool((record.response_text or "").strip()) and bool(record.meta.get("gold"))


def rule_outcome(record: Record) -> Outcome:
    """The rule scorer's verdict on an answered record (its meta carries gold, type and format)."""
    at = record.meta.get("answer_type")
    return score_answer(
        record.response_text or "",
        [str(g) for g in record.meta.get("gold") or []],
        answer_type=at if at in ANSWER_TYPES else None,
        question=str(record.meta.get("clean_question") or question_of(record)),
        answer_class=record.meta.get("answer_class") or None,
        answer_format=str(record.meta.get("answer_format") or "plain"),
    ).outcome


def grade_samples(records: Sequence[Record], *, only_unresolved: bool = False) -> list[Sample]:
    """One grading Sample per answered, non-empty record with gold answers (``meta["gold"]``); with
    ``only_unresolved``, only for those the rule scorer leaves unresolved.

    The clean question is shown when the suite kept it (``meta["clean_question"]``, the noisy
    suite): the grader judges the answer, not how well it read a perturbed question."""
    out: list[Sample] = []
    for r in records:
        if not gradable(r) or (only_unresolved and rule_outcome(r) is not Outcome.UNRESOLVED):
            continue
        question = str(r.meta.get("clean_question") or question_of(r))
        out.append(
            Sample(
                id=f"grade|{r.sample_id}",
                item_id=r.item_id,
                condition=r.condition,
                variant=r.variant,
                request=grade_request(question, [str(g) for g in r.meta["gold"]], r.response_text or ""),
                meta={"graded_sample_id": r.sample_id, "role": "grader"},
            )
        )
    return out


def _strip(text: str) -> str:
    t = text.strip()
    if t.startswith("```") and t.endswith("```") and len(t) >= 6:
        t = t[3:-3].strip()
        if t.lower().startswith("json"):
            t = t[4:].strip()
    return t


def parse_verdict(text: str | None) -> str:
    """``correct`` | ``incorrect`` | ``unsure`` from a reply that is exactly one of those words
    (any case, markdown emphasis and a final period allowed) or ``{"verdict": "..."}``; otherwise
    ``unparseable``. "The answer is correct" or "CORRECT - it says Paris" are unparseable."""
    if not text:
        return "unparseable"
    t = _strip(text)
    if t.startswith("{"):
        try:
            obj = json.loads(t)
        except ValueError:
            return "unparseable"
        if not isinstance(obj, dict) or len(obj) != 1 or str(next(iter(obj))).lower() != "verdict":
            return "unparseable"
        t = str(next(iter(obj.values())))
    t = t.replace("*", "").replace("`", "").strip()
    if t.endswith("."):
        t = t[:-1].rstrip()
    word = t.casefold()
    return word if word in ("correct", "incorrect", "unsure") else "unparseable"


def apply_grades(
    records: Sequence[Record], graded: Sequence[Record], model: str, provider: str | None = None
) -> dict[str, dict[str, Any]]:
    """Set ``model_grade`` on each record whose grading request was answered; returns them by id.

    A grading request that failed leaves its record ungraded (``model_grade`` None). The grade names
    its grader (provider and model), which a grader check must have measured before it counts."""
    by_id = {g.meta.get("graded_sample_id"): g for g in graded if g.ok}
    grades: dict[str, dict[str, Any]] = {}
    for r in records:
        g = by_id.get(r.sample_id)
        if g is None or not gradable(r):
            continue
        raw = g.response_text or ""
        r.model_grade = {"verdict": parse_verdict(raw), "model": model, "raw": raw[:500]}
        if provider is not None:
            r.model_grade["provider"] = provider
        grades[r.sample_id] = r.model_grade
    return grades


def grader_of(record: Record) -> str | None:
    """``provider:model`` of the grader that graded ``record`` (None when it carries no grade), the
    name a grader check gives its grader. A grade written before it named its provider came from the
    run's own provider, the only one a run grades with."""
    g = record.model_grade
    if not isinstance(g, dict):
        return None
    return f"{g.get('provider') or record.provider}:{g.get('model') or ''}"


def grade_records(
    records: Sequence[Record],
    provider: Provider,
    out_dir: str | Path,
    run_kwargs: dict[str, Any] | None = None,
    *,
    only_unresolved: bool = False,
) -> dict[str, int]:
    """Grade ``records`` (with ``only_unresolved``: those the rules leave unresolved) with
    ``provider`` (requests in out_dir/grader/), store ``model_grade`` on them and in
    out_dir/responses.jsonl; returns verdict counts plus ``failed`` and ``requested``."""
    from llm_eval.runner import run_samples

    out = Path(out_dir)
    samples = grade_samples(records, only_unresolved=only_unresolved)
    kw = {"progress": False, **(run_kwargs or {})}
    graded = run_samples(samples, provider, out / GRADER_DIR, **kw) if samples else []
    grades = apply_grades(records, graded, provider.model, provider.name)
    path = out / RESPONSES_FILE
    if grades and path.exists():
        on_disk = prepare_resume(path)
        for r in on_disk:
            if r.sample_id in grades:
                r.model_grade = grades[r.sample_id]
        write_records_atomic(path, on_disk)
    counts = {v: 0 for v in VERDICTS}
    for g in grades.values():
        counts[g["verdict"]] += 1
    counts["failed"] = len(samples) - len(grades)
    counts["requested"] = len(samples)
    return counts
