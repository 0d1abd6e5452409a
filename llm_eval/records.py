"""responses.jsonl: reading (resume), compaction and the single append-only writer.

Invariants: at most one line per sample id after a run (a retried error line is superseded and
compacted away at the next start; a superseded answer is kept in responses.superseded.jsonl), every line is flushed and fsynced by one writer thread, and
a torn last line from a killed run is dropped on load (that sample simply runs again).
"""

from __future__ import annotations

import json
import os
import queue
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flatlora.bench.atomic import atomic_write_text
from llm_eval.types import Record, valid_text

__all__ = [
    "RESPONSES_FILE",
    "SUPERSEDED_FILE",
    "JsonlWriter",
    "load_records",
    "sanitize",
    "write_records_atomic",
    "write_run_stats",
]

RESPONSES_FILE = "responses.jsonl"
SUPERSEDED_FILE = "responses.superseded.jsonl"

# Anthropic-style keys, and anything in an auth header, are masked even if we were not told the key.
_KEY_PATTERNS = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(authorization|x-api-key)(['\"]?\s*[:=]\s*['\"]?)(bearer\s+)?[^\s'\",}]+"),
]


def sanitize(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove secrets from a string that may be recorded or printed (error messages, logs), and make
    it valid text (a server's message may carry a lone surrogate that no terminal or file can take)."""
    text = valid_text(text)
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    text = _KEY_PATTERNS[0].sub("***", text)
    return _KEY_PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


def _read_lines(path: Path) -> tuple[list[Record], bool]:
    """Parse records; returns (records, dirty) where dirty means a torn/invalid line was seen."""
    records: list[Record] = []
    dirty = False
    if not path.exists():
        return records, dirty
    with path.open("r", encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                dirty = True  # torn write from a killed run
                continue
            if not line.strip():
                continue
            try:
                records.append(Record.from_dict(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                dirty = True
    return records, dirty


def load_records(path: str | Path) -> list[Record]:
    """Final record per sample id (a later line supersedes an earlier one), in first-seen order."""
    p = Path(path)
    if p.is_dir():
        p = p / RESPONSES_FILE
    records, _ = _read_lines(p)
    return _latest(records)


def _latest(records: list[Record]) -> list[Record]:
    latest: dict[str, Record] = {}
    for r in records:
        prev = latest.get(r.sample_id)
        # an answered record is never replaced by a later error for the same request; a record for
        # a different request (an edited prompt, another endpoint) supersedes it either way
        same_request = prev is not None and prev.request_hash == r.request_hash
        if prev is None or not (prev.ok and not r.ok and same_request):
            latest[r.sample_id] = r
    return list(latest.values())


def write_records_atomic(path: Path, records: Iterable[Record]) -> None:
    atomic_write_text(path, "".join(r.to_json() + "\n" for r in records))


def write_run_stats(out_dir: Path, this_run: dict[str, Any], totals: dict[str, Any]) -> None:
    """DIR/run_stats.json: this run's counters (resume mismatches, unknown costs) and the totals of the
    folder's records; the CLI and the llm-robustness flow write the same file."""
    body = {"this_run": this_run, "totals": totals}
    atomic_write_text(out_dir / "run_stats.json", json.dumps(body, indent=2, ensure_ascii=False) + "\n")


def prepare_resume(path: Path) -> list[Record]:
    """Load the final records and, if the file has superseded/torn lines, rewrite it compacted.

    An answer superseded by a record for a different request (an edited prompt re-run) is paid
    for: it is appended to ``responses.superseded.jsonl`` beside the file before compaction."""
    raw, dirty = _read_lines(path)
    final = _latest(raw)
    if dirty or len(raw) != len(final):
        kept = {id(r) for r in final}
        dropped = [r for r in raw if r.ok and id(r) not in kept]
        if dropped:
            with (path.parent / SUPERSEDED_FILE).open("a", encoding="utf-8") as fh:
                fh.write("".join(r.to_json() + "\n" for r in dropped))
                fh.flush()
                os.fsync(fh.fileno())
        write_records_atomic(path, final)
    return final


class JsonlWriter:
    """One writer thread appends queued records; each batch of lines is flushed and fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._q: queue.SimpleQueue[Record | None] = queue.SimpleQueue()
        self._fh = path.open("a", encoding="utf-8", buffering=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="responses-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        done = False
        while not done:
            item = self._q.get()
            batch = [item]
            while True:  # drain whatever is queued: group commit, one fsync
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            try:
                for r in batch:
                    if r is None:
                        done = True
                        continue
                    self._fh.write(r.to_json() + "\n")
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except BaseException as exc:  # surfaced by close()
                self._error = exc
                return

    def write(self, record: Record) -> None:
        if self._error is not None:
            raise RuntimeError(f"responses writer failed: {self._error}")
        self._q.put(record)

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()
        self._fh.close()
        if self._error is not None:
            raise RuntimeError(f"responses writer failed: {self._error}")
