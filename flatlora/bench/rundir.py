"""A run dir's records are the truth: what may be reused, what is moved aside, who may train a run.

- A record is reused only if it parses, is complete, finished ``ok`` (or a caller accepts its failure),
  carries the run's config hash and was trained on the data as it is now (its ``dataset_info.checksum``
  is the checksum of the dataset's file today: see ``DataCheck``). A file that is there but unreadable,
  truncated, incomplete or of another config is moved to ``records/.corrupt/`` (never deleted) and named
  in the log; the run trains again. A record of other data stays where it is until its run trains again,
  then moves to ``records/.stale/``: a file edited back finds its records reusable again.
- Failures a retry cannot fix (no permission, read-only filesystem, full disk) are told apart from
  transient ones, and the run dir is checked for writability before anything is trained.
- A computed record that cannot be written where it belongs goes to a fallback folder, and the error
  says where; the next reuse check of that run copies it back into place.
- One trainer per run: a lock file per run id (``records/.locks/<run id>.lock``) held with ``flock``,
  so a second command waits for the first and then reuses its record. The record is checked again
  after the lock is taken, whether or not the command had to wait: the first command may have finished
  between the check and the lock. The kernel drops the lock when its process dies, so a lock left by a
  killed process is taken over.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flatlora.bench.data import DataError, load_labeled
from flatlora.bench.gen_data import is_generation, load_generation
from flatlora.bench.records import atomic_write_json, record_path

if TYPE_CHECKING:
    from flatlora.bench.config import RunConfig

__all__ = [
    "CORRUPT_DIR",
    "FALLBACK_ENV",
    "LOCK_DIR",
    "STALE_DIR",
    "DataCheck",
    "NotWritable",
    "RecordNotWritten",
    "check_record",
    "check_writable",
    "data_checksum",
    "ensure_writable",
    "fallback_path",
    "is_permanent",
    "other_configs",
    "quarantine",
    "reusable_record",
    "run_lock",
    "train_or_reuse",
    "write_record",
]

CORRUPT_DIR = ".corrupt"
STALE_DIR = ".stale"  # records trained on an earlier version of their data file
LOCK_DIR = ".locks"
FALLBACK_ENV = "FLATBENCH_FALLBACK_DIR"
# errors of the filesystem that the same call will meet again: retrying only repeats the work
PERMANENT_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR, errno.EISDIR}
)
# what the report reads from a finished run (provenance, flatness and model_info are shown when present)
REQUIRED_OK = (
    "run_id", "dataset", "method", "seed", "config", "config_hash", "dataset_info", "train_loss",
    "val_history", "best_epoch", "test", "predictions", "cost",
)  # fmt: skip
Log = Callable[[str], None]
Accept = Callable[[Mapping[str, Any]], bool]


class NotWritable(OSError):
    """The run dir (or its ``records/``) cannot be written: checked before any training."""


class RecordNotWritten(OSError):
    """A computed record could not be written where it belongs; ``fallback`` is where it was saved."""

    def __init__(self, path: Path, fallback: Path | None, cause: OSError) -> None:
        where = f"the record was saved to {fallback}" if fallback else "no fallback folder was writable"
        super().__init__(
            cause.errno,
            f"could not write the record {path} ({cause.strerror or cause}); {where}; fix the run dir "
            f"and rerun: the saved record is copied back instead of training again",
        )
        self.path, self.fallback, self.cause = path, fallback, cause

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries (runs in their own process)
        return (type(self), (self.path, self.fallback, self.cause))


def is_permanent(exc: BaseException) -> bool:
    """No permission, a read-only filesystem, a full disk, a path through a file: retrying cannot help."""
    if isinstance(exc, NotWritable | RecordNotWritten | PermissionError):
        return True
    return isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS


def _say(log: Log | None, msg: str) -> None:
    (log or (lambda m: None))(msg)


# ---------------------------------------------------------------- reading and moving records aside


def _ok_shape(rec: Mapping[str, Any]) -> str | None:
    """What an `ok` record lacks for the report to use it (None: nothing)."""
    missing = [k for k in REQUIRED_OK if k not in rec]
    if missing:
        return f"missing key(s) {', '.join(missing)}"
    for key, kind in (("test", dict), ("dataset_info", dict), ("val_history", list), ("config", dict)):
        if not isinstance(rec[key], kind):
            return f"`{key}` is {type(rec[key]).__name__}, not {kind.__name__}"
    return None


def check_record(path: Path, chash: str) -> tuple[dict[str, Any] | None, str | None]:
    """(record, problem). ``problem`` None: the file is missing, or it is a complete record of this
    config (its status may be ``failed``). Otherwise the record is None and ``problem`` says why."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"unreadable ({exc.strerror or exc})"
    try:
        rec = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte {exc.start})"
    except ValueError as exc:
        return None, f"not valid JSON ({exc})"
    if not isinstance(rec, dict):
        return None, f"not a JSON object ({type(rec).__name__})"
    if rec.get("config_hash") != chash:
        return None, f"config hash {rec.get('config_hash')!r} is not this run's {chash!r}"
    if rec.get("status") == "ok" and (why := _ok_shape(rec)):
        return None, why
    if rec.get("status") not in ("ok", "failed"):
        return None, f"unknown status {rec.get('status')!r}"
    return rec, None


