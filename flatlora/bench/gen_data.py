"""Generative (prompt -> target) datasets: cards with `task: generation`, loading, splits and validation.

A dataset is generative when its card says `task: generation`: the shipped `gsm8k` and `metamathqa`
cards (dataset names `gsm8k`, `metamathqa`) or `--card generation` (or a copy) for a user file. The card
names the prompt and target columns (`prompt_column`, `target_column`; `--text-col` / `--label-col`
override them), how answers are scored (`answer_format`, see `gen_scoring`) and `max_new_tokens`.

Splits reuse the classification frames (columns index, text = prompt, label = target), so subsampling,
leakage checks and records work unchanged; `GenSplits.info()` adds the generation fields.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flatlora.bench.cards import load_card
from flatlora.bench.checks import (
    UNDECODABLE_RE,
    CheckResult,
    ValidationFailed,
    ValidationReport,
    error_check,
    leakage_check,
    run_ge,
)
from flatlora.bench.data import (
    HF_SPLIT_NAMES,
    USER_EXTS,
    DataError,
    Splits,
    check_file_bytes,
    read_user_frame,
    resolve_data_dir,
    split_column,
    subsample,
)
from flatlora.bench.gen_scoring import ANSWER_FORMATS, gold_answer

if TYPE_CHECKING:
    import pandas as pd

GEN_TASK = "generation"
NAMED = {"gsm8k": "gsm8k", "metamathqa": "metamathqa"}  # dataset name -> its card


@dataclass(frozen=True)
class GenData:
    """Prompt/target rows as read (no dedup, no split)."""

    name: str
    source: str
    checksum: str
    prompts: list[Any]
    targets: list[Any]
    card: dict[str, Any]
    split: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompts)


@dataclass(frozen=True)
class GenSplits(Splits):
    """Splits of a generative dataset: `text` is the prompt, `label` the target."""

    answer_format: str = "exact"
    max_new_tokens: int = 32
    prompt_col: str = "prompt"
    target_col: str = "target"

    def info(self) -> dict[str, Any]:
        out = super().info()
        out.update(
            task=GEN_TASK,
            answer_format=self.answer_format,
            max_new_tokens=self.max_new_tokens,
            prompt_column=self.prompt_col,
            target_column=self.target_col,
        )
        return out


# ---------------------------------------------------------------- which datasets are generative


def generation_card(dataset: str, card: str | None = None) -> dict[str, Any] | None:
    """The dataset's generation card, or None for a classification dataset (or an unreadable card,
    which the classification path then reports)."""
    name = card or NAMED.get(dataset.strip().lower().split(":")[0])
    if not name:
        return None
    try:
        c = load_card(name)
    except DataError:
        return None
    if c.get("task") != GEN_TASK:
        return None
    fmt = c.get("answer_format", "exact")
    if fmt not in ANSWER_FORMATS:
        raise DataError(f"card {c['name']!r}: `answer_format` must be one of {ANSWER_FORMATS}, got {fmt!r}")
    c.setdefault("answer_format", "exact")
    c.setdefault("max_new_tokens", 32)
    c.setdefault("prompt_column", "prompt")
    c.setdefault("target_column", "target")
    return c


def is_generation(dataset: str, card: str | None = None) -> bool:
    return generation_card(dataset, card) is not None


def columns(card: dict[str, Any], text_col: str | None, label_col: str | None) -> tuple[str, str]:
    """(prompt column, target column): `--text-col`/`--label-col` when set to other than the
    classification defaults `text`/`label`, else the card's."""
    p = text_col if text_col not in (None, "text") else card["prompt_column"]
    t = label_col if label_col not in (None, "label") else card["target_column"]
    return str(p), str(t)


# ---------------------------------------------------------------- loading


def _frame_rows(
    df: pd.DataFrame, prompt_col: str, target_col: str, where: str
) -> tuple[list[Any], list[Any]]:
    cols = [str(c) for c in df.columns]
    for role, col in (("prompt", prompt_col), ("target", target_col)):
        if col not in cols:
            raise DataError(
                f"missing required {role} column {col!r} in {where} (found columns: {cols}); "
                "name it with --text-col (prompt) / --label-col (target) or the card",
                check="required_columns",
            )
    strip = [v.strip() if isinstance(v, str) else v for v in df[prompt_col]]
    return strip, [v.strip() if isinstance(v, str) else v for v in df[target_col]]


