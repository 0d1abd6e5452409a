"""Records -> scored samples -> summary (statistics, taxonomy, failure cases) -> summary.json + report.md.

Everything here is computed from the records of one run (responses.jsonl), so a report can be
rebuilt from its records alone. Conventions:

- provider errors are excluded from every denominator and counted per cell (``n_errors``);
- the rule scorer's verdict is correct / wrong / unresolved (``llm_eval.scoring``); a model grade
  (``--scorer auto`` or ``model``) decides an unresolved sample when it says correct or incorrect;
  the rest stay unresolved (``n_unresolved``);
- ``accuracy`` = correct / resolved (answered minus unresolved), with ``unresolved_share`` beside it
  and the bounds ``accuracy_low`` (unresolved counted wrong) and ``accuracy_high`` (counted right);
  UNSURE counts as resolved and not correct and is reported separately (``n_unsure``), with
  ``selective_accuracy`` = correct / (correct + wrong);
- paired comparisons (condition vs baseline, after vs before mitigation) use the items answered in
  both cells: exact McNemar test, the paired difference (target - baseline) with Newcombe's score
  CI, and the Wilcoxon signed-rank test on fluency (pairs where either side is unresolved are left
  out); p-values are Holm-adjusted within each suite and family (accuracy / fluency / language
  consistency). The noisy suite also gets HELM's worst case: per item, the worst outcome over its
  clean question and every perturbation. "Pooled" rows pair item x condition and
  are clustered by item, so their p-values are optimistic and they are kept out of the Holm family.
"""

from __future__ import annotations

import json
import math
import statistics
import warnings
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llm_eval.judge import heuristic_fluency, judge_info, judge_samples, parse_score
from llm_eval.langid import LangResult, consistent, detect
from llm_eval.perturb import KINDS, LEVELS, RATES, UNITS
from llm_eval.scoring import ANSWER_TYPES, Outcome, score_answer
from llm_eval.taxonomy import (
    MULTILINGUAL_CATEGORIES,
    NOISY_CATEGORIES,
    Failure,
    classify_multilingual,
    classify_noisy,
    summarize_taxonomy,
)
from llm_eval.types import Provider, Record
from reports.io import atomic_write_text

__all__ = ["CONDITION_LABELS", "Scored", "analyze", "build_summary", "render_report", "score_records"]

SUITE_ORDER = ("multilingual", "noisy")
CONDITION_LABELS = {
    "en": "English (L1)",
    "hi": "Hindi, Devanagari (L2)",
    "hinglish": "Hinglish, romanized (L3)",
    "cs": "Code-switch (CS)",
    "clean": "clean",
}
MULTILINGUAL_ORDER = ("en", "hi", "hinglish", "cs")
NOISY_ORDER = ("clean", *KINDS)
MITIGATION_LABELS = {"none": "no mitigation", "pin": "mitigation prompt"}
MITIGATION_NAMES = {"multilingual": "language pinning", "noisy": "noise-robustness prompt"}
SCHEMA_VERSION = 1


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


def _distance(cell: dict[str, Any]) -> str:
    """Mean edit distance, and how many variants were too long to measure."""
    text = _num(cell["mean_edit_distance"], ".1f")
    k = int(cell.get("n_distance_skipped") or 0)
    return text + (f"; {k} not measured (> {EDIT_DISTANCE_MAX_CHARS:,} code points)" if k else "")


def _errs(cell: dict[str, Any]) -> str:
    """The errors column: provider errors, and empty replies apart from them ("0 + 2 empty")."""
    n_empty = int(cell.get("n_empty") or 0)
    return f"{cell['n_errors']}" + (f" + {n_empty} empty" if n_empty else "")


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


def score_records(records: Iterable[Record], fluency: dict[str, int | None] | None = None) -> list[Scored]:
    """Score every record of the robustness suites; ``fluency`` maps sample_id -> model-judge score
    (when None the heuristic-v1 judge is used)."""
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
        s = Scored(r, suite, mit, _decided(res.outcome, r), lang, cons, flu, _truncated(r))
        s.model_verdict = _model_verdict(r)
        s.rule_outcome = res.outcome
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


# ------------------------------------------------------------------------------------------ statistics
def _nan_to_none(x: Any) -> Any:
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_nan_to_none(v) for v in x]
    return x


