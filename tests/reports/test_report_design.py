"""The report answers the plan's question, top-down, from records it has checked.

Each test pins one way a report can mislead: a "by X" outside its own interval, wording that ignores the
adjustment shown, pooled stale or duplicated records, unequal vote ensembles, a missing baseline,
intervals outside a metric's range, PhraseBank heuristics on other data, statistics before the answer,
unreadable or missing records counted as complete.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats.multitest import multipletests
from typer.testing import CliRunner

from flows.cli import app
from reports.build import build_report
from tests.reports.factory import make_record

NUM = r"[+\-−]?\d+\.\d+"


@pytest.fixture(autouse=True)
def _fewer_two_way_resamples(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two-way bootstrap's interval is not what these tests check: 199 resamples keep them quick."""
    monkeypatch.setattr("reports.twoway.N_RESAMPLES", 199)


def _write(run: Path, recs: list[dict[str, Any]], manifest: dict[str, Any] | None = None) -> Path:
    (run / "records").mkdir(parents=True, exist_ok=True)
    for r in recs:
        (run / "records" / f"{r['run_id']}.json").write_text(json.dumps(r), encoding="utf-8")
    if manifest is not None:
        (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run


def _rec(method: str, seed: int, acc: float | None = None, **kw: Any) -> dict[str, Any]:
    """A factory record whose test accuracy is exactly `acc` (when given)."""
    r = make_record(method=method, seed=seed, **kw)
    if acc is not None:
        r["test"]["accuracy"] = acc
    return r


def _num(s: str) -> float:
    return float(s.replace("−", "-"))


# ----------------------------------------------------------------- the "by X" is the interval's estimate
def test_every_by_x_lies_in_the_interval_printed_beside_it(tmp_path: Path) -> None:
    # lora on 10 seeds (weak on 1-5, strong on 6-10), full on seeds 1-5 only: the mean over all seeds
    # puts full below lora, the paired difference over the shared seeds puts it above
    lora = [0.60, 0.61, 0.62, 0.60, 0.61, 0.90, 0.91, 0.90, 0.92, 0.91]
    full = [0.70, 0.72, 0.71, 0.73, 0.70]
    recs = [_rec("lora", 42 + i, a) for i, a in enumerate(lora)]
    recs += [_rec("full", 42 + i, a) for i, a in enumerate(full)]
    recs += [_rec("flat_lora", 42 + i, a + 0.01 * (i % 3)) for i, a in enumerate(lora)]
    text = build_report(_write(tmp_path, recs), plots=False).read_text(encoding="utf-8")
    pairs = re.findall(rf"by ({NUM})[^\n]*?CI \[({NUM}), ({NUM})\]", text)
    assert pairs, "no 'by X ... CI [lo, hi]' sentence"
    for x, lo, hi in pairs:
        assert _num(lo) <= _num(x) <= _num(hi), (x, lo, hi)
    paired = float(np.mean(np.subtract(full, lora[:5])))
    assert f"{paired:+.4f}" in text  # the paired estimate over seeds 42-46 ...
    assert f"{np.mean(full) - np.mean(lora):+.4f}" not in text  # ... never the mean over unequal seeds


# ------------------------------------------------------------------------------------- multiplicity
def test_secondaries_are_one_holm_family_on_the_headline_and_worded_from_it(tmp_path: Path) -> None:
    lora = [0.70, 0.71, 0.72, 0.73, 0.74]
    deltas = {
        "full": [0.010, 0.020, 0.005, 0.015, 0.000],  # raw p < 0.05, not after Holm over 3
        "sam_ab": [0.010, -0.010, 0.020, -0.020, 0.005],
        "sam_w": [0.000, 0.010, -0.010, 0.020, -0.015],
        "flat_lora": [0.004, 0.006, 0.002, 0.005, 0.003],
    }
    recs = [_rec("lora", 42 + i, a) for i, a in enumerate(lora)]
    recs += [_rec(m, 42 + i, a + d[i]) for m, d in deltas.items() for i, a in enumerate(lora)]
    run = _write(tmp_path, recs)
    text = build_report(run, plots=False).read_text(encoding="utf-8")
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    ds = summary["datasets"][0]
    assert {c["metric"] for c in ds["comparisons"]} == {"accuracy"}  # no weighted F1 in any family
    raw = [st.ttest_rel(np.add(lora, deltas[m]), lora).pvalue for m in ("full", "sam_ab", "sam_w")]
    want = multipletests(raw, method="holm")[1]
    assert [s["method"] for s in ds["secondary"]] == ["full", "sam_ab", "sam_w"]
    assert [s["p_holm"] for s in ds["secondary"]] == pytest.approx(want, rel=1e-9)
    assert raw[0] < 0.05 < want[0]
    full_line = next(ln for ln in text.splitlines() if "Full FT" in ln and "Holm-adjusted p" in ln)
    assert "No difference between Full FT and LoRA" in full_line and "after Holm adjustment" in full_line
    assert "scores higher" not in full_line
    primary = next(c for c in ds["comparisons"] if c["role"] == "primary")
    assert primary["paired_p_holm"] is None  # the primary endpoint is not adjusted


# ----------------------------------------------------------------------------------- record hygiene
def test_duplicate_records_of_one_run_count_once(tmp_path: Path) -> None:
    recs = [_rec(m, s) for m in ("lora", "flat_lora") for s in (42, 43, 44)]
    run = _write(tmp_path, recs)
    for r in recs:  # the same runs again under other file names
        (run / "records" / f"copy_{r['run_id']}.json").write_text(json.dumps(r), encoding="utf-8")
    build_report(run, plots=False)
    ds = json.loads((run / "summary.json").read_text(encoding="utf-8"))["datasets"][0]
    assert {m["method"]: m["metrics"]["accuracy"]["n"] for m in ds["methods"]} == {"lora": 3, "flat_lora": 3}


def _at_lr(method: str, seed: int, lr: float) -> dict[str, Any]:
    r = _rec(method, seed)
    r["config"]["lr"] = lr
    r["config_hash"] = f"{lr:g}-{method}-{seed}".ljust(64, "0")
    r["run_id"] = f"fpb_50agree__{method}__s{seed}__{r['config_hash'][:8]}"
    return r


def test_two_learning_rates_of_one_method_are_refused_unless_one_is_chosen(tmp_path: Path) -> None:
    recs = [_at_lr("lora", s, 3e-4) for s in (42, 43, 44)] + [_at_lr("lora", s, 1e-4) for s in (42, 43)]
    recs += [_at_lr("flat_lora", s, 3e-4) for s in (42, 43, 44)]
    run = _write(tmp_path, recs)
    res = CliRunner().invoke(app, ["report", str(run)])
    assert res.exit_code == 2 and not (run / "report.md").exists()
    msg = res.output.strip().splitlines()
    assert len(msg) == 1 and "lora has records at 2 learning rates" in msg[0] and "--lr lora=0.0003" in msg[0]
    ok = CliRunner().invoke(app, ["report", str(run), "--lr", "lora=3e-4"])
    assert ok.exit_code == 0, ok.output
    ds = json.loads((run / "summary.json").read_text(encoding="utf-8"))["datasets"][0]
    assert next(m for m in ds["methods"] if m["method"] == "lora")["seeds"] == [42, 43, 44]


def test_two_configs_of_one_run_are_refused(tmp_path: Path) -> None:
    a, b = _rec("lora", 42), _rec("lora", 42)
    b["config"]["epochs"] = 5
    b["config_hash"], b["run_id"] = "f" * 64, "fpb_50agree__lora__s42__ffffffff"
    run = _write(tmp_path, [a, b, _rec("flat_lora", 42)])
    res = CliRunner().invoke(app, ["report", str(run)])
    assert res.exit_code == 2
    assert "fpb_50agree/lora/seed 42 has 2 different configs" in res.output and "epochs" in res.output


def test_records_of_different_data_files_are_refused(tmp_path: Path) -> None:
    recs = [_rec(m, s) for m in ("lora", "flat_lora") for s in (42, 43)]
    recs[-1]["dataset_info"]["checksum"] = "c" * 64
    res = CliRunner().invoke(app, ["report", str(_write(tmp_path, recs))])
    assert res.exit_code == 2 and "trained on 2 different data files" in res.output


def test_a_sweep_run_is_never_pooled_into_the_grid(tmp_path: Path) -> None:
    recs = [_rec(m, s) for m in ("lora", "flat_lora") for s in (42, 43)]
    run = _write(tmp_path, recs)
    (run / "sweep" / "records").mkdir(parents=True)
    extra = _rec("lora", 0)
    (run / "sweep" / "records" / "x.json").write_text(json.dumps(extra), encoding="utf-8")
    point = {"lr": 5e-5, "config_hash": extra["config_hash"], "status": "ok", "score": 0.7}
    sweep = {"sweeps": {"lora": {"points": [point], "chosen_lr": 5e-5, "seed": 0, "metric": "accuracy"}}}
    (run / "sweep" / "sweep.json").write_text(json.dumps(sweep), encoding="utf-8")
    build_report(run, plots=False)
    ds = json.loads((run / "summary.json").read_text(encoding="utf-8"))["datasets"][0]
    assert next(m for m in ds["methods"] if m["method"] == "lora")["seeds"] == [42, 43]
    (run / "records" / "x.json").write_text(json.dumps(extra), encoding="utf-8")  # copied into the grid
    res = CliRunner().invoke(app, ["report", str(run)])
    assert res.exit_code == 2 and "is a run of the learning-rate sweep" in res.output


def test_validation_json_carries_the_data_checksum(tmp_path: Path) -> None:
    from flatlora.bench.validation import validate_dataset

    data = Path(__file__).parent / "fixtures" / "study_small_data"
    report, _ = validate_dataset(str(data / "tiny.csv"), data_dir=data, raise_on_failure=False)
    from flatlora.bench.data import load_labeled

    assert report.to_dict()["checksum"] == load_labeled(str(data / "tiny.csv"), data_dir=data).checksum


# ------------------------------------------------------------------------------ McNemar, equal ensembles
def test_mcnemar_votes_with_the_same_seeds_for_both_methods(tmp_path: Path) -> None:
    recs = [_rec("lora", s) for s in range(42, 52)] + [_rec("full", s) for s in range(42, 47)]
    recs += [_rec("flat_lora", s) for s in range(42, 52)]
    run = _write(tmp_path, recs)
    build_report(run, plots=False)
    ds = json.loads((run / "summary.json").read_text(encoding="utf-8"))["datasets"][0]
    c = next(c for c in ds["comparisons"] if c["method_a"] == "full")

    def vote(method: str) -> list[bool]:
        runs = sorted((r for r in recs if r["method"] == method and r["seed"] < 47), key=lambda r: r["seed"])
        out = []
        for i in range(60):
            preds = [r["predictions"][i]["pred"] for r in runs]
            top = max(preds, key=lambda p: (preds.count(p), -preds.index(p)))
            out.append(top == runs[0]["predictions"][i]["gold"])
        return out

    fa, lo = vote("full"), vote("lora")
    assert (c["mcnemar"]["b"], c["mcnemar"]["c"]) == (
        sum(a and not b for a, b in zip(fa, lo, strict=True)),
        sum(b and not a for a, b in zip(fa, lo, strict=True)),
    )
    assert c["mcnemar"]["seeds"] == [42, 43, 44, 45, 46]


# --------------------------------------------------------------- baseline, ranges, PhraseBank sections
def _chance_grid(dataset: str = "rte.csv", card: str = "user_default") -> list[dict[str, Any]]:
    recs = []
    for m in ("lora", "flat_lora"):
        for s in (42, 43):
            r = make_record(dataset=dataset, method=m, seed=s, acc=0.34)
            r["dataset_info"]["card"] = card
            recs.append(r)
    recs[0]["test"]["mcc"], recs[2]["test"]["mcc"] = 0.9, -0.9  # far apart: a t interval leaves [-1, 1]
    return recs


def test_majority_baseline_row_and_warning_when_a_method_is_not_above_it(tmp_path: Path) -> None:
    recs = _chance_grid()
    run = _write(tmp_path, recs)
    text = build_report(run, plots=False).read_text(encoding="utf-8")
    gold = [p["gold"] for p in recs[0]["predictions"]]
    top = max(set(gold), key=gold.count)
    assert (
        f"| Majority class (`{top}` for every example) | — | {gold.count(top) / len(gold):.3f} | — |" in text
    )
    assert "**Warning:** LoRA, Flat-LoRA are not above the majority-class baseline" in text


def test_intervals_of_bounded_metrics_stay_in_range(tmp_path: Path) -> None:
    run = _write(tmp_path, _chance_grid())
    build_report(run, plots=False)
    ds = json.loads((run / "summary.json").read_text(encoding="utf-8"))["datasets"][0]
    for m in ds["methods"]:
        for k, ms in m["metrics"].items():
            lo, hi = (-1.0, 1.0) if k == "mcc" else (0.0, 1.0)
            assert lo <= ms["ci_low"] <= ms["mean"] <= ms["ci_high"] <= hi, (m["method"], k, ms)
    b = ds["primary"]["bootstrap"]
    assert -1.0 <= b["low"] <= b["high"] <= 1.0


@pytest.mark.parametrize(
    ("dataset", "card", "shown"),
    [("fpb_50agree", "financial_phrasebank", True), ("rte.csv", "user_default", False)],
)
def test_phrasebank_buckets_only_for_phrasebank(tmp_path: Path, dataset: str, card: str, shown: bool) -> None:
    text = build_report(_write(tmp_path, _chance_grid(dataset, card)), plots=False).read_text(
        encoding="utf-8"
    )
    assert ("Failure-mode buckets" in text) is shown
    assert ("financial jargon" in text) is shown


# ---------------------------------------------------------------------------------------- top-down
def test_report_reads_top_down_verdict_then_results_then_secondaries_then_details(tmp_path: Path) -> None:
    recs = [_rec(m, s) for m in ("lora", "flat_lora", "full") for s in (42, 43, 44, 45, 46)]
    text = build_report(_write(tmp_path, recs), plots=False).read_text(encoding="utf-8")
    heads = [ln for ln in text.splitlines() if ln.startswith("## ")]
    assert heads[:3] == ["## Verdict", "## Secondary comparisons", "## Details"]
    verdict = text.split("## Verdict", 1)[1].split("\n\n", 2)[1]
    assert (
        verdict.startswith("**fpb_50agree: ") and "95% CI [" in verdict and "paired over 5 seeds" in verdict
    )
    before = text.split("## Details", 1)[0]
    for word in ("Welch", "Cochran", "CMH", "McNemar", "Per-seed"):
        assert word not in before, word
    assert before.index("| Majority class") < before.index("## Secondary comparisons")


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ({"seed": "forty-two"}, "seed 'forty-two' is not an integer"),
        ({"method": None}, "method None is not a name"),
        (
            {"flatness": {"sigmas": [0.05]}},
            "`flatness.mean_increase` does not hold one value per sigma (1 sigmas)",
        ),
        ({"flatness": [0.1]}, "`flatness` is list, not an object"),
        (
            {"flatness": {"sigmas": [0.05], "mean_increase": ["high"], "base_loss": 0.6}},
            "`flatness` holds a value that is not a number",
        ),
    ],
)
def test_a_hand_edited_record_is_skipped_and_named_not_a_traceback(
    tmp_path: Path, edit: dict[str, Any], reason: str
) -> None:
    """A record edited by hand (a seed written as a word, a flatness block cut short) stopped the report
    with a KeyError or ValueError traceback; like a truncated file it is now skipped and named."""
    recs = [_rec(m, s) for m in ("lora", "flat_lora") for s in (42, 43)]
    recs[0] = {**recs[0], **edit}
    run = _write(tmp_path, recs)
    res = CliRunner().invoke(app, ["report", str(run)])
    assert res.exit_code == 1, res.output
    assert f"records/{recs[0]['run_id']}.json: {reason}" in " ".join(res.output.split())
    assert (run / "report.md").is_file()