def _load_gsm8k_dir(root: Path, card: dict[str, Any], pc: str, tc: str) -> GenData:
    prompts: list[Any] = []
    targets: list[Any] = []
    split: list[str] = []
    parts: list[str] = []
    notes: list[str] = []
    for fname, sp in (("train.jsonl", "train"), ("test.jsonl", "test")):
        path = root / fname
        if not path.is_file():
            raise DataError(f"{path} not found in data dir {root.parent}", check="data_dir")
        raw = check_file_bytes(path)
        sha = hashlib.sha256(raw).hexdigest()
        want = ((card.get("files") or {}).get(fname) or {}).get("sha256_16")
        if want and not sha.startswith(want):
            notes.append(
                f"{fname}: sha256 {sha[:16]} differs from the card's {want} (a different GSM8K copy)"
            )
        parts.append(f"{fname}:{sha}")
        p, t = _frame_rows(read_user_frame(path, raw), pc, tc, fname)
        prompts += p
        targets += t
        split += [sp] * len(p)
    checksum = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return GenData("gsm8k", str(root), checksum, prompts, targets, card, split, notes)


def _load_hub(hub: str, card: dict[str, Any], pc: str, tc: str) -> GenData:
    import importlib

    repo, _, config = hub.removeprefix("hf:").partition(":")
    try:
        hf = importlib.import_module("datasets")  # HF `datasets`; this repo's datasets/ is data only
        obj = hf.load_dataset(repo, config or None)
    except Exception as exc:  # offline, unknown id, no `datasets` package
        raise DataError(
            f"could not load hub dataset {hub!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
            check="dataset_name",
        ) from exc
    prompts: list[Any] = []
    targets: list[Any] = []
    split: list[str] = []
    prints = []
    for key, ds in dict(obj).items():
        p, t = _frame_rows(ds.to_pandas(), pc, tc, f"{hub} split {key}")
        prompts += p
        targets += t
        split += [str(HF_SPLIT_NAMES.get(key, key))] * len(p)
        prints.append(f"{key}:{getattr(ds, '_fingerprint', '')}")
    name = repo.rsplit("/", 1)[-1]
    one = set(split) <= {"train"}
    checksum = hashlib.sha256("|".join(prints).encode()).hexdigest()
    return GenData(name, f"hf://{hub}", checksum, prompts, targets, card, None if one else split)


def load_generation(
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    text_col: str | None = None,
    label_col: str | None = None,
    card: str | None = None,
) -> GenData:
    """`gsm8k` (the data dir's gsm8k/, else the hub copy), `metamathqa` (hub), a CSV/TSV/JSONL file,
    or a hub id `owner/name[:config]`, read with its generation card."""
    c = generation_card(dataset, card)
    if c is None:
        raise DataError(f"{dataset!r} is not a generative dataset (no card with `task: generation`)", "card")
    pc, tc = columns(c, text_col, label_col)
    key = dataset.strip()
    low = key.lower().split(":")[0]
    if low in NAMED and not card:
        root = resolve_data_dir(data_dir)
        if low == "gsm8k" and root is not None and (root / "gsm8k").is_dir():
            return _load_gsm8k_dir(root / "gsm8k", c, pc, tc)
        if not c.get("hub_id"):
            raise DataError(f"no local copy of {dataset!r} and its card has no hub_id", check="data_dir")
        return _load_hub(str(c["hub_id"]), c, pc, tc)
    path = Path(key).expanduser()
    if path.suffix.lower() in USER_EXTS or path.is_file():
        raw = check_file_bytes(path)
        df = read_user_frame(path, raw)
        p, t = _frame_rows(df, pc, tc, path.name)
        split = split_column(df, (pc, tc), path.name)
        return GenData(path.stem, str(path.resolve()), hashlib.sha256(raw).hexdigest(), p, t, c, split)
    if "/" in key and not path.exists():
        return _load_hub(key, c, pc, tc)
    raise DataError(
        f"unknown generative dataset {dataset!r}: use gsm8k, metamathqa, a .csv/.tsv/.jsonl file or a hub id",
        check="dataset_name",
    )


