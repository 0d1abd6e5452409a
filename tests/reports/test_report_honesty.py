"""What the report says about its own numbers: no sentence claims more than they show.

Each test pins one way the first study's report overstated or understated: a capped sizing rule worded
as if it reached its target, a bootstrap interval called wider than the t interval it undercuts, Welch
tests across unequal seed sets, few-seed intervals beside adjusted tests that show nothing, captions
with another method's n, collapses, the median and one seed's leverage left unsaid, and provenance
(dirty trees, machines) buried in a table.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as st

from flatlora.bench.collapse import prior_entropy
from flatlora.bench.study import paired_t_power
from reports.build import build_report
from reports.render import render
from reports.summary import summarize
from tests.reports.factory import make_record

FIXTURES = Path(__file__).parent / "fixtures"


def _rec(method: str, seed: int, acc: float | None = None, **kw: Any) -> dict[str, Any]:
    r = make_record(method=method, seed=seed, **kw)
    if acc is not None:
        r["test"]["accuracy"] = acc
    return r


def _summary(recs: list[dict[str, Any]], **kw: Any) -> Any:
    return summarize(recs, n_resamples=99, two_way_resamples=99, **kw)


def _write(run: Path, recs: list[dict[str, Any]]) -> Path:
    (run / "records").mkdir(parents=True, exist_ok=True)
    for r in recs:
        (run / "records" / f"{r['run_id']}.json").write_text(json.dumps(r), encoding="utf-8")
    return run


PLAN = {
    "metric": "accuracy",
    "pilot_seeds": [42, 43, 44, 45],
    "pilot_sd": 0.0163,
    "sd_upper": 0.0211,
    "n": 6,
    "capped": True,
    "rule": "the first design's rule",
}


# ------------------------------------------------------------------------------- 1. the power sentence
def test_a_capped_rule_is_never_said_to_detect_its_target_and_the_achieved_power_is_stated() -> None:
    lora = [0.80, 0.82, 0.79, 0.81, 0.83, 0.80]
    flat = [0.81, 0.80, 0.82, 0.80, 0.84, 0.83]
    recs = [_rec("lora", 42 + i, a) for i, a in enumerate(lora)]
    recs += [_rec("flat_lora", 42 + i, a) for i, a in enumerate(flat)]
    s = _summary(recs, plan=PLAN)
    p = s.datasets[0].primary
    text = render(s)
    # the old wording: "the rule set n = 6 seeds per method (capped: ...) to detect 0.5 points with 80% power"
    assert not re.search(r"set n = \d+ seeds per method \(capped[^)]*\) to detect", text)
    assert (
        "the rule wanted 142 seeds per method, more than its cap of 6, so n was set to the cap, 6" in p.sizing
    )
    assert "the study was not sized to detect 0.5 points" in p.sizing
    sd = float(np.std(np.subtract(flat, lora), ddof=1))
    assert p.achieved["power_observed"] == pytest.approx(paired_t_power(0.005 / sd, 6))
    assert p.achieved["power_bound"] == pytest.approx(paired_t_power(0.005 / 0.0211, 6))
    shown = f"{p.achieved['power_observed']:.0%} at the observed SD of the paired differences ({sd:.4f})"
    assert shown in text
    assert f"{p.achieved['power_bound']:.0%} at the pilot's bound" in text


def test_an_uncapped_rule_says_it_set_the_smallest_n_that_reaches_the_target() -> None:
    recs = [_rec(m, 42 + i) for m in ("lora", "flat_lora") for i in range(6)]
    plan = {**PLAN, "capped": False, "sd_upper": 0.004, "pilot_sd": 0.003}
    p = _summary(recs, plan=plan).datasets[0].primary
    assert "The rule set n = 6 seeds per method, the smallest n in [4, 6]" in p.sizing
    assert "wanted" not in p.sizing


# --------------------------------------------------------------------------- 2. the bootstrap sentence
def test_the_bootstrap_sentence_says_what_each_interval_answers_without_calling_it_wider() -> None:
    recs = [_rec(m, 42 + i) for m in ("lora", "flat_lora") for i in range(4)]
    s = _summary(recs)
    p = s.datasets[0].primary
    p.bootstrap = {**p.bootstrap, "low": p.ci_low + 0.01, "high": p.ci_high + 0.02}  # tighter below
    text = render(s)
    para = next(ln for ln in text.splitlines() if ln.startswith("Two-way bootstrap"))
    assert "also covers a new draw of test examples" not in para
    assert "a new draw of training seeds, evaluated on these same test sentences" in para
    assert "resamples the test sentences as well" in para
    assert "can be the narrower of the two" in para
    assert f"its lower bound, {p.ci_low + 0.01:+.4f}, lies above the t interval's, {p.ci_low:+.4f}" in para
    assert "upper bound" not in para  # the bootstrap's upper bound is the wider one here


# ------------------------------------------------------------------------------- 3. matched seed sets
def test_every_between_method_comparison_uses_only_the_seeds_both_ran() -> None:
    # lora and flat_lora on 12 seeds, full on the first 5: lora is weak on seeds 1-5, strong after
    lora = [0.60, 0.61, 0.62, 0.60, 0.61] + [0.90] * 7
    full = [0.66, 0.67, 0.65, 0.68, 0.66]
    recs = [_rec("lora", 42 + i, a + 0.001 * i) for i, a in enumerate(lora)]
    recs += [_rec("flat_lora", 42 + i, a + 0.002 * (i % 3)) for i, a in enumerate(lora)]
    recs += [_rec("full", 42 + i, a) for i, a in enumerate(full)]
    s = _summary(recs)
    row = next(c for c in s.datasets[0].comparisons if c.method_a == "full")
    shared = [lora[i] + 0.001 * i for i in range(5)]
    assert row.seeds == [42, 43, 44, 45, 46]
    assert row.diff == pytest.approx(row.paired["estimate"])  # no mean over unequal seed sets
    assert row.diff == pytest.approx(np.mean(full) - np.mean(shared))
    assert row.welch["n_a"] == row.welch["n_b"] == 5
    assert row.welch["pvalue"] == pytest.approx(st.ttest_ind(full, shared, equal_var=False).pvalue)
    text = render(s)
    table = text.split("#### Tests on the headline metric", 1)[1].split("**Per-example", 1)[0]
    assert "Welch" not in table
    assert "| Full FT vs LoRA | secondary | 42–46 |" in table
    assert "over seeds 42–46 (n = 5;" in text  # the secondary sentence names its seeds


def test_a_pair_without_shared_seeds_falls_back_to_welch_and_says_so() -> None:
    recs = [_rec("lora", 42 + i) for i in range(3)] + [_rec("flat_lora", 50 + i) for i in range(3)]
    text = render(_summary(recs))
    assert "Flat-LoRA vs LoRA: fewer than 2 shared seeds, so no paired test; Welch's unpaired t-test" in text


# ----------------------------------------------------------------- 4. few-seed intervals, adjusted tests
def test_no_five_seed_interval_reads_as_a_finding_beside_an_adjusted_test_that_shows_none() -> None:
    lora = [0.70, 0.71, 0.72, 0.73, 0.74]
    deltas = {
        "full": [0.010, 0.020, 0.005, 0.015, 0.000],  # raw p < 0.05, not after Holm over 3
        "sam_ab": [0.010, -0.010, 0.020, -0.020, 0.005],
        "sam_w": [0.000, 0.010, -0.010, 0.020, -0.015],
        "flat_lora": [0.004, 0.006, 0.002, 0.005, 0.003],
    }
    recs = [_rec("lora", 42 + i, a) for i, a in enumerate(lora)]
    recs += [_rec(m, 42 + i, a + d[i]) for m, d in deltas.items() for i, a in enumerate(lora)]
    s = _summary(recs)
    ds = s.datasets[0]
    full = next(x for x in ds.secondary if x.method == "full")
    assert full.ci_low > 0 and full.pvalue < 0.05 < full.p_holm
    assert "Its unadjusted interval excludes 0, which is not a finding after the adjustment" in full.sentence
    row = next(c for c in ds.comparisons if c.method_a == "full")
    assert row.bootstrap["low"] > 0 and not row.bootstrap["shown"]  # it would exclude 0: not shown
    text = render(s)
    table = text.split("#### Tests on the headline metric", 1)[1].split("**Per-example", 1)[0]
    boot = f"[{row.bootstrap['low']:.3f}, {row.bootstrap['high']:.3f}]"
    assert boot not in table and "not shown (< 10 seeds)" in table
    assert "**" not in table  # nothing in the table is flagged


# -------------------------------------------------------------------------------------- 5. captions
def test_captions_give_each_methods_own_number_of_seeds() -> None:
    recs = [_rec("full", 42 + i) for i in range(5)]
    recs += [_rec(m, 42 + i) for m in ("lora", "flat_lora") for i in range(8)]
    text = render(_summary(recs))
    flat = text.split("#### Flatness", 1)[1].split("####", 1)[0]
    assert "over 5 seeds" not in flat
    assert "| Full FT | 5 |" in flat and "| LoRA | 8 |" in flat and "| Flat-LoRA | 8 |" in flat
    assert "**LoRA** (summed over 8 seeds)" in text and "**Full FT** (summed over 5 seeds)" in text
    assert "| LoRA (8 seeds) |" in text  # the error types, counted over each method's seeds
    one = render(_summary([_rec(m, 42) for m in ("lora", "flat_lora")]))
    assert "**LoRA** (summed over 1 seed)" in one and "| LoRA (1 seed) |" in one
    metrics = text.split("#### All metrics (mean ± std over seeds)", 1)[1].split("####", 1)[0]
    rows = {ln.split(" | ")[0]: ln for ln in metrics.splitlines() if ln.startswith("| ")}
    assert rows["| Full FT"].endswith("| 5 |") and rows["| LoRA"].endswith("| 8 |")


# ---------------------------------------------------------------- 6. collapses, the median, leverage
def _collapsed(rec: dict[str, Any], flag: bool) -> dict[str, Any]:
    rec["collapse"] = {"collapsed": flag, "reasons": ["loss"] if flag else [], "tail_loss": 0.9}
    return rec


def test_collapses_from_the_records_are_counted_and_paired_by_exact_mcnemar() -> None:
    lora_c, flat_c = {43, 45, 46, 47}, {46}
    recs = [_collapsed(_rec("lora", s), s in lora_c) for s in range(42, 50)]
    recs += [_collapsed(_rec("flat_lora", s), s in flat_c) for s in range(42, 50)]
    s = _summary(recs)
    col = s.datasets[0].collapse
    by = {m.method: m for m in col.methods}
    assert (by["lora"].n_collapsed, by["lora"].seeds) == (4, [43, 45, 46, 47])
    assert (by["flat_lora"].n_collapsed, by["flat_lora"].seeds) == (1, [46])
    pair = col.pairs[0]
    assert (pair.both, pair.only_a, pair.only_b) == ([46], [], [43, 45, 47])
    assert pair.pvalue == pytest.approx(st.binomtest(0, 3, 0.5).pvalue)
    text = render(s)
    assert "LoRA 4 of 8 (seeds 43, 45–47)" in text and "Flat-LoRA 1 of 8 (seed 46)" in text
    assert "only LoRA on 3 (seeds 43, 45, 47); exact McNemar on the discordant seeds p = 0.250" in text


def _stuck(rec: dict[str, Any], counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    """A run whose training loss stays at the prior's entropy (the collapse the rule looks for)."""
    h = prior_entropy(counts["train"])
    rec["train_loss"] = [{**p, "loss": h + 0.001 * (i % 2)} for i, p in enumerate(rec["train_loss"])]
    return rec