def _cell_stats(rows: Sequence[Scored]) -> dict[str, Any]:
    from reports.stats import wilson_interval

    ans = [s for s in rows if s.outcome is not None]
    n = len(ans)
    k = sum(s.correct for s in ans)
    unsure = sum(s.outcome is Outcome.UNSURE for s in ans)
    unresolved = sum(s.outcome is Outcome.UNRESOLVED for s in ans)
    m = n - unresolved  # resolved
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo, hi = wilson_interval(k, m) if m else (math.nan, math.nan)
    flu = [s.fluency for s in ans if s.fluency is not None]
    cons = [s.consistent for s in ans if s.consistent is not None]
    return {
        "n_total": len(rows),
        "n_errors": sum(s.outcome is None and not s.record.empty for s in rows),
        "n_empty": sum(s.record.empty for s in rows),
        "n": n,
        "n_correct": k,
        "n_unsure": unsure,
        "n_unresolved": unresolved,
        "n_resolved": m,
        "n_graded": sum(s.rule_outcome is Outcome.UNRESOLVED and s.resolved for s in ans),
        "n_wrong": m - k - unsure,
        "accuracy": k / m if m else math.nan,
        "ci_low": lo,
        "ci_high": hi,
        "unresolved_share": unresolved / n if n else math.nan,
        "accuracy_low": k / n if n else math.nan,
        "accuracy_high": (k + unresolved) / n if n else math.nan,
        "selective_accuracy": k / (m - unsure) if m - unsure else math.nan,
        "fluency_mean": statistics.fmean(flu) if flu else math.nan,
        "fluency_n": len(flu),
        "lang_consistency": sum(cons) / len(cons) if cons else math.nan,
        "lang_n": len(cons),
        "n_truncated": sum(s.truncated for s in ans),
        "truncated_share": sum(s.truncated for s in ans) / n if n else math.nan,
        "n_stop_reason": sum(s.record.stop_reason is not None for s in ans),
        **_perturbation_stats(rows),
    }


def _perturbation_stats(rows: Sequence[Scored]) -> dict[str, Any]:
    """How many variants differ from their clean question, and by how many code points (mean)."""
    d = [s.edit_distance for s in rows if s.edit_distance is not None]
    return {
        "n_variants": len(d),
        "n_changed": sum(x > 0 for x in d),
        "mean_edit_distance": statistics.fmean(d) if d else math.nan,
        "n_distance_skipped": sum(s.distance_skipped for s in rows),
    }


def grader_agreement(scored: Sequence[Scored]) -> dict[str, Any] | None:
    """Rule scorer vs the optional model grader on the answered records that carry a model grade:
    counts, agreement and Cohen's kappa over the correct/incorrect verdicts (unsure / unparseable
    verdicts are counted apart). None when no record has a model grade."""
    graded = [s for s in scored if s.outcome is not None and s.model_verdict is not None]
    if not graded:
        return None
    # only where the rules resolved the sample: an unresolved one has no rule verdict to compare
    binary = [
        s
        for s in graded
        if s.model_verdict in ("correct", "incorrect") and s.rule_outcome not in (None, Outcome.UNRESOLVED)
    ]
    rule = [s.rule_outcome is Outcome.CORRECT for s in binary]
    model = [s.model_verdict == "correct" for s in binary]
    agree = sum(a == b for a, b in zip(rule, model, strict=True))
    kappa = math.nan
    if binary and len(set(rule) | set(model)) > 1:
        from sklearn.metrics import cohen_kappa_score

        kappa = float(cohen_kappa_score(rule, model))
    return {
        "n_graded": len(graded),
        "n_compared": len(binary),
        "n_rule_unresolved": sum(s.rule_outcome is Outcome.UNRESOLVED for s in graded),
        "n_unsure": sum(s.model_verdict == "unsure" for s in graded),
        "n_unparseable": sum(s.model_verdict not in ("correct", "incorrect", "unsure") for s in graded),
        "agreement": agree / len(binary) if binary else math.nan,
        "kappa": kappa,
        "both_correct": sum(a and b for a, b in zip(rule, model, strict=True)),
        "rule_only_correct": sum(a and not b for a, b in zip(rule, model, strict=True)),
        "model_only_correct": sum(b and not a for a, b in zip(rule, model, strict=True)),
        "both_incorrect": sum(not a and not b for a, b in zip(rule, model, strict=True)),
        "models": sorted({str((s.record.model_grade or {}).get("model", "")) for s in graded}),
    }


def _worst(rows: Sequence[Scored]) -> dict[str, Any]:
    """HELM's worst case over groups of one item's samples: an item counts as correct only when every
    sample is correct, wrong when any is wrong (or UNSURE), unresolved otherwise. Items with a
    provider error in the group are left out."""
    by_item: dict[str, list[Scored]] = defaultdict(list)
    for r in rows:
        by_item[r.record.item_id].append(r)
    groups = [g for g in by_item.values() if all(x.outcome is not None for x in g)]
    n = len(groups)
    k = sum(all(x.correct for x in g) for g in groups)
    bad = sum(any(x.outcome in (Outcome.WRONG, Outcome.UNSURE) for x in g) for g in groups)
    u = n - k - bad
    return {
        "n_items": n,
        "n_correct": k,
        "n_wrong": bad,
        "n_unresolved": u,
        "accuracy": k / (k + bad) if k + bad else math.nan,
        "accuracy_low": k / n if n else math.nan,
        "accuracy_high": (k + u) / n if n else math.nan,
    }


