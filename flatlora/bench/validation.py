"""Dataset validation: great-expectations 1.x suites plus the checks GE cannot express.

Every dataset is validated before a single step is trained. GE (ephemeral context,
pandas datasource, whole-dataframe batch) checks columns, nulls, label set, duplicates,
length bounds and decodability per frame; file-level problems (empty file, encoding,
NUL bytes, giant lines), label types, per-class minimums and cross-split leakage are
checked beside it. All results land in one `ValidationReport`; a failure raises
`ValidationFailed` whose message lists each failed check with counts and a few rows.
The results, the GE engine and the checks generative data shares (`gen_data`) live in `checks`;
the cards in `cards`. A generative dataset is handed to `gen_data.validate_generation`.
The suite runs in plain Python by default (`checks.suite_engine`: the same checks, verdicts and
messages, without GE's import and context, about 1.6 s a process); when GE is asked for it is
imported lazily and one context is reused per process.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flatlora.bench.cards import DATASETS_DIR, load_card
from flatlora.bench.checks import (
    MAX_LISTED,
    N_EXAMPLES,
    UNDECODABLE_RE,
    CheckResult,
    ValidationFailed,
    ValidationReport,
    error_check,
    leakage_check,
    run_ge,
)
from flatlora.bench.data import (
    INT_RE,
    PAIR_SEP,
    DataError,
    LabeledData,
    Splits,
    load_labeled,
    load_sanity,
    make_splits,
    spelling_key,
    spelling_variants,
)
from flatlora.bench.gen_data import is_generation, validate_generation

if TYPE_CHECKING:
    import pandas as pd


# ---------------------------------------------------------------- suites


def suite_spec(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's GE suite as plain expectation configs (`type`, `kwargs`, `severity`)."""
    name = card["name"]
    path = DATASETS_DIR / "suites" / f"{name}.json"
    if path.is_file():
        spec: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["expectations"]
        return spec
    return build_suite_spec(card)