def test_older_records_get_their_collapse_computed_from_stored_label_counts_or_are_not_computable() -> None:
    counts = {
        "train": {"negative": 40, "neutral": 100, "positive": 60},
        "val": {"negative": 8, "neutral": 20, "positive": 12},
    }
    recs = [_rec(m, s) for m in ("lora", "flat_lora") for s in (42, 43, 44)]
    for r in recs:
        r["dataset_info"]["label_counts"] = counts
        r["train_loss"] = [{**p, "loss": 0.3} for p in r["train_loss"]]  # trained well below the prior
    _stuck(recs[1], counts)  # lora seed 43
    col = _summary(recs).datasets[0].collapse
    by = {m.method: m for m in col.methods}
    assert by["lora"].seeds == [43] and by["lora"].sources == ["recomputed"]
    assert by["flat_lora"].n_collapsed == 0
    for r in recs:
        del r["dataset_info"]["label_counts"]
    text = render(_summary(recs))
    assert "LoRA not computable; Flat-LoRA not computable." in text


def test_collapses_of_records_without_label_counts_are_recomputed_from_the_data(tmp_path: Path) -> None:
    from flatlora.bench.data import load_labeled, make_splits

    run = tmp_path / "study_small"
    shutil.copytree(FIXTURES / "study_small", run)
    data = FIXTURES / "study_small_data"
    splits = make_splits(load_labeled(str(data / "tiny.csv"), data_dir=data), split_seed=0)
    counts = {
        "train": {
            lab: int(sum(str(y) == lab for y in splits.train["label"]))
            for lab in ("negative", "neutral", "positive")
        }
    }
    path = next((run / "records").glob("tiny__lora__s2__*.json"))
    rec = json.loads(path.read_text(encoding="utf-8"))
    assert "label_counts" not in rec["dataset_info"] and "collapse" not in rec
    rec["train_loss"] = [{"step": i + 1, "loss": prior_entropy(counts["train"])} for i in range(40)]
    path.write_text(json.dumps(rec), encoding="utf-8")
    text = build_report(run, plots=False, data_dir=data).read_text(encoding="utf-8")
    assert "LoRA 1 of 4 (seed 2)" in text
    assert "label counts recomputed from the data" in text


