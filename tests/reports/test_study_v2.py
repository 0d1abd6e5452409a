"""A study folder of a design with a recipe stage and bracketing sweeps (tests/reports/fixtures/
make_study_v2_small.py): the report shows its stages, its pre-registered endpoints beside the verdict and
its own design's numbers, and rebuilds through `flatbench report` to the committed summary.json (every
number to 1e-9) and report.md; the first study's folder keeps its own design."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as st
from typer.testing import CliRunner

from flows.cli import app
from reports.build import build, build_report
from tests.reports.factory import json_differences

FIXTURES = Path(__file__).parent / "fixtures"
RUN, DATA = FIXTURES / "study_v2_small", FIXTURES / "study_small_data"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("rebuild") / "study_v2_small"
    shutil.copytree(RUN, dst)
    (dst / "summary.json").unlink()
    (dst / "report.md").unlink()
    res = CliRunner().invoke(app, ["report", str(dst), "--data-dir", str(DATA)])
    assert res.exit_code == 0, res.output
    return dst


@pytest.fixture(scope="module")
def text(rebuilt: Path) -> str:
    return (rebuilt / "report.md").read_text(encoding="utf-8")


def _records() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((RUN / "records").glob("*.json"))]


def test_every_number_of_summary_json_is_rebuilt(rebuilt: Path) -> None:
    committed = json.loads((RUN / "summary.json").read_text(encoding="utf-8"))
    again = json.loads((rebuilt / "summary.json").read_text(encoding="utf-8"))
    assert json_differences(committed, again) == []


def test_report_md_is_rebuilt(text: str) -> None:
    assert text == (RUN / "report.md").read_text(encoding="utf-8")


def test_the_recipe_stage_shows_each_candidates_collapses_and_the_pick(text: str) -> None:
    recipe = json.loads((RUN / "recipe" / "recipe.json").read_text(encoding="utf-8"))
    section = text.split("### Recipe stage", 1)[1].split("###", 1)[0]
    assert recipe["rule"] in section
    assert "on seeds 101–104 (4 per candidate" in section and "Chosen: **mean**" in section
    assert "| given | the profile as it is | 4 | 2 | 102, 104 | 0 | 0.670 ± 0.087 |" in section
    assert "| **mean** | `pooling=mean`: mean pooling and a new linear head | 4 | 0 | — | 0 |" in section
    assert "pooling `mean` in 15" in section  # what the grid's records say they used


def test_the_sweeps_say_whether_each_chosen_rate_is_interior_or_capped(text: str) -> None:
    section = text.split("### Learning rates (bracketing sweeps)", 1)[1].split("###", 1)[0]
    assert "| Flat-LoRA | Flat-LoRA | **0.009** | 2 | 0.770 ± 0.014 | 0 | 0 | extension |" in section
    assert "| Flat-LoRA | Flat-LoRA | 0.001 | 2 | 0.615 ± 0.120 | 1 (202) | 0 | planned |" in section
    lines = {ln.split(":", 1)[0]: ln for ln in section.splitlines() if ln.startswith("- ")}
    assert "the cap was reached, and the optimum may lie above it" in lines["- Flat-LoRA"]
    assert "an interior rate" in lines["- LoRA"] and "1 extension added (0.009)" in lines["- LoRA"]
    assert "an interior rate" in lines["- Full FT"] and "extension" not in lines["- Full FT"]


def test_the_pre_registered_endpoints_stand_beside_the_verdict(text: str) -> None:
    recs = _records()
    acc = {(r["method"], r["seed"]): r["test"]["accuracy"] for r in recs}
    ll = {(r["method"], r["seed"]): -np.mean([p["logp"] for p in r["predictions"]]) for r in recs}
    seeds = range(1, 7)
    d = np.array([acc["flat_lora", s] - acc["lora", s] for s in seeds])
    verdict = text.split("## Verdict", 1)[1].split("### Results", 1)[0]
    assert (
        "**Pre-registered robust and secondary endpoints (PLAN.md); they do not change the verdict.**"
        in verdict
    )
    walsh = [(d[i] + d[j]) / 2 for i in range(d.size) for j in range(i, d.size)]
    assert f"Hodges–Lehmann estimate {np.median(walsh):+.4f}" in verdict
    assert f"Wilcoxon signed-rank p = {st.wilcoxon(d).pvalue:.3f}" in verdict
    assert (
        "LoRA 2 of 6 (seeds 3, 6); Flat-LoRA 1 of 6 (seed 6). Each run's record stores its verdict."
        in verdict
    )
    assert f"exact McNemar on the discordant seeds p = {st.binomtest(0, 1, 0.5).pvalue:.3f}" in verdict
    t = st.ttest_rel([ll["flat_lora", s] for s in seeds], [ll["lora", s] for s in seeds])
    diff = np.mean([ll["flat_lora", s] - ll["lora", s] for s in seeds])
    assert f"Flat-LoRA − LoRA = {diff:+.4f}" in verdict and f"paired t p = {t.pvalue:.3f}" in verdict
    assert "Robustness checks (exploratory" not in text


def test_the_numbers_come_from_the_folders_design_not_the_codes_constants(text: str) -> None:
    design = json.loads((RUN / "design.json").read_text(encoding="utf-8"))
    assert (design["equivalence_margin"], design["target_effect"], design["max_seeds"]) == (0.01, 0.02, 6)
    assert "15 expected, 15 found" in text  # 2 x 6 primary runs at the power rule's n, 3 secondary
    assert "neither a difference nor equivalence within ±1 point is shown" in text
    assert "is not inside ±0.0100 (±1 point)" in text
    assert (
        "more than its cap of 6, so n was set to the cap, 6: the study was not sized to detect 2 points"
        in text
    )
    assert "a pilot of 4 pairs, at most 6 pairs, target effect 2 points" in text
    assert "equivalence margin ±1 point;" in text and "1 points" not in text
    assert "±0.5 points" not in text


def test_a_summary_json_alone_renders_the_same_study(tmp_path: Path) -> None:
    dst = tmp_path / "only_summary"
    dst.mkdir()
    shutil.copy(RUN / "summary.json", dst / "summary.json")
    again = build(dst, plots=False, from_summary=True).report.read_text(encoding="utf-8")
    committed = (RUN / "report.md").read_text(encoding="utf-8")
    for part in ("## Verdict", "### Recipe stage", "### Learning rates (bracketing sweeps)"):
        want = committed.split(part, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
        assert want in again, part


def test_the_first_studys_folder_keeps_its_own_design(tmp_path: Path) -> None:
    run = tmp_path / "study_small"
    shutil.copytree(FIXTURES / "study_small", run)
    (run / "PLAN.md").write_text("# plan\n", encoding="utf-8")  # a first-design study folder
    text = build_report(run, plots=False, data_dir=DATA).read_text(encoding="utf-8")
    assert "### Study design `v1`" in text and "the first design: this folder predates `design.json`" in text
    assert "**Robustness checks (exploratory: not in the plan); they do not change the verdict.**" in text
    assert "Pre-registered" not in text and "### Recipe stage" not in text
    assert "±0.5 points" in text


def test_the_committed_first_study_states_what_its_numbers_show() -> None:
    text = (REPO / "reports" / "examples" / "study_fpb50" / "report.md").read_text(encoding="utf-8")
    verdict = text.split("## Details", 1)[0]
    assert "(capped: the rule wanted more) to detect" not in verdict
    assert "the rule wanted 142 seeds per method, more than its cap of 30" in verdict
    assert "10% at the observed SD of the paired differences (0.0396), 24% at the pilot's bound" in verdict
    assert "also covers a new draw of test examples" not in verdict
    assert "One seed carries the mean: seed 19's difference is +0.1932" in verdict
    assert "Median paired difference -0.0010" in verdict
    tests = text.split("#### Tests on the headline metric", 1)[1].split("#### Collapsed", 1)[0]
    assert "Welch" not in tests.split("**Per-example", 1)[0]
    assert "[0.001, 0.024]" not in tests  # the 5-seed bootstrap beside Holm p = 0.29
    assert "over 5 seeds" not in text.split("#### Flatness", 1)[1].split("####", 1)[0]
    assert "**4 of the 12 code commits the runs came from had uncommitted changes**" in text
    assert "Intel(R) Xeon(R) Processor for SAM on A,B (5), SAM on W (5)" in text
