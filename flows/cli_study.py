"""CLI: `flatbench sweep` (learning rates on validation) and `flatbench study` (sweep if needed, then the grid)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from flatlora.bench.design import DESIGN_OPTIONS, DESIGN_V2, DESIGNS, POINTS_FIELDS, StudyDesign
from flows.cli_bench import PREFECT_DEFAULTS, last_lines, not_rebuilt
from flows.cli_common import CliError
from flows.cli_train import (
    Card,
    Delimiter,
    Encoding,
    LabelCol,
    MaxLen,
    MergeSpellings,
    TextCol,
    TextPairCol,
    ValFromTrain,
)

# the plan's stages (flatlora.bench.study.STAGES), repeated here so --help needs no torch import
STAGE_NAMES = ("recipe", "primary-sweeps", "pilot", "extension", "secondary-sweeps", "secondary")
DESIGN_NAMES = tuple(DESIGNS)


GRID_STAGES = ("pilot", "extension", "secondary")  # the stages that add records to OUT/records

# options of both commands
StudyDataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="data folder (else FLATBENCH_DATA_DIR or ../shared/data)")
]
StudyDataset = Annotated[str, typer.Option("--dataset", "-d", help="dataset")]
StudyProfile = Annotated[str, typer.Option(help="run profile (default study)")]
SetValues = Annotated[list[str] | None, typer.Option("--set", help="config override key=value (repeatable)")]

# the design's numbers: each defaults to the design's own, and a started study resumes only under the
# numbers it began with (flatlora.bench.study.check_design)
_OWN = "default: the design's own (" + DESIGN_V2.name + ": {:g})"
PilotPairs = Annotated[
    int | None,
    typer.Option(
        DESIGN_OPTIONS["pilot_seeds"],
        min=2,
        help="seeds of the pilot (pairs of lora and flat_lora), also the fewest pairs the primary "
        "comparison ends with; " + _OWN.format(DESIGN_V2.pilot_seeds),
    ),
]
MaxPairs = Annotated[
    int | None,
    typer.Option(
        DESIGN_OPTIONS["max_seeds"],
        min=2,
        help="the most pairs the extension may reach (the power rule's n is clamped to "
        f"[--pilot-pairs, --max-pairs]), at most {DESIGN_V2.grid_room}: grid seeds stop below the seeds "
        "of the tuning runs; " + _OWN.format(DESIGN_V2.max_seeds),
    ),
]
TargetEffect = Annotated[
    float | None,
    typer.Option(
        DESIGN_OPTIONS["target_effect"],
        help="the difference the extension is sized to detect, in points of the headline metric "
        "(0.5 = half a point of accuracy); " + _OWN.format(DESIGN_V2.target_effect * 100),
    ),
]
Margin = Annotated[
    float | None,
    typer.Option(
        DESIGN_OPTIONS["equivalence_margin"],
        help="the equivalence margin of the verdict, in points of the headline metric (0.5 = half a "
        "point): equivalent when two one-sided tests at --alpha reject (the 90% interval, at alpha 0.05, "
        "inside ±margin); " + _OWN.format(DESIGN_V2.equivalence_margin * 100),
    ),
]
Power = Annotated[
    float | None,
    typer.Option(
        DESIGN_OPTIONS["power"],
        help="the power to detect --target-effect at (paired t); " + _OWN.format(DESIGN_V2.power),
    ),
]
Alpha = Annotated[
    float | None,
    typer.Option(
        DESIGN_OPTIONS["alpha"],
        help="two-sided significance level of the comparisons and the power rule; "
        + _OWN.format(DESIGN_V2.alpha),
    ),
]
SweepSeeds = Annotated[
    int | None,
    typer.Option(
        DESIGN_OPTIONS["sweep_seeds"],
        min=1,
        help="seeds per learning rate in the primary methods' sweeps (the secondaries' sweeps keep "
        "their fewer seeds, never more); " + _OWN.format(len(DESIGN_V2.sweep_seeds)),
    ),
]
SecondarySeeds = Annotated[
    int | None,
    typer.Option(
        DESIGN_OPTIONS["secondary_seeds"],
        min=2,
        help=f"seeds (pairs with lora) of each secondary comparison, at most {DESIGN_V2.grid_room}; "
        + _OWN.format(DESIGN_V2.secondary_seeds),
    ),
]


def study_design(
    out: Path, stored: StudyDesign | None, named: str | None, numbers: dict[str, int | float | None]
) -> StudyDesign:
    """The design a `flatbench study` command runs under: the folder's own (`stored`), else the one
    `named` (else the default), with the `numbers` given as options (by design field; None: not given).
    typer.BadParameter, naming the options, for numbers a design cannot take; DesignChanged comes
    later, from `check_design`, for a started study asked to change them."""
    from flatlora.bench.design import DEFAULT_DESIGN, with_numbers

    if named is not None and stored is not None and stored.name != named:
        raise typer.BadParameter(
            f"{out} was started under study design {stored.name!r}: resume it with --design "
            f"{stored.name} (or without --design), or use another --out"
        )
    base = stored or DESIGNS[named or DEFAULT_DESIGN]
    given = {k: v for k, v in numbers.items() if v is not None}
    for key in POINTS_FIELDS:
        if not 0 < given.get(key, 1) <= 100:
            raise typer.BadParameter(
                f"{DESIGN_OPTIONS[key]} is in points of the headline metric (0.5 = half a point) and must "
                f"be in (0, 100], got {given[key]:g}"
            )
    for key in ("power", "alpha"):
        if not 0 < given.get(key, 0.5) < 1:
            raise typer.BadParameter(f"{DESIGN_OPTIONS[key]} must be in (0, 1), got {given[key]:g}")
    if not given:
        return base
    opts = " ".join(f"{DESIGN_OPTIONS[k]} {v:g}" for k, v in given.items())
    if base.name == "v1":
        raise typer.BadParameter(
            f"design v1 keeps the first study's numbers (its folders hold no design.json): drop {opts}, "
            "or start a new study under design v2"
        )
    pilot = int(given.get("pilot_seeds", base.pilot_seeds))
    most = int(given.get("max_seeds", base.max_seeds))
    if most < pilot:
        raise typer.BadParameter(
            f"--max-pairs {most} is below the pilot's {pilot} pairs (--pilot-pairs): the extension adds "
            "pairs to the pilot's, so --max-pairs must be at least --pilot-pairs"
        )
    for key in ("max_seeds", "secondary_seeds"):
        n = int(given.get(key, getattr(base, key)))
        if n > base.grid_room:
            first = base.first_seed + base.grid_room
            raise typer.BadParameter(
                f"{DESIGN_OPTIONS[key]} {n}: design {base.name} has room for at most {base.grid_room} "
                f"grid seeds ({base.first_seed}-{first - 1}; its tuning runs use seeds from {first} on, and no "
                f"grid run may be a tuning run): give {DESIGN_OPTIONS[key]} {base.grid_room} or less"
            )
    for key in POINTS_FIELDS:  # points, as the plan and report say them; the design keeps a fraction
        if key in given:
            given[key] = round(float(given[key]) / 100, 12)
    try:
        return with_numbers(base, **given)  # type: ignore[arg-type]
    except ValueError as err:
        raise typer.BadParameter(f"{opts}: {err}") from err


def validated(
    dataset: str,
    data_dir: Path | None,
    profile: str,
    overrides: dict[str, object],
    max_len: str | None,
    method: str = "lora",
) -> dict[str, object]:
    """Validate `dataset` once, as the runs will read it (`overrides` with the data options), and say
    what was found; a failure exits 1 before any run. Returns `overrides` with --max-len's choice."""
    from flatlora.bench.config import DATA_OPTIONS, resolve_config
    from flows.cli_common import auto_max_len_override, show_validation

    read_as = {k: overrides[k] for k in DATA_OPTIONS if overrides.get(k) is not None}
    model = str(overrides.get("model") or "minilm")
    out = {**overrides, **auto_max_len_override(max_len, profile, [dataset], read_as, data_dir, model)}
    try:  # the rate does not change how the data are read (the sweeps choose it)
        first = resolve_config(profile, **{"lr": 1e-3, **out, "dataset": dataset, "method": method})
    except (ValueError, TypeError) as err:
        raise typer.BadParameter(str(err)) from err
    show_validation(dataset, data_dir, first)
    return out