def quarantine(path: Path, folder: str = CORRUPT_DIR) -> Path:
    """Move a record to ``<records>/<folder>/`` (``.corrupt`` by default; a numbered name if one is
    already there)."""
    dest_dir = path.parent / folder
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / path.name
    n = 1
    while dest.exists():
        dest = dest_dir / f"{path.stem}.{n}{path.suffix}"
        n += 1
    os.replace(path, dest)
    return dest


def reusable_record(
    path: Path,
    chash: str,
    *,
    accept_failed: Accept | None = None,
    log: Log | None = None,
    data: DataCheck | None = None,
) -> dict[str, Any] | None:
    """The record at ``path`` if it may stand for this run: ``ok`` (or a failure ``accept_failed``
    accepts), of this config and, given ``data``, of the data as it is now. A bad file is moved aside
    and named; a record of other data is left in place (``data`` counts it); a record saved to the
    fallback folder because ``path`` could not be written is copied back first."""
    rec, problem = check_record(path, chash)
    if rec is None and problem is None:
        rec = _restore_fallback(path, chash, log)
    if problem is not None:
        try:
            moved: Path | str = quarantine(path)
        except OSError as exc:
            moved = f"(could not be moved: {exc.strerror or exc})"
        _say(log, f"record {path} cannot be used ({problem}): moved to {moved}; the run trains again")
        return None
    if rec is None:
        return None
    if data is not None and data.other_data(rec, path) is not None:
        return None
    if rec.get("status") == "ok" or (accept_failed is not None and accept_failed(rec)):
        return rec
    return None


def other_configs(cfgs: Sequence[RunConfig], out_dir: str | os.PathLike[str]) -> list[str]:
    """One line per run of ``cfgs`` that ``out_dir``/records already holds under another config (same
    dataset, method and seed; a learning rate alone aside, which `flatbench report --lr` chooses between),
    naming the record and what differs. A report pools one config per run, so such a grid would train
    and then refuse to be reported."""
    records = Path(out_dir) / "records"
    out: list[str] = []
    for cfg in cfgs:
        mine, new = cfg.config_hash(), cfg.to_dict()
        for path in sorted(records.glob(f"{cfg.dataset_slug()}__{cfg.method}__s{cfg.seed}__*.json")):
            try:
                rec = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # an unreadable record is skipped by the report, and named there
            if not isinstance(rec, dict) or rec.get("config_hash") in (None, mine):
                continue
            cfg_old = rec.get("config")
            old: dict[str, Any] = cfg_old if isinstance(cfg_old, dict) else {}
            diff = [
                k
                for k in sorted(set(old) | set(new))
                if k not in ("num_threads", "max_len_source") and _canon(old.get(k)) != _canon(new.get(k))
            ]
            if diff == ["lr"]:
                continue
            said = "; ".join(f"{k} {old.get(k)!r} there, {new.get(k)!r} now" for k in diff[:3]) or (
                "its config hash"
            )
            more = f" and {len(diff) - 3} more" if len(diff) > 3 else ""
            out.append(
                f"{cfg.dataset_slug()}/{cfg.method}/seed {cfg.seed}: records/{path.name} ({said}{more})"
            )
    return out


def _canon(v: Any) -> Any:
    """A config value as JSON gives it back (tuples are lists), for comparing a record's with a config's."""
    return json.loads(json.dumps(v, default=str))


# ---------------------------------------------------------------- data identity


