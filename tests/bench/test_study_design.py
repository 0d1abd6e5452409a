"""Study designs: the stored design drives the stages, and a v2 study walks recipe -> sweeps -> grid.

The runs are synthetic records written where the study looks for them, so the test checks the plan's
logic (which runs, in which order, which recipe and rate are chosen, the n the pilot sets), not training.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from flatlora.bench import study
from flatlora.bench.config import RunConfig
from flatlora.bench.design import (
    DESIGN_V1,
    DESIGN_V2,
    DesignUnreadable,
    Recipe,
    StudyDesign,
    load_design,
    points_text,
    with_numbers,
)
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
    # a design.json written before a field existed loads with that field's default
    older = {k: v for k, v in DESIGN_V2.to_dict().items() if k != "equivalence_margin"}
    assert StudyDesign.from_dict(json.loads(json.dumps(older))) == DESIGN_V2
    assert load_design(tmp_path) is None
    (tmp_path / "records").mkdir()
    assert load_design(tmp_path) == DESIGN_V1  # a folder with records and no design.json: the first design
    spec = study.StudySpec(tmp_path / "new", design=DESIGN_V2)
    study.write_design(spec)
    assert load_design(tmp_path / "new") == DESIGN_V2
    with pytest.raises(ValueError, match="started under study design 'v2'"):
        study.write_design(study.StudySpec(tmp_path / "new", design=DESIGN_V1))


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: json.dumps(d)[:-2], r"Unterminated string starting at: line 1"),  # cut short
        (lambda d: "[]", r"a JSON object was expected, got list"),
        (lambda d: json.dumps({k: v for k, v in d.items() if k != "name"}), r"missing field `name`"),
        (lambda d: json.dumps({**d, "pilot_seeds": "20"}), r"`pilot_seeds` must be int, got '20'"),
        (lambda d: json.dumps({**d, "alpha": None}), r"`alpha` must be float, got None"),
        (lambda d: json.dumps({**d, "power": 2}), r"`power` must be in \(0, 1\), got 2"),
        (lambda d: json.dumps({**d, "pilot": 20}), r"unknown field `pilot`"),
        (lambda d: json.dumps({**d, "recipes": [{"name": "x"}]}), r"a recipe lacks field 'overrides'"),
    ],
)
def test_a_damaged_design_file_names_itself_and_the_way_out(tmp_path: Path, edit: Any, problem: str) -> None:
    path = tmp_path / "design.json"
    path.write_text(edit(DESIGN_V2.to_dict()), encoding="utf-8")
    said = rf"^{re.escape(str(path))} is not a readable study design \(.*{problem}.*\): restore it from git .*another --out$"
    with pytest.raises(DesignUnreadable, match=said):
        load_design(tmp_path)
    with pytest.raises(DesignUnreadable, match=said):  # a resume reads it too, before anything is written
        study.check_design(study.StudySpec(tmp_path, design=DESIGN_V2))


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


EXAMPLE_V2 = Path(__file__).resolve().parents[2] / "reports" / "examples" / "study_fpb50_v2"


def test_the_committed_v2_study_resumes_under_the_default_numbers() -> None:
    """Read-only: the folder's design.json is the default v2 design, so a plain resume goes on under it,
    renders the same plan, and a resume asking for other numbers stops, naming them."""
    before = {p: p.stat().st_mtime_ns for p in EXAMPLE_V2.iterdir()}
    stored = load_design(EXAMPLE_V2)
    assert stored == DESIGN_V2 == with_numbers(DESIGN_V2)
    spec = study.StudySpec(EXAMPLE_V2, "study", "fpb_50agree", None, {}, with_numbers(stored))
    assert study.study_started(EXAMPLE_V2) and study.check_design(spec) == {}
    assert study.plan_markdown(spec) == (EXAMPLE_V2 / "PLAN.md").read_text(encoding="utf-8")
    other = study.StudySpec(
        EXAMPLE_V2, design=with_numbers(DESIGN_V2, pilot_seeds=10, equivalence_margin=0.01, power=0.9)
    )
    with pytest.raises(
        study.DesignChanged,
        match=r"--pilot-pairs 20 -> 10; --margin 0.5 -> 1; --power 0.8 -> 0.9\. .*another --out",
    ):
        study.check_design(other)
    assert {p: p.stat().st_mtime_ns for p in EXAMPLE_V2.iterdir()} == before


@pytest.mark.parametrize(
    ("numbers", "changed"),
    [
        ({}, {}),
        ({"pilot_seeds": 20, "power": 0.8}, {}),  # the design's own numbers change nothing
        ({"pilot_seeds": 10}, {"pilot_seeds": (20, 10)}),
        ({"max_seeds": 40, "alpha": 0.01}, {"alpha": (0.05, 0.01), "max_seeds": (60, 40)}),
        ({"target_effect": 0.01}, {"target_effect": (0.005, 0.01)}),
        ({"equivalence_margin": 0.01}, {"equivalence_margin": (0.005, 0.01)}),
        # a count of seeds per rate: the secondaries' sweeps never get more than the primaries'
        ({"sweep_seeds": 5}, {"sweep_seeds": ([201, 202, 203], [201, 202, 203, 204, 205])}),
        (
            {"sweep_seeds": 1},
            {
                "sweep_seeds": ([201, 202, 203], [201]),
                "secondary_sweep_seeds": ([201, 202], [201]),
                "trimmed": (DESIGN_V2.trimmed, ""),
            },
        ),
        # the note on what v2 trimmed speaks of its secondaries: it goes once they change
        ({"secondary_seeds": 8}, {"secondary_seeds": (5, 8), "trimmed": (DESIGN_V2.trimmed, "")}),
    ],
)
def test_design_numbers_change_only_their_fields(numbers: dict[str, Any], changed: dict[str, Any]) -> None:
    from flatlora.bench.design import design_changes

    new = with_numbers(DESIGN_V2, **numbers)
    assert design_changes(DESIGN_V2, new) == changed
    assert StudyDesign.from_dict(json.loads(json.dumps(new.to_dict()))) == new


@pytest.mark.parametrize(
    ("numbers", "msg"),
    [
        ({"pilot_seeds": 1}, r"need 2 <= pilot_seeds <= max_seeds, got 1 and 60"),
        ({"pilot_seeds": 30, "max_seeds": 20}, r"need 2 <= pilot_seeds <= max_seeds, got 30 and 20"),
        ({"power": 1.0}, r"`power` must be in \(0, 1\), got 1.0"),
        ({"alpha": 0.0}, r"`alpha` must be in \(0, 1\), got 0.0"),
        ({"target_effect": -0.01}, r"`target_effect` must be > 0, got -0.01"),
        ({"equivalence_margin": 0.0}, r"`equivalence_margin` must be > 0, got 0.0"),
        ({"secondary_seeds": 1}, r"`secondary_seeds` must be >= 2, got 1"),
        ({"sweep_seeds": 0}, r"`sweep_seeds` must be >= 1, got 0"),
        ({"max_seeds": 101}, r"`recipe_seeds` \[101\] overlap the grid's seeds"),
        ({"secondary_seeds": 101}, r"`recipe_seeds` \[101\] overlap the grid's seeds"),
    ],
)
def test_design_numbers_out_of_range(numbers: dict[str, Any], msg: str) -> None:
    assert DESIGN_V2.grid_room == 100  # grid seeds 1-100; the recipe stage's start at 101
    with pytest.raises(ValueError, match=msg):
        with_numbers(DESIGN_V2, **numbers)


def test_set_numbers_size_the_plan() -> None:
    d = with_numbers(DESIGN_V2, pilot_seeds=10, max_seeds=40, sweep_seeds=2, secondary_seeds=8)
    counts = study.planned_run_counts(d)
    assert counts["pilot"] == (20, 20) and counts["extension"] == (0, 60)  # 2 x 10; 2 x (40 - 10)
    assert counts["primary-sweeps"] == (16, 24)  # 2 methods x 4 rates x 2 seeds, + 2 extensions each
    assert counts["secondary"] == (24, 24)  # 3 methods x 8 seeds
    # the power rule: clamped to [pilot, max]; the set power, alpha and effect, in its text
    diffs = [0.004, -0.004, 0.008, -0.008, 0.0, 0.006, -0.006, 0.002, -0.002, 0.004]

    def n(**numbers: Any) -> int:
        return study.decide_n(diffs, d.grid_seeds(10), "accuracy", with_numbers(d, **numbers)).n

    dec = study.decide_n(diffs, d.grid_seeds(10), "accuracy", d)
    assert "0.5 points with 80% power (paired t, two-sided alpha 0.05), clamped to [10, 40]" in dec.rule
    assert dec.n == n() == 17 == study.seeds_for_power(dec.sd_upper, 0.005, lo=10, hi=40)
    assert (n(power=0.95), n(alpha=0.01)) == (27, 26)  # more power, or a stricter alpha: more pairs
    assert n(target_effect=0.02) == 10  # a larger effect: the pilot's pairs already suffice
    assert n(power=0.99, max_seeds=20) == 20  # clamped to the cap
    one = study.decide_n(diffs, d.grid_seeds(10), "accuracy", with_numbers(d, target_effect=0.01))
    assert "detecting 1 point with 80% power" in one.rule


@pytest.mark.parametrize(
    ("fraction", "text"),
    [
        (0.01, "1 point"),
        (0.005, "0.5 points"),
        (0.02, "2 points"),
        (0.0101, "1.01 points"),
        (0.07, "7 points"),
    ],
)
def test_points_read_in_the_singular_for_one_point_only(fraction: float, text: str) -> None:
    assert points_text(fraction) == text


def test_a_one_point_margin_reads_in_the_singular_in_the_plan() -> None:
    from dataclasses import replace

    from flatlora.bench.plan import plan_markdown_v2

    d = replace(DESIGN_V2, equivalence_margin=0.01)
    assert d.margin_text == "±1 point" and DESIGN_V2.margin_text == "±0.5 points"
    plan = " ".join(plan_markdown_v2(d, dataset="x", profile="study", overrides={}).split())
    assert "*equivalent within ±1 point* (two one-sided tests" in plan


@pytest.mark.parametrize("started_in", [".", "sweep", "recipe"])
def test_a_started_study_keeps_its_numbers(tmp_path: Path, started_in: str) -> None:
    first = study.StudySpec(tmp_path, design=with_numbers(DESIGN_V2, pilot_seeds=10))
    study.write_design(first)
    # before the first run the numbers may still change (after --estimate, say)
    again = study.StudySpec(tmp_path, design=with_numbers(DESIGN_V2, pilot_seeds=12))
    assert study.check_design(again) == {"pilot_seeds": (10, 12)}
    study.write_design(again)
    assert load_design(tmp_path) == again.design
    (tmp_path / started_in / "records").mkdir(parents=True, exist_ok=True)
    (tmp_path / started_in / "records" / "run.json").write_text("{}")
    assert study.check_design(again) == {}  # the numbers it began with: it resumes
    for other in (with_numbers(DESIGN_V2, pilot_seeds=10), DESIGN_V2):
        with pytest.raises(study.DesignChanged, match=r"--pilot-pairs 12 -> (10|20)\. A started study keeps"):
            study.write_design(study.StudySpec(tmp_path, design=other))
    assert load_design(tmp_path) == again.design  # refused before anything was written
