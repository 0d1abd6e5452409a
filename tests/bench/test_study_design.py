"""Study designs: the stored design drives the stages, and a v2 study walks recipe -> sweeps -> grid.

The runs are synthetic records written where the study looks for them, so the test checks the plan's
logic (which runs, in which order, which recipe and rate are chosen, the n the pilot sets), not training.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from flatlora.bench import study
from flatlora.bench.config import RunConfig
from flatlora.bench.design import DESIGN_V1, DESIGN_V2, Recipe, StudyDesign, load_design
from flatlora.bench.records import atomic_write_json, record_path, run_id

SMALL = StudyDesign(
    name="small",
    pilot_seeds=3,
    max_seeds=6,
    secondary_seeds=2,
    secondary=("full",),
    sweep_lrs={"lora": (1e-3, 3e-3), "flat_lora": (1e-3, 3e-3), "full": (1e-5, 1e-4)},
    lr_source={"lora": "lora", "flat_lora": "flat_lora", "full": "full"},
    sweep_seeds=(201, 202),
    max_extensions=1,
    recipes=(Recipe("given", {}), Recipe("mean", {"pooling": "mean"})),
    recipe_seeds=(101, 102),
    recipe_lr=3e-3,
)


def fake_record(cfg: RunConfig, val: float, test: float, *, collapsed: bool = False) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "status": "ok",
        "failure_reason": None,
        "run_id": run_id(cfg),
        "dataset": cfg.dataset_slug(),
        "method": cfg.method,
        "seed": cfg.seed,
        "profile": cfg.profile,
        "config": cfg.to_dict(),
        "config_hash": cfg.config_hash(),
        "provenance": {},
        "dataset_info": {"headline_metric": "accuracy"},
        "model_info": {},
        "train_loss": [{"step": 1, "loss": 0.5}],
        "val_history": [{"epoch": 1, "accuracy": val, "loss": 1 - val}],
        "best_epoch": 1,
        "collapse": {"collapsed": collapsed},
        "test": {"accuracy": test},
        "predictions": [],
        "cost": {"wall_time_s": 1.0, "phase_s": {"train": 1.0}, "cpu_s": {"run": 100.0}},
        "flatness": None,
    }


def val_of(cfg: RunConfig) -> float:
    """Validation peaks at lr 3e-3 for LoRA-style methods (so 1e-3, 3e-3 extends to 9e-3) and 1e-4
    for full; the mean-pooling recipe never collapses, the given one does on seed 101."""
    peak = 1e-4 if cfg.method == "full" else 3e-3
    return 0.85 - 0.05 * abs(math.log10(cfg.lr) - math.log10(peak))


def fill(spec: study.StudySpec, stage: str, cfgs: list[RunConfig]) -> None:
    for c in cfgs:
        collapsed = stage == "recipe" and c.pooling == "model" and c.seed == 101
        test = 0.80 + (0.004 * (c.seed % 3) if c.method == "flat_lora" else 0.0)
        atomic_write_json(
            record_path(c, study.stage_dir(spec, stage)), fake_record(c, val_of(c), test, collapsed=collapsed)
        )


def test_a_v2_study_walks_its_stages_in_order(tmp_path: Path) -> None:
    spec = study.StudySpec(tmp_path, "study", "fpb_50agree", None, {}, SMALL)
    seen = []
    while (nxt := study.next_stage(spec)) is not None:
        stage, cfgs = nxt
        seen.append((stage, len(cfgs)))
        fill(spec, stage, cfgs)
        assert len(seen) < 20
    assert seen == [
        ("recipe", 4),
        ("primary-sweeps", 8),
        ("primary-sweeps", 4),  # 3e-3 won at the top edge: 9e-3 is added, for both methods
        ("pilot", 6),
        ("extension", 6),  # the pilot's SD calls for more than the cap: n = 6
        ("secondary-sweeps", 4),
        ("secondary-sweeps", 2),  # full's 1e-4 was the top candidate: 3e-4 is added (and loses)
        ("secondary", 2),
    ]
    recipe = json.loads((tmp_path / "recipe" / "recipe.json").read_text())
    assert recipe["chosen"] == "mean" and [c["n_collapsed"] for c in recipe["candidates"]] == [1, 0]
    brackets = json.loads((tmp_path / "sweep" / "brackets.json").read_text())["sweeps"]
    assert brackets["lora"]["chosen_lr"] == 0.003 and brackets["lora"]["extensions"] == [0.009]
    assert brackets["full"]["chosen_lr"] == 1e-4 and brackets["full"]["edge"] is None
    assert brackets["full"]["lrs"] == [1e-5, 1e-4, 3e-4]
    power = json.loads((tmp_path / "power.json").read_text())
    assert power["n"] == 6 and power["capped"] is True
    grid, rates = study.planned_grid(spec)
    assert grid == {"flat_lora": [1, 2, 3, 4, 5, 6], "lora": [1, 2, 3, 4, 5, 6], "full": [1, 2]}
    assert rates == {"flat_lora": 0.003, "lora": 0.003, "full": 1e-4}
    # every grid run uses the chosen recipe
    assert all(c.pooling == "mean" for c in spec.configs("lora", [3e-3], 1))


def test_recipe_runs_go_seed_by_seed(tmp_path: Path) -> None:
    spec = study.StudySpec(tmp_path, "study", "fpb_50agree", None, {}, SMALL)
    stage, cfgs = study.next_stage(spec)  # type: ignore[misc]
    assert stage == "recipe" and [(c.seed, c.pooling) for c in cfgs] == [
        (101, "model"),
        (101, "mean"),
        (102, "model"),
        (102, "mean"),
    ]
    assert {c.lr for c in cfgs} == {3e-3} and {c.method for c in cfgs} == {"lora"}


def test_design_roundtrip_and_folder_fallback(tmp_path: Path) -> None:
    for d in (DESIGN_V1, DESIGN_V2, SMALL):
        assert StudyDesign.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    assert load_design(tmp_path) is None
    (tmp_path / "records").mkdir()
    assert load_design(tmp_path) == DESIGN_V1  # a folder with records and no design.json: the first design
    spec = study.StudySpec(tmp_path / "new", design=DESIGN_V2)
    study.write_design(spec)
    assert load_design(tmp_path / "new") == DESIGN_V2
    with pytest.raises(ValueError, match="started under study design 'v2'"):
        study.write_design(study.StudySpec(tmp_path / "new", design=DESIGN_V1))


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"sweep_seeds": (1,)}, "overlap the grid"),
        ({"recipes": (Recipe("a", {}),), "recipe_seeds": (101,)}, "recipe_lr"),
        ({"pilot_seeds": 10, "max_seeds": 5}, "pilot_seeds"),
    ],
)
def test_bad_designs(kw: dict[str, Any], msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        StudyDesign(name="x", **kw)


def test_v1_stages_are_unchanged(tmp_path: Path) -> None:
    spec = study.StudySpec(tmp_path)
    stage, cfgs = study.next_stage(spec)  # type: ignore[misc]
    assert stage == "primary-sweeps" and {c.seed for c in cfgs} == {0}
    assert DESIGN_V1.stages == ("primary-sweeps", "pilot", "extension", "secondary-sweeps", "secondary")


def test_estimate_counts_span_the_plan() -> None:
    counts = study.planned_run_counts(DESIGN_V2)
    assert counts["recipe"] == (80, 80)
    assert counts["primary-sweeps"] == (24, 36)  # 2 methods x 4 rates x 3 seeds, + 2 extensions each
    assert counts["pilot"] == (40, 40) and counts["extension"] == (0, 80)
    assert counts["secondary-sweeps"] == (12, 20) and counts["secondary"] == (15, 15)
