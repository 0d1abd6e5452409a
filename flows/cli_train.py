"""CLI commands for datasets and training: `validate`, `train`, `sanity`.

Heavy imports (great-expectations, torch, transformers) happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli_common import PROFILE_HELP


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the top-level app."""
    from flows.cli_common import friendly_errors

    app.command("validate")(friendly_errors(validate))
    app.command("train")(friendly_errors(train))
    app.command("sanity")(friendly_errors(sanity))


DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="folder holding financial_phrasebank/ (env FLATBENCH_DATA_DIR)"),
]
TextCol = Annotated[str, typer.Option("--text-col", help="text column of a user file")]
LabelCol = Annotated[str, typer.Option("--label-col", help="label column of a user file")]
TextPairCol = Annotated[
    str | None, typer.Option("--text-pair-col", help="second text column: sentence pairs (e.g. MRPC)")
]
Card = Annotated[
    str | None,
    typer.Option(help="dataset card name or yaml path; default: by dataset (user data: labels inferred)"),
]
Device = Annotated[
    str | None, typer.Option(help="auto | cpu | cuda | cuda:N (default auto: CUDA when present)")
]
Precision = Annotated[str | None, typer.Option(help="fp32 | bf16 | fp16 (default fp32)")]
Delimiter = Annotated[
    str | None,
    typer.Option(
        "--delimiter", help="column separator of a .csv/.tsv file: , tab ; | (default: by extension)"
    ),
]
Encoding = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        help="text encoding of a user file, e.g. cp1252 or latin-1 (default UTF-8; when the bytes are not "
        "UTF-8, validation names the likely one)",
    ),
]
ValFromTrain = Annotated[
    float | None,
    typer.Option(
        "--val-from-train",
        help="for a split column of train and test rows only: this fraction of the train rows becomes the "
        "validation split (stratified by label, seeded by the split seed), e.g. 0.1",
    ),
]
MergeSpellings = Annotated[
    bool,
    typer.Option(
        "--merge-label-spellings",
        help="write labels that differ only in case, spacing or Unicode form (DESC, desc) the way most of "
        "their rows do; without it they fail validation",
    ),
]
MaxLen = Annotated[
    str | None,
    typer.Option(
        "--max-len",
        help="max tokens per example: N, or auto (the data's 99th percentile, capped per profile); "
        "default: the profile's",
    ),
]


def validate(
    dataset: Annotated[
        str,
        typer.Argument(
            help="fpb_50agree|fpb_66agree|fpb_75agree|fpb_allagree, a csv/tsv/jsonl path, "
            "a save_to_disk folder or a hub id"
        ),
    ],
    text_col: TextCol = "text",
    label_col: LabelCol = "label",
    text_pair_col: TextPairCol = None,
    data_dir: DataDir = None,
    split_seed: Annotated[int, typer.Option(help="seed of the train/val/test split")] = 0,
    card: Card = None,
    delimiter: Delimiter = None,
    encoding: Encoding = None,
    val_from_train: ValFromTrain = None,
    merge_label_spellings: MergeSpellings = False,
    profile: Annotated[
        str,
        typer.Option(
            help="the profile whose max_len the token lengths are checked against, and whose row caps are said"
        ),
    ] = "quick",
    max_len: MaxLen = None,
    model: Annotated[str, typer.Option(help="whose tokenizer counts the tokens")] = "minilm",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="also list every passed check")] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the report as JSON here")
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="what runs the suite: python (default; the same checks and verdicts) or great_expectations "
            "(env FLATBENCH_VALIDATION_ENGINE)"
        ),
    ] = None,
) -> None:
    """Validate a dataset (data-card suite + file checks); non-zero exit on failure."""
    import shutil

    from flows.cli_common import auto_max_len_override, check_choice, profile_names

    check_choice(profile, profile_names(), "profile")
    from flatlora.bench.checks import ENGINES, using_engine
    from flatlora.bench.config import PROFILE_OVERRIDES, RunConfig, caps_note
    from flatlora.bench.records import atomic_write_json
    from flatlora.bench.validation import validate_dataset

    chosen_engine = check_choice(engine.replace("-", "_"), ENGINES, "engine") if engine else None

    opts = {
        "text_col": text_col,
        "label_col": label_col,
        "text_pair_col": text_pair_col,
        "card": card,
        "delimiter": delimiter,
        "split_seed": split_seed,
        "encoding": encoding,
        "val_from_train": val_from_train,
        "merge_label_spellings": merge_label_spellings,
    }
    chosen = auto_max_len_override(max_len, profile, [dataset], opts, data_dir, model)
    limit = int(chosen.get("max_len") or PROFILE_OVERRIDES[profile].get("max_len", RunConfig.max_len))
    with using_engine(chosen_engine):  # this command's setting, not the calling process's
        report, _ = validate_dataset(
            dataset, data_dir=data_dir, raise_on_failure=False, max_len=limit, model=model, **opts
        )
    note = caps_note(RunConfig(**{**PROFILE_OVERRIDES[profile], "profile": profile}), report.split_sizes)
    if note:  # what a run of this profile would leave out
        report.notes.append(note)
    width = min(shutil.get_terminal_size((80, 24)).columns, 80)
    typer.echo(report.render(verbose=verbose, width=width))
    if json_out is not None:
        atomic_write_json(json_out, report.to_dict())
    if not report.success:
        raise typer.Exit(code=1)


