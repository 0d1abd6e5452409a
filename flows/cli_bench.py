"""CLI: `flatbench benchmark` (the Prefect benchmark flow) and `flatbench report RUN_DIR`."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import typer

from flows.cli_common import PROFILE_HELP

# Quiet, self-contained defaults for the embedded (ephemeral) Prefect API; explicit env always wins.
PREFECT_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # the embedded server can take minutes to start on busy, shared CPUs (Prefect counts only its own sleeps)
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "600",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def _seeds(seed: list[int] | None, seeds: str | None) -> list[int] | None:
    out = list(seed or [])
    if seeds:
        try:
            out += [int(s) for s in seeds.replace(" ", "").split(",") if s]
        except ValueError as err:
            raise typer.BadParameter(f"`--seeds` must be comma-separated integers, got {seeds!r}") from err
    return out or None


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the top-level app."""

    from flows.cli_common import friendly_errors

    @app.command()
    @friendly_errors
    def benchmark(
        profile: str = typer.Option(None, help=PROFILE_HELP),
        dataset: list[str] = typer.Option(
            None, "--dataset", "-d", help="dataset (repeatable); default fpb_50agree"
        ),
        method: list[str] = typer.Option(
            None, "--method", "-m", help="method (repeatable); default full, lora, flat_lora"
        ),
        seed: list[int] = typer.Option(None, "--seed", help="seed (repeatable)"),
        seeds: str = typer.Option(None, "--seeds", help="comma-separated seeds, e.g. 42,43,44 (default)"),
        work_pool: str = typer.Option(
            None, "--work-pool", help="fan runs out to this pool via the train-run deployment"
        ),
        out: Path = typer.Option(None, "--out", help="run dir; default runs/<profile>-<config hash>"),
        data_dir: Path = typer.Option(
            None, "--data-dir", help="data folder (else FLATBENCH_DATA_DIR or ../shared/data)"
        ),
        set_: list[str] = typer.Option(None, "--set", help="config override key=value (repeatable)"),
        text_col: str = typer.Option(None, "--text-col", help="text column of user data (default text)"),
        label_col: str = typer.Option(None, "--label-col", help="label column of user data (default label)"),
        text_pair_col: str = typer.Option(None, "--text-pair-col", help="second text column: sentence pairs"),
        card: str = typer.Option(None, "--card", help="dataset card name or yaml path (default: by dataset)"),
        device: str = typer.Option(
            None,
            "--device",
            help="auto | cpu | cuda | cuda:N (default auto, resolved where each run executes)",
        ),
        precision: str = typer.Option(None, "--precision", help="fp32 | bf16 | fp16 (default fp32)"),
        delimiter: str = typer.Option(
            None,
            "--delimiter",
            help="column separator of a .csv/.tsv file: , tab ; | (default: by extension)",
        ),
        encoding: str = typer.Option(
            None,
            "--encoding",
            help="text encoding of a user file, e.g. cp1252 or latin-1 (default UTF-8; when the bytes are not "
            "UTF-8, validation names the likely one)",
        ),
        val_from_train: float = typer.Option(
            None,
            "--val-from-train",
            help="for a split column of train and test rows only: this fraction of the train rows becomes the "
            "validation split (stratified by label, seeded by the split seed), e.g. 0.1",
        ),
        merge_label_spellings: bool = typer.Option(
            False,
            "--merge-label-spellings",
            help="write labels that differ only in case, spacing or Unicode form (DESC, desc) the way most of "
            "their rows do; without it they fail validation",
        ),
        max_len: str = typer.Option(
            None,
            "--max-len",
            help="max tokens per example: N, or auto (the data's 99th percentile, capped per profile)",
        ),
        parallel: int = typer.Option(
            1,
            "--parallel",
            help="runs at once, each in a process of its own with its share of the cores (FLATBENCH_THREADS)",
        ),
        run_timeout: float = typer.Option(None, "--run-timeout", help="seconds to wait for each remote run"),
        dask: bool = typer.Option(False, "--dask", help="use prefect-dask's DaskTaskRunner (if installed)"),
        progress: bool = typer.Option(
            True,
            "--progress/--no-progress",
            help="per-run progress bars on a terminal (--no-progress: none; never when stderr is not a "
            "terminal); each run's result line and the grid's run k of N lines stay",
        ),
        flatness: bool = typer.Option(
            True,
            "--flatness/--no-flatness",
            help="the flatness probe of each run (--no-flatness: none, as --set flatness_k=0; the report "
            "says not measured)",
        ),
    ) -> None:
        """Validate -> train the (dataset x method x seed) grid -> statistics -> report.md (+ Prefect artifact).

        Validation is said first (warnings, the label set, split sizes, the rows the profile's caps leave out).

        Runs on the embedded ephemeral Prefect API unless PREFECT_API_URL points at a server. Rerunning the same
        command reuses the run dir and skips every finished run.
        """
        # every value is checked before the Prefect server starts or the run dir is created
        if work_pool and not os.environ.get("PREFECT_API_URL"):
            raise typer.BadParameter(
                "--work-pool needs a Prefect server shared with the workers: set PREFECT_API_URL"
            )
        from flows.cli_common import (
            check_choice,
            check_choices,
            check_dataset,
            check_out_dir,
            check_set_keys,
            default_profile,
            method_names,
            profile_names,
        )

        check_out_dir(out)
        profile = check_choice(profile or default_profile(), profile_names(), "profile")
        check_choices(method, method_names(), "method")
        for d in dataset or []:
            check_dataset(d)
        check_set_keys(set_)
        for k, v in PREFECT_DEFAULTS.items():  # before Prefect is imported (its settings read the env)
            os.environ.setdefault(k, v)
        from flatlora.bench.config import resolve_config
        from flows.benchmark import DEFAULT_METHODS
        from flows.cli_common import parse_set_values

        overrides = parse_set_values(set_)
        if not work_pool:  # a pool's workers may hold the model where this machine does not
            from flows.cli_common import check_model_value

            check_model_value(overrides)
        if not flatness:
            overrides["flatness_k"] = 0
        try:
            for m in method or DEFAULT_METHODS:  # bad values fail here, not inside the grid
                resolve_config(profile, **{"method": m, **overrides})
        except (ValueError, TypeError) as err:
            raise typer.BadParameter(str(err)) from err
        opts = {
            "text_col": text_col,
            "label_col": label_col,
            "text_pair_col": text_pair_col,
            "card": card,
            "device": device,
            "precision": precision,
            "delimiter": delimiter,
            "encoding": encoding,
            "val_from_train": val_from_train,
            "merge_label_spellings": merge_label_spellings or None,  # the default stays out of the run id
        }
        overrides.update({k: v for k, v in opts.items() if v is not None})
        from flatlora.bench.config import DATA_OPTIONS
        from flows.cli_common import auto_max_len_override

        data_opts = {k: overrides[k] for k in DATA_OPTIONS if overrides.get(k) is not None}
        overrides.update(
            auto_max_len_override(
                max_len,
                profile,
                list(dataset or ["fpb_50agree"]),
                data_opts,
                data_dir,
                str(overrides.get("model") or "minilm"),
            )
        )
        from flatlora.bench.config import RunConfig

        try:  # device/precision values, and each method with them, are checked before any server starts
            RunConfig(**{k: overrides[k] for k in ("device", "precision") if k in overrides})
            for m in method or DEFAULT_METHODS:
                resolve_config(profile, **{**overrides, "method": m})
        except (ValueError, TypeError) as err:
            raise typer.BadParameter(str(err)) from err
        from flatlora.bench.rundir import ensure_writable
        from flows.benchmark import benchmark as flow
        from flows.benchmark import resolve_run_dir
        from flows.cli_common import exit_at_once_if_api_lost

        grid_seeds = _seeds(seed, seeds)
        run_dir = resolve_run_dir(
            str(out) if out else None, profile, list(dataset or []), list(method or []), grid_seeds, overrides
        )
        # the run dir, --out or the default one: before the Prefect server starts, a one-line error
        ensure_writable(run_dir / "records")
        from flatlora.bench.rundir import other_configs
        from flows.benchmark import DEFAULT_SEEDS
        from flows.cli_common import CliError

        clash = other_configs(
            [
                resolve_config(profile, **{**overrides, "dataset": ds, "method": m, "seed": s})
                for ds in dataset or ["fpb_50agree"]
                for m in method or DEFAULT_METHODS
                for s in grid_seeds or DEFAULT_SEEDS
            ],
            run_dir,
        )
        if clash:  # the grid would train, then its report would refuse two configs of one run
            n = len(clash)
            raise CliError(
                f"{run_dir} already holds {n} record{'s' * (n != 1)} of these runs under another config: {'; '.join(clash[:3])}"
                f"{f'; and {n - 3} more' if n > 3 else ''}. A report pools one config per run: pass another "
                f"--out for this config, or move those records out of {run_dir / 'records'} (into "
                f"{run_dir / 'records' / '.stale'}, say) to replace them"
            )

        if dask:
            try:
                from prefect_dask import DaskTaskRunner
            except ImportError as err:
                raise typer.BadParameter("--dask needs prefect-dask: pip install prefect-dask") from err
            flow = flow.with_options(task_runner=DaskTaskRunner())
            parallel = max(parallel, 2)
        from flows.cli_common import bars, show_validation

        first = (method or list(DEFAULT_METHODS))[0]
        for ds in dataset or ["fpb_50agree"]:  # said before the grid starts
            show_validation(
                ds, data_dir, resolve_config(profile, **{**overrides, "method": first, "dataset": ds})
            )
        kept = f"Finished runs are kept in {run_dir / 'records'}."
        with exit_at_once_if_api_lost(kept):
            result = flow(
                profile=profile,
                datasets=list(dataset) if dataset else None,
                methods=list(method) if method else None,
                seeds=grid_seeds,
                out=str(out) if out else None,
                work_pool=work_pool,
                data_dir=str(data_dir) if data_dir else None,
                overrides=overrides,
                parallel=parallel,
                run_timeout_s=run_timeout,
                progress=bars(progress),
            )
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))
        if result["report"]:
            typer.echo(f"report: {result['report']}")
        last = last_lines(result, run_dir)
        for line in last:
            typer.echo(line, err=True)
        if last:
            raise typer.Exit(1)

    @app.command()
    @friendly_errors
    def report(
        run_dir: Path = typer.Argument(..., help="a run dir containing records/*.json"),
        from_summary: bool = typer.Option(
            False, "--from-summary", help="start from DIR/summary.json (when the raw records were not kept)"
        ),
        data_dir: Path = typer.Option(
            None,
            "--data-dir",
            help="data the records were trained on, for the example texts (else FLATBENCH_DATA_DIR or "
            "../shared/data; without it the report has no texts)",
        ),
        lr: list[str] = typer.Option(
            None,
            "--lr",
            help="METHOD=RATE: use only this method's records at this learning rate, when records/ holds "
            "several (repeatable)",
        ),
    ) -> None:
        """Regenerate report.md, summary.json and figures from the run dir's raw records.

        A record file that cannot be read is skipped and named; the report is still written and the command
        exits 1 with the list. Records that cannot be pooled (two configs of one run, two learning rates of
        one method, different data files) stop it with a one-line message.
        (llm-eval folders are re-rendered by `flatbench llm-eval SUITE --out DIR` from their cached answers.)
        """
        from reports.build import RecordConflict, build

        rates = _parse_lr_choice(lr)
        try:
            res = build(run_dir, from_summary=from_summary, data_dir=data_dir, lr=rates)
        except FileNotFoundError as err:
            raise typer.BadParameter(str(err)) from err
        except RecordConflict as err:
            typer.echo(f"error: {not_rebuilt(run_dir, str(err))}", err=True)
            raise typer.Exit(2) from err
        typer.echo(str(res.report))
        if res.unreadable:
            typer.echo(f"{len(res.unreadable)} record file(s) could not be read and were skipped:", err=True)
            for u in res.unreadable:
                typer.echo(f"  {Path(run_dir) / u.path}: {u.reason}", err=True)
            raise typer.Exit(1)


