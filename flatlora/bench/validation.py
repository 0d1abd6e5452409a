"""Dataset validation: great-expectations 1.x suites plus the checks GE cannot express.

Every dataset is validated before a single step is trained. GE (ephemeral context,
pandas datasource, whole-dataframe batch) checks columns, nulls, label set, duplicates,
length bounds and decodability per frame; file-level problems (empty file, encoding,
NUL bytes, giant lines), label types, per-class minimums and cross-split leakage are
checked beside it. All results land in one `ValidationReport`; a failure raises
`ValidationFailed` whose message lists each failed check with counts and a few rows.
The suite runs in plain Python by default (`suite_engine`: the same checks, verdicts and messages,
without GE's import and context, about 1.6 s a process); when GE is asked for it is imported lazily
and one context is reused per process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flatlora.bench.data import (
    DATASETS_DIR,
    PAIR_SEP,
    DataError,
    LabeledData,
    Splits,
    load_labeled,
    make_splits,
)

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

# control chars (except \t \n \r) and the replacement char signal text that did not decode cleanly
UNDECODABLE_RE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]"
N_EXAMPLES = 3


@dataclass
class CheckResult:
    """One expectation's outcome; `severity` "error" fails validation, "warning" is only reported."""

    name: str
    success: bool
    scope: str = "all"  # all | train | val | test | file | splits
    severity: str = "error"
    unexpected_count: int = 0
    element_count: int = 0
    examples: list[Any] = field(default_factory=list)
    message: str = ""
    engine: str = "great_expectations"  # or "flatbench" for checks beside GE