def test_the_median_is_stated_and_a_seed_that_carries_the_mean_is_named() -> None:
    lora = [0.80, 0.82, 0.79, 0.81, 0.83, 0.80, 0.82, 0.81, 0.60]
    diffs = [0.002, -0.003, 0.001, -0.002, 0.003, -0.001, 0.002, -0.002, 0.190]  # seed 50 collapsed
    recs = [_rec("lora", 42 + i, a) for i, a in enumerate(lora)]
    recs += [_rec("flat_lora", 42 + i, a + d) for i, (a, d) in enumerate(zip(lora, diffs, strict=True))]
    s = _summary(recs)
    rb = s.datasets[0].primary.robust
    d = np.asarray(diffs)
    assert rb.median == pytest.approx(np.median(d))
    assert rb.wilcoxon_pvalue == pytest.approx(st.wilcoxon(d).pvalue)
    walsh = [(d[i] + d[j]) / 2 for i in range(d.size) for j in range(i, d.size)]
    assert rb.hodges_lehmann == pytest.approx(np.median(walsh))
    assert rb.leverage.seed == 50 and rb.leverage.carries
    assert rb.leverage.mean_without == pytest.approx(d[:-1].mean())
    text = render(s)
    assert f"Median paired difference {np.median(d):+.4f}" in text
    assert "One seed carries the mean: seed 50's difference is +0.1900" in text
    assert f"without it the mean over the other 8 seeds is {d[:-1].mean():+.4f}" in text
    # without the outlier no seed is said to carry the mean
    calm = recs[:8] + recs[9:17]
    assert "carries the mean" not in render(_summary(calm))


