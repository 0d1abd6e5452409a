"""Records -> scored samples: each answered (or errored) record of the robustness suites with its
verdict, language, fluency, truncation, edit distance and failure category.

The verdict is the rule scorer's (``llm_eval.scoring``: correct / wrong / unresolved); a model grade
(``--scorer auto`` or ``model``) that says correct or incorrect decides an unresolved sample only when
the run's :class:`~llm_eval.grader_policy.GraderPolicy` counts its grader (measured, or asked for).
Each sample keeps the rule's verdict and the grader's beside the one that counts, for the agreement
table and the sensitivity line. The statistics over these samples live in :mod:`llm_eval.cell_stats`
and :mod:`llm_eval.summary`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from llm_eval.grader import grader_of
from llm_eval.grader_policy import GraderPolicy
from llm_eval.judge import heuristic_fluency
from llm_eval.langid import LangResult, consistent, detect
from llm_eval.scoring import ANSWER_TYPES, Outcome, score_answer
from llm_eval.taxonomy import classify_multilingual, classify_noisy
from llm_eval.types import Record

__all__ = ["EDIT_DISTANCE_MAX_CHARS", "SUITE_ORDER", "Scored", "levenshtein", "score_records"]

# The suites this analysis scores, in report order; records of any other suite are skipped.
SUITE_ORDER = ("multilingual", "noisy")


@dataclass
class Scored:
    """One answered-or-errored record with everything the statistics and taxonomy need."""

    record: Record
    suite: str
    mitigation: str
    outcome: Outcome | None  # None = provider error (excluded)
    lang: LangResult | None
    consistent: bool | None
    fluency: int | None
    truncated: bool
    category: str | None = None  # primary taxonomy category for failures
    reason: str = ""
    edit_distance: int | None = None  # noisy variants: Levenshtein (code points) from the clean question
    distance_skipped: bool = False  # a prompt longer than EDIT_DISTANCE_MAX_CHARS: not measured
    model_verdict: str | None = None  # the optional model grader's verdict, when the record has one
    rule_outcome: Outcome | None = None  # the rule scorer's own verdict (outcome may be the grader's)
    graded_outcome: Outcome | None = None  # the verdict with the grader's counted, whether or not it is
    grader: str | None = None  # provider:model of the grade, when the record has one

    @property
    def cell(self) -> tuple[str, str, str]:
        return (self.record.condition, self.record.variant, self.mitigation)

    @property
    def correct(self) -> bool:
        return self.outcome is Outcome.CORRECT

    @property
    def resolved(self) -> bool:
        return self.outcome is not None and self.outcome is not Outcome.UNRESOLVED

    @property
    def grader_verdict(self) -> bool:
        """The rules left it unresolved and the grader said correct or incorrect, counted or not."""
        return self.rule_outcome is Outcome.UNRESOLVED and self.graded_outcome in (
            Outcome.CORRECT,
            Outcome.WRONG,
        )

    @property
    def grader_decided(self) -> bool:
        """The grader's verdict is the one that counts for this sample."""
        return self.grader_verdict and self.outcome is self.graded_outcome

    @property
    def failed(self) -> bool:
        """Scored wrong or UNSURE: the replies the error taxonomy describes (a right reply in another
        language shows in the language-consistency column, not as a failure)."""
        return self.outcome in (Outcome.WRONG, Outcome.UNSURE)


def _truncated(r: Record) -> bool:
    """Hit the token cap: ``stop_reason == "max_tokens"``; legacy records without a stop reason fall
    back to output tokens >= the cap (the local provider records its cap as max_new_tokens)."""
    if r.stop_reason is not None:  # None: a record written before the stop reason was kept
        return r.stop_reason == "max_tokens"
    caps = [int(v) for k in ("max_tokens", "max_new_tokens") if (v := r.params.get(k)) is not None]
    return bool(caps) and r.usage.output_tokens >= min(caps)


# Edit distances are measured up to this many code points per prompt: rapidfuzz needs ~0.2 s for two
# 50,000-code-point prompts and ~3.4 s for two of 200,000 (2-core CPU under load), once per variant.
EDIT_DISTANCE_MAX_CHARS = 50_000


