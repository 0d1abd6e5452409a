"""The run's summary -> report.md: every table cell pre-formatted for templates/llm_eval.md.j2.

:func:`report_context` turns the summary (:mod:`llm_eval.summary`) into the strings the template
prints (every data-derived string through ``md_escape``); :func:`render_report` renders it with
:func:`reports.render.render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llm_eval.grader_policy import COUNTED_REASONS
from llm_eval.perturb import KINDS, LEVELS
from llm_eval.scored import EDIT_DISTANCE_MAX_CHARS

__all__ = ["MITIGATION_LABELS", "MITIGATION_NAMES", "render_report", "report_context"]

MITIGATION_LABELS = {"none": "no mitigation", "pin": "mitigation prompt"}
MITIGATION_NAMES = {"multilingual": "language pinning", "noisy": "noise-robustness prompt"}


def render_report(summary: dict[str, Any]) -> str:
    """report.md from the summary through reports.render with templates/llm_eval.md.j2."""
    from reports.render import render

    return render(report_context(summary), template="llm_eval.md.j2")


def _distance(cell: dict[str, Any]) -> str:
    """Mean edit distance, and how many variants were too long to measure."""
    text = _num(cell["mean_edit_distance"], ".1f")
    k = int(cell.get("n_distance_skipped") or 0)
    return text + (f"; {k} not measured (> {EDIT_DISTANCE_MAX_CHARS:,} code points)" if k else "")


def _errs(cell: dict[str, Any]) -> str:
    """The errors column: provider errors, and empty replies apart from them ("0 + 2 empty")."""
    n_empty = int(cell.get("n_empty") or 0)
    return f"{cell['n_errors']}" + (f" + {n_empty} empty" if n_empty else "")


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
    models = e_(", ".join(prov.get("grader_models") or []) or "n/a")
    return text + f"; {n} samples carry a model grade ({models}): see *Model grader* below"


def _rate(r: float | None, ci: Sequence[float | None] | None) -> str:
    if r is None:
        return "n/a"
    lo, hi = ci or (None, None)
    return f"{100 * r:.1f}%" + (
        f" [{100 * lo:.1f}, {100 * hi:.1f}]" if lo is not None and hi is not None else ""
    )


def _verdicts(k: int, kind: str = "") -> str:
    """``k`` verdicts, with the noun in the number it takes."""
    return f"{k} {kind}verdict{'s' * (k != 1)}"


def _grader_line(g: dict[str, Any], check: dict[str, Any] | None) -> str:
    """One grader's verdicts: counted (measured, or by request) or not counted, and why; '' for a grader
    whose verdicts are not counted and that gave none (nothing was left out)."""
    name, k = e_(str(g["grader"])), int(g.get("n_verdicts") or 0)
    if not k and g.get("reason") not in COUNTED_REASONS:
        return ""
    provider, _, model = str(g["grader"]).partition(":")
    rerun = (
        f"run `flatbench llm-grader-check --provider {e_(provider)} --model {e_(model)}` and pass "
        "`--grader-check` (or `--count-unmeasured-grader` to count an unmeasured grader)"
    )
    table = e_(Path(str((check or {}).get("table", ""))).name) or "n/a"
    reason = g.get("reason")
    if reason == "measured":
        fa, fr = _rate(g.get("fa_rate"), g.get("fa_ci")), _rate(g.get("fr_rate"), g.get("fr_ci"))
        return (
            f"{name}: grader verdicts counted (measured: false accept {fa}, false reject {fr}, 95% CI, "
            f"on {table}): **{_verdicts(k)} came from the grader**"
        )
    if reason == "opt-in":
        return (
            f"{name}: **{_verdicts(k, 'grader ')} counted although the grader is unmeasured** "
            "(`--count-unmeasured-grader`): its false-accept and false-reject rates, and so their effect "
            "on these numbers, are unknown"
        )
    if reason == "measured-nothing":
        return (
            f"{name}: **{_verdicts(k, 'grader ')} not counted: the grader check given measured nothing** (no "
            f"labelled reply got a CORRECT or INCORRECT verdict); those samples stay unresolved; {rerun}"
        )
    if reason == "other-grader":
        named = [str(check[key]) for key in ("grader", "second_grader") if check and check.get(key)]
        other = e_(", ".join(named))
        return (
            f"{name}: **{_verdicts(k, 'grader ')} not counted: the grader check given measured another grader** "
            f"({other} on {table}), not this one; those samples stay unresolved; {rerun}"
        )
    if reason == "rule-scorer":
        return f"{name}: {_verdicts(k, 'grader ')} in the records not counted: the scorer is `rule`"
    return (
        f"{name}: **{_verdicts(k, 'grader ')} not counted: the grader is unmeasured**; those samples stay "
        f"unresolved; {rerun}"
    )


def _grader_statement(prov: dict[str, Any]) -> str:
    """The report's plain statement of whether grader verdicts were counted, per grader."""
    check = prov.get("grader_check") if isinstance(prov.get("grader_check"), dict) else None
    graders = prov.get("graders")
    if graders is None:  # a summary written before the grader policy: every grader verdict counted
        if not int(prov.get("n_model_graded") or 0):
            return ""
        state = "measured" if prov.get("grader_measured") else "**unmeasured**"
        return (
            f"{int(prov.get('n_grader_decided') or 0)} grader verdicts counted (a summary written before "
            f"unmeasured graders were left out; the grader was {state})."
        )
    lines = [line for g in graders if (line := _grader_line(g, check))]
    if graders and not lines:  # the pointer from the scorer's row still leads here
        names = e_(", ".join(str(g["grader"]) for g in graders))
        lines = [f"{names}: no CORRECT or INCORRECT verdict on a sample the rules left unresolved"]
    if not graders and check:
        lines = [
            f"a grader check was given ({e_(str(check.get('grader', '')))}), but no sample carries a model grade"
        ]
    if not lines:
        return ""
    tail = ""
    if prov.get("n_grader_decided"):
        tail = " Counted verdicts decide samples the rules left unresolved and are in every accuracy, test and interval below."
    elif prov.get("n_grader_not_counted"):
        tail = " Every accuracy, test and interval below is the rules' alone; each suite's *sensitivity* line shows what the grader's verdicts would give."
    return "; ".join(lines) + "." + tail