# ------------------------------------------------------------------------------------- 7. provenance
def test_provenance_summarises_dirty_trees_and_the_machines_each_method_used() -> None:
    recs = []
    for m in ("lora", "flat_lora", "sam_ab"):
        for i, s in enumerate((42, 43, 44)):
            r = _rec(m, s)
            r["provenance"]["git_sha"] = ["aaa", "bbb-dirty", "ccc-dirty"][i] if m != "sam_ab" else "ddd"
            r["provenance"]["hardware"]["cpu_model"] = "Xeon" if m == "sam_ab" else "EPYC"
            recs.append(r)
    s = _summary(recs)
    assert s.provenance.dirty_shas == ["bbb-dirty", "ccc-dirty"] and s.provenance.n_dirty_records == 4
    text = render(s)
    assert "**2 of the 4 code commits the runs came from had uncommitted changes** (`-dirty`)" in text
    assert "4 of 9 records were written by code that matches no commit" in text
    assert (
        "**The runs used 2 CPU models:** EPYC for LoRA (3), Flat-LoRA (3); Xeon for SAM on A,B (3)." in text
    )


def test_pairs_whose_runs_used_different_machines_are_named_per_comparison() -> None:
    """A CPU model string as coarse as "AMD EPYC" covers several generations: two instruction sets under one
    name are two machines. A paired comparison says which of its seeds paired runs from two machines."""
    from reports.summary_json import summary_from_dict

    isa = {("flat_lora", 43): "AVX512", ("sam_ab", 44): "AVX512", ("sam_ab", 45): "AVX512"}
    recs = []
    for m in ("lora", "flat_lora", "sam_ab"):
        for s in (42, 43, 44, 45):
            r = _rec(m, s)
            r["provenance"]["hardware"].update(cpu_model="AMD EPYC", cpu_isa=isa.get((m, s), "AVX2"))
            recs.append(r)
    s = _summary(recs)
    assert [(x.a, x.b, x.seeds) for x in s.provenance.mixed_pairs] == [
        ("flat_lora", "lora", [43]),
        ("sam_ab", "lora", [44, 45]),
    ]
    text = render(s)
    assert (
        "**The runs used 2 CPU models:** AMD EPYC (AVX2) for LoRA (4), Flat-LoRA (3), SAM on A,B (2); "
        "AMD EPYC (AVX512) for Flat-LoRA (1), SAM on A,B (2)." in text
    )
    assert (
        "**Pairs whose two runs used different machines:** Flat-LoRA vs LoRA on fpb_50agree, 1 pair (seed 43); "
        "SAM on A,B vs LoRA on fpb_50agree, 2 pairs (seeds 44, 45)." in text
    )
    back = summary_from_dict(json.loads(json.dumps(s.to_dict())))  # summary.json keeps them
    assert back.provenance.mixed_pairs == s.provenance.mixed_pairs
    # one instruction set per model name: the name alone, and no pair is said to mix machines
    for r in recs:
        r["provenance"]["hardware"]["cpu_isa"] = "AVX2"
    same = _summary(recs)
    assert same.provenance.mixed_pairs == [] and "different machines" not in render(same)
    assert "Every run that names its CPU used AMD EPYC (12 runs)." in render(same)


def test_the_model_the_runs_trained_is_named_in_the_provenance() -> None:
    recs = [_rec(m, s) for m in ("lora", "flat_lora") for s in (42, 43)]
    assert "| Model | minilm (bert) |" in render(_summary(recs))
    recs[0]["config"]["model"] = "/models/roberta-tiny"
    recs[0]["model_info"] = {"model": "/models/roberta-tiny", "model_type": "roberta"}
    del recs[1]["model_info"]  # an older record: the config's name alone
    recs[1]["config"]["model"] = "minilm"
    assert (
        "| Model | /models/roberta-tiny (roberta); minilm; minilm (bert) (differs across runs) |"
        in render(_summary(recs))
    )


def test_one_machine_and_clean_commits_are_said_in_one_line_each() -> None:
    text = render(_summary([_rec(m, s) for m in ("lora", "flat_lora") for s in (42, 43)]))
    assert "The runs came from 1 code commit, none with uncommitted changes." in text
    assert "Every run that names its CPU used Test CPU 9000 (4 runs)." in text