def data_checksum(config: Mapping[str, Any], data_dir: str | os.PathLike[str] | None = None) -> str | None:
    """The checksum a run of ``config`` (a RunConfig's ``to_dict()`` or a record's ``config``) would
    record for its data if it trained now: sha256 of the dataset's file, as the runner computes it.
    None when the data cannot be read now (training would then stop at validation and say why)."""
    dataset = str(config.get("dataset") or "")
    card = config.get("card")
    try:
        if is_generation(dataset, card):
            gen = load_generation(dataset, data_dir, config.get("text_col"), config.get("label_col"), card)
            return gen.checksum
        return load_labeled(
            dataset,
            data_dir=data_dir,
            text_col=str(config.get("text_col") or "text"),
            label_col=str(config.get("label_col") or "label"),
            card=card,
            text_pair_col=config.get("text_pair_col"),
            delimiter=config.get("delimiter"),
        ).checksum
    except (DataError, OSError, ValueError):
        return None


_DATA_FIELDS = ("dataset", "text_col", "label_col", "text_pair_col", "delimiter", "card")


class DataCheck:
    """Which records were trained on the data as it is now.

    Each dataset's file is read once per check, the first time one of its records is looked at, so a
    command that checks a whole grid reads every file once. Records of other data are counted per
    dataset, so a command says once per dataset how many of its runs retrain (``summary``). A record
    whose data was not read from a file (``source`` "memory") or that names no checksum is not judged.
    """

    def __init__(self, data_dir: str | os.PathLike[str] | None = None) -> None:
        self.data_dir = data_dir
        self._now: dict[tuple[str, ...], str | None] = {}
        self.changed: dict[str, dict[str, Any]] = {}  # dataset -> {"old": {checksums}, "now", "runs"}

    def now(self, config: Mapping[str, Any]) -> str | None:
        """The checksum of ``config``'s data as it is now (None: it cannot be read)."""
        key = tuple(str(config.get(k)) for k in _DATA_FIELDS)
        if key not in self._now:
            self._now[key] = data_checksum(config, self.data_dir)
        return self._now[key]

    def other_data(self, rec: Mapping[str, Any], path: Path | None = None) -> str | None:
        """The record's data checksum when it differs from its data file as it is now, else None."""
        info = rec.get("dataset_info")
        config = rec.get("config")
        if not isinstance(info, Mapping) or not isinstance(config, Mapping):
            return None
        old = info.get("checksum")
        if not old or info.get("source") == "memory":
            return None
        now = self.now(config)
        if now is None or now == old:
            return None
        entry = self.changed.setdefault(str(rec.get("dataset")), {"old": set(), "now": now, "runs": set()})
        entry["old"].add(str(old))
        entry["runs"].add(str(path or rec.get("run_id")))
        return str(old)

    def at(self, path: Path) -> str | None:
        """``other_data`` of the record file at ``path``, if it is a readable record (nothing moved)."""
        try:
            rec = json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, ValueError):
            return None
        return self.other_data(rec, path) if isinstance(rec, dict) else None

    def summary(self) -> list[str]:
        """One line per dataset whose file changed since some of its records were trained."""
        lines = []
        for name, e in sorted(self.changed.items()):
            n = len(e["runs"])
            old = ", ".join(sorted(c[:12] for c in e["old"]))
            lines.append(
                f"{name}: data changed since the records: {n} run{'s' if n != 1 else ''} "
                f"retrain{'' if n != 1 else 's'} (trained on checksum {old}, the file is now "
                f"{e['now'][:12]}; each old record moves to records/{STALE_DIR}/ when its run retrains)"
            )
        return lines


# ---------------------------------------------------------------- writability and fallback writes


def _not_writable(p: Path, exc: OSError) -> NotWritable:
    return NotWritable(
        exc.errno,
        f"{p} is not writable ({exc.strerror or exc}): fix its permissions or free space, "
        "or choose another --out",
    )