def _sensitivity(cells: Sequence[dict[str, Any]]) -> str:
    """What the grader's verdicts change in each cell: with them counted when they are not, or
    without them when they are. A sensitivity, never a finding."""
    rows = [c for c in cells if int(c.get("n_grader_verdicts") or 0)]
    if not rows:
        return ""
    left_out = sum(int(c["n_grader_verdicts"]) - int(c.get("n_graded") or 0) for c in rows)
    if left_out:
        head = (
            f"With the {left_out} grader verdicts that are not counted here counted as well, accuracy "
            "(resolved) would be"
        )
        other = "accuracy_with_grader"
    else:
        head = (
            f"Without the {sum(int(c['n_grader_verdicts']) for c in rows)} grader verdicts (rules only, "
            "those samples unresolved), accuracy (resolved) would be"
        )
        other = "accuracy_rule_only"
    cells_text = "; ".join(
        f"{e_(c['label'])} ({MITIGATION_LABELS.get(c['mitigation'], e_(c['mitigation']))}): "
        f"{_pct(c['accuracy'])} → {_pct(c.get(other))}"
        for c in rows
    )
    return f"**Sensitivity to the grader (not a finding).** {head}: {cells_text}."


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
                "sensitivity": _sensitivity(cells),
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
            "grader": _grader_statement(prov),
            "note": e(str(prov["note"])) if prov.get("note") else "",
        },
        "rubric": RUBRIC if judge.get("kind") == "provider" else HEURISTIC_RUBRIC,
        "rates_table": rates_table_markdown(),
    }
