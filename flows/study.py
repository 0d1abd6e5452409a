"""The powered study, stage by stage as its analysis plan fixes them (`flatlora.bench.study`).

Sweeps run in-process through `run_sweep`; each grid stage (pilot, extension, secondaries) runs as one
benchmark flow over the grid fixed so far, so the report after every stage covers every finished run.
Layout of a study dir: `PLAN.md`, `sweep/` (the sweeps' records and `sweep.json`), `records/` (the grid),
`power.json` (the extension's n), `report.md`. Everything resumes: finished records are reused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flatlora.bench.design import DESIGN_V1, StudyDesign
from flatlora.bench.study import (
    SWEEP_DIR,
    StudySpec,
    check_design,
    next_stage,
    plan_markdown,
    planned_grid,
    recipe_overrides,
    run_configs,
    stage_dir,
    study_started,
)
from flatlora.bench.sweep import STUDY_PROFILE, SWEEP_LRS, SWEEP_SEED, run_sweep
from tasks.train import DEFAULT_RUNNER, load_runner


def write_plan(spec: StudySpec) -> Path:
    """PLAN.md in the study dir. Fixed once the study's first run exists (the probe runs of
    `--estimate` are not study runs): until then it is rewritten, e.g. to add the compute estimate."""
    path = spec.out / "PLAN.md"
    text = plan_markdown(spec)
    if not path.exists() or (not study_started(spec.out) and path.read_text(encoding="utf-8") != text):
        spec.out.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path


def run_study(
    out: str | Path,
    *,
    profile: str = STUDY_PROFILE,
    dataset: str = "fpb_50agree",
    data_dir: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    parallel: int = 1,
    runner: str = DEFAULT_RUNNER,
    until: str | None = None,
    publish: bool = True,
    log: Callable[[str], None] = print,
    design: StudyDesign = DESIGN_V1,
) -> dict[str, Any]:
    """Run the plan's stages in order until done (or past `until`); returns the last benchmark result.

    Grid stages run as benchmark flows; a design's recipe stage and bracketing sweeps, whose runs are
    not a method x seed grid, train in `parallel` local processes."""
    stages = design.stages
    if until is not None and until not in stages:
        raise ValueError(f"`until` must be one of {stages}, got {until!r}")
    spec = StudySpec(
        Path(out),
        profile,
        dataset,
        data_dir,
        {k: v for k, v in dict(overrides or {}).items() if k != "lr"},
        design,
    )
    check_design(spec)  # a started study goes on only under the design it began with
    write_plan(spec)
    result: dict[str, Any] = {"run_dir": str(spec.out.resolve()), "report": None, "n_errors": 0}
    seen: tuple[str, int] | None = None
    while (nxt := next_stage(spec)) is not None:
        stage, cfgs = nxt
        if until is not None and stages.index(stage) > stages.index(until):
            break
        log(f"stage {stage}: {len(cfgs)} run(s) left")
        if design.name != DESIGN_V1.name and (stage == "recipe" or stage.endswith("sweeps")):
            if (stage, len(cfgs)) == seen:
                raise RuntimeError(f"stage {stage}: the same {len(cfgs)} run(s) are still unfinished")
            seen = (stage, len(cfgs))
            bad = run_configs(
                cfgs, stage_dir(spec, stage), data_dir, jobs=max(1, parallel), label=stage, log=log
            )
            if any(b["crashed"] for b in bad):
                raise RuntimeError(f"stage {stage}: a run crashed; see the log and its record")
            continue
        if stage.endswith("sweeps"):
            for m in dict.fromkeys(c.method for c in cfgs):
                res = run_sweep(
                    m,
                    SWEEP_LRS[m],
                    spec.out / SWEEP_DIR,
                    profile=profile,
                    seed=SWEEP_SEED,
                    dataset=dataset,
                    data_dir=data_dir,
                    overrides=spec.overrides,
                    runner=load_runner(runner),
                    log=log,
                )
                log(f"sweep {m}: lr {res.chosen_lr} (validation {res.metric}, seed {res.seed})")
            continue
        if (stage, len(cfgs)) == seen:
            raise RuntimeError(
                f"stage {stage}: the benchmark flow left the same {len(cfgs)} run(s) unfinished"
            )
        seen = (stage, len(cfgs))
        grid, rates = planned_grid(spec)
        from flows.benchmark import benchmark

        result = benchmark(
            profile=profile,
            datasets=[dataset],
            out=str(spec.out),
            data_dir=data_dir,
            overrides={**dict(spec.overrides or {}), **recipe_overrides(spec)},
            parallel=parallel,
            runner=runner,
            publish=publish,
            method_seeds=grid,
            method_overrides={m: {"lr": lr} for m, lr in rates.items()},
            title="Flat-LoRA study",
        )
        result["learning_rates"] = rates
        if result.get("n_errors"):
            log(f"stage {stage}: {result['n_errors']} run(s) failed; fix and rerun to resume")
            break
    result["next_stage"] = (nxt or (None, []))[0]
    return result
