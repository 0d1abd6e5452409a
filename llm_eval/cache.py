"""Response cache: SQLite in WAL mode behind one dedicated thread.

HELM's users hit "database is locked" because many threads wrote through many connections.
Here exactly one connection exists, owned by a single worker thread; every get/put is queued to
it, so SQLite never sees concurrent writers from this process. WAL + busy_timeout cover a second
process on the same file. Only successful responses are stored (errors are never cached).

Two processes that need the same answer pay for it once: a run claims a request in the ``claims`` table
just before sending it (one row per request key, naming the process). Another run that finds the claim
waits for the answer instead of sending the request too. A claim ends when its answer is stored or its
request failed, and is taken over when its process is gone (same host) or it is older than
``CLAIM_TTL_S`` (another host, whose processes cannot be seen from here).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from llm_eval.types import Request, Response, canonical_json

__all__ = [
    "CLAIM_TTL_S",
    "CacheCorruptError",
    "ResponseCache",
    "cache_key",
    "default_cache_path",
    "request_identity",
    "request_key",
]


class CacheCorruptError(RuntimeError):
    """The cache file is not a readable SQLite database; the message names it and the ways out."""

    def __init__(self, path: Path, cause: BaseException) -> None:
        super().__init__(
            f"the response cache {path} is corrupted ({cause}): run with --no-cache, or move the file "
            "away (it is rebuilt on the next run; answers already in responses.jsonl are kept)"
        )
        self.path = path


def default_cache_path() -> Path:
    """FLATBENCH_LLM_CACHE (a file), else FLATBENCH_CACHE_DIR/llm_cache.sqlite, else ~/.cache/flatbench."""
    if os.environ.get("FLATBENCH_LLM_CACHE"):
        return Path(os.environ["FLATBENCH_LLM_CACHE"])
    root = os.environ.get("FLATBENCH_CACHE_DIR") or str(Path.home() / ".cache" / "flatbench")
    return Path(root) / "llm_cache.sqlite"


def cache_key(provider: str, model: str, request: Request, extra: dict[str, Any] | None = None) -> str:
    """sha256 of canonical JSON of provider + model + params + system + messages (+ provider extras,
    e.g. the local model's seed and token cap, which change the answer).

    Used for providers that cannot describe what they send (no ``request_identity``)."""
    payload = {
        "provider": provider,
        "model": model,
        "params": request.params,
        "system": request.system,
        "messages": request.messages,
        "extra": extra or {},
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def request_identity(provider: Any, request: Request) -> dict[str, Any]:
    """Everything that decides the answer to ``request`` from ``provider``.

    A provider that knows its wire format implements ``request_identity(request)`` and returns the
    endpoint, API version, model and the exact body it sends (so a parameter it does not send, such
    as an unsent temperature, is not part of it, and one it does send is). Otherwise: provider name,
    model, the request's params, system, messages and the provider's ``cache_extra``.
    """
    ident = getattr(provider, "request_identity", None)
    if callable(ident):
        return {"provider": provider.name, **ident(request)}
    return {
        "provider": provider.name,
        "model": provider.model,
        "params": request.params,
        "system": request.system,
        "messages": request.messages,
        "extra": dict(getattr(provider, "cache_extra", None) or {}),
    }


def request_key(provider: Any, request: Request) -> str:
    """The cache key and the record's ``request_hash``: sha256 of the canonical request identity."""
    return hashlib.sha256(canonical_json(request_identity(provider, request)).encode()).hexdigest()


T = TypeVar("T")
CLAIM_TTL_S = 900.0  # a claim of another host is taken over after this long

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""
_CLAIMS = """
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    since REAL NOT NULL
)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


class ResponseCache:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One thread, one connection: all SQLite access is serialized here.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-cache")
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._closed = False
        self.host = socket.gethostname()
        self.owner = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        try:
            self._submit(self._check).result()
        except BaseException:
            self.close()
            raise

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute(_SCHEMA)
            conn.execute(_CLAIMS)
            self._local.conn = conn
            self._conns.append(conn)
        return conn

    # -- blocking operations, only ever run on the worker thread --------------------------------
    def _check(self) -> None:
        """Open the file and read its table once, so a damaged file is reported before any request."""
        self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()

    def _get(self, key: str) -> Response | None:
        row = self._conn().execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return Response.from_dict(json.loads(row[0])) if row else None

    def _put(self, key: str, provider: str, model: str, response: Response) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT OR REPLACE INTO responses (key, provider, model, response, created_at) VALUES (?, ?, ?, ?, ?)",
                (key, provider, model, canonical_json(response.to_dict()), time.time()),
            )
            conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _holder_row(self, key: str) -> tuple[str, str, int, float] | None:
        row = (
            self._conn()
            .execute("SELECT owner, host, pid, since FROM claims WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else (str(row[0]), str(row[1]), int(row[2]), float(row[3]))

    def _live(self, row: tuple[str, str, int, float] | None) -> str | None:
        """Who holds a claim row, if it still stands (not this cache's own, its process not gone)."""
        if row is None or row[0] == self.owner:
            return None
        _, host, pid, since = row
        if host == self.host:
            return f"pid {pid} on {host}" if _alive(pid) else None
        return f"pid {pid} on {host}" if time.time() - since < CLAIM_TTL_S else None

    def _claim(self, key: str) -> str | None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")  # one claimant at a time, across processes
        try:
            holder = self._live(self._holder_row(key))
            if holder is None:
                conn.execute(
                    "INSERT OR REPLACE INTO claims (key, owner, host, pid, since) VALUES (?, ?, ?, ?, ?)",
                    (key, self.owner, self.host, os.getpid(), time.time()),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return holder

    def _holder(self, key: str) -> str | None:
        return self._live(self._holder_row(key))

    def _release(self, key: str | None) -> None:
        if key is None:
            self._conn().execute("DELETE FROM claims WHERE owner = ?", (self.owner,))
        else:
            self._conn().execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner))

    def _get_many(self, keys: list[str]) -> dict[str, Response]:
        out: dict[str, Response] = {}
        conn = self._conn()
        for i in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
            chunk = keys[i : i + 500]
            q = f"SELECT key, response FROM responses WHERE key IN ({','.join('?' * len(chunk))})"
            for key, raw in conn.execute(q, chunk):
                out[key] = Response.from_dict(json.loads(raw))
        return out

    def _count(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def _submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn`` on the cache thread; a damaged file surfaces as CacheCorruptError naming it."""

        def call() -> T:
            try:
                return fn(*args)
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                    raise
                raise CacheCorruptError(self.path, exc) from exc

        return self._pool.submit(call)

    # -- public API ------------------------------------------------------------------------------
    def get(self, key: str) -> Response | None:
        return self._submit(self._get, key).result()

    def put(self, key: str, provider: str, model: str, response: Response) -> None:
        self._submit(self._put, key, provider, model, response).result()

    def get_many(self, keys: list[str]) -> dict[str, Response]:
        return self._submit(self._get_many, keys).result()

    def put_nowait(self, key: str, provider: str, model: str, response: Response) -> Future[None]:
        """Queue a write on the cache thread without waiting (the runner gathers these at the end)."""
        return self._submit(self._put, key, provider, model, response)

    def __len__(self) -> int:
        return self._submit(self._count).result()

    async def aget(self, key: str) -> Response | None:
        return await asyncio.wrap_future(self._submit(self._get, key))

    async def aget_many(self, keys: list[str]) -> dict[str, Response]:
        return await asyncio.wrap_future(self._submit(self._get_many, keys))

    async def aput(self, key: str, provider: str, model: str, response: Response) -> None:
        await asyncio.wrap_future(self._submit(self._put, key, provider, model, response))

    # -- claims: one process sends a request that several need -----------------------------------
    def claim(self, key: str) -> str | None:
        """Claim ``key`` for this cache's process: None when it is now this process's to send, else who
        holds it (``pid N on HOST``) while that process is alive (or, on another host, recent)."""
        return self._submit(self._claim, key).result()

    def holder(self, key: str) -> str | None:
        """Who else holds ``key``'s claim now (None: nobody, or only this process)."""
        return self._submit(self._holder, key).result()

    def release(self, key: str) -> None:
        """End this process's claim of ``key`` (its request failed or stopped; an answer ends it too)."""
        self._submit(self._release, key).result()

    async def aclaim(self, key: str) -> str | None:
        return await asyncio.wrap_future(self._submit(self._claim, key))

    async def aholder(self, key: str) -> str | None:
        return await asyncio.wrap_future(self._submit(self._holder, key))

    async def arelease(self, key: str) -> None:
        await asyncio.wrap_future(self._submit(self._release, key))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def _close_all() -> None:
            with contextlib.suppress(sqlite3.Error):  # claims left by a run stopped mid-request
                self._release(None)
            for c in self._conns:
                c.close()

        self._pool.submit(_close_all).result()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
