"""Unclear failures made clear: one line naming what failed, where and what to do; tracebacks only
under ``--debug``. Run through the real entry point (``python -m flows.cli``), as a user would."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.flows.conftest import REPO
from tests.llm_eval.conftest import FAKE_KEY


def flatbench(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), "ANTHROPIC_API_KEY": FAKE_KEY, **env}
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exit code 2 and said why in exactly one line, without a traceback."""
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    return lines[0]


OUT_COMMANDS = [
    ["benchmark", "--profile", "smoke"],
    ["llm-eval", "smoke"],
    ["train", "--profile", "smoke"],
    ["sweep", "--method", "lora"],
    ["study"],
]


@pytest.mark.parametrize("command", OUT_COMMANDS, ids=lambda c: c[0])
def test_out_naming_an_existing_file(tmp_path: Path, command: list[str]) -> None:
    file = tmp_path / "results.txt"
    file.write_text("keep me")
    msg = one_line_error(flatbench(*command, "--out", str(file)))
    assert msg == f"error: --out {file} is an existing file, not a folder: give a folder path"
    inside = one_line_error(flatbench(*command, "--out", str(file / "run")))
    assert f"is inside {file}, an existing file" in inside
    assert file.read_text() == "keep me"


def _filled_cache(path: Path, n: int = 400) -> None:
    from llm_eval.cache import ResponseCache
    from llm_eval.types import Response

    with ResponseCache(path) as c:
        for i in range(n):
            c.put(f"k{i}", "anthropic", "m", Response(text="answer " * 50 + str(i)))
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _garbage_header(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _malformed_pages(path: Path) -> None:
    _filled_cache(path)
    raw = bytearray(path.read_bytes())
    page = int.from_bytes(raw[16:18], "big")
    for p in range(1, len(raw) // page):  # keep the header page, scribble over the table's pages
        raw[p * page : p * page + 64] = b"\xff" * 64
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", [_garbage_header, _malformed_pages], ids=["not-a-database", "malformed"])
def test_a_corrupted_cache_is_named_with_the_ways_out(tmp_path: Path, damage: Any) -> None:
    from llm_eval.cache import CacheCorruptError, ResponseCache

    cache = tmp_path / "llm_cache.sqlite"
    damage(cache)
    with pytest.raises(CacheCorruptError, match="--no-cache, or move the file away") as err:
        ResponseCache(cache)
    assert str(cache) in str(err.value)


def test_cli_corrupted_cache_is_one_line(tmp_path: Path) -> None:
    cache = tmp_path / "llm_cache.sqlite"
    _malformed_pages(cache)
    args = [
        "llm-eval",
        "smoke",
        "--provider",
        "anthropic",
        "--base-url",
        "http://127.0.0.1:9",
        "--limit",
        "1",
    ]
    msg = one_line_error(flatbench(*args, "--out", str(tmp_path / "o"), FLATBENCH_LLM_CACHE=str(cache)))
    assert f"the response cache {cache} is corrupted" in msg and "--no-cache" in msg
    debug = flatbench("--debug", *args, "--out", str(tmp_path / "o"), FLATBENCH_LLM_CACHE=str(cache))
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "CacheCorruptError" in debug.stderr


def test_invalid_utf8_in_an_item_file_names_file_and_line(tmp_path: Path) -> None:
    items = tmp_path / "items"
    items.mkdir()
    rows = [
        json.loads(ln) for ln in (REPO / "datasets" / "llm_eval" / "noisy.jsonl").read_text().splitlines()[:4]
    ]
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in rows]
    lines[2] = lines[2].replace(b"capital", b"capit\xe9l")  # Latin-1 bytes in a UTF-8 file
    (items / "noisy.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    res = flatbench(
        "llm-eval", "noisy", "--provider", "anthropic", "--base-url", "http://127.0.0.1:9", "--dry-run",
        "--out", str(tmp_path / "o"), FLATBENCH_LLM_ITEMS_DIR=str(items),
    )  # fmt: skip
    msg = one_line_error(res)
    assert f"{items / 'noisy.jsonl'}:3: invalid UTF-8 (byte 0xe9" in msg


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"name": "v2", "pilot', "(Unterminated string starting at: line 1 column 16 (char 15))"),
        ('{"pilot_seeds": 20}', "(missing field `name`)"),
        ('{"name": "v2", "alpha": "0.05"}', "(`alpha` must be float, got '0.05')"),
    ],
    ids=["invalid-json", "missing-field", "wrong-type"],
)
@pytest.mark.parametrize("command", ["study", "report"])
def test_a_damaged_design_file_is_one_line(tmp_path: Path, text: str, problem: str, command: str) -> None:
    import shutil

    run = tmp_path / "study"
    shutil.copytree(REPO / "tests" / "reports" / "fixtures" / "study_v2_small", run)
    (run / "design.json").write_text(text, encoding="utf-8")
    args = ["study", "--write-plan", "--out", str(run)] if command == "study" else ["report", str(run)]
    msg = one_line_error(flatbench(*args))
    assert msg == (
        f"error: {run / 'design.json'} is not a readable study design {problem}: restore it from git "
        f"(`git checkout -- {run / 'design.json'}`) or a backup, or start a new study with another --out"
    )
    assert (run / "design.json").read_text(encoding="utf-8") == text


@pytest.mark.slow  # the benchmark command imports torch before it can check the run dir: ~30 s under load
def test_unwritable_out_is_one_line_before_any_server_starts(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "records").write_text("")  # a file where the records folder goes
    msg = one_line_error(flatbench("benchmark", "--profile", "smoke", "--out", str(tmp_path / "run")))
    assert f"{tmp_path / 'run' / 'records'} is not writable" in msg


# (command, --out given?): a read-only folder where the command writes, named in one line
READ_ONLY = [
    (["train", "--profile", "smoke", "--method", "lora"], True),
    (["train", "--profile", "smoke", "--method", "lora"], False),  # the default: runs/ in the cwd
    (["sweep", "--profile", "smoke", "--method", "lora", "--lrs", "1e-3"], True),
    (["study", "--profile", "smoke"], True),
    (["benchmark", "--profile", "smoke", "--method", "lora", "--seeds", "1"], False),
]


@pytest.mark.slow  # each command imports torch before it reaches the folder: ~20-30 s under load
@pytest.mark.parametrize(("command", "with_out"), READ_ONLY, ids=lambda v: str(v))
def test_a_read_only_folder_is_one_line(tmp_path: Path, command: list[str], with_out: bool) -> None:
    from tests.faults.conftest import readonly_dir

    folder = tmp_path / ("out" if with_out else "runs")
    folder.mkdir()
    args = [*command, "--out", str(folder)] if with_out else command
    with readonly_dir(folder):
        res = flatbench(*args, cwd=tmp_path)
    msg = one_line_error(res)
    assert msg.startswith("error: ") and " is not writable (" in msg and "--out" in msg, msg
    assert f"{folder.name}/" in msg or msg.startswith(f"error: {folder} is not writable"), msg
