"""Response cache: stable keys, WAL, and no "database is locked" under many concurrent writers."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from llm_eval.cache import ResponseCache, cache_key
from llm_eval.types import Request, Response, Usage

REQ = Request(messages=[{"role": "user", "content": "hi"}], system="be brief", temperature=0.2, max_tokens=16)


def _resp(i: int) -> Response:
    return Response(text=f"answer {i}", usage=Usage(3, i), model="m", cost_usd=0.01 * i)


@pytest.mark.parametrize(
    ("other", "same"),
    [
        (
            Request(
                messages=[{"content": "hi", "role": "user"}],
                system="be brief",
                temperature=0.2,
                max_tokens=16,
            ),
            True,
        ),
        (
            Request(
                messages=[{"role": "user", "content": "hi"}],
                system="be brief",
                temperature=0.0,
                max_tokens=16,
            ),
            False,
        ),
        (
            Request(
                messages=[{"role": "user", "content": "hi"}],
                system="be brief",
                temperature=0.2,
                max_tokens=17,
            ),
            False,
        ),
        (
            Request(
                messages=[{"role": "user", "content": "hi"}], system=None, temperature=0.2, max_tokens=16
            ),
            False,
        ),
        (
            Request(
                messages=[{"role": "user", "content": "hi!"}],
                system="be brief",
                temperature=0.2,
                max_tokens=16,
            ),
            False,
        ),
    ],
)
def test_key_covers_params_system_messages(other: Request, same: bool) -> None:
    assert (cache_key("anthropic", "m", REQ) == cache_key("anthropic", "m", other)) is same


def test_key_covers_provider_model_and_extras() -> None:
    k = cache_key("anthropic", "m", REQ)
    assert len(k) == 64 and int(k, 16) >= 0
    assert k != cache_key("local", "m", REQ)
    assert k != cache_key("anthropic", "m2", REQ)
    assert cache_key("local", "m", REQ, {"seed": 0}) != cache_key("local", "m", REQ, {"seed": 1})


def test_roundtrip_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as c:
        assert c.get("k") is None
        c.put("k", "p", "m", _resp(2))
        assert c.get("k") == _resp(2)
        assert len(c) == 1
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


async def test_many_concurrent_async_writers(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "c.sqlite") as c:
        await asyncio.gather(*(c.aput(f"k{i}", "p", "m", _resp(i)) for i in range(300)))
        got = await asyncio.gather(*(c.aget(f"k{i}") for i in range(300)))
        assert [g.text if g else None for g in got] == [f"answer {i}" for i in range(300)]


def test_many_instances_and_threads_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            with ResponseCache(path) as c:
                for i in range(50):
                    c.put(f"w{w}-{i}", "p", "m", _resp(i))
                    assert c.get(f"w{w}-{i}") is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with ResponseCache(path) as c:
        assert len(c) == 8 * 50


def test_concurrent_processes(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    code = (
        "import sys; from llm_eval.cache import ResponseCache; from llm_eval.types import Response\n"
        "c = ResponseCache(sys.argv[1])\n"
        "for i in range(100): c.put(f'{sys.argv[2]}-{i}', 'p', 'm', Response(text=str(i)))\n"
        "c.close()\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), f"p{j}"]) for j in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    with ResponseCache(path) as c:
        assert len(c) == 300
