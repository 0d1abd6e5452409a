"""A runner whose run finishes but whose record cannot be written where it belongs (its folder turned
read-only while it trained): the record goes to the fallback folder and RecordNotWritten says where,
as with ``flatlora.bench.runner.run_one``."""

from __future__ import annotations

import os
from typing import Any

from flatlora.bench.records import record_path
from flatlora.bench.rundir import write_record
from tests.faults.conftest import readonly_dir
from tests.flows.fake_runner import run_one as computed


def run_one(
    cfg: Any, out_dir: str | os.PathLike[str], progress: bool = True, data_dir: Any = None
) -> dict[str, Any]:
    path = record_path(cfg, out_dir)
    rec = computed(cfg, out_dir, progress, data_dir)  # trained; its record is written below
    path.unlink()
    with readonly_dir(path.parent):
        write_record(path, rec)  # raises RecordNotWritten, naming the fallback copy
    return rec
