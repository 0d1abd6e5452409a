"""Value checks shared by the CLI commands: one-line errors that name the value, the choices and the
closest match, raised before any server starts or file is written."""

from __future__ import annotations

import contextlib
import difflib
import functools
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer

from flows.shutdown import end_now, set_kept

# Every profile of flatlora.bench.config.PROFILES (a test keeps the two in step; importing the config here
# would import torch and slow down `--help`).
# Each profile's row caps (train / val / test rows per run) and epochs are said here, so that a run on part
# of the data is never a surprise; a test keeps them in step with PROFILE_OVERRIDES.
PROFILE_HELP = (
    "run profile (rows per run: train / val / test): "
    "quick (default; CPU-sized: at most 640 / 300 / all rows, 3 epochs, max_len 64) | "
    "smoke (checks the path in seconds and learns little: at most 128 / 64 / 64 rows, 1 epoch, max_len 32) | "
    "study (the powered comparison: all rows, 2 epochs, max_len 72; lr from a sweep) | "
    "study-q4 (the study's protocol: all rows, 5 epochs, max_len 256; hours) | "
    "gen-cpu (generative, SmolLM2 on GSM8K: at most 256 / 16 / 100 rows, 1 epoch, max_len 352)"
)

__all__ = [
    "PROFILE_HELP",
    "CliError",
    "auto_max_len_override",
    "bars",
    "check_choice",
    "check_choices",
    "check_dataset",
    "check_model_value",
    "check_out_dir",
    "check_set_keys",
    "default_profile",
    "exit_at_once_if_api_lost",
    "friendly_errors",
    "method_names",
    "parse_set_values",
    "profile_names",
    "set_debug",
    "show_validation",
    "watch_api",
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
    "flatlora.bench.design": ("DesignUnreadable",),
    "llm_eval.cache": ("CacheCorruptError",),
    "llm_eval.items": ("ItemSchemaError",),
    "tasks.remote": ("RunPlacementError",),
    "flows.worker": ("PoolTypeError",),
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
    """A command decorator: known failures print ``error: <message>`` on one line and exit 2, data that
    failed validation prints its report and exits 1; the traceback only under ``--debug``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from flatlora.bench.checks import ValidationFailed  # when a command runs: --help stays light

        try:
            return fn(*args, **kwargs)
        except ValidationFailed as exc:  # data that failed its checks: the report, not a traceback
            if debug_enabled():
                raise
            typer.echo(exc.report.render(), err=True)
            raise typer.Exit(1) from None
        except _known_errors() as exc:
            if debug_enabled():
                raise
            typer.echo(f"error: {_one_line(exc)}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def lost_api_url(timeout: float = 3.0) -> str | None:
    """The configured Prefect API URL if it no longer answers ``/health``; None if it answers or none is
    configured (an ephemeral server lives and dies with this process)."""
    url = _api_url()
    if not url:
        return None
    import httpx

    try:
        httpx.get(url.rstrip("/") + "/health", timeout=timeout).raise_for_status()
    except httpx.HTTPError:
        return url
    return None


@contextlib.contextmanager
def exit_at_once_if_api_lost(kept: str) -> Iterator[None]:
    """A flow that fails because the Prefect API went away (server killed, network gone) ends with one
    line and exit code 3, at once: Prefect would otherwise spend minutes at exit retrying events and logs
    that can no longer be delivered. ``kept`` says where the finished work is. Any other failure, or any
    failure under ``--debug``, propagates unchanged. While inside, ``watch_api`` notices a server that
    went away within a minute, instead of when the grid's local work is done; SIGTERM and SIGHUP say
    ``kept`` too."""
    set_kept(f"{kept} Rerun the same command to resume.")
    try:
        with watch_api(kept):
            yield
    except Exception as exc:
        url = None if debug_enabled() else lost_api_url()
        if url is None:
            raise
        typer.echo(
            f"error: the Prefect API at {url} stopped answering during the run ({_one_line(exc)[:200]}). "
            f"{kept} The flow run stays RUNNING on that server until the next command into the same "
            "folder marks it Crashed; start the server again and rerun the command to resume.",
            err=True,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(3)  # skip Prefect's exit-time retries of undeliverable events and logs


# ---------------------------------------------------------------- a lost API


def _api_url() -> str | None:
    """The Prefect API the command talks to, if one is configured (else the embedded one is used)."""
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value()
    return url or None


@contextlib.contextmanager
def watch_api(kept: str, interval_s: float = 10.0) -> Iterator[None]:
    """While inside, ask the configured Prefect API's ``/health`` every ``interval_s``; when it refuses
    connections 3 times in a row (a killed server: noticed 20 to 30 s after it went) or answers nothing
    6 times in a row (a hung server or network), end the command with one line and exit code 3, as
    ``exit_at_once_if_api_lost`` does at the end. Without a configured API (the embedded one) it does
    nothing: that server lives and dies with this process."""
    url = None if debug_enabled() else _api_url()
    if url is None:
        yield
        return
    import httpx

    done = threading.Event()

    def watch() -> None:
        refused = silent = 0
        while not done.wait(interval_s):
            try:
                httpx.get(url.rstrip("/") + "/health", timeout=min(interval_s, 10.0)).raise_for_status()
                refused = silent = 0
            except httpx.ConnectError:
                refused += 1
            except httpx.HTTPError:
                silent += 1
            if refused >= 3 or silent >= 6:
                how = (
                    f"refuses connections ({refused} health checks in a row"
                    if refused >= 3
                    else f"has not answered ({silent} health checks in a row"
                )
                end_now(
                    3,
                    f"error: the Prefect API at {url} {how}, {interval_s:g} s apart). {kept} The flow run "
                    "stays RUNNING on that server until the next command into the same folder marks it "
                    "Crashed; start the server again and rerun the command to resume.",
                )

    t = threading.Thread(target=watch, name="prefect-api-watch", daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename and type(exc) is not OSError and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"  # e.g. "Permission denied: runs/x/report.md"
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror and type(exc) is not OSError:
        return " ".join(exc.strerror.split())  # the message without its "[Errno 30]"
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
    """Every ``--set key=value`` names a RunConfig field (the value's type is checked by ``parse_set``).

    An unknown key is answered in one line with the closest fields, and the Trainer's names
    (``learning_rate``, ``num_train_epochs``, ...) with flatbench's (``lr``, ``epochs``)."""
    from dataclasses import fields

    from flatlora.bench.config import RunConfig, unknown_field_message

    known = {f.name for f in fields(RunConfig)}
    for pair in pairs or []:
        if "=" not in pair:
            raise typer.BadParameter(f"--set expects key=value, got {pair!r}")
        key = pair.split("=", 1)[0].strip()
        if key not in known:
            msg = unknown_field_message(key).replace("unknown config field", "unknown --set key")
            raise typer.BadParameter(msg.replace("`", "'"))


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


def auto_max_len_override(
    value: str | None,
    profile: str,
    datasets: list[str],
    data_opts: dict[str, object],
    data_dir: object = None,
    model: str = "minilm",
) -> dict[str, object]:
    """``--max-len N`` -> {max_len: N}; ``--max-len auto`` -> max_len from the data's token lengths (the
    99th percentile of the training split, capped per profile), with ``max_len_source`` saying how; the
    choice is printed. Validation runs first, so bad data fails here with its own message."""
    if value is None:
        return {}
    if value.strip().lower() != "auto":
        try:
            n = int(value)
        except ValueError as err:
            raise typer.BadParameter(f"--max-len must be an integer or 'auto', got {value!r}") from err
        if n < 1:
            raise typer.BadParameter(f"--max-len must be >= 1, got {n}")
        return {"max_len": n}
    if len(datasets) != 1:
        raise typer.BadParameter("--max-len auto needs exactly one --dataset (it is chosen from that data)")
    from flatlora.bench.config import AUTO_MAX_LEN_CAP
    from flatlora.bench.lengths import choose_max_len
    from flatlora.bench.validation import ValidationFailed, validate_dataset

    try:
        _, splits = validate_dataset(datasets[0], data_dir=data_dir, **data_opts)  # type: ignore[arg-type]
    except ValidationFailed as exc:
        typer.echo(exc.report.render(), err=True)
        raise typer.Exit(code=1) from exc
    assert splits is not None
    pairs = list(splits.train["text_pair"]) if "text_pair" in splits.train.columns else None
    n, why = choose_max_len(list(splits.train["text"]), pairs, model, AUTO_MAX_LEN_CAP[profile], profile)
    typer.echo(f"max_len {n}: {why}", err=True)
    return {"max_len": n, "max_len_source": why}


def bars(progress: bool) -> bool:
    """Progress bars only on a terminal: in a redirected log every redraw of a bar would stay behind as a
    carriage-return frame. Each run's result line is printed either way."""
    return progress and sys.stderr.isatty()


def show_validation(dataset: str, data_dir: object, cfg: Any) -> Any:
    """Validate ``dataset`` as ``cfg`` (a RunConfig) reads it, before anything trains, and say on stderr
    what was found: failures (then exit 1), warnings, the label set with its rows, the split sizes, and
    the rows the profile's caps leave out. Returns the ValidationReport."""
    import shutil

    from flatlora.bench.config import caps_note
    from flatlora.bench.validation import validate_dataset

    report, _ = validate_dataset(dataset, data_dir=data_dir, raise_on_failure=False, **cfg.data_options())
    width = min(shutil.get_terminal_size((80, 24)).columns, 100)
    typer.echo(report.render(width=width, verbose_hint=False), err=True)
    if not report.success:
        raise typer.Exit(code=1)
    note = caps_note(cfg, report.split_sizes)
    if note:
        import textwrap

        text = textwrap.fill(f"note  {note}", width, subsequent_indent=" " * 6, break_long_words=False)
        typer.echo(text, err=True)
    return report


def check_model_value(overrides: dict[str, object]) -> None:
    """A ``--set model=PATH`` that is no checkpoint folder, in one line before anything runs."""
    from flatlora.bench.models import check_model

    try:
        check_model(str(overrides.get("model") or "minilm"))
    except ValueError as err:
        raise typer.BadParameter(str(err).replace("`", "'")) from err


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
