"""Learning-rate sweep: selection on validation only, resumable from the runner's records, atomic sweep.json;
the study profile refuses to run without a swept rate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flatlora.bench import sweep as S
from flatlora.bench.config import PROFILE_OVERRIDES, LearningRateNotSwept, resolve_config


def _point(lr: float, score: float | None, loss: float = 0.5, status: str = "ok") -> S.SweepPoint:
    return S.SweepPoint(
        lr=lr, run_id="r", config_hash="h", status=status, source="disk", score=score, val_loss=loss
    )


@pytest.mark.parametrize(
    ("points", "chosen"),
    [
        ([_point(1e-4, 0.70), _point(3e-4, 0.80), _point(1e-3, 0.75)], 3e-4),  # best validation score
        ([_point(1e-4, 0.80, 0.6), _point(3e-4, 0.80, 0.4)], 3e-4),  # tie: lower validation loss
        ([_point(1e-4, 0.80, 0.5), _point(3e-4, 0.80, 0.5)], 1e-4),  # tie again: the smaller rate
        ([_point(1e-4, 0.60), _point(3e-3, None, status="failed")], 1e-4),  # a diverged rate is not eligible
        ([_point(3e-3, None, status="failed")], None),
    ],
)
def test_select_lr_rule(points: list[S.SweepPoint], chosen: float | None) -> None:
    assert S.select_lr(points) == chosen


def test_point_scores_the_best_validation_epoch_of_the_headline_metric() -> None:
    rec = {
        "status": "ok",
        "run_id": "x",
        "config_hash": "h",
        "dataset_info": {"headline_metric": "mcc"},
        "val_history": [
            {"epoch": 1, "loss": 0.9, "accuracy": 0.9, "mcc": 0.2},
            {"epoch": 2, "loss": 0.7, "accuracy": 0.8, "mcc": 0.5},
        ],
        "test": {"accuracy": 0.99, "mcc": 0.99},  # never read
    }
    pt = S.point_from_record(1e-3, rec, "disk", S.headline_of(rec))
    assert (pt.score, pt.best_epoch, pt.val_loss) == (0.5, 2, 0.7)


@pytest.mark.parametrize(
    ("text", "err"), [("1e-4,abc", "'abc'"), ("0,1e-3", "must be > 0, got '0'"), (" , ", "no learning rate")]
)
def test_parse_lrs_rejects_bad_values(text: str, err: str) -> None:
    with pytest.raises(ValueError, match=err):
        S.parse_lrs(text)
    assert S.parse_lrs("3e-4, 1e-4,3e-4") == [1e-4, 3e-4]


def test_study_profile_is_the_full_split_and_refuses_without_a_swept_lr() -> None:
    p = PROFILE_OVERRIDES["study"]
    assert (
        p["max_train_examples"] is None and p["max_eval_examples"] is None and p["max_test_examples"] is None
    )
    assert (p["epochs"], p["batch_size"], p["lora_r"], p["lora_alpha"], p["sigma"]) == (2, 16, 8, 16, 0.05)
    assert "lr" not in p
    with pytest.raises(LearningRateNotSwept, match=r"flatbench study --out DIR"):
        resolve_config("study", method="flat_lora")
    assert resolve_config("study", method="flat_lora", lr=3e-4).lr == 3e-4


def _csv(path: Path) -> Path:
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    rows = [f"{words[i % 6]} item {i} is {lab},{lab}" for lab in ("good", "bad") for i in range(40)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_sweep_on_a_tiny_model_selects_on_validation_and_resumes(tmp_path: Path, tiny_bert: str) -> None:
    from flatlora.bench.runner import run_one

    calls: list[float] = []

    def runner(cfg: Any, out: Any, **kw: Any) -> dict[str, Any]:
        calls.append(cfg.lr)
        return run_one(cfg, out, **kw)

    data = _csv(tmp_path / "tiny.csv")
    overrides = {"model": tiny_bert, "num_threads": 1, "max_len": 16, "epochs": 2, "flatness_batches": 1}
    kw = {
        "profile": "smoke",
        "dataset": str(data),
        "overrides": overrides,
        "runner": runner,
        "progress": False,
    }
    out = tmp_path / "sweep"
    res = S.run_sweep("lora", [1e-2, 1e-4], out, **kw)
    assert calls == [1e-4, 1e-2]  # ascending
    stored = json.loads((out / "sweep.json").read_text())
    entry = stored["sweeps"]["lora"]
    assert entry["metric"] == "mcc"  # inferred binary label set
    assert [len(p["val_history"]) for p in entry["points"]] == [2, 2]
    best = max(entry["points"], key=lambda p: (p["score"], -p["val_loss"], -p["lr"]))
    assert entry["chosen_lr"] == res.chosen_lr == best["lr"]
    assert stored["lr_source"]["flat_lora"] == "flat_lora" and stored["lr_source"]["sam_ab"] == "lora"
    # the records are ordinary runner records under out/records
    assert sorted(p["run_id"] for p in entry["points"]) == sorted(
        p.stem for p in (out / "records").glob("*.json")
    )

    before = (out / "sweep.json").read_bytes()
    again = S.run_sweep("lora", [1e-4, 1e-2], out, **kw)  # resumed: nothing retrained, same answer
    assert calls == [1e-4, 1e-2] and [p.source for p in again.points] == ["disk", "disk"]
    assert (out / "sweep.json").read_bytes() == before  # and sweep.json is left as it was
    assert again.chosen_lr == res.chosen_lr
    assert S.chosen_lrs(out, ["sam_ab"]) == {"sam_ab": res.chosen_lr}  # SAM-AB reuses LoRA's rate
    with pytest.raises(S.SweepMissing, match="flat_lora"):  # flat_lora has a sweep of its own
        S.chosen_lrs(out, ["flat_lora"])
    with pytest.raises(S.SweepMissing, match="flatbench sweep --method full"):
        S.chosen_lrs(out, ["full"])