@dataclass
class ValidationReport:
    dataset: str
    card: str
    checks: list[CheckResult] = field(default_factory=list)
    # the user's names for the internal columns (text, label, text_pair), used wherever checks are shown
    columns: dict[str, str] = field(default_factory=dict)
    lengths: dict[str, Any] | None = None  # token lengths against max_len (`flatlora.bench.lengths`)
    checksum: str | None = None  # sha256 of the data validated, as in each run record's dataset_info

    @property
    def success(self) -> bool:
        return all(c.success for c in self.checks if c.severity == "error")

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success and c.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success and c.severity != "error"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "card": self.card,
            "checksum": self.checksum,
            "success": self.success,
            "n_checks": len(self.checks),
            "n_failed": len(self.failures),
            "n_warnings": len(self.warnings),
            "columns": dict(self.columns),
            "lengths": self.lengths,
            "checks": [asdict(c) for c in self.checks],
        }

    def user_names(self, text: str) -> str:
        """Internal column names in check names and messages -> the user's (`(text)` -> `(review)`)."""
        names = {k: v for k, v in self.columns.items() if v and v != k}
        if not names:
            return text
        if "text" in names and "text_pair" in names:
            names["pair_key"] = f"{names['text']}, {names['text_pair']}"
        rx = re.compile(
            r"(?<=[('])(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")(?=[)'])"
        )
        return rx.sub(lambda m: names[m.group(1)], text)

    def render(self, verbose: bool = False, width: int = 80) -> str:
        """Plain text for a terminal of `width` columns: a verdict line, then each failed check, then each
        warning (user's column names, wrapped at word boundaries); `verbose` adds every passed check."""
        import textwrap

        n_pass = sum(c.success for c in self.checks)
        failed, warned = self.failures, self.warnings
        verdict = "FAILED" if not self.success else "passed"
        head = (
            f"validation of {self.dataset} {verdict}: {len(failed)} failed, {len(warned)} "
            f"warning{'s' * (len(warned) != 1)}, {n_pass} of {len(self.checks)} checks passed (card {self.card})"
        )
        out = textwrap.wrap(head, width, break_long_words=False, break_on_hyphens=False)

        def para(tag: str, c: CheckResult, detail: bool = True) -> None:
            scope = "" if c.scope == "all" else f" [{c.scope}]"
            text = f"{self.user_names(c.name)}{scope}" + (
                f": {self.user_names(_describe(c))}" if detail else ""
            )
            out.extend(
                textwrap.wrap(
                    text,
                    width,
                    initial_indent=f"{tag:<5} ",
                    subsequent_indent=" " * 6,
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )

        for c in failed:
            para("FAIL", c)
        for c in warned:
            para("warn", c)
        tokens = [c for c in self.checks if c.name == "tokens_within_max_len" and c.success]
        if tokens:  # the share is said even when it is small
            out.extend(textwrap.wrap(f"info  {tokens[0].message}", width, subsequent_indent=" " * 6))
        if verbose:
            for c in self.checks:
                if c.success:
                    para("ok", c, detail=False)
        elif n_pass:
            out.append(f"ok    {n_pass} checks passed (--verbose lists them)")
        return "\n".join(out)

    def summary(self) -> str:
        """Human message: each failed or warned check with counts and a few offending rows."""
        if self.success:
            n = len(self.warnings)
            lines = [f"{self.dataset}: all {len(self.checks)} checks passed ({n} warning{'s' * (n != 1)})"]
        else:
            lines = [
                f"validation of {self.dataset!r} failed ({len(self.failures)} of {len(self.checks)} checks):"
            ]
        for c in self.failures:
            lines.append(f"  - [{c.scope}] {c.name}: {_describe(c)}")
        for c in self.warnings:
            lines.append(f"  ~ warning [{c.scope}] {c.name}: {_describe(c)}")
        return self.user_names("\n".join(lines))

    def table(self) -> Table:
        from rich.table import Table

        t = Table(title=f"validation: {self.dataset} (card {self.card})")
        t.add_column("check", no_wrap=True, overflow="ellipsis", max_width=44)
        for col in ("scope", "status", "unexpected"):
            t.add_column(col, no_wrap=True)
        t.add_column("examples / message", overflow="fold", ratio=1)
        order = sorted(self.checks, key=lambda c: (c.success, c.severity != "error"))  # failures first
        for c in order:
            status = (
                "[green]pass" if c.success else ("[red]FAIL" if c.severity == "error" else "[yellow]warn")
            )
            count = f"{c.unexpected_count}/{c.element_count}" if c.element_count else str(c.unexpected_count)
            msg = "" if c.success else self.user_names(_describe(c))
            t.add_row(self.user_names(c.name), c.scope, status, count, msg)
        return t


def _describe(c: CheckResult) -> str:
    parts = []
    if c.message:
        parts.append(c.message)
    if c.element_count:
        parts.append(f"{c.unexpected_count} of {c.element_count} rows")
    if c.examples:
        parts.append("e.g. " + ", ".join(_short(x) for x in c.examples[:N_EXAMPLES]))
    return "; ".join(parts)


def _short(x: Any) -> str:
    """An example as text, quotes balanced however long it is; GE's {row, value} as `row N: value`."""
    if isinstance(x, dict) and set(x) == {"row", "value"}:
        return f"row {int(x['row']) + 1}: {_short(x['value'])}"
    if isinstance(x, str) and PAIR_SEP in x:  # a (text, text_pair) key: show the pair as the report does
        x = x.replace(PAIR_SEP, " || ")
    if isinstance(x, str) and len(x) > 60:
        return repr(x[:57] + "...")
    s = repr(x)
    return s if len(s) <= 80 else s[:76] + "...}"


class ValidationFailed(Exception):
    """Raised before training when a dataset fails validation; carries the report."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.summary())
        self.report = report

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries (runs in their own process)
        return (type(self), (self.report,))


# ---------------------------------------------------------------- cards and suites


def load_card(name_or_path: str) -> dict[str, Any]:
    """A dataset card (yaml) by name from datasets/cards/ or by path."""
    import yaml

    p = Path(name_or_path).expanduser()
    if not p.suffix:
        p = DATASETS_DIR / "cards" / f"{name_or_path}.yaml"
    if not p.is_file():
        known = sorted(c.stem for c in (DATASETS_DIR / "cards").glob("*.yaml"))
        raise DataError(f"dataset card not found: {p} (cards: {known}, or a .yaml path)", check="card")
    try:
        card: dict[str, Any] = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(
            f"dataset card {p} is not valid YAML: {str(exc).splitlines()[0]}", check="card"
        ) from exc
    if not isinstance(card, dict):
        raise DataError(f"dataset card {p} must be a YAML mapping", check="card")
    card.setdefault("name", p.stem)
    card.setdefault("text_column", "text")
    card.setdefault("label_column", "label")
    card.setdefault("text_length", {"min": 1, "max": 5000})
    card.setdefault("min_per_class", 1)
    card.setdefault("min_per_class_split", 1)
    card.setdefault("duplicates", "warning")  # real datasets often repeat a few texts
    return card


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


# ---------------------------------------------------------------- GE plumbing


@cache
def _gx_context() -> Any:
    """One quiet ephemeral GE context per process."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in list(logging.root.manager.loggerDict):  # GE sets levels on its own child loggers
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.ERROR)
    ctx = gx.get_context(mode="ephemeral")
    with contextlib.suppress(Exception):  # older/newer GE: progress bars stay on, results are unaffected
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    ds = ctx.data_sources.add_pandas("flatbench")
    asset = ds.add_dataframe_asset("frame")
    asset.add_batch_definition_whole_dataframe("whole")
    return ctx


