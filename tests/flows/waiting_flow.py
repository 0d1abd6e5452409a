"""A flow that waits for a file: the stand-in for a long training run in worker tests."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow


@flow(name="wait-for-file")
def wait_for_file(path: str, limit_s: float = 300.0) -> str:
    """Return once ``path`` exists (fail after ``limit_s``)."""
    t0 = time.monotonic()
    while not Path(path).exists():
        if time.monotonic() - t0 > limit_s:
            raise TimeoutError(f"{path} did not appear within {limit_s:g} s")
        time.sleep(0.2)
    return path
