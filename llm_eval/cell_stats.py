"""The numbers of one cell and of one paired comparison, over scored samples.

Provider errors are left out of every denominator; accuracy is correct / resolved with a Wilson
interval and the unresolved bounds beside it; paired comparisons run McNemar's exact test, the paired
difference with Newcombe's interval and the Wilcoxon signed-rank test on fluency; Holm adjusts a
family's p-values. :mod:`llm_eval.summary` states the conventions in full and assembles these numbers
into the run's summary.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from llm_eval.perturb import KINDS
from llm_eval.scored import Scored
from llm_eval.scoring import Outcome

__all__ = ["cell_stats", "grader_agreement", "holm_in_place", "paired_stats", "worst_case"]


def cell_stats(rows: Sequence[Scored]) -> dict[str, Any]:
    """One cell's counts, accuracy (correct / resolved) with its Wilson interval and unresolved
    bounds, selective accuracy, fluency, language consistency, truncation and edit distances."""
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
        "n_graded": sum(s.grader_decided for s in ans),
        "n_grader_verdicts": sum(s.grader_verdict for s in ans),
        "n_wrong": m - k - unsure,
        "accuracy": k / m if m else math.nan,
        "ci_low": lo,
        "ci_high": hi,
        "unresolved_share": unresolved / n if n else math.nan,
        "accuracy_low": k / n if n else math.nan,
        "accuracy_high": (k + unresolved) / n if n else math.nan,
        "selective_accuracy": k / (m - unsure) if m - unsure else math.nan,
        # the sensitivity to the grader: accuracy (correct / resolved) by the rules alone, and with
        # every grader verdict on an unresolved sample counted, whichever of the two counts above
        "accuracy_rule_only": _accuracy([s.rule_outcome for s in ans]),
        "accuracy_with_grader": _accuracy([s.graded_outcome for s in ans]),
        "fluency_mean": statistics.fmean(flu) if flu else math.nan,
        "fluency_n": len(flu),
        "lang_consistency": sum(cons) / len(cons) if cons else math.nan,
        "lang_n": len(cons),
        "n_truncated": sum(s.truncated for s in ans),
        "truncated_share": sum(s.truncated for s in ans) / n if n else math.nan,
        "n_stop_reason": sum(s.record.stop_reason is not None for s in ans),
        **_perturbation_stats(rows),
    }


def _accuracy(outcomes: Sequence[Outcome | None]) -> float:
    resolved = [o for o in outcomes if o is not None and o is not Outcome.UNRESOLVED]
    return sum(o is Outcome.CORRECT for o in resolved) / len(resolved) if resolved else math.nan


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
    verdicts are counted apart). None when no record has a model grade. It compares and counts
    nothing: whether the grader's verdicts decide samples is the grader policy's to say."""
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


def paired_stats(base: Sequence[Scored], target: Sequence[Scored], key: Any) -> dict[str, Any]:
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


def holm_in_place(rows: list[dict[str, Any]], field: str) -> None:
    """Add ``<field>_holm`` to every row: Holm-adjusted over the family's non-pooled rows, None on
    pooled rows and rows without the p-value."""
    from reports.stats import holm

    idx = [i for i, r in enumerate(rows) if not r.get("pooled") and r.get(field) is not None]
    adj = holm([float("nan") if rows[i][field] is None else rows[i][field] for i in idx])
    for i, a in zip(idx, adj, strict=True):
        rows[i][f"{field}_holm"] = a
    for r in rows:
        r.setdefault(f"{field}_holm", None)