_suite_counter = 0
# GE's ephemeral context holds one dataframe asset; runs that validate at once in one process
# (`--parallel`) would swap each other's frames, so GE is entered by one thread at a time.
_GE_LOCK = threading.Lock()


def ge_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("great_expectations") is not None


ENGINE_ENV = "FLATBENCH_VALIDATION_ENGINE"
ENGINES = ("python", "great_expectations")


def suite_engine() -> str:
    """What runs the suite's expectations: `python` (the default: the same checks, verdicts and
    messages in plain Python, without GE's import and context, about 1.6 s a process), or
    `great_expectations` when $FLATBENCH_VALIDATION_ENGINE asks for it (`flatbench validate --engine`)."""
    raw = os.environ.get(ENGINE_ENV, "").strip().lower().replace("-", "_")
    engine = {"": "python", "plain": "python", "ge": "great_expectations", "gx": "great_expectations"}.get(
        raw, raw
    )
    if engine not in ENGINES:
        raise ValueError(f"{ENGINE_ENV} must be one of {', '.join(ENGINES)}, got {raw!r}")
    return engine


_noted_fallback = False


def _run_ge(df: pd.DataFrame, spec: list[dict[str, Any]], scope: str) -> list[CheckResult]:
    global _noted_fallback
    if suite_engine() == "python" and all(e["type"] in PLAIN_TYPES for e in spec):
        return _run_plain(df, spec, scope)
    if not ge_available():
        if not _noted_fallback:
            import sys

            print(
                "note: great-expectations is not installed; the suite's expectations run in plain Python "
                "(same checks and messages, engine 'python')",
                file=sys.stderr,
            )
            _noted_fallback = True
        return _run_plain(df, spec, scope)
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    global _suite_counter
    with _GE_LOCK:
        ctx = _gx_context()
        bd = ctx.data_sources.get("flatbench").get_asset("frame").get_batch_definition("whole")
        _suite_counter += 1
        suite = gx.ExpectationSuite(name=f"flatbench_{_suite_counter}")
        severities: list[str] = []
        for e in spec:
            cfg = ExpectationConfiguration(
                type=e["type"], kwargs=dict(e["kwargs"]), meta={"flatbench_index": len(severities)}
            )
            suite.add_expectation(cfg.to_domain_obj())
            severities.append("warning" if e.get("severity") == "warning" else "error")
        batch = bd.get_batch(batch_parameters={"dataframe": df.reset_index(drop=True)})
        res = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    out: list[CheckResult] = []
    # GE may reorder results: map each back to its spec entry through meta
    ordered = sorted(
        res.results, key=lambda r: int((r.expectation_config.meta or {}).get("flatbench_index", 0))
    )
    for r in ordered:
        sev = severities[int((r.expectation_config.meta or {}).get("flatbench_index", 0))]
        kw = r.expectation_config.kwargs
        name = r.expectation_config.type.removeprefix("expect_")
        col = kw.get("column")
        result = r.result or {}
        exc = (r.exception_info or {}).get("exception_message") if not r.success else None
        examples = list(result.get("partial_unexpected_list") or [])
        idx = list(result.get("partial_unexpected_index_list") or result.get("unexpected_index_list") or [])
        if examples and idx:
            examples = [{"row": int(i), "value": v} for i, v in zip(idx, examples, strict=False)]
        msg = f"column {col!r}" if col else ""
        if name == "column_to_exist" and not r.success:
            msg = f"missing required column {col!r} (found {list(map(str, df.columns))})"
        if name == "column_values_to_be_unique" and not r.success:
            msg = f"duplicate texts in column {col!r}"
        if name == "column_values_to_be_in_set" and not r.success:
            msg = f"unknown labels (allowed: {kw.get('value_set')})"
        if name == "column_distinct_values_to_contain_set" and not r.success:
            present = result.get("observed_value")
            msg = f"classes missing: {sorted(set(kw.get('value_set', [])) - set(present or []))}"
        if name == "column_value_lengths_to_be_between" and not r.success:
            msg = f"text length outside [{kw.get('min_value')}, {kw.get('max_value')}] (empty text?)"
        if name == "column_values_to_not_match_regex" and not r.success:
            msg = "undecodable text (control characters or U+FFFD)"
        if exc:
            msg = f"{msg}; could not evaluate: {exc.splitlines()[0][:160]}"
        out.append(
            CheckResult(
                name=name if not col else f"{name}({col})",
                success=bool(r.success),
                scope=scope,
                severity=sev,
                unexpected_count=int(result.get("unexpected_count") or 0),
                element_count=int(result.get("element_count") or 0),
                examples=examples[:N_EXAMPLES],
                message=msg,
            )
        )
    return out


