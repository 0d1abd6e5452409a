"""Rendering: golden file, Markdown escaping, honesty of the headline, pure function."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

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
    assert "| Method | Accuracy | Weighted F1 |" in text
    for heading in (
        "## Headline",
        "## Failed runs (excluded)",
        "### Significance tests",
        "### Error analysis",
        "### Cost",
        "## Validation",
        "## Provenance",
        "Power note",
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


@pytest.mark.parametrize(
    ("acc_lora", "acc_flat", "phrase"),
    [
        (0.4, 1.0, "Flat-LoRA scores higher than LoRA on test accuracy by +0."),
        (1.0, 0.4, "Flat-LoRA scores lower than LoRA on test accuracy by -0."),
        (0.72, 0.72, "No difference between Flat-LoRA and LoRA on test accuracy is shown"),
    ],
)
def test_headline_is_worded_from_the_paired_interval(acc_lora: float, acc_flat: float, phrase: str) -> None:
    recs = [make_record(method="lora", seed=s, acc=acc_lora) for s in range(42, 47)]
    recs += [make_record(method="flat_lora", seed=s, acc=acc_flat) for s in range(42, 47)]
    summary = summarize(recs, n_resamples=99)
    c = summary.datasets[0].comparisons[0]
    lo, hi = c.paired["ci_low"], c.paired["ci_high"]
    text = render(summary)
    headline = text.split("## Headline", 1)[1].split("##", 1)[0]
    assert phrase in headline
    if "higher" in phrase:
        assert lo > 0 and "excludes 0" in headline
    elif "lower" in phrase:
        assert hi < 0 and "excludes 0" in headline
    else:
        assert lo < 0 < hi and "includes 0" in headline and "would" not in headline.split("shown")[0]
        assert "with 5 seeds this design detects a difference of about" in headline
    for word in ("improves", "beats", "better"):
        assert word not in headline
    assert "minimum detectable effect at n = 5: d_z = 1.68" in headline  # statsmodels TTestPower, n=5
    assert "Per example, pooled over 5 seeds (CMH)" in headline
