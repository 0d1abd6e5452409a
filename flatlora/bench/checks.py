"""The checks' results and the engine that runs them: great-expectations 1.x on a pandas frame (or the
same expectations in plain Python without it), and the file-level and cross-split checks that both the
classification and the generative validation use.

GE is slow to import, so it is imported lazily and one context is reused per process.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from flatlora.bench.data import PAIR_SEP, DataError, Splits

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd
    from rich.table import Table

# control chars (except \t \n \r) and the replacement char signal text that did not decode cleanly
UNDECODABLE_RE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]"
N_EXAMPLES = 3
# classes named one by one in a message: a column of texts taken for labels has one per row
MAX_LISTED = 10


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
    labels: dict[str, int] = field(default_factory=dict)  # the label set in class-id order -> rows
    label_source: str = ""  # where the label set comes from: "inferred" or "card <name>"
    split_sizes: dict[str, int] = field(default_factory=dict)  # train/val/test rows, before any profile cap
    notes: list[str] = field(default_factory=list)  # what loading and splitting did (merges, carved rows)

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
            "labels": dict(self.labels),
            "label_source": self.label_source,
            "split_sizes": dict(self.split_sizes),
            "notes": list(self.notes),
            "checks": [_json_safe(asdict(c)) for c in self.checks],
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

    def shown(self, c: CheckResult, text: str) -> str:
        """`text` of check `c` as the user reads it: in the user's column names, except a file-level
        check's, which already names the file's own columns (`found columns: ['text', 'label']` must not
        read as the names passed to --text-col and --label-col)."""
        return text if c.scope == "file" else self.user_names(text)

    def render(self, verbose: bool = False, width: int = 80, verbose_hint: bool = True) -> str:
        """Plain text for a terminal of `width` columns: a verdict line, then each failed check, then each
        warning (user's column names, wrapped at word boundaries), then what was read (labels, splits);
        `verbose` adds every passed check (`verbose_hint`: say that `--verbose` does)."""
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
            text = f"{self.shown(c, c.name)}{scope}" + (f": {self.shown(c, _describe(c))}" if detail else "")
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
        for line in self.info_lines():
            out.extend(
                textwrap.wrap(f"info  {line}", width, subsequent_indent=" " * 6, break_long_words=False)
            )
        tokens = [c for c in self.checks if c.name == "tokens_within_max_len" and c.success]
        if tokens:  # the share is said even when it is small
            out.extend(textwrap.wrap(f"info  {tokens[0].message}", width, subsequent_indent=" " * 6))
        if verbose:
            for c in self.checks:
                if c.success:
                    para("ok", c, detail=False)
        elif n_pass:
            out.append(f"ok    {n_pass} checks passed" + (" (--verbose lists them)" if verbose_hint else ""))
        return "\n".join(out)

    def info_lines(self) -> list[str]:
        """What was read, said on every run: the label set with its rows, the split sizes, and what
        loading changed. An inferred label set is listed in full, so a stray spelling is seen."""
        out: list[str] = []
        if self.labels:
            n = len(self.labels)
            where = (
                "inferred from the data, in class-id order"
                if self.label_source == "inferred"
                else f"from {self.label_source}"
            )
            # a column that looks like texts, not labels (its check failed), is named by a few of its values
            text_like = any(
                c.name.startswith("label_column_looks_categorical") and not c.success for c in self.checks
            )
            shown = list(self.labels.items())[:MAX_LISTED] if text_like else list(self.labels.items())
            counts = ", ".join(f"{k!r} {v:,}" for k, v in shown)
            if len(shown) < n:
                counts += f", and {n - len(shown):,} more"
            out.append(f"{n} label{'s' * (n != 1)} ({where}; rows): {counts}")
        if self.split_sizes:
            sizes = ", ".join(f"{k} {v:,}" for k, v in self.split_sizes.items())
            out.append(f"splits (rows): {sizes}")
        return out + [self.user_names(x) for x in self.notes]

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
            lines.append(self.shown(c, f"  - [{c.scope}] {c.name}: {_describe(c)}"))
        for c in self.warnings:
            lines.append(self.shown(c, f"  ~ warning [{c.scope}] {c.name}: {_describe(c)}"))
        return "\n".join(lines)

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
            msg = "" if c.success else self.shown(c, _describe(c))
            t.add_row(self.shown(c, c.name), c.scope, status, count, msg)
        return t


def _json_safe(obj: Any) -> Any:
    """`obj` with each float that JSON cannot hold (NaN, an infinity: a missing text shown as an example)
    as null, so the report writes as strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


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
    if isinstance(x, dict) and set(x) == {"rows", "text"}:  # a text in two splits: whole, with its rows
        where = " and ".join(
            f"{k} row{'s' * (len(r) != 1)} {', '.join(map(str, r[:5]))}" for k, r in x["rows"].items()
        )
        return f"{where}: {x['text']!r}"
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


_engine: contextvars.ContextVar[str | None] = contextvars.ContextVar("validation_engine", default=None)


@contextlib.contextmanager
def using_engine(engine: str | None) -> Iterator[None]:
    """Run the suites inside the block with `engine` (one of ENGINES; None: the setting as it was), for
    this thread or task only; the process environment is left alone."""
    if engine is None:
        yield
        return
    if engine.strip().lower().replace("-", "_") not in ENGINES:
        raise ValueError(f"the validation engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    token = _engine.set(engine)
    try:
        yield
    finally:
        _engine.reset(token)


def suite_engine() -> str:
    """What runs the suite's expectations: `python` (the default: the same checks, verdicts and
    messages in plain Python, without GE's import and context, about 1.6 s a process), or
    `great_expectations` when asked for: by `using_engine` (`flatbench validate --engine`), else by
    $FLATBENCH_VALIDATION_ENGINE."""
    chosen = _engine.get()
    raw = (chosen if chosen is not None else os.environ.get(ENGINE_ENV, "")).strip().lower().replace("-", "_")
    engine = {"": "python", "plain": "python", "ge": "great_expectations", "gx": "great_expectations"}.get(
        raw, raw
    )
    if engine not in ENGINES:
        raise ValueError(f"{ENGINE_ENV} must be one of {', '.join(ENGINES)}, got {raw!r}")
    return engine


_noted_fallback = False


def run_ge(df: pd.DataFrame, spec: list[dict[str, Any]], scope: str) -> list[CheckResult]:
    """Run the expectations `spec` (plain configs: `type`, `kwargs`, `severity`) on `df`, one
    CheckResult each, labelled with `scope`: in plain Python by default (`suite_engine`) and when
    great-expectations is not installed, in GE when asked for."""
    global _noted_fallback
    if suite_engine() == "python" and all(e["type"] in PLAIN_TYPES for e in spec):
        return run_plain(df, spec, scope)
    if not ge_available():
        if not _noted_fallback:
            import sys

            print(
                "note: great-expectations is not installed; the suite's expectations run in plain Python "
                "(same checks and messages, engine 'python')",
                file=sys.stderr,
            )
            _noted_fallback = True
        return run_plain(df, spec, scope)
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


# the expectation types `run_plain` evaluates as GE does; a suite with any other goes to GE
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


def run_plain(df: pd.DataFrame, spec: list[dict[str, Any]], scope: str) -> list[CheckResult]:
    """`run_ge` without great-expectations: the same expectations, results and messages."""
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


def _row_keys(df: pd.DataFrame) -> list[str]:
    if "text_pair" in df.columns:
        return [f"{a}{PAIR_SEP}{b}" for a, b in zip(df["text"], df["text_pair"], strict=True)]
    return [str(t) for t in df["text"]]


def leakage_check(splits: Splits) -> CheckResult:
    """Texts in two splits, each named by its rows in every split (1 = the first data row) and given in
    full: a shortened text cannot be searched for in the file."""
    parts = {"train": splits.train, "val": splits.val, "test": splits.test}
    rows: dict[str, dict[str, list[int]]] = {}
    n_texts = 0  # distinct texts per split, summed
    for k, df in parts.items():
        index = list(df["index"]) if "index" in df.columns else list(range(len(df)))
        keys = _row_keys(df)
        n_texts += len(set(keys))
        for key, i in zip(keys, index, strict=True):
            rows.setdefault(key, {}).setdefault(k, []).append(int(i) + 1)
    shared = {t: where for t, where in rows.items() if len(where) > 1}
    examples = [
        {"rows": where, "text": t.replace(PAIR_SEP, " || ")}
        for t, where in sorted(shared.items())[:N_EXAMPLES]
    ]
    return CheckResult(
        name="no_text_leakage_across_splits",
        success=not shared,
        scope="splits",
        unexpected_count=len(shared),
        element_count=n_texts,
        examples=examples,
        message=""
        if not shared
        else f"exact texts shared between splits: {len(shared)} (rows: 1 = the first data row); keep each "
        "text in one split only",
        engine="flatbench",
    )


def error_check(err: DataError, scope: str = "file") -> CheckResult:
    """A failed check for a dataset that could not be read or split: named by the error's `check`,
    with the lines it names."""
    return CheckResult(
        name=err.check,
        success=False,
        scope=scope,
        unexpected_count=max(1, len(err.rows)),
        # the lines, unless the message names them already
        examples=[] if re.search(r"\blines? \d", str(err)) else [f"line {r}" for r in err.rows[:N_EXAMPLES]],
        message=str(err),
        engine="flatbench",
    )
