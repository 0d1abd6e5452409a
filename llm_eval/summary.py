"""Scored samples -> the run's summary (statistics, taxonomy, failure cases), the content of summary.json.

Everything here is computed from the records of one run (responses.jsonl), so a summary can be
rebuilt from its records alone. Conventions:

- provider errors are excluded from every denominator and counted per cell (``n_errors``);
- the rule scorer's verdict is correct / wrong / unresolved (``llm_eval.scoring``); a model grade
  (``--scorer auto`` or ``model``) decides an unresolved sample when it says correct or incorrect
  and the grader policy counts its grader (``llm_eval.grader_policy``: measured by the run's grader
  check, or asked for with ``count_unmeasured_grader``); the rest stay unresolved
  (``n_unresolved``). The provenance says whether grader verdicts were counted
  (``grader_verdicts_counted``, ``n_grader_decided``, ``n_grader_not_counted``, ``graders``), and
  every cell gives the accuracy by the rules alone and with every grader verdict counted
  (``accuracy_rule_only``, ``accuracy_with_grader``), a sensitivity, not a finding;
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
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from llm_eval.cell_stats import cell_stats, grader_agreement, holm_in_place, paired_stats, worst_case
from llm_eval.grader_policy import GraderPolicy, GraderUse
from llm_eval.judge import judge_info
from llm_eval.perturb import KINDS, LEVELS, RATES, UNITS
from llm_eval.scored import SUITE_ORDER, Scored, score_records
from llm_eval.taxonomy import MULTILINGUAL_CATEGORIES, NOISY_CATEGORIES, Failure, summarize_taxonomy
from llm_eval.types import Record

__all__ = ["CONDITION_LABELS", "SCHEMA_VERSION", "build_summary", "headline"]

CONDITION_LABELS = {
    "en": "English (L1)",
    "hi": "Hindi, Devanagari (L2)",
    "hinglish": "Hinglish, romanized (L3)",
    "cs": "Code-switch (CS)",
    "clean": "clean",
}
MULTILINGUAL_ORDER = ("en", "hi", "hinglish", "cs")
NOISY_ORDER = ("clean", *KINDS)
SCHEMA_VERSION = 1


def _nan_to_none(x: Any) -> Any:
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_nan_to_none(v) for v in x]
    return x


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
                        **cell_stats(rows),
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
                        **paired_stats(base, tgt, item_key),
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
                        **paired_stats(base, tgt, item_key),
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
                    **paired_stats(base, tgt, pooled_key),
                }
            )
    family = comparisons + mitigation_rows
    for f in ("p", "fluency_p", "lang_p"):
        holm_in_place(family, f)

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
    """The full, JSON-safe summary of a run (see the module docstring for conventions); which grader
    verdicts count is read from ``provenance`` (:data:`llm_eval.grader_policy.POLICY_KEYS`)."""
    policy = GraderPolicy.from_provenance(provenance)
    scored = score_records(records, fluency, policy=policy)
    provenance = {**(provenance or {}), **_grader_provenance(scored, policy)}
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


def _grader_provenance(scored: Sequence[Scored], policy: GraderPolicy) -> dict[str, Any]:
    """Where verdicts came from: per grader, how many unresolved samples it graded correct /
    incorrect and whether those verdicts count (and why), and the totals."""
    graders = sorted({s.grader for s in scored if s.grader and s.outcome is not None})
    uses = [
        GraderUse(
            grader=g,
            n_graded=sum(s.grader == g for s in scored if s.outcome is not None),
            n_verdicts=sum(s.grader == g and s.grader_verdict for s in scored),
            counted=policy.counts(g),
            reason=policy.reason(g),
            rates=policy.measured.get(g),
        )
        for g in graders
    ]
    decided = sum(s.grader_decided for s in scored)
    verdicts = sum(s.grader_verdict for s in scored)
    models = sorted({str((s.record.model_grade or {}).get("model", "")) for s in scored if s.model_verdict})
    return {
        "count_unmeasured_grader": policy.count_unmeasured,
        "grader_verdicts_counted": decided > 0,
        "n_grader_decided": decided,
        "n_grader_verdicts": verdicts,
        "n_grader_not_counted": verdicts - decided,
        "grader_models": [m for m in models if m],
        "grader_measured": bool(uses) and all(u.grader in policy.measured for u in uses),
        "graders": [u.to_dict() for u in uses],
    }


def headline(summary: dict[str, Any]) -> dict[str, float | None]:
    """Small console digest: accuracy per cell and mitigation, flat ``"suite:cell[mitigation]" -> acc``."""
    return {
        f"{name}:{c['label'].replace(' ', '')}[{c['mitigation']}]": c["accuracy"]
        for name, s in summary["suites"].items()
        for c in s["cells"]
    }