def build_suite_spec(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Build the suite from the card: what datasets/suites/<card>.json holds."""
    t, lab = card["text_column"], card["label_column"]
    dup_sev = "warning" if card["duplicates"] == "warning" else "critical"
    lo, hi = card["text_length"]["min"], card["text_length"]["max"]
    spec: list[dict[str, Any]] = [
        {"type": "expect_column_to_exist", "kwargs": {"column": t}},
        {"type": "expect_column_to_exist", "kwargs": {"column": lab}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": t}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": lab}},
        {
            "type": "expect_column_value_lengths_to_be_between",
            "kwargs": {"column": t, "min_value": lo, "max_value": hi},
        },
        {"type": "expect_column_values_to_not_match_regex", "kwargs": {"column": t, "regex": UNDECODABLE_RE}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": t}, "severity": dup_sev},
    ]
    if card.get("labels"):
        spec.append(
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": lab, "value_set": list(card["labels"])},
            }
        )
        spec.append(
            {
                "type": "expect_column_distinct_values_to_contain_set",
                "kwargs": {"column": lab, "value_set": list(card["labels"])},
            }
        )
    return spec


def pair_spec(spec: list[dict[str, Any]], text_col: str, pair_col: str = "text_pair") -> list[dict[str, Any]]:
    """A suite for sentence pairs: the text checks also on the second text; duplicates by (text, pair)."""
    out: list[dict[str, Any]] = []
    for e in spec:
        if e["kwargs"].get("column") != text_col:
            out.append(e)
        elif e["type"] == "expect_column_values_to_be_unique":
            out.append({**e, "kwargs": {**e["kwargs"], "column": "pair_key"}})
        else:
            out += [e, {**e, "kwargs": {**e["kwargs"], "column": pair_col}}]
    return out


def write_suite(card_name: str) -> Path:
    """(Re)generate datasets/suites/<card>.json from the card."""
    from flatlora.bench.records import atomic_write_json

    card = load_card(card_name)
    path = DATASETS_DIR / "suites" / f"{card['name']}.json"
    atomic_write_json(path, {"name": card["name"], "expectations": build_suite_spec(card)})
    return path


# ---------------------------------------------------------------- checks beside GE


def _row_list(rows: list[int], n: int = 5) -> str:
    """1-based data rows (1 = the first row after a header), the first `n` of them."""
    shown = ", ".join(str(r + 1) for r in rows[:n])
    return shown + (f", ... ({len(rows) - n} more)" if len(rows) > n else "")


def _is_blank(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and x != x) and str(x).strip() == ""


def _label_checks(
    df: pd.DataFrame,
    card: dict[str, Any],
    scope: str,
    min_count: int,
    classes: Sequence[str] | None = None,
) -> list[CheckResult]:
    """The label checks of one frame; `classes` is the data's label set, so that a split without a
    class's rows counts it as 0 (by default the card's labels, else the labels the frame holds)."""
    lab = card["label_column"]
    if lab not in df.columns:
        return []
    out: list[CheckResult] = []
    raw = df[lab].tolist()
    blank = [i for i, x in enumerate(raw) if _is_blank(x)]
    if scope == "all":  # an empty label is no class: it fails here, and is left out of the counts below
        out.append(
            CheckResult(
                name=f"labels_not_empty({lab})",
                success=not blank,
                scope=scope,
                unexpected_count=len(blank),
                message=""
                if not blank
                else f"{len(blank)} empty or blank label{'s' * (len(blank) != 1)} in rows {_row_list(blank)} "
                "(1 = the first data row); fill them in or remove those rows",
                engine="flatbench",
            )
        )
    blank_set = set(blank)
    labels = [x for i, x in enumerate(raw) if x is not None and i not in blank_set]
    names = list(card.get("labels") or [])
    if names and labels:
        numeric = [
            x
            for x in labels
            if isinstance(x, int | float) or (isinstance(x, str) and re.fullmatch(r"-?\d+(\.\d+)?", x))
        ]
        ok = len(numeric) == 0
        out.append(
            CheckResult(
                name=f"labels_are_names({lab})",
                success=ok,
                scope=scope,
                unexpected_count=len(numeric),
                element_count=len(labels),
                examples=sorted({str(x) for x in numeric})[:N_EXAMPLES],
                message="" if ok else f"label column holds numbers but the card declares names {names}",
                engine="flatbench",
            )
        )
    import pandas as pd

    counts = pd.Series([str(x) for x in labels], dtype=object).value_counts()
    low = {
        c: int(counts.get(c, 0)) for c in names or sorted(counts.index) if int(counts.get(c, 0)) < min_count
    }
    out.append(
        CheckResult(
            name=f"min_count_per_class({lab})",
            success=not low,
            scope=scope,
            unexpected_count=len(low),
            message="" if not low else _low_count_message(low, counts.to_dict(), min_count, scope),
            engine="flatbench",
        )
    )
    if not names and classes and scope in _ABSENT_FROM:  # an inferred class that this split lacks
        absent = [c for c in classes if c not in counts.index]
        out.append(
            CheckResult(
                name=f"classes_in_split({lab})",
                success=not absent,
                scope=scope,
                # without train rows a class is never learned; without val or test rows it is only unmeasured
                severity="error" if scope == "train" else "warning",
                unexpected_count=len(absent),
                message="" if not absent else _absent_message(absent, scope, counts.to_dict()),
                engine="flatbench",
            )
        )
    if not names and scope == "all":
        out.append(_spelling_check(raw, blank_set, lab))
        out.append(_rare_class_check(raw, blank_set, counts, lab))
    n_classes = int((counts > 0).sum())
    out.append(
        CheckResult(
            name=f"at_least_two_classes({lab})",
            success=n_classes >= 2,
            scope=scope,
            unexpected_count=0 if n_classes >= 2 else 1,
            examples=list(counts.index)[:N_EXAMPLES],
            message="" if n_classes >= 2 else f"all rows have one class ({n_classes} distinct)",
            engine="flatbench",
        )
    )
    if not names and scope == "all":  # an inferred label set: most rows unique looks like the wrong column
        many = n_classes > max(20, len(labels) // 2)
        out.append(
            CheckResult(
                name=f"label_column_looks_categorical({lab})",
                success=not many,
                scope=scope,
                unexpected_count=n_classes if many else 0,
                element_count=len(labels),
                examples=list(counts.index)[:N_EXAMPLES] if many else [],
                message=""
                if not many
                else f"{n_classes} distinct labels in {len(labels)} rows: is it the label column? "
                "(--label-col; a card's `labels` fixes the set)",
                engine="flatbench",
            )
        )
    return out


# what a split without a class's rows means for the run
_ABSENT_FROM = {
    "train": "the model never trains on {it}, so each of {its} val and test rows is scored wrong",
    "val": "the validation score that picks the best epoch never counts {it}",
    "test": "the test never measures {it}",
}


def _absent_message(absent: list[str], scope: str, counts: dict[str, int]) -> str:
    """The classes a split has no row of, what that costs the run, and the way to fix it."""
    names = ", ".join(repr(k) for k in absent[:MAX_LISTED])
    more = f" and {len(absent) - MAX_LISTED:,} more" if len(absent) > MAX_LISTED else ""
    every = f"counts: {counts}" if len(counts) <= MAX_LISTED else f"holds {len(counts):,} classes"
    return (
        f"the {scope} split has no rows of class{'es' * (len(absent) != 1)} {names}{more}: "
        f"{_ABSENT_FROM[scope].format(it='them' if more or len(absent) > 1 else 'it', its='their' if len(absent) > 1 else 'its')}; give every class rows in each split, or remove the rows of a class you "
        f"do not mean to train ({scope} {every})"
    )


def _low_count_message(
    low: dict[str, int], counts: dict[str, int], min_count: int, scope: str = "all"
) -> str:
    """The classes under `min_count` rows, at most MAX_LISTED of them named, and every count when few;
    a split without any row of a class says what that costs and how to fix it."""
    named = ", ".join(f"{k!r} ({v})" for k, v in list(low.items())[:MAX_LISTED])
    more = f" and {len(low) - MAX_LISTED:,} more" if len(low) > MAX_LISTED else ""
    every = f"counts: {counts}" if len(counts) <= MAX_LISTED else f"{len(counts):,} classes in all"
    if scope in _ABSENT_FROM and not any(low.values()):
        return _absent_message(list(low), scope, counts)
    fix = (
        ": too few to train, validate and test on; add rows to them, merge each into a related class, or "
        "remove their rows"
        if scope == "all" and all(low.values())
        else ""
    )
    return f"classes with fewer than {min_count} rows: {named}{more} ({every}){fix}"


_FOLDS: dict[str, Callable[[str], str]] = {
    "Unicode form": lambda x: unicodedata.normalize("NFKC", x),
    "case": str.casefold,
    "spacing": lambda x: " ".join(x.split()),
}


def _how_they_differ(a: str, b: str) -> str:
    """Which folds two spellings need to meet: each one without which they still differ."""

    def fold(x: str, skip: str) -> str:
        for k, f in _FOLDS.items():
            x = x if k == skip else f(x)
        return x

    parts = [k for k in _FOLDS if fold(a, k) != fold(b, k)]
    return " and ".join(parts) or "case, spacing or Unicode form"


def _spelling_check(raw: list[Any], blank: set[int], lab: str) -> CheckResult:
    """Spellings of one label that differ only in case, spacing or Unicode form (`DESC`, `desc`) would
    train as different classes: an error naming each spelling with its rows (or merge them on purpose)."""
    groups = spelling_variants([x for i, x in enumerate(raw) if i not in blank])
    said: list[str] = []
    for group in groups:
        (top, n_top), *rest = group.most_common()
        others = []
        for spelling, n in rest:
            rows = [
                i
                for i, x in enumerate(raw)
                if i not in blank and isinstance(x, str) and x.strip() == spelling
            ]
            others.append(f"{spelling!r} ({n} row{'s' * (n != 1)}: {_row_list(rows, 3)})")
        how = _how_they_differ(top, rest[0][0])
        said.append(f"{top!r} ({n_top} rows) and " + " and ".join(others) + f" differ only in {how}")
    return CheckResult(
        name=f"label_spellings_distinct({lab})",
        success=not said,
        scope="all",
        unexpected_count=sum(sum(n for _, n in g.most_common()[1:]) for g in groups),
        message=""
        if not said
        else "; ".join(said) + ": each spelling would train as a class of its own. Fix those rows, or pass "
        "--merge-label-spellings to write each label the way most of its rows do",
        engine="flatbench",
    )


RARE_SHARE, RARE_ROWS, RARE_RATIO, TWIN_RATIO = 0.02, 10, 5, 3


def _shape(label: str) -> frozenset[str]:
    """The kinds of character a label is written with (upper/lower letters, digits, spaces, other)."""
    kinds = set()
    for ch in label:
        cat = unicodedata.category(ch)
        if ch.isspace() or cat[0] == "C":
            kinds.add("space or control")
        elif cat == "Lu":
            kinds.add("upper")
        elif cat[0] == "L":
            kinds.add("lower")
        elif cat[0] == "N":
            kinds.add("digit")
        else:
            kinds.add("punctuation")
    return frozenset(kinds)


def _edits(a: str, b: str) -> int:
    """Edit distance with a swap of neighbours as one edit (optimal string alignment)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _one_inserted_run(a: str, b: str) -> bool:
    """Whether one label is the other with one run of characters added in one place (`IN:PLAY_MUSIC`,
    `IN:REPLAY_MUSIC`): once their common start and end are set aside, the shorter has nothing left."""
    short, long = sorted((a, b), key=len)
    n = 0
    while n < len(short) and short[n] == long[n]:
        n += 1
    m = 0
    while m < len(short) - n and short[len(short) - 1 - m] == long[len(long) - 1 - m]:
        m += 1
    return n + m == len(short) and len(long) > len(short)


