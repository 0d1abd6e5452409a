"""CLI: `flatbench sweep` (learning rates on validation) and `flatbench study` (sweep if needed, then the grid)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from flows.cli_bench import _PREFECT_DEFAULTS


def _parse_lrs_by_method(items: list[str] | None) -> dict[str, list[float]]:
    """`lora=1e-4,3e-4` (repeatable) -> {"lora": [1e-4, 3e-4]}."""
    from flatlora.bench.sweep import parse_lrs
    from flows.cli_common import check_choice, method_names

    out: dict[str, list[float]] = {}
    for item in items or []:
        if "=" not in item:
            raise typer.BadParameter(f"--lrs expects METHOD=lr,lr,... (e.g. lora=1e-4,3e-4), got {item!r}")
        method, raw = item.split("=", 1)
        method = check_choice(method.strip(), method_names(), "method in --lrs")
        try:
            out[method] = parse_lrs(raw)
        except ValueError as err:
            raise typer.BadParameter(str(err)) from err
    return out


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the top-level app."""

    @app.command()
    def sweep(
        out: Path = typer.Option(..., "--out", help="sweep dir: records/ and sweep.json go here"),
        method: list[str] = typer.Option(
            None, "--method", "-m", help="method to sweep (repeatable); default lora, full, sam_w"
        ),
        lrs: str = typer.Option(
            None, "--lrs", help="comma-separated learning rates (default: per method, see README)"
        ),
        profile: str = typer.Option("study", help="run profile (default study)"),
        seed: int = typer.Option(42, "--seed", help="the one training seed of the sweep"),
        dataset: str = typer.Option("fpb_50agree", "--dataset", "-d", help="dataset"),
        data_dir: Path = typer.Option(
            None, "--data-dir", help="data folder (else FLATBENCH_DATA_DIR or ../shared/data)"
        ),
        set_: list[str] = typer.Option(None, "--set", help="config override key=value (repeatable)"),
        progress: bool = typer.Option(True, help="show a progress bar per run"),
    ) -> None:
        """Train one seed per learning rate, pick the rate with the best validation headline metric.

        Writes OUT/sweep.json atomically after every run (every rate's validation curve, the chosen rate,
        the rule); a rerun reuses every finished run's record.
        """
        from flatlora.bench.sweep import SWEEP_LRS, parse_lrs, run_sweep
        from flows.cli_common import (
            check_choice,
            check_choices,
            check_dataset,
            method_names,
            parse_set_values,
            profile_names,
        )

        profile = check_choice(profile, profile_names(), "profile")
        methods = check_choices(method, method_names(), "method") or list(SWEEP_LRS)
        check_dataset(dataset)
        overrides = parse_set_values(set_)
        try:
            given = parse_lrs(lrs) if lrs else None
        except ValueError as err:
            raise typer.BadParameter(str(err)) from err
        for m in methods:
            if given is None and m not in SWEEP_LRS:
                raise typer.BadParameter(f"no default learning rates for {m!r}: pass --lrs 1e-4,3e-4,...")
        for m in methods:
            res = run_sweep(
                m,
                given or SWEEP_LRS[m],
                out,
                profile=profile,
                seed=seed,
                dataset=dataset,
                data_dir=data_dir,
                overrides=overrides,
                progress=progress,
                log=lambda msg: typer.echo(msg, err=True),
            )
            scores = {f"{p.lr:g}": p.score if p.status == "ok" else p.status for p in res.points}
            typer.echo(
                json.dumps({"method": m, "metric": res.metric, "scores": scores, "chosen_lr": res.chosen_lr})
            )
        typer.echo(str(Path(out) / "sweep.json"))

    @app.command()
    def study(
        out: Path = typer.Option(
            ..., "--out", help="study dir (outside the repo): sweep/, records/, report.md"
        ),
        data_dir: Path = typer.Option(
            None, "--data-dir", help="data folder (else FLATBENCH_DATA_DIR or ../shared/data)"
        ),
        dataset: str = typer.Option("fpb_50agree", "--dataset", "-d", help="dataset"),
        profile: str = typer.Option("study", help="run profile (default study)"),
        method: list[str] = typer.Option(
            None, "--method", "-m", help="only these methods of the grid (repeatable); default all five"
        ),
        max_seeds: int = typer.Option(None, "--max-seeds", help="only the first N seeds of each method"),
        lrs: list[str] = typer.Option(
            None, "--lrs", help="candidate rates of one sweep, METHOD=lr,lr (repeatable; default per method)"
        ),
        set_: list[str] = typer.Option(None, "--set", help="config override key=value (repeatable)"),
        sweep_only: bool = typer.Option(
            False, "--sweep-only", help="run (or finish) the sweeps, not the grid"
        ),
        parallel: int = typer.Option(1, "--parallel", help="in-process grid runs at once"),
    ) -> None:
        """The powered comparison: LR sweeps on validation (skipped when OUT/sweep/sweep.json has them),
        then lora and flat_lora x 10 seeds, full, sam_ab and sam_w x 5 seeds, then report.md.

        Everything resumes: rerun the same command after an interruption.
        """
        from flows.cli_common import (
            check_choice,
            check_choices,
            check_dataset,
            method_names,
            parse_set_values,
            profile_names,
        )

        profile = check_choice(profile, profile_names(), "profile")
        methods = check_choices(method, method_names(), "method")
        check_dataset(dataset)
        overrides = parse_set_values(set_)
        if "lr" in overrides:
            raise typer.BadParameter("the study takes its learning rates from the sweep: drop --set lr=...")
        by_method = _parse_lrs_by_method(lrs)
        if max_seeds is not None and max_seeds < 1:
            raise typer.BadParameter(f"--max-seeds must be >= 1, got {max_seeds}")
        for k, v in _PREFECT_DEFAULTS.items():
            os.environ.setdefault(k, v)
        from flatlora.bench.sweep import SweepMissing
        from flows.study import run_study

        try:
            result = run_study(
                out,
                methods=methods or None,
                max_seeds=max_seeds,
                lrs=by_method,
                profile=profile,
                dataset=dataset,
                data_dir=str(data_dir) if data_dir else None,
                overrides=overrides,
                parallel=parallel,
                sweep_only=sweep_only,
                log=lambda msg: typer.echo(msg, err=True),
            )
        except (SweepMissing, ValueError) as err:
            raise typer.BadParameter(str(err)) from err
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1, default=str))
        if result.get("n_errors"):
            raise typer.Exit(1)