def train(
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset", "-d", help="fpb_<config>, a csv/tsv/jsonl path, a save_to_disk folder or a hub id"
        ),
    ] = "fpb_50agree",
    method: Annotated[str, typer.Option("--method", "-m", help="full|lora|flat_lora|sam_ab|sam_w")] = "lora",
    seed: Annotated[int, typer.Option(help="training seed")] = 42,
    profile: Annotated[str, typer.Option(help=PROFILE_HELP)] = "quick",
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a RunConfig field: key=value")
    ] = None,
    out: Annotated[Path, typer.Option(help="output dir; the record goes to OUT/records/")] = Path("runs"),
    text_col: TextCol = "text",
    label_col: LabelCol = "label",
    text_pair_col: TextPairCol = None,
    card: Card = None,
    device: Device = None,
    precision: Precision = None,
    delimiter: Delimiter = None,
    encoding: Encoding = None,
    val_from_train: ValFromTrain = None,
    merge_label_spellings: MergeSpellings = False,
    max_len: MaxLen = None,
    data_dir: DataDir = None,
    progress: Annotated[
        bool,
        typer.Option(
            help="progress bars on a terminal (--no-progress: none; never when stderr is not a terminal); "
            "the run's result line is printed either way"
        ),
    ] = True,
    flatness: Annotated[
        bool,
        typer.Option(
            "--flatness/--no-flatness",
            help="the flatness probe after the test (--no-flatness: none, as --set flatness_k=0; "
            "the report says not measured)",
        ),
    ] = True,
    val_metrics: Annotated[
        bool,
        typer.Option(
            "--val-metrics",
            help="validate a one-epoch run too (it has no epoch to select, so by default it skips the "
            "pass and its record has no validation metrics)",
        ),
    ] = False,
) -> None:
    """Validate the dataset (what was read, warnings, the profile's row caps), then run one fine-tuning run
    and print where its record is."""
    from flows.cli_common import (
        auto_max_len_override,
        bars,
        check_choice,
        check_dataset,
        check_out_dir,
        check_set_keys,
        method_names,
        profile_names,
        show_validation,
    )

    check_out_dir(out)
    check_choice(profile, profile_names(), "profile")
    check_choice(method, method_names(), "method")
    check_dataset(dataset)
    check_set_keys(set_)
    data_opts = {
        "text_col": text_col,
        "label_col": label_col,
        "text_pair_col": text_pair_col,
        "card": card,
        "delimiter": delimiter,
        "encoding": encoding,
        "val_from_train": val_from_train,
    }
    if merge_label_spellings:
        data_opts["merge_label_spellings"] = True
    from rich.console import Console

    from flatlora.bench.config import parse_set, resolve_config
    from flatlora.bench.models import check_model
    from flatlora.bench.runner import run_one
    from flatlora.bench.validation import ValidationFailed

    console = Console(stderr=True)
    try:
        overrides = parse_set(list(set_ or []))
        opts = {
            "text_pair_col": text_pair_col,
            "card": card,
            "device": device,
            "precision": precision,
            "delimiter": delimiter,
            "encoding": encoding,
            "val_from_train": val_from_train,
            "merge_label_spellings": merge_label_spellings or None,
        }
        overrides.update({k: v for k, v in opts.items() if v is not None})
        if not flatness:
            overrides["flatness_k"] = 0
        if val_metrics:
            overrides["val_metrics"] = True
        model = str(overrides.get("model") or "minilm")
        overrides.update(auto_max_len_override(max_len, profile, [dataset], data_opts, data_dir, model))
        fixed = {
            "dataset": dataset,
            "method": method,
            "seed": seed,
            "text_col": text_col,
            "label_col": label_col,
        }
        cfg = resolve_config(profile, **fixed, **overrides)
        if cfg.epochs == 1 and "val_metrics" not in overrides:  # nothing to select: no validation pass
            cfg = resolve_config(profile, **fixed, **overrides, val_metrics=False)
        check_model(cfg.model)  # a missing model folder in one line, before validation
    except ValueError as exc:
        console.print(f"config error: {exc}", style="red", markup=False)
        raise typer.Exit(code=2) from exc
    from flatlora.bench.records import record_path
    from flatlora.bench.rundir import check_writable

    check_writable(record_path(cfg, out).parent)  # an unwritable --out in one line, before validation
    show_validation(dataset, data_dir, cfg)  # failures stop here (exit 1); nothing is trained
    try:
        record = run_one(cfg, out, progress=bars(progress), data_dir=data_dir)
    except ValidationFailed as exc:
        console.print(exc.report.render(), style="red", markup=False, highlight=False)
        raise typer.Exit(code=1) from exc
    except ValueError as exc:  # e.g. --device cuda without a GPU, target_modules the model lacks
        console.print(f"config error: {exc}", style="red", markup=False)
        raise typer.Exit(code=2) from exc
    print(record_path(cfg, out))
    if record["status"] != "ok":
        raise typer.Exit(code=3)