def check_writable(folder: str | os.PathLike[str]) -> Path:
    """Probe ``folder`` if it exists, else its nearest existing ancestor, creating nothing; NotWritable
    names the folder. Lets a run fail before validation without leaving folders behind."""
    p = Path(folder)
    probe_dir = p
    while not probe_dir.exists() and probe_dir.parent != probe_dir:
        probe_dir = probe_dir.parent
    try:
        if not probe_dir.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(probe_dir))
        fd, probe = tempfile.mkstemp(dir=probe_dir, prefix=".write-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _not_writable(p, exc) from exc
    return p


def ensure_writable(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` and write (then remove) a probe file in it; NotWritable names the folder."""
    p = Path(folder)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _not_writable(p, exc) from exc
    return check_writable(p)


def _fallback_roots() -> list[Path]:
    env = os.environ.get(FALLBACK_ENV)
    roots = [Path(env)] if env else []
    return [
        *roots,
        Path.home() / ".cache" / "flatbench" / "unsaved",
        Path(tempfile.gettempdir()) / "flatbench-unsaved",
    ]


def fallback_path(path: Path, root: Path | None = None) -> Path:
    """Where the record meant for ``path`` goes when ``path`` cannot be written: one folder per run dir
    (its name + a hash of its absolute path), so runs of different dirs never mix."""
    run_dir = path.resolve().parent.parent
    tag = f"{run_dir.name}-{hashlib.sha256(str(run_dir).encode()).hexdigest()[:8]}"
    return (root or _fallback_roots()[0]) / tag / "records" / path.name


def write_record(path: Path, record: Mapping[str, Any], log: Log | None = None) -> Path:
    """Write atomically to ``path``; if that fails, to the first writable fallback folder, then raise
    RecordNotWritten saying where (a permanent error: the caller must not train again)."""
    try:
        return atomic_write_json(path, record)
    except OSError as exc:
        cause = exc
    for root in _fallback_roots():
        fb = fallback_path(path, root)
        try:
            atomic_write_json(fb, record)
        except OSError:
            continue
        _say(log, f"could not write {path} ({cause.strerror or cause}); the record was saved to {fb}")
        raise RecordNotWritten(path, fb, cause) from cause
    raise RecordNotWritten(path, None, cause) from cause


def _restore_fallback(path: Path, chash: str, log: Log | None) -> dict[str, Any] | None:
    for root in _fallback_roots():
        fb = fallback_path(path, root)
        rec, problem = check_record(fb, chash)
        if rec is None or problem is not None:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fb, path.with_name(path.name + ".restore"))
            os.replace(path.with_name(path.name + ".restore"), path)
        except OSError:
            _say(log, f"record {path} is missing and {fb} holds it, but it cannot be copied back")
            return rec
        fb.unlink(missing_ok=True)
        _say(log, f"record {path} restored from {fb}")
        return rec
    return None


# ---------------------------------------------------------------- one trainer per run


def lock_path(record: Path) -> Path:
    return record.parent / LOCK_DIR / f"{record.stem}.lock"


def _owner(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {data.get('pid')} on {data.get('host')}"
    return "another process"


@contextlib.contextmanager
def run_lock(record: Path, *, log: Log | None = None, wait: bool = True) -> Iterator[bool]:
    """Hold the run's lock; yields True if another process held it first (its record may now exist).

    ``wait=False`` raises BlockingIOError instead of waiting. ``flock`` locks belong to the open file,
    so two threads of one process exclude each other too, and a dead holder's lock is free at once.
    """
    path = lock_path(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise
                if not waited:  # once per caller, however often the lock file is replaced under it
                    _say(log, f"{record.stem} is being trained by {_owner(fd)} ({path}): waiting for it")
                waited = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            # the holder may have removed the file before we got it: lock the file that is there now
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
        except BaseException:
            os.close(fd)
            raise
        break
    try:
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield waited
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def train_or_reuse(
    cfg: RunConfig,
    out_dir: str | os.PathLike[str],
    runner: Callable[..., dict[str, Any]],
    *,
    accept_failed: Accept | None = None,
    log: Log | None = None,
    data: DataCheck | None = None,
    **runner_kw: Any,
) -> tuple[dict[str, Any], str]:
    """(record, source): the run's valid record ("disk"), or a new one ("computed") trained under the
    run's lock after checking that ``records/`` is writable.

    The record is checked again once the lock is held (another command may have trained the run in
    the meantime, whether or not this one had to wait). A record trained on another version of the
    data (``data``, else the data in ``runner_kw["data_dir"]``) is moved to ``records/.stale/`` just
    before the run trains again, so nothing computed is overwritten."""
    path = record_path(cfg, out_dir)
    chash = cfg.config_hash()
    data = data if data is not None else DataCheck(runner_kw.get("data_dir"))
    rec = reusable_record(path, chash, accept_failed=accept_failed, log=log, data=data)
    if rec is not None:
        return rec, "disk"
    ensure_writable(path.parent)
    with run_lock(path, log=log):
        rec = reusable_record(path, chash, accept_failed=accept_failed, log=log, data=data)
        if rec is not None:
            return rec, "disk"
        if path.exists() and data.at(path) is not None:
            quarantine(path, STALE_DIR)
        return runner(cfg, out_dir, **runner_kw), "computed"