def levenshtein(a: str, b: str) -> int:
    """Edit distance in code points (insert / delete / substitute, each 1), from rapidfuzz's C++
    bit-parallel implementation: two 200 KB prompts take well under a second, not hours."""
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(a, b))


def _model_verdict(r: Record) -> str | None:
    g = r.model_grade
    if isinstance(g, dict):
        v = g.get("verdict")
        return str(v) if v is not None else "unparseable"
    return None


def _decided(rule: Outcome, r: Record) -> Outcome:
    """The rule verdict, or for an unresolved sample the model grader's correct / incorrect."""
    if rule is Outcome.UNRESOLVED:
        verdict = _model_verdict(r)
        if verdict == "correct":
            return Outcome.CORRECT
        if verdict == "incorrect":
            return Outcome.WRONG
    return rule


def _question(r: Record) -> str:
    """The clean question of a record (the prompt itself for the multilingual suite)."""
    q = r.meta.get("clean_question")
    if isinstance(q, str) and q:
        return q
    return r.messages[-1]["content"] if r.messages else ""


def score_records(
    records: Iterable[Record],
    fluency: dict[str, int | None] | None = None,
    *,
    policy: GraderPolicy | None = None,
) -> list[Scored]:
    """Score every record of the robustness suites; ``fluency`` maps sample_id -> model-judge score
    (when None the heuristic-v1 judge is used). ``policy`` says whose grader verdicts decide
    unresolved samples; by default none does (an unmeasured grader does not count)."""
    policy = policy or GraderPolicy()
    out: list[Scored] = []
    for r in records:
        suite = r.meta.get("suite")
        if suite not in SUITE_ORDER:
            continue
        mit = str(r.meta.get("mitigation", "none"))
        exp = str(r.meta.get("expected_language", "en"))
        if r.error is not None:
            out.append(Scored(r, suite, mit, None, None, None, None, False))
            continue
        text = r.response_text or ""
        at = r.meta.get("answer_type")
        res = score_answer(
            text,
            r.meta.get("gold") or [],
            answer_type=at if at in ANSWER_TYPES else None,
            question=_question(r),
            answer_class=r.meta.get("answer_class") or None,
            answer_format=str(r.meta.get("answer_format") or "plain"),
        )
        lang = detect(text)
        cons = consistent(lang, exp)
        flu = heuristic_fluency(text, exp, lang) if fluency is None else fluency.get(r.sample_id)
        graded = _decided(res.outcome, r)
        grader = grader_of(r)
        outcome = graded if policy.counts(grader) else res.outcome
        s = Scored(r, suite, mit, outcome, lang, cons, flu, _truncated(r))
        s.model_verdict = _model_verdict(r)
        s.rule_outcome = res.outcome
        s.graded_outcome = graded
        s.grader = grader
        if suite == "noisy" and r.condition != "clean" and r.meta.get("clean_question") and r.messages:
            prompt, clean = r.messages[-1]["content"], r.meta["clean_question"]
            if max(len(prompt), len(clean)) <= EDIT_DISTANCE_MAX_CHARS:
                s.edit_distance = levenshtein(prompt, clean)
            else:
                s.distance_skipped = True
        if s.failed:
            unsure = res.outcome is Outcome.UNSURE
            if suite == "multilingual":
                s.category, s.reason = classify_multilingual(
                    text,
                    r.meta.get("gold") or [],
                    exp,
                    lang,
                    unsure=unsure,
                    truncated=s.truncated,
                    correct=s.correct,
                    prompt=r.messages[-1]["content"] if r.messages else "",
                    answer=res.judged,
                    answer_type=at if at in ANSWER_TYPES else None,
                )
            else:
                prompt = r.messages[-1]["content"] if r.messages else ""
                s.category, s.reason = classify_noisy(
                    text,
                    r.meta.get("gold") or [],
                    r.meta.get("entities") or [],
                    prompt,
                    unsure=unsure,
                    truncated=s.truncated,
                    clean_question=str(r.meta.get("clean_question") or ""),
                )
        out.append(s)
    return out