# the expectation types `_run_plain` evaluates as GE does; a suite with any other goes to GE
PLAIN_TYPES = frozenset(
    {
        "expect_column_to_exist",
        "expect_column_values_to_not_be_null",
        "expect_column_value_lengths_to_be_between",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_be_unique",
        "expect_column_values_to_be_in_set",
        "expect_column_distinct_values_to_contain_set",
    }
)


def _run_plain(df: pd.DataFrame, spec: list[dict[str, Any]], scope: str) -> list[CheckResult]:
    """The suite's expectation types evaluated without GE (for machines without it, e.g. a GPU box)."""
    out: list[CheckResult] = []
    cols = [str(c) for c in df.columns]
    for e in spec:
        kind, kw = e["type"], e["kwargs"]
        sev = "warning" if e.get("severity") == "warning" else "error"
        col = kw.get("column")
        name = kind.removeprefix("expect_")
        values = list(df[col]) if col in cols else []
        bad: list[int] = []
        msg = ""
        count_rows = True
        if kind == "expect_column_to_exist":
            ok, count_rows = col in cols, False
            msg = f"column {col!r}" if ok else f"missing required column {col!r} (found {cols})"
        elif col not in cols:
            ok, msg = False, f"column {col!r}; could not evaluate: column not found"
        elif kind == "expect_column_values_to_not_be_null":
            bad = [i for i, v in enumerate(values) if v is None or (isinstance(v, float) and v != v)]
            ok, msg = not bad, f"column {col!r}"
        elif kind == "expect_column_value_lengths_to_be_between":
            lo, hi = kw.get("min_value"), kw.get("max_value")
            bad = [
                i
                for i, v in enumerate(values)
                if v is not None
                and ((lo is not None and len(str(v)) < lo) or (hi is not None and len(str(v)) > hi))
            ]
            ok = not bad
            msg = f"text length outside [{lo}, {hi}] (empty text?)" if bad else f"column {col!r}"
        elif kind == "expect_column_values_to_not_match_regex":
            rx = re.compile(kw["regex"])
            bad = [i for i, v in enumerate(values) if v is not None and rx.search(str(v))]
            ok = not bad
            msg = "undecodable text (control characters or U+FFFD)" if bad else f"column {col!r}"
        elif kind == "expect_column_values_to_match_regex":
            rx = re.compile(kw["regex"])
            bad = [i for i, v in enumerate(values) if v is not None and not rx.search(str(v))]
            ok, msg = not bad, f"column {col!r}"
        elif kind == "expect_column_values_to_be_unique":
            seen: dict[Any, int] = {}
            for v in values:
                seen[v] = seen.get(v, 0) + 1
            bad = [i for i, v in enumerate(values) if v is not None and seen[v] > 1]
            ok = not bad
            msg = f"duplicate texts in column {col!r}" if bad else f"column {col!r}"
        elif kind == "expect_column_values_to_be_in_set":
            allowed = set(kw["value_set"])
            bad = [i for i, v in enumerate(values) if v is not None and v not in allowed]
            ok = not bad
            msg = f"unknown labels (allowed: {kw['value_set']})" if bad else f"column {col!r}"
        elif kind == "expect_column_distinct_values_to_contain_set":
            missing = sorted(set(kw["value_set"]) - set(values))
            ok, count_rows = not missing, False
            msg = f"classes missing: {missing}" if missing else f"column {col!r}"
        else:
            ok, msg = False, f"expectation {kind} is not available without great-expectations"
        n = len(values)  # GE counts every row, nulls included
        out.append(
            CheckResult(
                name=name if not col else f"{name}({col})",
                success=ok,
                scope=scope,
                severity=sev,
                unexpected_count=len(bad),
                element_count=n if count_rows else 0,
                examples=[{"row": i, "value": values[i]} for i in bad[:N_EXAMPLES]],
                message=msg,
                engine="python",
            )
        )
    return out


