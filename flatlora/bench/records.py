"""Run records: atomic JSON writes, ids, provenance. One self-contained file per run."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports.io import atomic_write_text

if TYPE_CHECKING:
    from flatlora.bench.config import RunConfig

SCHEMA_VERSION = 1
RECORD_KEYS = (
    "schema_version", "status", "failure_reason", "run_id", "dataset", "method", "seed", "profile",
    "config", "config_hash", "provenance", "dataset_info", "train_loss", "val_history", "best_epoch",
    "test", "predictions", "cost", "flatness",
)  # fmt: skip


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False) + "\n")


def run_id(cfg: RunConfig) -> str:
    return f"{cfg.dataset_slug()}__{cfg.method}__s{cfg.seed}__{cfg.config_hash()[:8]}"


def record_path(cfg: RunConfig, out_dir: str | os.PathLike[str]) -> Path:
    """`<out_dir>/records/<dataset>__<method>__s<seed>__<hash8>.json`"""
    return Path(out_dir) / "records" / f"{run_id(cfg)}.json"


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def git_sha() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        )
        sha = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist, key in (
        ("torch", "torch"),
        ("transformers", "transformers"),
        ("peft", "peft"),
        ("flatbench", "flatbench"),
        ("great-expectations", "great_expectations"),
    ):
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            out[key] = None
    return out
