"""report.md rendering: pinned by a golden file, every table well-formed, data text escaped."""

from __future__ import annotations

import os
import re
from pathlib import Path

from llm_eval.report import render_report
from llm_eval.summary import build_summary
from llm_eval.types import Record, Usage

GOLDEN = Path(__file__).parent / "data" / "llm_report.golden.md"
FIXED = {"date": "2026-01-01T00:00:00+00:00"}
NASTY = "Berlin | <script>alert(1)</script>\n`rm -rf` [link](x)"


def _rec(
    suite: str, item: str, cond: str, variant: str, mit: str, text: str | None, **meta: object
) -> Record:
    gold = ["Paris", "पेरिस"] if suite == "multilingual" else ["Paris"]
    return Record(
        sample_id=f"{item}|{cond}|{variant}|{mit}", item_id=item, condition=cond, variant=variant,
        provider="stub", model="model-x", params={"temperature": 0.2, "max_tokens": 512},
        system=None if mit == "none" else "sys", messages=[{"role": "user", "content": f"Capital of France? ({cond})"}],
        response_text=text, usage=Usage(4, 2), error=None if text is not None else "HTTP 529: overloaded",
        finished_at="2026-01-01T00:00:00.000+00:00",
        meta={"suite": suite, "mitigation": mit, "gold": gold, "expected_language": meta.pop("exp", "en"),
              "item_set_sha256": f"{suite}-sha", "seed": 0, "entities": ["France"], **meta},
    )  # fmt: skip


def fixture_records() -> list[Record]:
    out = []
    answers = {"en": "Paris", "hi": "पेरिस", "hinglish": "Paris hai", "cs": NASTY}
    for i in range(4):
        for mit in ("none", "pin"):
            for cond, text in answers.items():
                t = text if (i + (mit == "pin")) % 2 == 0 or cond == "en" else "UNSURE"
                out.append(_rec("multilingual", f"ml-{i}", cond, "clean", mit, t, exp=cond))
            out.append(_rec("noisy", f"nz-{i}", "clean", "clean", mit, "Paris"))
            out.append(_rec("noisy", f"nz-{i}", "typos", "heavy", mit, "Paris" if mit == "pin" else "Lyon"))
            out.append(_rec("noisy", f"nz-{i}", "emoji", "light", mit, "🔥 Paris" if i else None))
    return out


def render() -> str:
    return render_report(build_summary(fixture_records(), provenance=FIXED))


def test_golden_report() -> None:
    text = render()
    if os.environ.get("FLATBENCH_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "set FLATBENCH_UPDATE_GOLDEN=1 to regenerate after review"
    )


def test_tables_are_well_formed_and_data_escaped() -> None:
    text = render()
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "Berlin \\| &lt;script&gt;" in text
    lines = text.splitlines()
    i = 0
    while i < len(lines):  # every row of a table has as many cells as its header
        if lines[i].startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|(---\|)+", lines[i + 1]):
            width = len(re.findall(r"(?<!\\)\|", lines[i]))
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                assert len(re.findall(r"(?<!\\)\|", lines[j])) == width, lines[j]
                j += 1
            i = j
        else:
            i += 1


def test_report_sections_and_numbers_from_records() -> None:
    text = render()
    for heading in ("## Provenance", "## B1. Multilingual and code-switch", "## B2. Robustness to messy inputs",
                    "### Before / after: language pinning (same items)", "### Error taxonomy", "### Failure cases",
                    "## Perturbation levels (noisy suite)", "## Fluency rubric (heuristic-v1)"):  # fmt: skip
        assert heading in text
    assert "| Model | model-x |" in text and "multilingual: multilingual-sha" in text
    assert "| English (L1) | 100.0% |" in text  # en always "Paris"
    assert "| typos | n/a |" in text  # only the heavy level was run
    assert text.count("   - Diagnosis:") == 6  # three failure cases per suite
    assert "| typos | 5% | 15% |" in text