def last_lines(result: dict[str, Any], run_dir: Path) -> list[str]:
    """What went wrong, for the end of the output: each run that errored (a record saved to the fallback
    folder says where), then the report that could not be rebuilt and whether an older one is kept."""
    lines = [
        f"run {r['dataset']}/{r['method']}/s{r['seed']} errored: {' '.join(str(r.get('error')).split())}"
        for r in result.get("runs") or []
        if r["source"] == "error"
    ]
    if result.get("report_error"):
        lines.append(f"error: {not_rebuilt(run_dir, result['report_error'])}")
    return lines


def not_rebuilt(run_dir: Path, why: str) -> str:
    """One line: the report was not rebuilt, why, and whether the report.md in the folder is an older one
    (kept as it was, so it does not show the records that stopped this build)."""
    old = Path(run_dir) / "report.md"
    if old.is_file():
        when = dt.datetime.fromtimestamp(old.stat().st_mtime).isoformat(sep=" ", timespec="seconds")
        kept = f"{old} is stale: it was kept as built at {when}, before the records that stopped this build"
    else:
        kept = f"{old} was not written"
    return f"the report was not rebuilt: {' '.join(why.split())}. {kept}."


def _parse_lr_choice(items: list[str] | None) -> dict[str, float]:
    """`lora=3e-4` (repeatable) -> {"lora": 3e-4}."""
    from flows.cli_common import check_choice, method_names

    out: dict[str, float] = {}
    for item in items or []:
        method, sep, raw = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--lr expects METHOD=RATE (e.g. lora=3e-4), got {item!r}")
        method = check_choice(method.strip(), method_names(), "method in --lr")
        try:
            out[method] = float(raw)
        except ValueError as err:
            raise typer.BadParameter(f"--lr {item!r}: {raw!r} is not a number") from err
    return out