def _near_spelling(c: str, counts: Any) -> tuple[str, int] | None:
    """A label with at least TWIN_RATIO times `c`'s rows that `c` is one slip away from (`positve`,
    `LOCC`, `ABRR`: one edit, two for labels over 8 characters; labels of 3 or more characters, not both
    class ids). Spellings equal after folding case, spacing and Unicode form are `_spelling_check`'s."""
    n, key = int(counts[c]), spelling_key(c)
    best: tuple[int, str, int] | None = None
    for d, m in counts.items():
        dk = spelling_key(str(d))
        if d == c or int(m) < TWIN_RATIO * n or dk == key or min(len(key), len(dk)) < 3:
            continue  # one letter apart means little in `a`, `b`, `c`
        if INT_RE.fullmatch(c) and INT_RE.fullmatch(str(d)):
            continue
        e = _edits(key, dk)
        if e == 2 and _one_inserted_run(key, dk):
            continue  # `play` -> `replay`, `lock` -> `unlock`: a word formed, not a slip of the keys
        if e <= (1 if max(len(key), len(dk)) <= 8 else 2) and (
            best is None or (e, -int(m)) < (best[0], -best[2])
        ):
            best = (e, str(d), int(m))
    return None if best is None else (best[1], best[2])


def _rare_class_check(raw: list[Any], blank: set[int], counts: Any, lab: str) -> CheckResult:
    """An inferred label that does not look like a class of the data set is likely a stray value: a
    warning. It looks stray when it is one slip away from a label with several times its rows (`positve`
    beside `positive`), when it has under 10 rows while every other label has at least 5x its rows (too
    few to learn or test: `meh` among `pos`/`neg`), or when it is under 2% of the rows and written with
    other kinds of character than every other label (`n/a` among `pos`/`neg`). A distinct spelling with
    a plausible count (TREC's `ABBR`, 1.6% of its questions) is a real class and is not flagged."""
    total = int(counts.sum())
    rare: list[str] = []
    for c, n in counts.items():
        others = {str(d): int(m) for d, m in counts.items() if d != c}
        if not others:
            continue
        far_rarer = min(others.values()) >= RARE_RATIO * n
        near = _near_spelling(str(c), counts)
        shapes = {_shape(d) for d in others}
        if near is not None:
            why = f"a near spelling of {near[0]!r} ({near[1]} rows)"
        elif far_rarer and n < RARE_ROWS:
            why = "too few rows to learn or test"
        elif far_rarer and n < RARE_SHARE * total and _shape(str(c)) not in shapes:
            why = "written unlike every other label"
        else:
            continue
        rows = [i for i, x in enumerate(raw) if i not in blank and x is not None and str(x) == c]
        said = f"{c!r}: {int(n)} row{'s' * (n != 1)} ({n / total:.1%}; rows {_row_list(rows, 3)})"
        if near is None:  # beside the most frequent labels (a near spelling names its twin)
            top = sorted(others.items(), key=lambda kv: -kv[1])
            rest = ", ".join(f"{d!r} {m}" for d, m in top[:MAX_LISTED])
            more = f" and {len(top) - MAX_LISTED:,} more" if len(top) > MAX_LISTED else ""
            said += f" vs {rest}{more}"
        rare.append(f"{said}: {why}")
    return CheckResult(
        name=f"no_rare_inferred_class({lab})",
        success=not rare,
        scope="all",
        severity="warning",
        unexpected_count=len(rare),
        message=""
        if not rare
        else "a label that looks stray becomes a class of its own: "
        + "; ".join(rare)
        + ". A stray value? Fix those rows, or name the labels in a card (--card, `labels: [...]`) so "
        "that other values fail",
        engine="flatbench",
    )