# ---------------------------------------------------------------- splits


def make_gen_splits(
    data: GenData,
    split_seed: int = 0,
    val_frac: float = 0.1,
    test_frac: float = 0.2,
    text_col: str | None = None,
    label_col: str | None = None,
) -> GenSplits:
    """A declared split is kept; a missing `val` is a seeded `val_frac` of train (GSM8K); no split at all
    gives a seeded 70/10/20 split. Repeated prompts keep their first row when no split is declared."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    idx = list(range(len(data)))
    notes = list(data.notes)
    n_dropped = 0
    if data.split is None:
        seen: set[str] = set()
        keep = []
        for i in idx:
            k = str(data.prompts[i])
            if k not in seen:
                seen.add(k)
                keep.append(i)
        n_dropped = len(idx) - len(keep)
        if n_dropped:
            notes.append(f"dropped {n_dropped} rows whose prompt repeats an earlier row")
        idx = keep
    frame = pd.DataFrame(
        {"index": idx, "text": [data.prompts[i] for i in idx], "label": [data.targets[i] for i in idx]}
    )
    if data.split is not None:
        sp = pd.Series([data.split[i] for i in idx])
        parts = {k: frame[sp.values == k].reset_index(drop=True) for k in ("train", "val", "test")}
        notes.append("split column used")
        if len(parts["val"]) == 0 and len(parts["train"]) > 1:
            tr, va = train_test_split(parts["train"], test_size=val_frac, random_state=split_seed)
            parts["train"], parts["val"] = tr, va
            notes.append(f"validation: a seeded {val_frac:.0%} of train (split_seed {split_seed})")
    else:
        rest, test = train_test_split(frame, test_size=test_frac, random_state=split_seed)
        train, val = train_test_split(rest, test_size=val_frac / (1 - test_frac), random_state=split_seed)
        parts = {"train": train, "val": val, "test": test}
    parts = {k: v.sort_values("index").reset_index(drop=True) for k, v in parts.items()}
    pc, tc = columns(data.card, text_col, label_col)
    return GenSplits(
        name=data.name,
        source=data.source,
        checksum=data.checksum,
        label_names=[],
        card=str(data.card["name"]),
        split_seed=split_seed,
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        n_dropped_duplicates=n_dropped,
        notes=notes,
        label_map={},
        headline_metric="accuracy",
        answer_format=str(data.card["answer_format"]),
        max_new_tokens=int(data.card["max_new_tokens"]),
        prompt_col=pc,
        target_col=tc,
    )


# ---------------------------------------------------------------- validation


def gen_suite_spec(card: dict[str, Any], pc: str, tc: str) -> list[dict[str, Any]]:
    """The GE suite of a generative card: both columns present, non-null, of bounded length, decodable;
    prompts unique (severity from the card's `duplicates`)."""
    lo, hi = card.get("text_length", {}).get("min", 1), card.get("text_length", {}).get("max", 20000)
    dup = "critical" if card.get("duplicates") == "error" else "warning"
    spec: list[dict[str, Any]] = []
    for col in (pc, tc):
        spec += [
            {"type": "expect_column_to_exist", "kwargs": {"column": col}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": col}},
            {
                "type": "expect_column_value_lengths_to_be_between",
                "kwargs": {"column": col, "min_value": lo, "max_value": hi},
            },
            {
                "type": "expect_column_values_to_not_match_regex",
                "kwargs": {"column": col, "regex": UNDECODABLE_RE},
            },
        ]
    spec.append({"type": "expect_column_values_to_be_unique", "kwargs": {"column": pc}, "severity": dup})
    return spec


def _answer_check(targets: list[Any], fmt: str, scope: str) -> CheckResult:
    bad = [i for i, t in enumerate(targets) if not isinstance(t, str) or gold_answer(t, fmt) in (None, "")]
    return CheckResult(
        name=f"target_has_answer({fmt})",
        success=not bad,
        scope=scope,
        unexpected_count=len(bad),
        element_count=len(targets),
        examples=[{"row": i, "value": str(targets[i])[-80:]} for i in bad[:3]],
        message="" if not bad else f"targets from which no `{fmt}` answer can be read (see gen_scoring)",
        engine="flatbench",
    )


def validate_generation(
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    text_col: str | None = None,
    label_col: str | None = None,
    split_seed: int = 0,
    card: str | None = None,
    raise_on_failure: bool = True,
) -> tuple[ValidationReport, GenSplits | None]:
    """Load, validate the whole file, split, validate each split and cross-split prompt leakage."""
    import pandas as pd

    c = generation_card(dataset, card) or {"name": card or "generation"}
    try:
        data = load_generation(dataset, data_dir, text_col, label_col, card)
    except DataError as err:
        rep = ValidationReport(dataset=str(dataset), card=str(c["name"]), checks=[error_check(err)])
        if raise_on_failure:
            raise ValidationFailed(rep) from err
        return rep, None
    pc, tc = columns(data.card, text_col, label_col)
    fmt = str(data.card["answer_format"])
    spec = gen_suite_spec(data.card, pc, tc)
    rep = ValidationReport(dataset=data.name, card=str(data.card["name"]))
    rep.checks += run_ge(pd.DataFrame({pc: data.prompts, tc: data.targets}), spec, "all")
    rep.checks.append(_answer_check(data.targets, fmt, "all"))
    for note in data.notes:
        rep.checks.append(
            CheckResult("file_checksum", False, "file", "warning", 1, message=note, engine="flatbench")
        )
    splits: GenSplits | None = None
    if rep.success:
        try:
            splits = make_gen_splits(data, split_seed, text_col=text_col, label_col=label_col)
        except ValueError as err:
            rep.checks.append(error_check(DataError(f"cannot split: {err}", check="splittable"), "splits"))
    if splits is not None:
        for scope, df in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
            if len(df) == 0:
                rep.checks.append(
                    CheckResult(
                        "split_not_empty", False, scope, message=f"{scope} split is empty", engine="flatbench"
                    )
                )
                continue
            frame = pd.DataFrame({pc: list(df["text"]), tc: list(df["label"])})
            rep.checks += run_ge(frame, spec, scope)
        rep.checks.append(leakage_check(splits))
    if not rep.success:
        if raise_on_failure:
            raise ValidationFailed(rep)
        return rep, None
    return rep, splits


def prepare(cfg: Any, data_dir: str | os.PathLike[str] | None = None) -> GenSplits:
    """Validate (ValidationFailed before anything is trained), split, subsample: a RunConfig's splits."""
    from dataclasses import replace

    _, splits = validate_generation(
        cfg.dataset, data_dir, cfg.text_col, cfg.label_col, cfg.split_seed, cfg.card
    )
    assert splits is not None
    return replace(
        splits,
        train=subsample(splits.train, cfg.max_train_examples, cfg.split_seed),
        val=subsample(splits.val, cfg.max_eval_examples, cfg.split_seed),
        test=subsample(splits.test, cfg.max_test_examples, cfg.split_seed),
    )


def prompt_texts(
    dataset: str, data_dir: str | os.PathLike[str] | None, cfg: dict[str, Any]
) -> tuple[str, dict[int, str]]:
    """(checksum, {row index: prompt}) of a generative dataset as a record names it (for reports)."""
    data = load_generation(dataset, data_dir, cfg.get("text_col"), cfg.get("label_col"), cfg.get("card"))
    return data.checksum, {i: str(p) for i, p in enumerate(data.prompts)}


def write_jsonl(path: str | os.PathLike[str], rows: list[dict[str, Any]]) -> Path:
    """A user JSONL file (atomic), e.g. for tests and examples."""
    from flatlora.bench.atomic import atomic_write_text

    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


__all__ = [
    "GEN_TASK",
    "GenData",
    "GenSplits",
    "columns",
    "gen_suite_spec",
    "generation_card",
    "is_generation",
    "load_generation",
    "make_gen_splits",
    "prepare",
    "prompt_texts",
    "validate_generation",
]
