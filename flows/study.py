"""The powered study: learning-rate sweeps on validation (if not done), then the grid as a benchmark flow.

Layout of a study dir: `sweep/` (the sweeps' run records and `sweep.json`), `records/` (the grid),
`report.md` with the sweep's table. Both stages resume: finished sweep runs and grid runs are reused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flatlora.bench.sweep import (
    LR_SOURCE,
    STUDY_GRID,
    STUDY_PROFILE,
    SWEEP_LRS,
    SWEEP_SEED,
    SweepMissing,
    matching_sweep,
    reuse_sweep_records,
    run_sweep,
    sweep_configs,
)
from tasks.train import DEFAULT_RUNNER, load_runner

SWEEP_DIR = "sweep"


def study_grid(methods: Sequence[str] | None = None, max_seeds: int | None = None) -> dict[str, list[int]]:
    """STUDY_GRID restricted to `methods` (study order kept) and to the first `max_seeds` seeds."""
    chosen = list(STUDY_GRID) if not methods else [m for m in STUDY_GRID if m in set(methods)]
    unknown = sorted(set(methods or ()) - set(STUDY_GRID))
    if unknown:
        raise ValueError(f"methods {unknown} are not in the study grid {list(STUDY_GRID)}")
    return {m: list(STUDY_GRID[m][: max_seeds or None]) for m in chosen}


def ensure_sweeps(
    out: str | os.PathLike[str],
    methods: Sequence[str],
    *,
    lrs: Mapping[str, Sequence[float]] | None = None,
    profile: str = STUDY_PROFILE,
    dataset: str = "fpb_50agree",
    data_dir: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    runner: str = DEFAULT_RUNNER,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """method -> learning rate, sweeping (or resuming) each source sweep that is not finished yet."""
    sweep_dir = Path(out) / SWEEP_DIR
    lrs = {**SWEEP_LRS, **dict(lrs or {})}
    chosen: dict[str, float] = {}
    for src in dict.fromkeys(LR_SOURCE.get(m, m) for m in methods):
        cand = lrs.get(src)
        if not cand:
            raise ValueError(f"no candidate learning rates for {src!r}: pass --lrs {src}=1e-4,3e-4")
        kw: dict[str, Any] = {"profile": profile, "seed": SWEEP_SEED, "dataset": dataset}
        res = matching_sweep(sweep_dir, src, cand, overrides=dict(overrides or {}), **kw)
        if res is None:
            res = run_sweep(
                src,
                cand,
                sweep_dir,
                data_dir=data_dir,
                overrides=overrides,
                runner=load_runner(runner),
                log=log,
                **kw,
            )
        if res.chosen_lr is None:
            raise SweepMissing(
                f"the {src} sweep over {list(cand)} has no finished rate (every run failed): see "
                f"{sweep_dir / 'sweep.json'} and try other rates with --lrs {src}=..."
            )
        log(f"sweep {src}: lr {res.chosen_lr:g} (validation {res.metric}, seed {res.seed})")
        chosen[src] = res.chosen_lr
    return {m: chosen[LR_SOURCE.get(m, m)] for m in methods}


def run_study(
    out: str | os.PathLike[str],
    *,
    methods: Sequence[str] | None = None,
    max_seeds: int | None = None,
    lrs: Mapping[str, Sequence[float]] | None = None,
    profile: str = STUDY_PROFILE,
    dataset: str = "fpb_50agree",
    data_dir: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    parallel: int = 1,
    runner: str = DEFAULT_RUNNER,
    sweep_only: bool = False,
    publish: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Sweep if needed, then the grid (benchmark flow) with each method's swept rate."""
    grid = study_grid(methods, max_seeds)
    overrides = {k: v for k, v in dict(overrides or {}).items() if k != "lr"}
    rates = ensure_sweeps(
        out,
        list(grid),
        lrs=lrs,
        profile=profile,
        dataset=dataset,
        data_dir=data_dir,
        overrides=overrides,
        runner=runner,
        log=log,
    )
    if sweep_only:
        return {"run_dir": str(Path(out).resolve()), "learning_rates": rates, "report": None}
    # the sweep's seed-42 run at the chosen rate is the grid's seed-42 run: copy it, don't train it twice
    cfgs = [
        cfg
        for m, seeds in grid.items()
        for s in seeds
        for cfg in sweep_configs(m, [rates[m]], profile, s, dataset, overrides)
    ]
    n_reused = reuse_sweep_records(Path(out) / SWEEP_DIR, out, cfgs)
    if n_reused:
        log(f"{n_reused} grid run(s) taken from the sweep's finished records")
    from flows.benchmark import benchmark

    result: dict[str, Any] = benchmark(
        profile=profile,
        datasets=[dataset],
        out=str(out),
        data_dir=data_dir,
        overrides=dict(overrides),
        parallel=parallel,
        runner=runner,
        publish=publish,
        method_seeds=grid,
        method_overrides={m: {"lr": lr} for m, lr in rates.items()},
        title="Flat-LoRA study",
    )
    result["learning_rates"] = rates
    return result