def worst_case(scored: Sequence[Scored], cells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The noisy suite's robustness view, per mitigation: worst case over every variant of an item
    (clean included) and, per noise kind, over the clean question and that kind's levels, beside the
    kind's mean accuracy over its levels."""
    out: dict[str, Any] = {}
    for mit in sorted({s.mitigation for s in scored}):
        rows = [s for s in scored if s.mitigation == mit]
        per_kind = {}
        for kind in KINDS:
            kind_rows = [s for s in rows if s.record.condition in ("clean", kind)]
            accs = [c["accuracy"] for c in cells if c["mitigation"] == mit and c["condition"] == kind]
            accs = [a for a in accs if a is not None and not math.isnan(a)]
            if any(s.record.condition == kind for s in kind_rows):
                per_kind[kind] = {
                    **_worst(kind_rows),
                    "mean_accuracy": statistics.fmean(accs) if accs else math.nan,
                }
        out[mit] = {"all": _worst(rows), "per_kind": per_kind}
    return out


def _paired(base: Sequence[Scored], target: Sequence[Scored], key: Any) -> dict[str, Any]:
    """Paired comparison of target vs base (estimate = target - base) over shared answered keys."""
    from reports.stats import mcnemar_exact, paired_proportion_diff, wilcoxon_paired

    b = {key(s): s for s in base if s.resolved}
    t = {key(s): s for s in target if s.resolved}
    keys = sorted(set(b) & set(t))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out: dict[str, Any] = {"n_pairs": len(keys)}
        if not keys:
            return {
                **out,
                "acc_base": math.nan,
                "acc_target": math.nan,
                "diff": math.nan,
                "diff_ci": [math.nan] * 2,
                "mcnemar_b": 0,
                "mcnemar_c": 0,
                "p": math.nan,
                "fluency_p": math.nan,
                "fluency_n": 0,
                "lang_base": math.nan,
                "lang_target": math.nan,
                "lang_p": math.nan,
            }
        cb = [b[k].correct for k in keys]
        ct = [t[k].correct for k in keys]
        mc = mcnemar_exact(ct, cb)
        pdiff = paired_proportion_diff(ct, cb)
        fl: list[tuple[float, float]] = [
            (float(ft), float(fb))
            for k in keys
            if (ft := t[k].fluency) is not None and (fb := b[k].fluency) is not None
        ]
        fp = wilcoxon_paired([x for x, _ in fl], [y for _, y in fl]).pvalue if len(fl) >= 1 else math.nan
        lb = [bool(b[k].consistent) for k in keys]
        lt = [bool(t[k].consistent) for k in keys]
        lp = mcnemar_exact(lt, lb).pvalue
        out.update(
            acc_base=sum(cb) / len(keys),
            acc_target=sum(ct) / len(keys),
            diff=pdiff.estimate,
            diff_ci=list(pdiff.confidence_interval()),
            mcnemar_b=mc.b,  # target right, base wrong
            mcnemar_c=mc.c,  # target wrong, base right
            p=mc.pvalue,
            fluency_base=statistics.fmean(y for _, y in fl) if fl else math.nan,
            fluency_target=statistics.fmean(x for x, _ in fl) if fl else math.nan,
            fluency_n=len(fl),
            fluency_p=fp,
            lang_base=sum(lb) / len(keys),
            lang_target=sum(lt) / len(keys),
            lang_p=lp,
        )
    return out


def _holm_in_place(rows: list[dict[str, Any]], field: str) -> None:
    from reports.stats import holm

    idx = [i for i, r in enumerate(rows) if not r.get("pooled") and r.get(field) is not None]
    adj = holm([float("nan") if rows[i][field] is None else rows[i][field] for i in idx])
    for i, a in zip(idx, adj, strict=True):
        rows[i][f"{field}_holm"] = a
    for r in rows:
        r.setdefault(f"{field}_holm", None)


def _cell_label(suite: str, cond: str, variant: str) -> str:
    if suite == "multilingual":
        return CONDITION_LABELS.get(cond, cond)
    return "clean" if cond == "clean" else f"{cond} / {variant}"


def _order(suite: str) -> list[tuple[str, str]]:
    if suite == "multilingual":
        return [(c, "clean") for c in MULTILINGUAL_ORDER]
    return [("clean", "clean")] + [(k, lv) for k in KINDS for lv in LEVELS]


def _example(s: Scored, limit: int = 300) -> dict[str, Any]:
    r = s.record
    text = r.response_text or ""
    return {
        "sample_id": r.sample_id,
        "condition": r.condition,
        "variant": r.variant,
        "mitigation": s.mitigation,
        "prompt": r.messages[-1]["content"] if r.messages else "",
        "gold": list(r.meta.get("gold") or []),
        "prediction": text if len(text) <= limit else text[:limit] + " [...]",
        "outcome": s.outcome.value if s.outcome else "error",
        "language": s.lang.label if s.lang else None,
        "expected_language": r.meta.get("expected_language"),
        "category": s.category,
        "diagnosis": f"{s.category}: {s.reason}" if s.category else "",
    }


def _suite_summary(suite: str, scored: list[Scored]) -> dict[str, Any]:
    by_cell: dict[tuple[str, str, str], list[Scored]] = defaultdict(list)
    for s in scored:
        by_cell[s.cell].append(s)
    mits = [m for m in ("none", "pin") if any(s.mitigation == m for s in scored)]
    present = {(c, v) for c, v, _ in by_cell}
    order = [cv for cv in _order(suite) if cv in present] + sorted(present - set(_order(suite)))
    cells = []
    for mit in mits:
        for cond, var in order:
            rows = by_cell.get((cond, var, mit), [])
            if rows:
                cells.append(
                    {
                        "condition": cond,
                        "variant": var,
                        "mitigation": mit,
                        "label": _cell_label(suite, cond, var),
                        **_cell_stats(rows),
                    }
                )

    def item_key(s: Scored) -> str:
        return s.record.item_id

    base_cv = order[0] if order else ("clean", "clean")
    comparisons: list[dict[str, Any]] = []
    for mit in mits:  # condition vs baseline (English / clean), within a mitigation
        for cv in order[1:]:
            base, tgt = by_cell.get((*base_cv, mit), []), by_cell.get((*cv, mit), [])
            if base and tgt:
                comparisons.append(
                    {
                        "kind": "condition",
                        "mitigation": mit,
                        "base": _cell_label(suite, *base_cv),
                        "target": _cell_label(suite, *cv),
                        "condition": cv[0],
                        "variant": cv[1],
                        **_paired(base, tgt, item_key),
                    }
                )
    mitigation_rows: list[dict[str, Any]] = []
    if {"none", "pin"} <= set(mits):  # before/after on the same items, per cell and pooled
        for cv in order:
            base, tgt = by_cell.get((*cv, "none"), []), by_cell.get((*cv, "pin"), [])
            if base and tgt:
                mitigation_rows.append(
                    {
                        "kind": "mitigation",
                        "label": _cell_label(suite, *cv),
                        "condition": cv[0],
                        "variant": cv[1],
                        **_paired(base, tgt, item_key),
                    }
                )
        pooled_cells = order if suite == "multilingual" else order[1:]

        def pooled_key(s: Scored) -> tuple[str, str, str]:
            return (s.record.item_id, s.record.condition, s.record.variant)

        base = [s for cv in pooled_cells for s in by_cell.get((*cv, "none"), [])]
        tgt = [s for cv in pooled_cells for s in by_cell.get((*cv, "pin"), [])]
        if base and tgt:
            label = "all conditions (pooled)" if suite == "multilingual" else "all noisy variants (pooled)"
            mitigation_rows.append(
                {
                    "kind": "mitigation",
                    "label": label,
                    "condition": "*",
                    "variant": "*",
                    "pooled": True,
                    **_paired(base, tgt, pooled_key),
                }
            )
    family = comparisons + mitigation_rows
    for f in ("p", "fluency_p", "lang_p"):
        _holm_in_place(family, f)

    categories = MULTILINGUAL_CATEGORIES if suite == "multilingual" else NOISY_CATEGORIES
    taxonomy: dict[str, Any] = {}
    for mit in mits:
        fails = sorted(
            (s for s in scored if s.mitigation == mit and s.failed), key=lambda s: s.record.sample_id
        )
        examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in fails:
            if s.category and len(examples[s.category]) < 3:
                examples[s.category].append(_example(s))
        n_ans = sum(1 for s in scored if s.mitigation == mit and s.outcome is not None)
        taxonomy[mit] = {
            "n_answered": n_ans,
            **summarize_taxonomy(
                [Failure(s.record.sample_id, s.category or "", s.reason) for s in fails], categories, examples
            ),
        }
    return {
        "suite": suite,
        "n_records": len(scored),
        "n_errors": sum(s.outcome is None and not s.record.empty for s in scored),
        "n_empty": sum(s.record.empty for s in scored),
        "mitigations": mits,
        "cells": cells,
        "comparisons": comparisons,
        "mitigation": mitigation_rows,
        "taxonomy": taxonomy,
        "failure_cases": _failure_cases(scored),
        "grader_agreement": grader_agreement(scored),
        "worst_case": worst_case(scored, cells) if suite == "noisy" else None,
    }


def _failure_cases(scored: Sequence[Scored], k: int = 3) -> list[dict[str, Any]]:
    """k failures from different categories (most frequent first), preferring the unmitigated runs."""
    fails = sorted(
        (s for s in scored if s.failed and s.category),
        key=lambda s: (s.mitigation != "none", s.record.sample_id),
    )
    counts: dict[str, int] = defaultdict(int)
    for s in fails:
        counts[s.category or ""] += 1
    picked: list[Scored] = []
    for cat in sorted(counts, key=lambda c: (-counts[c], c)):
        picked.append(next(s for s in fails if s.category == cat))
        if len(picked) == k:
            break
    for s in fails:  # fewer categories than k: fill with further examples
        if len(picked) >= k:
            break
        if s not in picked:
            picked.append(s)
    return [_example(s, limit=500) for s in picked]


def _provenance(
    records: Sequence[Record], judge: dict[str, Any], extra: dict[str, Any] | None
) -> dict[str, Any]:
    ok = [r for r in records if r.meta.get("suite") in SUITE_ORDER]
    item_sets: dict[str, set[str]] = defaultdict(set)
    for r in ok:
        if r.meta.get("item_set_sha256"):
            item_sets[r.meta["suite"]].add(r.meta["item_set_sha256"])
    # a per-request sampling seed (derived from the request) would make every record's params distinct:
    # report the decoding settings without it, and say that seeds are per request
    per_request = {"seed"}
    params = sorted(
        {json.dumps({k: v for k, v in r.params.items() if k not in per_request}, sort_keys=True) for r in ok}
    )
    if any("seed" in r.params for r in ok):
        params = [json.dumps({**json.loads(x), "seed": "per request"}, sort_keys=True) for x in params]
    finished = sorted(r.finished_at for r in ok if r.finished_at)
    formats = sorted({str(r.meta.get("answer_format") or "plain") for r in ok})
    seeds = sorted({r.meta["seed"] for r in ok if "seed" in r.meta})
    return {
        "providers": sorted({r.provider for r in ok}),
        "models": sorted({r.model for r in ok}),
        "decoding": [json.loads(p) for p in params],
        "systems": sorted({r.system or "" for r in ok}),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "first_response_at": finished[0] if finished else None,
        "last_response_at": finished[-1] if finished else None,
        "item_sets": {k: sorted(v) for k, v in item_sets.items()},
        "perturbation_seed": seeds,
        "answer_formats": formats,
        "n_model_graded": sum(isinstance(r.model_grade, dict) for r in ok),
        "perturbation_rates": RATES,
        "perturbation_units": UNITS,
        "judge": judge,
        "n_cached": sum(r.cached for r in ok),
        # unknown (a model without a price) is None, never $0
        "cost_usd": None
        if any(r.error is None and r.cost_usd is None for r in ok)
        else round(sum(r.cost_usd or 0.0 for r in ok), 6),
        "cost_known": not any(r.error is None and r.cost_usd is None for r in ok),
        "input_tokens": sum(r.usage.input_tokens for r in ok),
        "output_tokens": sum(r.usage.output_tokens for r in ok),
        **(extra or {}),
    }


def build_summary(
    records: Sequence[Record],
    *,
    fluency: dict[str, int | None] | None = None,
    judge: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The full, JSON-safe summary of a run (see the module docstring for conventions)."""
    scored = score_records(records, fluency)
    provenance = {**(provenance or {}), **_grader_provenance(scored, provenance or {})}
    suites = {}
    for suite in SUITE_ORDER:
        rows = [s for s in scored if s.suite == suite]
        if rows:
            suites[suite] = _suite_summary(suite, rows)
    return _nan_to_none(
        {
            "schema_version": SCHEMA_VERSION,
            "kind": "llm_eval",
            "suites": suites,
            "provenance": _provenance(records, judge or judge_info("heuristic"), provenance),
        }
    )


def _grader_provenance(scored: Sequence[Scored], given: dict[str, Any]) -> dict[str, Any]:
    """Where verdicts came from: how many the grader decided (rule unresolved, grade correct /
    incorrect), which grader models, and whether a grader check measured them."""
    decided = [s for s in scored if s.rule_outcome is Outcome.UNRESOLVED and s.resolved]
    models = sorted({str((s.record.model_grade or {}).get("model", "")) for s in scored if s.model_verdict})
    check = given.get("grader_check")
    measured = isinstance(check, dict) and bool(check.get("grader"))
    return {
        "n_grader_decided": len(decided),
        "grader_models": [m for m in models if m],
        "grader_measured": measured and any(str(check.get("grader", "")).endswith(f":{m}") for m in models),
    }


def _model_fluency(
    records: Sequence[Record],
    provider: Provider,
    out_dir: Path,
    run_kwargs: dict[str, Any] | None,
    judge_suites: Collection[str] | None = None,
    counts: dict[str, int] | None = None,
) -> dict[str, int | None]:
    """Fluency from a model judge: its requests run through run_samples into out_dir/judge/.

    Only records of ``judge_suites`` (default: every suite) are judged; ``counts`` receives how many
    replies were unparseable (not in the constrained format) and how many judge requests failed."""
    from llm_eval.runner import run_samples

    suites = SUITE_ORDER if judge_suites is None else tuple(judge_suites)
    robust = [r for r in records if r.meta.get("suite") in SUITE_ORDER and r.meta.get("suite") in suites]
    expected = {r.sample_id: str(r.meta.get("expected_language", "en")) for r in robust}
    samples = judge_samples(robust, expected)
    kw = {"progress": False, **(run_kwargs or {})}
    judged = run_samples(samples, provider, out_dir / "judge", **kw)
    by_id = {j.meta.get("judged_sample_id"): j for j in judged}
    scores: dict[str, int | None] = {}
    for r in robust:
        if r.error is not None:
            continue
        if not (r.response_text or "").strip():
            scores[r.sample_id] = 1  # rubric: empty -> 1, no request needed
            continue
        j = by_id.get(r.sample_id)
        scores[r.sample_id] = parse_score(j.response_text) if j is not None and j.error is None else None
        if counts is not None and scores[r.sample_id] is None:
            key = "n_unparseable" if j is not None and j.error is None else "n_failed"
            counts[key] = counts.get(key, 0) + 1
    return scores


def render_report(summary: dict[str, Any]) -> str:
    """report.md from the summary through reports.render with templates/llm_eval.md.j2."""
    from reports.render import render

    return render(report_context(summary), template="llm_eval.md.j2")


def analyze(
    records: list[Record],
    out_dir: str | Path,
    *,
    judge: str = "heuristic",
    judge_provider: Provider | None = None,
    run_kwargs: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    write: bool = True,
    judge_suites: Collection[str] | None = None,
) -> dict[str, Any]:
    """The suites' analysis hook: writes summary.json and report.md, returns headline accuracies.

    ``judge_suites`` limits the model judge to those suites (the CLI's default: the suites whose
    report uses fluency); records of the other suites get no fluency score."""
    if judge not in ("heuristic", "provider"):
        raise ValueError(f"`judge` must be heuristic|provider, got {judge!r}")
    if judge == "provider" and judge_provider is None:
        raise ValueError("`judge_provider` is required when judge='provider'")
    out = Path(out_dir)
    jcounts: dict[str, int] = {"n_unparseable": 0, "n_failed": 0}
    fluency = (
        _model_fluency(records, judge_provider, out, run_kwargs, judge_suites, jcounts)  # type: ignore[arg-type]
        if judge == "provider"
        else None
    )
    jinfo = judge_info(judge, judge_provider)
    if fluency is not None:
        jinfo["n_scored"] = sum(v is not None for v in fluency.values())
        jinfo["n_unparsed_or_failed"] = sum(v is None for v in fluency.values())
        jinfo.update(jcounts)
        if judge_suites is not None:
            jinfo["suites"] = sorted(judge_suites)
    summary = build_summary(records, fluency=fluency, judge=jinfo, provenance=provenance)
    if write:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(out / "report.md", render_report(summary))
    return headline(summary)


def headline(summary: dict[str, Any]) -> dict[str, float | None]:
    """Small console digest: accuracy per cell and mitigation, flat ``"suite:cell[mitigation]" -> acc``."""
    return {
        f"{name}:{c['label'].replace(' ', '')}[{c['mitigation']}]": c["accuracy"]
        for name, s in summary["suites"].items()
        for c in s["cells"]
    }


# ------------------------------------------------------------------------------------------ report view
def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _ci(lo: float | None, hi: float | None) -> str:
    return "n/a" if lo is None or hi is None else f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def _pts(d: float | None, ci: Sequence[float | None] | None = None) -> str:
    if d is None:
        return "n/a"
    s = f"{100 * d:+.1f} pts"
    if ci and ci[0] is not None and ci[1] is not None:
        s += f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
    return s


def _p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _share(k: int, n: int) -> str:
    return "n/a" if not n else f"{k}/{n} ({100 * k / n:.0f}%)"


def _unresolved(c: dict[str, Any]) -> str:
    return _share(c.get("n_unresolved", 0), c["n"])


def _bounds(c: dict[str, Any]) -> str:
    """Accuracy with every unresolved sample counted wrong, and counted right."""
    return f"{_pct(c.get('accuracy_low'))} – {_pct(c.get('accuracy_high'))}"


def _worst_rows(wc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per mitigation: the worst-case table rows (per noise kind, then all variants)."""
    out = []
    for mit, v in (wc or {}).items():
        rows = [
            [
                e_(kind),
                _pct(w["mean_accuracy"]),
                _pct(w["accuracy"]),
                _bounds(w),
                f"{w['n_items']}",
                str(w["n_unresolved"]),
            ]
            for kind, w in v["per_kind"].items()
        ]
        a = v["all"]
        rows.append(
            [
                "**all variants**",
                "",
                _pct(a["accuracy"]),
                _bounds(a),
                str(a["n_items"]),
                str(a["n_unresolved"]),
            ]
        )
        out.append({"mitigation": e_(mit), "label": MITIGATION_LABELS.get(mit, mit), "rows": rows})
    return out


def e_(text: str) -> str:
    from reports.markdown import md_escape

    return md_escape(text)


def _scorer_label(prov: dict[str, Any]) -> str:
    scorer = str(prov.get("scorer") or "rule")
    n = int(prov.get("n_model_graded") or 0)
    text = (
        f"`{scorer}`: rule verdict (correct only when sure, wrong when the gold is absent, else unresolved)"
    )
    if not n:
        return text + "; no model grades, so unresolved samples stay unresolved"
    decided = int(prov.get("n_grader_decided") or 0)
    models = e_(", ".join(prov.get("grader_models") or []) or "n/a")
    text += (
        f"; {n} samples carry a model grade ({models}), which decides unresolved samples when it says "
        f"correct/incorrect: **{decided} verdicts came from the grader**"
    )
    return text + "; " + _grader_measured(prov)


def _grader_measured(prov: dict[str, Any]) -> str:
    """The grader's measured error rates, or that it is unmeasured."""
    check = prov.get("grader_check")
    if not isinstance(check, dict) or not check.get("grader"):
        return "the grader is **unmeasured** (no `flatbench llm-grader-check` result was given)"
    every = next((g for g in check.get("groups", []) if g.get("group") == "all"), {})

    def rate(k: str) -> str:
        r, ci = every.get(f"{k}_rate"), every.get(f"{k}_ci") or [None, None]
        if r is None:
            return "n/a"
        return f"{100 * r:.1f}%" + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci[0] is not None else "")

    other = "" if prov.get("grader_measured") else " (a check of another grader than this run's)"
    return (
        f"grader measured{other}: {e_(str(check['grader']))} on {e_(Path(str(check.get('table', ''))).name)}, "
        f"false accept {rate('fa')}, false reject {rate('fr')} (95% CI)"
    )


def _mitigation_used(suite: str, mits: Sequence[str]) -> str:
    """What this run did about mitigation, in words (never claims a prompt the run did not use)."""
    name = MITIGATION_NAMES.get(suite, "mitigation prompt")
    if set(mits) >= {"none", "pin"}:
        return f"{name}, before/after on the same items (`--mitigation both`)"
    if list(mits) == ["pin"]:
        return f"{name} only (`--mitigation pin`; no before/after)"
    return "none (`--mitigation none`: no mitigation prompt in this run)"


def report_context(summary: dict[str, Any]) -> dict[str, Any]:
    """Everything the template prints, pre-formatted; every data-derived string goes through md_escape."""
    from llm_eval.judge import HEURISTIC_RUBRIC, RUBRIC
    from llm_eval.perturb import rates_table_markdown
    from reports.markdown import md_escape as e

    prov = summary["provenance"]
    judge = prov.get("judge") or {}
    suites = []
    for name, s in summary["suites"].items():
        cells = s["cells"]
        mit_tables = []
        for mit in s["mitigations"]:
            rows = [c for c in cells if c["mitigation"] == mit]
            if name == "multilingual":
                table = [
                    [
                        e(c["label"]),
                        _pct(c["accuracy"]),
                        _ci(c["ci_low"], c["ci_high"]),
                        _unresolved(c),
                        _bounds(c),
                        _num(c["fluency_mean"]),
                        _pct(c["lang_consistency"]),
                        str(c["n"]),
                        _errs(c),
                        str(c["n_unsure"]),
                        _share(c["n_truncated"], c["n"]),
                    ]
                    for c in rows
                ]
            else:
                by = {(c["condition"], c["variant"]): c for c in rows}
                comp = {(r["condition"], r["variant"]): r for r in s["comparisons"] if r["mitigation"] == mit}
                clean = by.get(("clean", "clean"))
                table = []
                if clean:
                    table.append(
                        [
                            "**clean** (baseline)",
                            f"{_pct(clean['accuracy'])} {_ci(clean['ci_low'], clean['ci_high'])}",
                            "",
                            f"{_pct(clean['accuracy'])} {_ci(clean['ci_low'], clean['ci_high'])}",
                            "",
                            f"{clean['n']}/{clean['n']}",
                            str(clean.get("n_unresolved", 0)),
                            _errs(clean),
                        ]
                    )
                for kind in KINDS:
                    cols = [e(kind)]
                    ns, errs, unres = [], [], []
                    for lv in LEVELS:
                        c, r = by.get((kind, lv)), comp.get((kind, lv))
                        cols.append(
                            "n/a" if c is None else f"{_pct(c['accuracy'])} {_ci(c['ci_low'], c['ci_high'])}"
                        )
                        ns.append(str(c["n"]) if c else "0")
                        errs.append(_errs(c) if c else "0")
                        unres.append(str(c.get("n_unresolved", 0)) if c else "0")
                        if lv == "light":
                            cols.append("" if r is None else f"{_pts(r['diff'])} (p_holm {_p(r['p_holm'])})")
                    r = comp.get((kind, "heavy"))
                    cols.append("" if r is None else f"{_pts(r['diff'])} (p_holm {_p(r['p_holm'])})")
                    if any(by.get((kind, lv)) for lv in LEVELS):
                        table.append([*cols, "/".join(ns), "/".join(unres), "/".join(errs)])
            checks = (
                [
                    [
                        e(c["label"]),
                        str(c["n"]),
                        _unresolved(c),
                        _bounds(c),
                        "n/a (clean)" if c["condition"] == "clean" else f"{c['n_changed']}/{c['n_variants']}",
                        "" if c["condition"] == "clean" else _distance(c),
                        _share(c["n_truncated"], c["n"]),
                    ]
                    for c in rows
                ]
                if name == "noisy"
                else []
            )
            mit_tables.append(
                {"mitigation": mit, "label": MITIGATION_LABELS.get(mit, mit), "rows": table, "checks": checks}
            )
        comparisons = [
            [
                e(r["base"]),
                e(r["target"]),
                e(r["mitigation"]),
                str(r["n_pairs"]),
                f"{_pct(r['acc_base'])} → {_pct(r['acc_target'])}",
                _pts(r["diff"], r["diff_ci"]),
                f"{r['mcnemar_b']}/{r['mcnemar_c']}",
                _p(r["p"]),
                _p(r["p_holm"]),
                _p(r.get("fluency_p_holm")),
            ]
            for r in s["comparisons"]
        ]
        mitigation = [
            [
                e(r["label"]) + (" †" if r.get("pooled") else ""),
                str(r["n_pairs"]),
                _pct(r["acc_base"]),
                _pct(r["acc_target"]),
                _pts(r["diff"], r["diff_ci"]),
                f"{r['mcnemar_b']}/{r['mcnemar_c']}",
                _p(r["p"]),
                _p(r.get("p_holm")),
                f"{_pct(r['lang_base'])} → {_pct(r['lang_target'])}",
                _p(r.get("lang_p_holm")),
                f"{_num(r.get('fluency_base'))} → {_num(r.get('fluency_target'))}",
                _p(r.get("fluency_p_holm")),
            ]
            for r in s["mitigation"]
        ]
        tax_mits = list(s["taxonomy"])
        tax_rows = []
        first = s["taxonomy"][tax_mits[0]]["categories"] if tax_mits else []
        for i, cat in enumerate(first):
            row = [e(cat["category"])]
            for m in tax_mits:
                c = s["taxonomy"][m]["categories"][i]
                row.append(f"{c['count']} ({c['pct']:.1f}%)")
            tax_rows.append(row)
        tax_examples = []
        for m in tax_mits:
            for cat in s["taxonomy"][m]["categories"]:
                for ex in cat["examples"][:1]:
                    tax_examples.append(
                        {
                            "mitigation": e(m),
                            "category": e(cat["category"]),
                            "prompt": e(ex["prompt"]),
                            "prediction": e(ex["prediction"]),
                            "diagnosis": e(ex["diagnosis"]),
                        }
                    )
        failures = [
            {
                "sample_id": e(f["sample_id"]),
                "prompt": e(f["prompt"]),
                "gold": e(" / ".join(f["gold"])),
                "prediction": e(f["prediction"]) or "(empty)",
                "diagnosis": e(f["diagnosis"]),
                "language": e(f"{f['language']} (expected {f['expected_language']})"),
            }
            for f in s["failure_cases"]
        ]
        ga = s.get("grader_agreement")
        agreement = None
        if ga:
            agreement = {
                "models": e(", ".join(m for m in ga["models"] if m) or "n/a"),
                "n_graded": ga["n_graded"],
                "n_compared": ga["n_compared"],
                "n_unsure": ga["n_unsure"],
                "n_unparseable": ga["n_unparseable"],
                "n_rule_unresolved": ga.get("n_rule_unresolved", 0),
                "agreement": _pct(ga["agreement"]),
                "kappa": _num(ga["kappa"], ".3f"),
                "table": [
                    ["rule: correct", str(ga["both_correct"]), str(ga["rule_only_correct"])],
                    ["rule: not correct", str(ga["model_only_correct"]), str(ga["both_incorrect"])],
                ],
            }
        suites.append(
            {
                "name": name,
                "mitigation_used": _mitigation_used(name, s["mitigations"]),
                "agreement": agreement,
                "worst_case": _worst_rows(s.get("worst_case")),
                "title": "B1. Multilingual and code-switch"
                if name == "multilingual"
                else "B2. Robustness to messy inputs",
                "mitigation_name": MITIGATION_NAMES[name],
                "n_records": s["n_records"],
                "n_errors": s["n_errors"],
                "n_empty": s.get("n_empty", 0),
                "tables": mit_tables,
                "comparisons": comparisons,
                "mitigation": mitigation,
                "taxonomy_mitigations": [e(m) for m in tax_mits],
                "taxonomy_failures": ", ".join(
                    f"{m}: {s['taxonomy'][m]['n_failures']}/{s['taxonomy'][m]['n_answered']}"
                    for m in tax_mits
                ),
                "taxonomy_header": "| Category | " + " | ".join(e(m) for m in tax_mits) + " |",
                "taxonomy_sep": "|---|" + "---|" * len(tax_mits),
                "taxonomy_rows": tax_rows,
                "taxonomy_examples": tax_examples,
                "failures": failures,
            }
        )
    decoding = "; ".join(
        ", ".join(f"{k}={v}" for k, v in sorted(d.items())) for d in prov.get("decoding", [])
    )
    item_sets = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(prov.get("item_sets", {}).items()))
    return {
        "suites": suites,
        "provenance": {
            "providers": e(", ".join(prov.get("providers", []))),
            "models": e(", ".join(prov.get("models", []))),
            "decoding": e(decoding or "n/a"),
            "date": e(prov.get("date", "")),
            "responses": e(f"{prov.get('first_response_at')} … {prov.get('last_response_at')}"),
            "item_sets": e(item_sets or "n/a"),
            "seed": e(", ".join(str(x) for x in prov.get("perturbation_seed", [])) or "n/a"),
            "judge": e(judge.get("name", "n/a")),
            "judge_label": e(judge.get("name", "n/a"))
            + (
                f" (model judge; replies scored {judge.get('n_scored', 0)}, unparsed or failed "
                f"{judge.get('n_unparsed_or_failed', 0)})"
                if judge.get("kind") == "provider"
                else " (deterministic heuristic, not a model: it scores form only)"
            ),
            "cost": "unknown (no price)"
            if prov.get("cost_usd", 0.0) is None
            else f"{prov.get('cost_usd', 0.0):.4f}",
            "tokens": f"{prov.get('input_tokens', 0)} in / {prov.get('output_tokens', 0)} out",
            "n_cached": prov.get("n_cached", 0),
            "answer_format": e(", ".join(prov.get("answer_formats") or ["plain"])),
            "scorer": _scorer_label(prov),
            "note": e(str(prov["note"])) if prov.get("note") else "",
        },
        "rubric": RUBRIC if judge.get("kind") == "provider" else HEURISTIC_RUBRIC,
        "rates_table": rates_table_markdown(),
    }