# ---------------------------------------------------------------- public API


def validate_frame(
    df: pd.DataFrame,
    card: dict[str, Any],
    scope: str = "all",
    dataset: str = "data",
    classes: Sequence[str] | None = None,
) -> ValidationReport:
    """GE suite + label checks on one frame (the whole dataset or one split; `classes`: the data's
    label set, which each split must hold)."""
    rep = ValidationReport(dataset=dataset, card=card["name"])
    spec = suite_spec(card)
    if "text_pair" in df.columns:
        spec = pair_spec(spec, card["text_column"])
    rep.checks += run_ge(df, spec, scope)
    min_count = card["min_per_class"] if scope == "all" else card["min_per_class_split"]
    rep.checks += _label_checks(df, card, scope, int(min_count), classes)
    return rep


def validate_data(data: LabeledData, card: dict[str, Any] | None = None) -> ValidationReport:
    card = card or load_card(data.card)
    df = data.to_frame().rename(columns={"text": card["text_column"], "label": card["label_column"]})
    return validate_frame(df, card, "all", data.name)


def validate_splits(splits: Splits, card: dict[str, Any] | str | None = None) -> ValidationReport:
    """Each split through the suite, plus cross-split leakage. Duplicate checks on splits see deduped data."""
    card = load_card(card) if isinstance(card, str) else (card or load_card(splits.card))
    rep = ValidationReport(dataset=splits.name, card=card["name"])
    for scope, df in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        if len(df) == 0:
            rep.checks.append(
                CheckResult(
                    name="split_not_empty",
                    success=False,
                    scope=scope,
                    message=_empty_split(scope, splits),
                    engine="flatbench",
                )
            )
            continue
        frame = df[[c for c in ("text", "label", "text_pair") if c in df.columns]].rename(
            columns={"text": card["text_column"], "label": card["label_column"]}
        )
        if "text_pair" in frame.columns:
            frame = frame.assign(
                pair_key=[
                    f"{a}{PAIR_SEP}{b}"
                    for a, b in zip(frame[card["text_column"]], frame["text_pair"], strict=True)
                ]
            )
        checks = validate_frame(frame, card, scope, splits.name, splits.label_names).checks
        if "index" in df.columns:  # a split's row -> the data row, so every check numbers rows alike
            rows = [int(i) for i in df["index"]]
            for c in checks:
                c.examples = [_data_row(x, rows) for x in c.examples]
        rep.checks += checks
    rep.checks.append(leakage_check(splits))
    return rep


