"""summarize() on synthetic records built by the fixture factory (CONTRACT.md record schema)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from reports import stats
from reports.summary import failure_buckets, summarize
from reports.summary_types import MAX_DISAGREEMENTS
from tests.reports.factory import make_grid, make_record


@pytest.fixture(scope="module")
def grid() -> list[dict]:
    return make_grid(methods=("full", "lora", "flat_lora", "sam_w"), failed=(("lora", 44),))


@pytest.fixture(scope="module")
def summary(grid: list[dict]):
    return summarize(grid, run_id="test-run", n_resamples=999)


def test_failed_run_is_excluded_and_listed(summary, grid) -> None:
    assert summary.n_records == 12 and summary.n_ok == 11
    assert [(f.method, f.seed) for f in summary.failed_runs] == [("lora", 44)]
    assert "NaN" in summary.failed_runs[0].reason
    lora = next(m for m in summary.datasets[0].methods if m.method == "lora")
    assert lora.seeds == [42, 43] and lora.metrics["accuracy"].n == 2
    ok_acc = [r["test"]["accuracy"] for r in grid if r["method"] == "lora" and r["status"] == "ok"]
    assert lora.metrics["accuracy"].mean == pytest.approx(np.mean(ok_acc))
    assert lora.metrics["accuracy"].std == pytest.approx(np.std(ok_acc, ddof=1))


def test_comparisons_pairs_and_tests(summary, grid) -> None:
    ds = summary.datasets[0]
    # the primary pair and the secondary family, each against LoRA, on the headline metric only
    pairs = {(c.method_a, c.method_b, c.metric, c.role) for c in ds.comparisons}
    assert pairs == {
        ("flat_lora", "lora", "accuracy", "primary"),
        ("full", "lora", "accuracy", "secondary"),
        ("sam_w", "lora", "accuracy", "secondary"),
    }
    c = next(
        c for c in ds.comparisons if (c.method_a, c.method_b, c.metric) == ("flat_lora", "lora", "accuracy")
    )
    acc = {(r["method"], r["seed"]): r["test"]["accuracy"] for r in grid if r["status"] == "ok"}
    # paired only over the seeds both methods have (lora s44 failed)
    direct = stats.compare(
        [acc["flat_lora", s] for s in (42, 43)], [acc["lora", s] for s in (42, 43)], paired=True
    )
    assert c.paired is not None and c.paired["n"] == 2
    assert c.paired["statistic"] == pytest.approx(direct.statistic)
    # every number of the row uses the seeds both ran, Welch's too (never flat_lora's s44 against nothing)
    welch = stats.compare(
        [acc["flat_lora", s] for s in (42, 43)], [acc["lora", s] for s in (42, 43)], paired=False
    )
    assert c.welch["pvalue"] == pytest.approx(welch.pvalue)
    assert c.seeds == [42, 43]
    assert c.mean_a == pytest.approx(np.mean([acc["flat_lora", s] for s in (42, 43)]))
    assert c.mcnemar is not None and c.mcnemar["n"] == 60
    assert c.mcnemar["seeds"] == [42, 43]  # both ensembles vote with the same seeds
    assert set(c.mcnemar_per_seed) == {"42", "43"}


def test_majority_vote_mcnemar_counts(grid) -> None:
    s = summarize([r for r in grid if r["method"] in ("lora", "flat_lora")], n_resamples=99)
    c = next(c for c in s.datasets[0].comparisons if c.mcnemar)
    votes: dict[str, list[bool]] = {}
    for m in ("flat_lora", "lora"):
        runs = sorted(
            (r for r in grid if r["method"] == m and r["status"] == "ok" and r["seed"] in (42, 43)),
            key=lambda r: r["seed"],
        )
        correct = []
        for i in range(60):
            preds = [r["predictions"][i]["pred"] for r in runs]
            top = max(preds, key=lambda p: (preds.count(p), -preds.index(p)))  # modal, ties -> lowest seed
            correct.append(top == runs[0]["predictions"][i]["gold"])
        votes[m] = correct
    ref = stats.mcnemar_exact(votes["flat_lora"], votes["lora"])
    assert (c.mcnemar["b"], c.mcnemar["c"]) == (ref.b, ref.c)
    assert c.mcnemar["acc_a"] == pytest.approx(np.mean(votes["flat_lora"]))


def test_curves_confusion_flatness_cost(summary, grid) -> None:
    ds = summary.datasets[0]
    band = ds.train_loss["full"]
    assert band.x == [float(s) for s in range(1, 11)] and band.n == [3] * 10
    full = [r for r in grid if r["method"] == "full"]
    assert band.mean[0] == pytest.approx(np.mean([r["train_loss"][0]["loss"] for r in full]))
    assert ds.val_curves["full"]["accuracy"].x == [1.0, 2.0, 3.0]
    assert np.sum(ds.confusion["lora"]) == 2 * 60  # summed over the 2 successful seeds
    assert ds.flatness["flat_lora"].sigmas == [0.01, 0.05, 0.1]
    assert ds.flatness["flat_lora"].mean_increase[2] == pytest.approx(
        np.mean([0.05 * 4 + 0.001 * k for k in range(3)])
    )
    cost = {c.method: c for c in ds.cost}
    assert cost["full"].trainable_params == 22_000_000 and cost["lora"].wall_time_s.n == 2


def test_error_analysis_and_heuristic_buckets(summary) -> None:
    ea = summary.datasets[0].error_analysis
    assert ea is not None and ea.n_test == 60
    assert ea.n_disagree == ea.flat_lora_wins + ea.lora_wins + ea.n_neither
    for d in ea.disagreements:
        assert d.flat_lora != d.lora
    # the fixture has more Flat-LoRA wins than fit the table: the shown rows still include every group,
    # taken in turn, so a truncated table does not favour one method
    assert ea.n_disagree > len(ea.disagreements) == MAX_DISAGREEMENTS
    shown = [d.winner for d in ea.disagreements]
    total = {"flat_lora": ea.flat_lora_wins, "lora": ea.lora_wins, "neither": ea.n_neither}
    cut = [shown.count(w) for w, n in total.items() if shown.count(w) < n]  # groups not shown in full
    assert cut and max(cut) - min(cut) <= 1  # taken in turn: the truncated groups are equally shown
    assert all(shown.count(w) == n or shown.count(w) >= min(cut) for w, n in total.items())
    assert [d.index for d in ea.disagreements] == sorted(d.index for d in ea.disagreements)
    for errs in ea.top_errors.values():
        assert all(g != p for g, p, _ in errs)
        counts = [n for _, _, n in errs]
        assert counts == sorted(counts, reverse=True)
    assert "heuristic" in ea.bucket_method
    assert {b.bucket for b in ea.buckets} == {
        "mixed-signal",
        "forward-looking / temporal",
        "numeric / relative",
        "financial jargon",
    }


@pytest.mark.parametrize(
    ("text", "buckets"),
    [
        ("Sales grew 2% but missed expectations of 5%.", {"mixed-signal", "numeric / relative"}),
        (
            "The company expects net sales to grow next year.",
            {"forward-looking / temporal", "financial jargon"},
        ),
        ("The company booked a write-down of EUR 3 mn.", {"financial jargon"}),
        ("The shares were unchanged.", set()),
    ],
)
def test_failure_buckets(text: str, buckets: set[str]) -> None:
    assert set(failure_buckets(text)) == buckets


def test_primary_says_what_this_n_detects() -> None:
    s = summarize(make_grid(methods=("lora", "flat_lora")), n_resamples=99, two_way_resamples=99)
    p = s.datasets[0].primary
    assert p is not None and p.n == 3
    assert p.mde == pytest.approx(stats.min_detectable_effect(3) * p.sd)
    assert f"detect a difference of about {p.mde:.4f} with 80% power" in p.detail


def test_degenerate_single_seed_and_identical_scores_do_not_crash() -> None:
    recs = [make_record(method="lora", seed=42), make_record(method="flat_lora", seed=42)]
    s = summarize(recs, n_resamples=99)
    c = s.datasets[0].comparisons[0]
    assert c.paired is None and math.isnan(c.welch["pvalue"])
    same = [make_record(method=m, seed=s_, acc=1.0) for m in ("lora", "flat_lora") for s_ in (42, 43, 44)]
    s2 = summarize(same, n_resamples=99)
    c2 = s2.datasets[0].comparisons[0]
    assert c2.diff == 0 and math.isnan(c2.paired["pvalue"])
    json.dumps(s2.to_dict(), allow_nan=False)  # NaN became null


def test_provenance(summary, grid) -> None:
    p = summary.provenance
    assert p.git_shas == ["0123456789abcdef0123456789abcdef01234567"]
    assert len(p.config_hashes) == 12 and p.versions["torch"] == "2.13.0"
    assert p.total_wall_time_s == pytest.approx(sum(r["cost"]["wall_time_s"] for r in grid))
    assert p.dataset_checksums["fpb_50agree"].startswith("bb1b4df6de05d50b")


# ----------------------------------------------------------------- headline metric, MCC, per-seed, cost kind
def test_headline_metric_from_dataset_card_drives_the_tests_and_headline() -> None:
    from reports.render import render

    recs = make_grid(methods=("lora", "flat_lora"))
    for r in recs:
        r["dataset_info"]["headline_metric"] = "mcc"
    s = summarize(recs, n_resamples=99)
    ds = s.datasets[0]
    assert ds.headline_metric == "mcc"
    assert [c.metric for c in ds.comparisons] == ["mcc"]
    assert ds.primary is not None and ds.primary.metric == "mcc"
    text = render(s)
    assert "Flat-LoRA − LoRA on test MCC" in text
    assert "| Method | Accuracy | Weighted F1 | Macro F1 | MCC | Seeds |" in text


def test_old_records_fall_back_to_accuracy_and_skip_missing_metrics() -> None:
    recs = make_grid(methods=("lora", "flat_lora"))
    for r in recs:
        del r["dataset_info"]["headline_metric"]
        del r["test"]["mcc"]
    ds = summarize(recs, n_resamples=99).datasets[0]
    assert ds.headline_metric == "accuracy"
    assert {c.metric for c in ds.comparisons} == {"accuracy"}
    assert math.isnan(ds.methods[0].metrics["mcc"].mean)


def test_per_seed_scores_in_summary_json() -> None:
    recs = make_grid(methods=("lora", "flat_lora"))
    d = json.loads(json.dumps(summarize(recs, n_resamples=99).to_dict()))
    lora = d["datasets"][0]["methods"][0]
    assert lora["method"] == "lora"
    want = {str(r["seed"]): r["test"]["accuracy"] for r in recs if r["method"] == "lora"}
    assert lora["per_seed"]["accuracy"] == want
    assert set(lora["per_seed"]) == {"accuracy", "weighted_f1", "macro_f1", "mcc"}


@pytest.mark.parametrize(("n_seeds", "shown"), [(5, False), (9, False), (10, True)])
def test_seed_bootstrap_interval_only_from_ten_seeds(n_seeds: int, shown: bool) -> None:
    from reports.render import render

    recs = make_grid(methods=("lora", "flat_lora"), seeds=tuple(range(42, 42 + n_seeds)))
    s = summarize(recs, n_resamples=99, two_way_resamples=99)
    assert all(c.bootstrap["shown"] is shown for c in s.datasets[0].comparisons)
    assert ("not shown (< 10 seeds)" in render(s)) is not shown


def test_memory_column_is_labelled_with_its_kind() -> None:
    from reports.render import render

    recs = make_grid(methods=("lora", "flat_lora"))
    assert "Peak RSS above baseline, MB" in render(summarize(recs, n_resamples=99))
    for r in recs:
        r["cost"]["peak_mem_kind"] = "cuda_max_allocated"
    assert "Peak CUDA allocated, MB" in render(summarize(recs, n_resamples=99))
    for r in recs:
        del r["cost"]["peak_mem_kind"]  # legacy records: the whole process's RSS
    text = render(summarize(recs, n_resamples=99))
    assert "Process peak RSS, MB" in text and "whole process" in text
    recs[0]["cost"]["peak_mem_kind"] = "cpu_rss_above_baseline"  # one method mixes kinds: no mean
    ds = summarize(recs, n_resamples=99).datasets[0]
    lora = next(c for c in ds.cost if c.method == "lora")
    assert ds.memory_kind == "mixed" and lora.peak_mem_kind == "mixed" and lora.peak_mem_mb.n == 0


def test_best_val_uses_each_seeds_selected_epoch_not_the_mean_curve() -> None:
    recs = make_grid(methods=("lora",), seeds=(42, 43))
    curves = {42: (1, [0.9, 0.5]), 43: (2, [0.5, 0.8])}
    for r in recs:
        best, accs = curves[r["seed"]]
        r["best_epoch"] = best
        r["val_history"] = [{"epoch": e + 1, "loss": 0.5, "accuracy": a} for e, a in enumerate(accs)]
    bv = summarize(recs, n_resamples=99).datasets[0].best_val["lora"]
    # the mean curve peaks at 0.70 (epoch 1); each seed's own selected epoch gives 0.9 and 0.8
    assert bv.value.mean == pytest.approx(0.85)
    assert bv.epochs == [1, 2]


def test_flatness_says_split_size_and_draws() -> None:
    from reports.render import render

    recs = make_grid(methods=("lora", "flat_lora"))
    for r in recs:
        r["config"].update(flatness_batches=1, eval_batch_size=64)  # capped at n_val = 40
    s = summarize(recs, n_resamples=99)
    f = s.datasets[0].flatness["lora"]
    assert (f.split, f.n_examples, f.k) == ("validation", 40, 5)
    assert "Probe on the validation split (40 examples)" in render(s) and "5 random draws per σ" in render(s)


def test_hardware_values_listed_in_provenance() -> None:
    from reports.render import render

    recs = make_grid(methods=("lora", "flat_lora"))
    recs[0]["provenance"]["hardware"]["cpu_model"] = "Other CPU"
    s = summarize(recs, n_resamples=99)
    assert s.provenance.hardware["cpu_model"] == ["Other CPU", "Test CPU 9000"]
    assert "| Hardware: cpu_model | Other CPU; Test CPU 9000 (differs across runs) |" in render(s)


def test_one_method_one_seed_report_says_what_cannot_be_tested() -> None:
    from reports.render import render

    text = render(summarize(make_grid(methods=("lora",), seeds=(42,)), n_resamples=99))
    assert "no primary comparison: it needs Flat-LoRA and LoRA runs" in text
    assert "No pair of methods to compare" in text and "| A vs B |" not in text
    assert "± n/a |" in text  # the final train loss has no std over one seed (not a fake 0.000)
