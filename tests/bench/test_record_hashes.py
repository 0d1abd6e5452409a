"""Every committed record's config hash is what today's RunConfig computes: finished runs stay reusable.

A new RunConfig field that changed these hashes would make every committed study retrain from scratch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flatlora.bench.config import RunConfig
from flatlora.bench.records import run_id

EXAMPLES = Path(__file__).resolve().parents[2] / "reports" / "examples"
RECORDS = sorted(EXAMPLES.glob("*/records/*.json")) + sorted(EXAMPLES.glob("*/*/records/*.json"))


def test_there_are_committed_records() -> None:
    assert len(RECORDS) >= 90


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: f"{p.parents[1].name}/{p.stem[-8:]}")
def test_committed_config_hashes_are_stable(path: Path) -> None:
    rec = json.loads(path.read_text(encoding="utf-8"))
    cfg = RunConfig(**rec["config"])
    assert cfg.config_hash() == rec["config_hash"]
    assert run_id(cfg) == rec["run_id"] == path.stem
