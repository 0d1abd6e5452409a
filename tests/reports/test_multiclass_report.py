"""The report on a user's six-class data: classes a method never predicted, the rows a profile's caps left
out (said at the top), and what each per-seed or pooled test leaves out, next to it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, matthews_corrcoef

from flatlora.bench.validation import ValidationReport
from reports.render import render
from reports.summary import summarize
from reports.summary_json import summary_from_dict
from tests.reports.factory import make_record

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
GOLD = [0] * 8 + [1] * 106 + [2] * 115 + [3] * 112 + [4] * 77 + [5] * 82  # 500 test questions, TREC-like


def trec_record(method: str, seed: int, never: tuple[str, ...] = (), acc: float = 0.85) -> dict[str, Any]:
    """A record of a run on the six-class questions: right with probability `acc`, never predicting the
    labels in `never` (their examples go to DESC)."""
    rec = copy.deepcopy(make_record("questions", method, seed, profile="quick"))
    rng = np.random.default_rng(100 * seed + len(method))
    banned = {LABELS.index(x) for x in never}
    pred = []
    for g in GOLD:
        p = g if rng.random() < acc else int(rng.integers(6))
        pred.append(1 if p in banned else p)
    ids = list(range(6))
    rec["config"].update(max_train_examples=640, max_eval_examples=300, max_test_examples=None)
    rec["dataset_info"].update(label_names=LABELS, n_train=640, n_val=200, n_test=len(GOLD))
    rec["test"] = {
        "accuracy": float(accuracy_score(GOLD, pred)),
        "weighted_f1": float(f1_score(GOLD, pred, average="weighted", labels=ids, zero_division=0)),
        "macro_f1": float(f1_score(GOLD, pred, average="macro", labels=ids, zero_division=0)),
        "mcc": float(matthews_corrcoef(GOLD, pred)),
        "confusion_matrix": confusion_matrix(GOLD, pred, labels=ids).tolist(),
        "loss": 0.5,
    }
    rec["predictions"] = [
        {"index": i, "gold": LABELS[g], "pred": LABELS[p]}
        for i, (g, p) in enumerate(zip(GOLD, pred, strict=True))
    ]
    return rec


def records() -> list[dict[str, Any]]:
    out = [trec_record("lora", s, never=("ABBR",)) for s in (42, 43, 44)]
    out += [trec_record("flat_lora", s, never=("ABBR",) if s != 44 else ()) for s in (42, 43, 44)]
    out += [trec_record("full", s, never=("ABBR", "NUM") if s == 42 else ()) for s in (42, 43, 44)]
    return out


def validation() -> dict[str, Any]:
    """As the benchmark flow writes it beside the records: the split sizes before any cap."""
    sizes = {"train": 1799, "val": 200, "test": 500}
    return {"data/questions.csv": ValidationReport("questions", "user_default", split_sizes=sizes).to_dict()}


def test_the_report_names_classes_a_method_never_predicted_counted_over_seeds() -> None:
    s = summarize(records(), validation=validation(), n_resamples=99, two_way_resamples=99)
    text = render(s)
    line = next(ln for ln in text.splitlines() if ln.startswith("> **Classes never predicted:**"))
    assert "Full FT never predicted `ABBR` on 1 of 3 seeds (8 test examples), `NUM` on 1 of 3 seeds" in line
    assert "LoRA never predicted `ABBR` on 3 of 3 seeds" in line
    assert "Flat-LoRA never predicted `ABBR` on 2 of 3 seeds" in line
    assert "`DESC`" not in line and "`ENTY`" not in line
    assert line in render(summary_from_dict(s.to_dict()))  # kept in summary.json


def test_the_top_of_the_report_says_the_profile_capped_the_training_rows() -> None:
    text = render(summarize(records(), validation=validation(), n_resamples=99, two_way_resamples=99))
    top = text.split("## Verdict")[0]
    assert "> **Part of the data:** every run on `questions` used 640 of the 1,799 train rows" in top
    assert "val rows" not in top  # 200 of 200: not capped, not said
    assert "used 640 of the 1,799 train rows (`max_train_examples` = 640), as profile `quick` sets" in top
    assert "`--set max_train_examples=none` uses every row" in top
    # without the validation beside the records: the cap is still said, as the cap
    bare = render(summarize(records(), n_resamples=99, two_way_resamples=99)).split("## Verdict")[0]
    assert "used 640 train rows (`max_train_examples` = 640)" in bare
    # every cap that left rows out, and each setting that lifts one
    capped = [copy.deepcopy(r) for r in records()]
    for r in capped:
        r["config"].update(max_test_examples=100)
        r["dataset_info"].update(n_test=100)
    top = render(summarize(capped, validation=validation(), n_resamples=99, two_way_resamples=99))
    top = top.split("## Verdict")[0]
    assert "640 of the 1,799 train rows (`max_train_examples` = 640), 100 of the 500 test rows" in top
    assert "`--set max_train_examples=none` `--set max_test_examples=none` uses every row" in top


def test_per_seed_and_pooled_tests_say_what_they_do_not_account_for() -> None:
    text = render(summarize(records(), validation=validation(), n_resamples=99, two_way_resamples=99))
    boot = next(ln for ln in text.splitlines() if ln.startswith("Two-way bootstrap"))
    assert "the seed-paired t interval (the verdict's) says how far the mean difference could move" in boot
    assert "With only 3 seeds its seed part is too narrow" in boot
    per_seed = next(ln for ln in text.splitlines() if ln.startswith("McNemar p per seed"))
    assert "does not account for seed-to-seed variation" in per_seed
    assert "can stand beside an inconclusive verdict" in per_seed
    votes = next(ln for ln in text.splitlines() if ln.startswith("**Majority votes"))
    assert "does not account for seed-to-seed variation" in votes


def test_example_texts_are_read_in_the_encoding_the_runs_used(tmp_path: Path) -> None:
    """The error analysis looks the texts up in the data: a cp1252 file is read as cp1252, as trained."""
    import hashlib

    from reports.texts import lookup_texts
    from tests.bench import trec_like as T

    rows = [(q.replace(" 's", "\u2019s"), c) for q, c in T.questions(200)]
    p = T.write(tmp_path / "questions.csv", rows, encoding="cp1252")
    cfg = {"dataset": str(p), "text_col": "question", "label_col": "category", "encoding": "cp1252"}
    rec = {
        "dataset": "questions",
        "status": "ok",
        "config": cfg,
        "dataset_info": {"checksum": hashlib.sha256(p.read_bytes()).hexdigest()},
        "predictions": [{"index": 0, "gold": rows[0][1], "pred": rows[0][1]}],
    }
    got = lookup_texts([rec], data_dir=tmp_path)
    assert got.texts.get("questions", {}).get(0) == rows[0][0], got.notes