def sanity(
    out: Annotated[Path, typer.Option(help="writes OUT/sanity.json")] = Path("runs/sanity"),
    epochs: Annotated[int, typer.Option(help="training epochs per method")] = 4,
    seed: Annotated[int, typer.Option(help="seed")] = 0,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Train LoRA and Flat-LoRA (sigma 0.1) on the toy repeat task with SmolLM2; exact match on held-out words."""
    from rich.console import Console
    from rich.table import Table

    from flatlora.bench.sanity import SanityConfig, run_sanity

    res = run_sanity(out, SanityConfig(epochs=epochs, seed=seed), progress=progress)
    t = Table(title=f"sanity: exact match on {res.baseline.n_test} held-out words")
    t.add_column("prompt")
    t.add_column("target")
    for name in ["baseline", *res.methods]:
        t.add_column(name)
    runs = [res.baseline, *res.methods.values()]
    for i, row in enumerate(res.baseline.predictions):
        cells = [r.predictions[i]["pred"] + (" ✓" if r.predictions[i]["correct"] else " ✗") for r in runs]
        t.add_row(row["prompt"], row["target"], *cells)
    t.add_row("[b]exact match", "", *[f"[b]{r.exact_match:.2f}" for r in runs])
    Console().print(t)
    print(res.summary())
    print(Path(out) / "sanity.json")
    if not res.passed:
        raise typer.Exit(code=1)
