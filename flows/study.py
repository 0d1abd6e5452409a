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

from flatlora.bench.study import (
    STAGES,
    SWEEP_DIR,
    StudySpec,
    next_stage,
    plan_markdown,
    planned_grid,
)
from flatlora.bench.sweep import STUDY_PROFILE, SWEEP_LRS, SWEEP_SEED, run_sweep
from tasks.train import DEFAULT_RUNNER, load_runner


def write_plan(spec: StudySpec) -> Path:
    """PLAN.md in the study dir (kept if present: the plan is fixed before the grid runs)."""
    path = spec.out / "PLAN.md"
    if not path.exists():
        spec.out.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(plan_markdown(spec), encoding="utf-8")
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
) -> dict[str, Any]:
    """Run the plan's stages in order until done (or past `until`); returns the last benchmark result."""
    if until is not None and until not in STAGES:
        raise ValueError(f"`until` must be one of {STAGES}, got {until!r}")
    spec = StudySpec(
        Path(out), profile, dataset, data_dir, {k: v for k, v in dict(overrides or {}).items() if k != "lr"}
    )
    write_plan(spec)
    result: dict[str, Any] = {"run_dir": str(spec.out.resolve()), "report": None, "n_errors": 0}
    seen: tuple[str, int] | None = None
    while (nxt := next_stage(spec)) is not None:
        stage, cfgs = nxt
        if until is not None and STAGES.index(stage) > STAGES.index(until):
            break
        log(f"stage {stage}: {len(cfgs)} run(s) left")
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
            overrides=dict(spec.overrides or {}),
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