# ---------------------------------------------------------------- checks beside GE


def _row_list(rows: list[int], n: int = 5) -> str:
    """1-based data rows (1 = the first row after a header), the first `n` of them."""
    shown = ", ".join(str(r + 1) for r in rows[:n])
    return shown + (f", ... ({len(rows) - n} more)" if len(rows) > n else "")


def _is_blank(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and x != x) and str(x).strip() == ""


def _label_checks(df: pd.DataFrame, card: dict[str, Any], scope: str, min_count: int) -> list[CheckResult]:
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
    classes = names or sorted(counts.index)
    low = {c: int(counts.get(c, 0)) for c in classes if int(counts.get(c, 0)) < min_count}
    out.append(
        CheckResult(
            name=f"min_count_per_class({lab})",
            success=not low,
            scope=scope,
            unexpected_count=len(low),
            message=""
            if not low
            else f"classes with fewer than {min_count} rows: "
            + ", ".join(f"{k!r} ({v})" for k, v in low.items())
            + f" (counts: {counts.to_dict()})",
            engine="flatbench",
        )
    )
    if not names and scope == "all":
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


RARE_SHARE, RARE_ROWS, RARE_RATIO = 0.02, 10, 5


def _rare_class_check(raw: list[Any], blank: set[int], counts: Any, lab: str) -> CheckResult:
    """An inferred class far rarer than every other (under 2% of rows or under 10 rows, while each other
    class has at least 5x its rows) is likely a stray value (`meh` among `pos`/`neg`): a warning."""
    total = int(counts.sum())
    rare: list[str] = []
    for c, n in counts.items():
        others = [int(m) for d, m in counts.items() if d != c]
        if others and (n < RARE_ROWS or n < RARE_SHARE * total) and min(others) >= RARE_RATIO * n:
            rows = [i for i, x in enumerate(raw) if i not in blank and x is not None and str(x) == c]
            rest = ", ".join(f"{d!r} {int(m)}" for d, m in counts.items() if d != c)
            rare.append(
                f"{c!r}: {int(n)} row{'s' * (n != 1)} ({n / total:.1%}; rows {_row_list(rows, 3)}) vs {rest}"
            )
    return CheckResult(
        name=f"no_rare_inferred_class({lab})",
        success=not rare,
        scope="all",
        severity="warning",
        unexpected_count=len(rare),
        message=""
        if not rare
        else "a label far rarer than the rest becomes a class of its own: "
        + "; ".join(rare)
        + ". A stray value? Fix those rows, or name the labels in a card (--card, `labels: [...]`) so "
        "that other values fail",
        engine="flatbench",
    )


def _row_keys(df: pd.DataFrame) -> set[str]:
    if "text_pair" in df.columns:
        return {f"{a}{PAIR_SEP}{b}" for a, b in zip(df["text"], df["text_pair"], strict=True)}
    return set(df["text"].astype(str))


