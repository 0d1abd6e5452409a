"""Rendering: golden file, Markdown escaping, honesty of the headline, pure function."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from reports.markdown import md_escape
from reports.render import fmt_p, fmt_pm, render
from reports.summary import summarize
from tests.reports.factory import make_grid, make_record

GOLDEN = Path(__file__).parent / "golden" / "benchmark.md"
UPDATE = os.environ.get("FLATBENCH_UPDATE_GOLDEN") == "1"  # regenerate: FLATBENCH_UPDATE_GOLDEN=1 pytest ...


def golden_summary():
    s = summarize(
        make_grid(methods=("full", "lora", "flat_lora"), failed=(("lora", 44),)),
        run_id="golden-run",
        n_resamples=999,
    )
    s.validation = {
        "fpb_50agree": {
            "dataset": "fpb_50agree",
            "card": "financial_phrasebank",
            "success": True,
            "n_checks": 3,
            "n_failed": 0,
            "n_warnings": 1,
            "checks": [
                {
                    "name": "no_duplicates",
                    "success": False,
                    "scope": "all",
                    "severity": "warning",
                    "unexpected_count": 6,
                    "message": "6 | dupes",
                }
            ],
        }
    }
    s.datasets[0].figures = {
        "train_loss": "fpb_50agree_train_loss.png",
        "val": "fpb_50agree_val.png",
        "flatness": "fpb_50agree_flatness.png",
        "confusion": "fpb_50agree_confusion.png",
    }
    return s


def test_golden_file() -> None:
    text = render(golden_summary())
    if UPDATE or not GOLDEN.exists():
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"golden file was missing; wrote {GOLDEN}, review and commit it")
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "report changed: rerun with FLATBENCH_UPDATE_GOLDEN=1 and review"
    )


def test_render_is_pure_and_accepts_dicts() -> None:
    s = golden_summary()
    assert render(s) == render(s) == render(json.loads(json.dumps(s.to_dict())))


def test_study_format_table_and_sections() -> None:
    text = render(golden_summary())
    assert "| Method | Accuracy | Weighted F1 | Macro F1 | MCC | Seeds |" in text
    for heading in (
        "## Verdict",
        "### Results on `fpb_50agree` (test accuracy)",
        "## Secondary comparisons",
        "## Details",
        "### Failed runs (excluded)",
        "#### Tests on the headline metric",
        "#### Error analysis",
        "#### Cost",
        "### Validation",
        "### Provenance",
    ):
        assert heading in text
    assert "loss became NaN at step 3" in text
    assert "![flatness](fpb_50agree_flatness.png)" in text


def _table_rows(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("|")]


def _cells(row: str) -> int:
    """Number of cells: split on pipes that are not backslash-escaped."""
    return len(re.split(r"(?<!\\)\|", row)) - 2


def test_malicious_sentence_cannot_break_tables_or_inject_html() -> None:
    evil = "Profit | rose <script>alert('x')</script> `rm -rf` [click](javascript:x)\nnew | row"
    recs = []
    for m in ("lora", "flat_lora"):
        for s in (42, 43):
            r = make_record(method=m, seed=s, acc=0.5 if m == "lora" else 0.95)
            for p in r["predictions"]:
                p["text"] = evil
            recs.append(r)
    recs[0]["status"], recs[0]["failure_reason"] = "failed", "boom | <b>bad</b>\nline"
    text = render(summarize(recs, n_resamples=99))
    assert "<script>" not in text and "<b>" not in text
    assert "&lt;script&gt;" in text
    # every row of every table keeps the column count of its header
    blocks: list[list[str]] = []
    for ln in text.splitlines():
        if ln.startswith("|"):
            if blocks and blocks[-1] is not None and blocks[-1]:
                blocks[-1].append(ln)
            else:
                blocks.append([ln])
        else:
            blocks.append([])
    for rows in (b for b in blocks if b):
        n = _cells(rows[0])
        assert all(_cells(r) == n for r in rows), rows
    assert "\\| rose &lt;script&gt;" in text


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a|b", "a\\|b"),
        ("<script>", "&lt;script&gt;"),
        ("x\ny\r\nz", "x y z"),
        ("`code`", "\\`code\\`"),
        ("back\\|slash", "back\\\\\\|slash"),
        ("[a](b)", "\\[a\\](b)"),
        ("R&D", "R&D"),
        ("Lubricants & Services", "Lubricants & Services"),
        ("&lt;b&gt; &#38;", "&amp;lt;b&amp;gt; &amp;#38;"),
        ("plain text", "plain text"),
    ],
)
def test_md_escape(raw: str, escaped: str) -> None:
    assert md_escape(raw) == escaped


def test_number_formatting_is_nan_safe() -> None:
    assert fmt_p(None) == fmt_p(float("nan")) == "n/a"
    assert fmt_p(0.0001) == "<0.001" and fmt_p(0.0456) == "0.046"
    assert fmt_pm({"mean": 0.7421, "std": None}) == "0.742 ± n/a"


LORA = [0.70, 0.72, 0.71, 0.73, 0.69, 0.70, 0.72, 0.71]


@pytest.mark.parametrize(
    ("shift", "outcome", "phrase"),
    [
        ([0.02, 0.03, 0.025, 0.02, 0.03, 0.02, 0.03, 0.025], "better", "Flat-LoRA is better than LoRA"),
        ([-0.02, -0.03, -0.025, -0.02, -0.03, -0.02, -0.03, -0.025], "worse", "Flat-LoRA is worse than LoRA"),
        (
            [0.001, -0.001, 0.0005, 0.0, -0.0005, 0.001, -0.001, 0.0],
            "equivalent",
            "are equivalent within ±0.5",
        ),
        ([0.02, -0.03, 0.01, -0.02, 0.03, -0.01, 0.02, -0.025], "inconclusive", "Inconclusive:"),
        (
            [-0.002, -0.0015, -0.0025, -0.002, -0.001, -0.002, -0.003, -0.0015],
            "worse",
            "Flat-LoRA is worse than LoRA on test accuracy by -0.0019 (95% CI [-0.0025, -0.0014], paired t p "
            "< 0.001; paired over 8 seeds: 42–49), a difference inside the equivalence margin of ±0.5 points",
        ),
    ],
)
def test_verdict_is_one_of_the_plans_four_outcomes(shift: list[float], outcome: str, phrase: str) -> None:
    from scipy import stats as st
    from statsmodels.stats.weightstats import ttost_paired

    recs = []
    for i, (a, d) in enumerate(zip(LORA, shift, strict=True)):
        for m, acc in (("lora", a), ("flat_lora", a + d)):
            r = make_record(method=m, seed=42 + i)
            r["test"]["accuracy"] = acc
            recs.append(r)
    p = summarize(recs, n_resamples=99, two_way_resamples=99).datasets[0].primary
    assert p is not None and p.outcome == outcome and phrase in p.sentence
    flat = [a + d for a, d in zip(LORA, shift, strict=True)]
    ref = st.ttest_rel(flat, LORA)
    assert p.estimate == pytest.approx(np.mean(shift), abs=1e-12)
    assert p.pvalue == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval(0.95)
    assert (p.ci_low, p.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    tost_p = ttost_paired(np.asarray(flat), np.asarray(LORA), -0.005, 0.005)[0]
    assert p.tost_pvalue == pytest.approx(tost_p, rel=1e-9)
    assert p.equivalent == bool(tost_p < 0.05)
    text = render(summarize(recs, n_resamples=99, two_way_resamples=99))
    verdict = text.split("## Verdict", 1)[1].split("###", 1)[0]
    assert phrase in verdict and f"{p.estimate:+.4f}" in verdict