def _data_row(example: Any, rows: list[int]) -> Any:
    """A GE example `{row, value}` of a split's frame, renumbered as its row in the data."""
    if (
        isinstance(example, dict)
        and set(example) == {"row", "value"}
        and 0 <= int(example["row"]) < len(rows)
    ):
        return {"row": rows[int(example["row"])], "value": example["value"]}
    return example


def _empty_split(scope: str, splits: Splits) -> str:
    """An empty split and the way to fill it."""
    if "split column used" not in splits.notes:
        return f"{scope} split is empty (too few rows to split?)"
    sizes = ", ".join(f"{k} {len(v):,}" for k, v in (("train", splits.train), ("test", splits.test)))
    if scope == "val":
        return (
            f"val split is empty: the split column has no val rows ({sizes}); carve them from train with "
            "--val-from-train 0.1 (stratified by label, seeded by --split-seed), or mark some rows `val`"
        )
    return f"{scope} split is empty: the split column has no {scope} rows; mark some rows `{scope}`"


def validate_sanity() -> ValidationReport:
    """The authored toy task: its suite (datasets/suites/sanity.json) plus train/test word disjointness."""
    import pandas as pd

    rows = load_sanity()
    df = pd.DataFrame(rows)
    rep = ValidationReport(dataset="sanity", card="sanity")
    rep.checks += run_ge(df, suite_spec(load_card("sanity")), "all")
    words = {
        sp: {r["prompt"].removeprefix("repeat: ") for r in rows if r["split"] == sp}
        for sp in ("train", "test")
    }
    common = sorted(words["train"] & words["test"])
    rep.checks.append(
        CheckResult(
            name="held_out_words_disjoint",
            success=not common,
            scope="splits",
            unexpected_count=len(common),
            examples=common[:N_EXAMPLES],
            message="" if not common else "test words also appear in training",
            engine="flatbench",
        )
    )
    return rep