def _leakage_check(splits: Splits) -> CheckResult:
    parts = {"train": splits.train, "val": splits.val, "test": splits.test}
    sets = {k: _row_keys(v) for k, v in parts.items()}
    leaks: list[str] = []
    pairs = [("train", "val"), ("train", "test"), ("val", "test")]
    n = 0
    for a, b in pairs:
        common = sets[a] & sets[b]
        n += len(common)
        leaks += [f"{a}/{b}: {t.replace(PAIR_SEP, ' || ')}" for t in sorted(common)[:N_EXAMPLES]]
    return CheckResult(
        name="no_text_leakage_across_splits",
        success=n == 0,
        scope="splits",
        unexpected_count=n,
        element_count=sum(len(s) for s in sets.values()),
        examples=leaks[:N_EXAMPLES],
        message="" if n == 0 else "exact texts shared between splits",
        engine="flatbench",
    )


def _error_check(err: DataError, scope: str = "file") -> CheckResult:
    return CheckResult(
        name=err.check,
        success=False,
        scope=scope,
        unexpected_count=max(1, len(err.rows)),
        examples=[f"line {r}" for r in err.rows[:N_EXAMPLES]],
        message=str(err),
        engine="flatbench",
    )


# ---------------------------------------------------------------- public API


def validate_frame(
    df: pd.DataFrame, card: dict[str, Any], scope: str = "all", dataset: str = "data"
) -> ValidationReport:
    """GE suite + label checks on one frame (the whole dataset or one split)."""
    rep = ValidationReport(dataset=dataset, card=card["name"])
    spec = suite_spec(card)
    if "text_pair" in df.columns:
        spec = pair_spec(spec, card["text_column"])
    rep.checks += _run_ge(df, spec, scope)
    min_count = card["min_per_class"] if scope == "all" else card["min_per_class_split"]
    rep.checks += _label_checks(df, card, scope, int(min_count))
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
                    message=f"{scope} split is empty",
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
        rep.checks += validate_frame(frame, card, scope, splits.name).checks
    rep.checks.append(_leakage_check(splits))
    return rep


def validate_sanity() -> ValidationReport:
    """The authored toy task: its suite (datasets/suites/sanity.json) plus train/test word disjointness."""
    import pandas as pd

    from flatlora.bench.data import load_sanity

    rows = load_sanity()
    df = pd.DataFrame(rows)
    rep = ValidationReport(dataset="sanity", card="sanity")
    rep.checks += _run_ge(df, suite_spec(load_card("sanity")), "all")
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
) -> tuple[ValidationReport, Splits | None]:
    """Load, validate the whole file, split, validate the splits. The gate before any training.

    With `max_len`, also the share of examples longer than it in `model`'s tokens (a warning above 5%).
    """
    from flatlora.bench.gen_data import is_generation, validate_generation

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
        )
    except DataError as err:
        guess = "financial_phrasebank" if str(name_or_path).lower().startswith("fpb_") else "user_default"
        rep = ValidationReport(
            dataset=str(name_or_path), card=card or guess, checks=[_error_check(err)], columns=columns
        )
        if raise_on_failure:
            raise ValidationFailed(rep) from err
        return rep, None
    c = load_card(card or data.card)
    c = {**c, "text_column": "text", "label_column": "label"}  # loader already mapped the user's columns
    rep = validate_data(data, c)
    rep.columns = columns
    rep.checksum = data.checksum
    splits: Splits | None = None
    if rep.success or data.split is not None:
        try:
            splits = make_splits(data, split_seed=split_seed)
            rep.checks += validate_splits(splits, c).checks
        except ValueError as err:  # e.g. too few rows of a class to stratify
            rep.checks.append(_error_check(DataError(f"cannot split: {err}", check="splittable"), "splits"))
            splits = None
    if not rep.success:
        if raise_on_failure:
            raise ValidationFailed(rep)
        return rep, None
    if max_len is not None:
        rep.checks.append(_length_check(rep, data, max_len, model))
    return rep, splits


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