def data_opts(values: dict[str, object]) -> dict[str, object]:
    """The data options among a command's arguments (`locals()`), by name."""
    from flatlora.bench.config import DATA_OPTIONS

    return {k: values[k] for k in DATA_OPTIONS if k in values}


def data_overrides(opts: dict[str, object]) -> dict[str, object]:
    """The data options that differ from a run's defaults: only these join the study's overrides, so a
    study that names the defaults keeps its config hashes (and its records)."""
    import dataclasses

    from flatlora.bench.config import RunConfig

    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    return {k: v for k, v in opts.items() if v is not None and v is not False and v != defaults.get(k)}


def rebuild_report(out: Path, data_dir: Path | None, log: Callable[[str], None]) -> Path | None:
    """Rebuild OUT/report.md from the grid records so far; a build that fails is said in one line (the
    records stay, and `flatbench report OUT` retries it) and does not stop the study."""
    from reports.build import RecordConflict, build

    try:
        res = build(out, data_dir=data_dir)
    except (RecordConflict, FileNotFoundError, ValueError) as err:
        log(f"warning: {not_rebuilt(out, str(err))}")
        return None
    log(f"report: {res.report}")
    if res.unreadable:
        names = ", ".join(u.path for u in res.unreadable)
        log(f"warning: {len(res.unreadable)} record file(s) could not be read and were skipped: {names}")
    return Path(res.report)


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the top-level app."""

    from flows.cli_common import friendly_errors

    @app.command()
    @friendly_errors
    def sweep(
        out: Path = typer.Option(..., "--out", help="sweep dir: records/ and sweep.json go here"),
        method: list[str] = typer.Option(
            None, "--method", "-m", help="method to sweep (repeatable); default lora, flat_lora, full, sam_w"
        ),
        lrs: str = typer.Option(
            None, "--lrs", help="comma-separated learning rates (default: per method, see README)"
        ),
        profile: StudyProfile = "study",
        seed: int = typer.Option(
            0, "--seed", help="the one training seed of the sweep (the study's grid uses 1, 2, ...)"
        ),
        dataset: StudyDataset = "fpb_50agree",
        data_dir: StudyDataDir = None,
        set_: SetValues = None,
        progress: bool = typer.Option(
            True, help="show a progress bar per run (on a terminal only; each run's result line either way)"
        ),
        text_col: TextCol = "text",
        label_col: LabelCol = "label",
        text_pair_col: TextPairCol = None,
        card: Card = None,
        delimiter: Delimiter = None,
        encoding: Encoding = None,
        val_from_train: ValFromTrain = None,
        merge_label_spellings: MergeSpellings = False,
        max_len: MaxLen = None,
    ) -> None:
        """Train one seed per learning rate, pick the rate with the best validation headline metric.

        The dataset is validated once, before the first run. Writes OUT/sweep.json atomically after every
        run (every rate's validation curve, the chosen rate, the rule); a rerun reuses every finished
        run's record.
        """
        from flatlora.bench.sweep import SWEEP_LRS, parse_lrs, run_sweep
        from flows.cli_common import (
            bars,
            check_choice,
            check_choices,
            check_dataset,
            check_model_value,
            check_out_dir,
            method_names,
            parse_set_values,
            profile_names,
        )

        check_out_dir(out)
        profile = check_choice(profile, profile_names(), "profile")
        methods = check_choices(method, method_names(), "method") or list(SWEEP_LRS)
        check_dataset(dataset)
        overrides = parse_set_values(set_)
        check_model_value(overrides)
        try:
            given = parse_lrs(lrs) if lrs else None
        except ValueError as err:
            raise typer.BadParameter(str(err)) from err
        for m in methods:
            if given is None and m not in SWEEP_LRS:
                raise typer.BadParameter(f"no default learning rates for {m!r}: pass --lrs 1e-4,3e-4,...")
        from flatlora.bench.rundir import ensure_writable

        ensure_writable(Path(out) / "records")  # NotWritable in one line, before any run
        overrides.update(data_overrides(data_opts(locals())))
        overrides = validated(dataset, data_dir, profile, overrides, max_len, methods[0])
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
                progress=bars(progress),
                log=lambda msg: typer.echo(msg, err=True),
            )
            scores = {f"{p.lr:g}": p.score if p.status == "ok" else p.status for p in res.points}
            typer.echo(
                json.dumps({"method": m, "metric": res.metric, "scores": scores, "chosen_lr": res.chosen_lr})
            )
        typer.echo(str(Path(out) / "sweep.json"))

    @app.command()
    @friendly_errors
    def study(
        out: Path = typer.Option(
            ..., "--out", help="study dir: PLAN.md, sweep/, records/, power.json, report.md"
        ),
        data_dir: StudyDataDir = None,
        dataset: StudyDataset = "fpb_50agree",
        profile: StudyProfile = "study",
        set_: SetValues = None,
        until: str = typer.Option(None, "--until", help="stop after this stage: " + " | ".join(STAGE_NAMES)),
        local: bool = typer.Option(
            False, "--local", help="run without Prefect, in --jobs fresh processes (one per run)"
        ),
        jobs: int = typer.Option(
            2, "--jobs", help="with --local: runs at once, each with cores/jobs threads"
        ),
        parallel: int = typer.Option(1, "--parallel", help="with Prefect: grid runs at once, a process each"),
        write_plan_only: bool = typer.Option(
            False, "--write-plan", help="write OUT/PLAN.md (the analysis plan) and stop"
        ),
        design: str = typer.Option(
            None,
            "--design",
            help="study design (" + " | ".join(DESIGN_NAMES) + "); default: the folder's own, else v2",
        ),
        estimate: bool = typer.Option(
            False,
            "--estimate",
            help="train one probe run per candidate recipe and method, write OUT/estimate.json (CPU hours "
            "the plan needs) and PLAN.md, then stop",
        ),
        text_col: TextCol = "text",
        label_col: LabelCol = "label",
        text_pair_col: TextPairCol = None,
        card: Card = None,
        delimiter: Delimiter = None,
        encoding: Encoding = None,
        val_from_train: ValFromTrain = None,
        merge_label_spellings: MergeSpellings = False,
        max_len: MaxLen = None,
        pilot_pairs: PilotPairs = None,
        max_pairs: MaxPairs = None,
        target_effect: TargetEffect = None,
        margin: Margin = None,
        power: Power = None,
        alpha: Alpha = None,
        sweep_seeds: SweepSeeds = None,
        secondary_seeds: SecondarySeeds = None,
    ) -> None:
        """The powered comparison, as its analysis plan (OUT/PLAN.md) fixes it before the first run.

        Design v2 (the default): a recipe stage on lora alone (which candidate recipe trains without
        collapsing), learning-rate sweeps on validation that extend their range (at most twice) until
        the chosen rate is interior, a 20-pair pilot of lora and flat_lora, the extension to the n the
        pilot's spread calls for, then full, SAM-AB and SAM-W on 5 seeds. Design v1 (the first study's)
        has no recipe stage, one-seed sweeps and a 10-seed pilot. report.md is rebuilt after every grid
        stage.

        The design's numbers (--pilot-pairs, --max-pairs, --target-effect, --margin, --power, --alpha,
        --sweep-seeds, --secondary-seeds) default to the design's own; they go into OUT/design.json and
        PLAN.md, and may change until the study's first run. A started study resumes only under the
        numbers it began with: a rerun with other ones stops, naming each.

        The dataset is validated once, before any run: a file the runs could not read stops here.
        Everything resumes: rerun the same command after an interruption.
        """
        from flows.cli_common import (
            check_choice,
            check_dataset,
            check_out_dir,
            parse_set_values,
            profile_names,
        )
        from flows.shutdown import set_kept

        check_out_dir(out)
        profile = check_choice(profile, profile_names(), "profile")
        check_dataset(dataset)
        overrides = parse_set_values(set_)
        if "lr" in overrides:
            raise typer.BadParameter("the study takes its learning rates from the sweep: drop --set lr=...")
        overrides.update(data_overrides(data_opts(locals())))
        if until is not None:
            until = check_choice(until, list(STAGE_NAMES), "stage")
        if jobs < 1:
            raise typer.BadParameter(f"--jobs must be >= 1, got {jobs}")
        from flatlora.bench.design import describe_changes, load_design
        from flatlora.bench.rundir import ensure_writable
        from flatlora.bench.study import (
            DesignChanged,
            StudySpec,
            check_design,
            run_estimate,
            run_local,
            write_design,
        )
        from flows.study import run_study, write_plan

        if design is not None:
            design = check_choice(design, list(DESIGNS), "design")
        numbers = {
            "pilot_seeds": pilot_pairs,
            "max_seeds": max_pairs,
            "target_effect": target_effect,
            "equivalence_margin": margin,
            "power": power,
            "alpha": alpha,
            "sweep_seeds": sweep_seeds,
            "secondary_seeds": secondary_seeds,
        }
        chosen = study_design(out, load_design(out), design, numbers)
        spec = StudySpec(Path(out), profile, dataset, str(data_dir) if data_dir else None, overrides, chosen)
        try:  # before the data are read: a started study under other numbers stops here
            changed = check_design(spec)
        except DesignChanged as err:
            raise CliError(str(err)) from err
        ensure_writable(out)  # NotWritable in one line, before the plan or any run
        if not write_plan_only:  # a file the runs could not read stops here, before any run
            overrides = validated(dataset, data_dir, profile, overrides, max_len)
            spec = StudySpec(spec.out, profile, dataset, spec.data_dir, overrides, chosen)
        if until is not None and until not in chosen.stages:
            raise typer.BadParameter(
                f"design {chosen.name} has no stage {until!r}: {', '.join(chosen.stages)}"
            )
        if chosen.name != "v1":
            write_design(spec)
            if changed:
                say_changed = describe_changes(changed)
                typer.echo(f"design.json rewritten before the study's first run: {say_changed}", err=True)
        if estimate:
            say = lambda msg: typer.echo(msg, err=True)  # noqa: E731
            est = run_estimate(spec, jobs=jobs, log=say)
            typer.echo(
                json.dumps(
                    {"estimate": str(Path(out) / "estimate.json"), "total_cpu_hours": est["total_cpu_hours"]}
                )
            )
            typer.echo(str(write_plan(spec)))
            return
        if write_plan_only:
            typer.echo(str(write_plan(spec)))
            return
        say = lambda msg: typer.echo(msg, err=True)  # noqa: E731
        set_kept(f"Finished runs are kept in {out}. Rerun the same command to resume.")
        try:
            if local:
                write_plan(spec)

                def report_after(stage: str) -> None:
                    if stage in GRID_STAGES:
                        rebuild_report(Path(out), data_dir, say)

                nxt = run_local(spec, jobs=jobs, until=until, log=say, after_stage=report_after)
                typer.echo(json.dumps({"run_dir": str(Path(out).resolve()), "next_stage": nxt}))
                return
            for k, v in PREFECT_DEFAULTS.items():
                os.environ.setdefault(k, v)
            from flows.cli_common import exit_at_once_if_api_lost

            with exit_at_once_if_api_lost(f"Finished runs are kept in {out}."):
                result = run_study(
                    out,
                    profile=profile,
                    dataset=dataset,
                    data_dir=spec.data_dir,
                    overrides=overrides,
                    parallel=parallel,
                    until=until,
                    log=say,
                    design=chosen,
                )
        except (RuntimeError, ValueError) as err:
            raise CliError(str(err)) from err
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1, default=str))
        last = last_lines(result, Path(out))
        for line in last:
            typer.echo(line, err=True)
        if last:
            raise typer.Exit(1)
