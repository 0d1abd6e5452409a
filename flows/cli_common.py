"""Value checks shared by the CLI commands: one-line errors that name the value, the choices and the
closest match, raised before any server starts or file is written."""

from __future__ import annotations

import difflib
import functools
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import typer

__all__ = [
    "CliError",
    "check_choice",
    "check_choices",
    "check_dataset",
    "check_out_dir",
    "check_set_keys",
    "default_profile",
    "friendly_errors",
    "method_names",
    "parse_set_values",
    "profile_names",
    "set_debug",
]

F = TypeVar("F", bound=Callable[..., Any])
_DEBUG = {"on": False}


class CliError(Exception):
    """A problem with what the command was asked to do, shown as one line."""


def set_debug(on: bool) -> None:
    _DEBUG["on"] = on


def debug_enabled() -> bool:
    """``flatbench --debug ...`` or FLATBENCH_DEBUG=1: show tracebacks instead of one-line errors."""
    return _DEBUG["on"] or os.environ.get("FLATBENCH_DEBUG", "") not in ("", "0")


_KNOWN = {
    "flatlora.bench.rundir": ("NotWritable", "RecordNotWritten"),
    "llm_eval.cache": ("CacheCorruptError",),
    "llm_eval.items": ("ItemSchemaError",),
}


def _known_errors() -> tuple[type[BaseException], ...]:
    """Failures whose message already says what failed, where, and what to do. Looked up among the
    modules already loaded: an error of a module never imported cannot have been raised, and importing
    one here (torch, for the run dir's) would cost seconds."""
    kinds: list[type[BaseException]] = [CliError, OSError]
    for module, names in _KNOWN.items():
        if (mod := sys.modules.get(module)) is not None:
            kinds += [getattr(mod, n) for n in names]
    return tuple(kinds)


def friendly_errors(fn: F) -> F:
    """A command decorator: known failures print ``error: <message>`` on one line and exit 2; the
    traceback only under ``--debug``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _known_errors() as exc:
            if debug_enabled():
                raise
            typer.echo(f"error: {_one_line(exc)}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename and type(exc) is not OSError and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"  # e.g. "Permission denied: runs/x/report.md"
    return " ".join(str(exc).split()) or type(exc).__name__


def check_out_dir(path: str | os.PathLike[str] | None, option: str = "--out") -> Path | None:
    """``path`` may become a folder: it is one already, or every existing part of it is a folder."""
    if path is None:
        return None
    p = Path(path)
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                what = "is an existing file" if q == p else f"is inside {q}, an existing file"
                raise CliError(f"{option} {p} {what}, not a folder: give a folder path")
            break
    return p


def _closest(value: str, choices: list[str]) -> str | None:
    low = {c.lower(): c for c in choices}
    if value.lower() in low:
        return low[value.lower()]
    hits = difflib.get_close_matches(value.lower(), list(low), n=1, cutoff=0.5)
    return low[hits[0]] if hits else None


def check_choice(value: str, choices: Iterable[str], what: str) -> str:
    """``value`` if it is one of ``choices``, else :class:`typer.BadParameter` in one line, e.g.
    ``unknown profile 'quik'; choose from: quick, smoke, study (did you mean 'quick'?)``."""
    options = list(dict.fromkeys(str(c) for c in choices))
    if value in options:
        return value
    hint = _closest(value, options)
    did = f" (did you mean {hint!r}?)" if hint else ""
    raise typer.BadParameter(f"unknown {what} {value!r}; choose from: {', '.join(options)}{did}")


def check_choices(values: Iterable[str] | None, choices: Iterable[str], what: str) -> list[str]:
    options = list(choices)
    return [check_choice(v, options, what) for v in values or []]


def profile_names() -> list[str]:
    """The run profiles registered in flatlora.bench.config (read when called, so new ones appear)."""
    from flatlora.bench.config import PROFILE_OVERRIDES

    return list(PROFILE_OVERRIDES)


def default_profile() -> str:
    """The registry's default profile: the CPU-sized ``quick``."""
    from flatlora.bench.config import DEFAULT_PROFILE

    return DEFAULT_PROFILE


def method_names() -> list[str]:
    from flatlora.bench.config import METHODS

    return list(METHODS)


def check_set_keys(pairs: Iterable[str] | None) -> None:
    """Every ``--set key=value`` names a RunConfig field (the value's type is checked by ``parse_set``)."""
    from dataclasses import fields

    from flatlora.bench.config import RunConfig

    known = sorted(f.name for f in fields(RunConfig))
    for pair in pairs or []:
        if "=" not in pair:
            raise typer.BadParameter(f"--set expects key=value, got {pair!r}")
        check_choice(pair.split("=", 1)[0].strip(), known, "config field in --set")


def parse_set_values(pairs: Iterable[str] | None) -> dict[str, object]:
    """``--set`` pairs typed by ``parse_set``, an error naming the pair that failed (keys checked first)."""
    from flatlora.bench.config import parse_set

    items = list(pairs or [])
    check_set_keys(items)
    for pair in items:
        try:
            parse_set([pair])
        except ValueError as err:
            raise typer.BadParameter(f"--set {pair!r}: {err}") from err
    return dict(parse_set(items))


def check_dataset(value: str) -> str:
    """A Financial PhraseBank config name, an existing file or folder, or an ``owner/name`` hub id."""
    from flatlora.bench.data import FPB_CONFIGS, USER_EXTS
    from flatlora.bench.gen_data import NAMED

    names = [f"fpb_{c}" for c in FPB_CONFIGS] + list(NAMED)
    if value.strip().lower().split(":")[0] in NAMED:  # generative datasets by name (gsm8k, metamathqa)
        return value
    low = value.strip().lower()
    for prefix in ("fpb_", "financial_phrasebank:", "financial_phrasebank_"):
        if low.startswith(prefix) and low.removeprefix(prefix) in FPB_CONFIGS:
            return value
    path = Path(value)
    if path.exists():
        return value
    if path.suffix.lower() in USER_EXTS:
        raise typer.BadParameter(f"dataset file {value!r} does not exist")
    if "/" in value:  # a hub id (owner/name) or a folder; the loader says which when it cannot open it
        return value
    hint = _closest(value, names)
    did = f" (did you mean {hint!r}?)" if hint else ""
    raise typer.BadParameter(
        f"unknown dataset {value!r}; choose from: {', '.join(names)}, a .csv/.tsv/.jsonl file, "
        f"a saved datasets folder or a hub id owner/name{did}"
    )