def test_a_folder_of_unreadable_records_names_each_and_why(tmp_path: Path) -> None:
    run = _write(tmp_path, [_rec("lora", 42)])
    [path] = (run / "records").glob("*.json")
    path.write_text(path.read_text(encoding="utf-8")[:100], encoding="utf-8")
    res = CliRunner().invoke(app, ["report", str(run)], env={"COLUMNS": "400"})
    assert res.exit_code == 2
    assert f"1 unreadable file(s): records/{path.name} (invalid JSON at line" in " ".join(res.output.split())


# ------------------------------------------------------------------ the expected grid, unreadable files
def test_unreadable_and_missing_records_are_named_never_n_of_n(tmp_path: Path) -> None:
    recs = [_rec(m, s) for m in ("lora", "flat_lora") for s in (42, 43)]
    manifest = {
        "run_id": "r",
        "datasets": ["fpb_50agree"],
        "methods": ["lora", "flat_lora"],
        "seeds": [42, 43],
    }
    run = _write(tmp_path, recs, manifest)
    bad = run / "records" / f"{recs[0]['run_id']}.json"
    bad.write_text(bad.read_text(encoding="utf-8")[:200], encoding="utf-8")  # truncated by a crash
    res = CliRunner().invoke(app, ["report", str(run)])
    assert res.exit_code == 1
    assert f"records/{bad.name}" in res.output and "invalid JSON" in res.output
    text = (run / "report.md").read_text(encoding="utf-8")
    assert "4 expected, 3 found (3 ok, 0 failed); 1 missing: fpb_50agree/lora/seed 42; 1 unreadable:" in text
    assert "3 of 3" not in text
    bad.unlink()  # deleted: missing, and nothing unreadable
    res = CliRunner().invoke(app, ["report", str(run)])
    assert res.exit_code == 0, res.output
    assert "4 expected, 3 found (3 ok, 0 failed); 1 missing: fpb_50agree/lora/seed 42." in (
        run / "report.md"
    ).read_text(encoding="utf-8")