def validate_dataset(
    name_or_path: str,
    data_dir: str | os.PathLike[str] | None = None,
    text_col: str = "text",
    label_col: str = "label",
    split_seed: int = 0,
    card: str | None = None,
    raise_on_failure: bool = True,
    text_pair_col: str | None = None,
    delimiter: str | None = None,
    max_len: int | None = None,
    model: str = "minilm",
    encoding: str | None = None,
    val_from_train: float | None = None,
    merge_label_spellings: bool = False,
) -> tuple[ValidationReport, Splits | None]:
    """Load, validate the whole file, split, validate the splits. The gate before any training.

    With `max_len`, also the share of examples longer than it in `model`'s tokens (a warning above 5%).
    `encoding`, `val_from_train` and `merge_label_spellings` are those of `load_labeled`/`make_splits`.
    """
    if is_generation(name_or_path, card):  # prompt -> target data: its own suite (flatlora.bench.gen_data)
        return validate_generation(
            name_or_path, data_dir, text_col, label_col, split_seed, card, raise_on_failure
        )
    columns = {"text": text_col, "label": label_col}
    if text_pair_col:
        columns["text_pair"] = text_pair_col
    try:
        data = load_labeled(
            name_or_path,
            data_dir=data_dir,
            text_col=text_col,
            label_col=label_col,
            card=card,
            text_pair_col=text_pair_col,
            delimiter=delimiter,
            encoding=encoding,
            merge_label_spellings=merge_label_spellings,
        )
    except DataError as err:
        guess = "financial_phrasebank" if str(name_or_path).lower().startswith("fpb_") else "user_default"
        rep = ValidationReport(
            dataset=str(name_or_path), card=card or guess, checks=[error_check(err)], columns=columns
        )
        if raise_on_failure:
            raise ValidationFailed(rep) from err
        return rep, None
    c = load_card(card or data.card)
    c = {**c, "text_column": "text", "label_column": "label"}  # loader already mapped the user's columns
    rep = validate_data(data, c)
    rep.columns = columns
    rep.checksum = data.checksum
    rep.labels = _label_counts(data)
    rep.label_source = f"card {c['name']}" if c.get("labels") else "inferred"
    rep.notes = list(data.notes)
    splits: Splits | None = None
    if rep.success or data.split is not None:
        try:
            splits = make_splits(data, split_seed=split_seed, val_from_train=val_from_train)
            rep.checks += validate_splits(splits, c).checks
            rep.split_sizes = {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)}
            rep.notes += [
                n for n in splits.notes if n.startswith("validation carved") or "not stratified" in n
            ]
        except DataError as err:
            rep.checks.append(error_check(err, "splits"))
            splits = None
        except ValueError as err:  # e.g. too few rows of a class to stratify
            rep.checks.append(error_check(DataError(f"cannot split: {err}", check="splittable"), "splits"))
            splits = None
    if not rep.success:
        if raise_on_failure:
            raise ValidationFailed(rep)
        return rep, None
    if max_len is not None:
        rep.checks.append(_length_check(rep, data, max_len, model))
    return rep, splits


def _label_counts(data: LabeledData) -> dict[str, int]:
    """Rows per label, in class-id order (a ClassLabel's names, a card's, or the inferred set).

    The rows hold label names (a ClassLabel's ids are named when loaded), so they are counted by name:
    integer labels such as star ratings 1..5 are names here, not class ids.
    """
    from collections import Counter

    got = Counter(str(v).strip() for v in data.labels if v is not None and str(v).strip())
    return {n: got.get(n, 0) for n in data.label_names}


def _length_check(rep: ValidationReport, data: LabeledData, max_len: int, model: str) -> CheckResult:
    """The share of examples longer than `max_len` tokens: a warning above 5%, with what to do."""
    from flatlora.bench.lengths import length_stats, load_tokenizer, token_lengths

    stats = length_stats(token_lengths(load_tokenizer(model), data.texts, data.text_pairs), max_len)
    rep.lengths = {**stats.to_dict(), "model": model}
    what = "sentence pairs" if data.text_pairs is not None else "examples"
    return CheckResult(
        name="tokens_within_max_len",
        success=not stats.warn,
        scope="all",
        severity="warning",
        unexpected_count=stats.n_truncated,
        message=stats.line(what)
        + ("; raise it with --set max_len=N, or --max-len auto" if stats.warn else ""),
        engine="flatbench",
    )
