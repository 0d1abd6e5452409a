"""Readable progress for the benchmark grid: run k of N, finished/cached counts and an ETA.

No Prefect here: the flow feeds it states it already has and gives it its logger's ``info``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA after the first trained run"
    if seconds < 90:
        return f"ETA {seconds:.0f} s"
    if seconds < 5400:
        return f"ETA {seconds / 60:.1f} min"
    return f"ETA {seconds / 3600:.1f} h"


@dataclass
class GridProgress:
    """Counts finished runs by source (computed, cached, disk, remote, error) and estimates the rest.

    The ETA is the mean time per run that trained (cached and on-disk runs take no time), times the runs not
    finished yet; it assumes the rest need training, so it is an upper bound when some are already on disk.
    Sequential grids pass each run's own wall time; concurrent ones the time since the previous run finished
    (``show_duration=False``), which makes the same formula a throughput estimate.
    """

    total: int
    log: Callable[[str], object] = print
    show_duration: bool = True
    clock: Callable[[], float] = time.monotonic
    counts: Counter[str] = field(default_factory=Counter)
    trained_s: list[float] = field(default_factory=list)
    _t0: float | None = None

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def eta_s(self) -> float | None:
        if not self.trained_s:
            return None
        remaining = self.total - self.done
        return remaining * (sum(self.trained_s) / len(self.trained_s))

    def start(self, k: int, label: str) -> None:
        """Before run ``k`` (1-based) starts, in sequential mode."""
        self._t0 = self.clock()
        self.log(f"run {k}/{self.total} {label}: starting ({self.summary()})")

    def finish(self, label: str, source: str, seconds: float | None = None) -> str:
        """A run finished; ``seconds`` defaults to the time since :meth:`start`. Returns the logged line."""
        if seconds is None and self._t0 is not None:
            seconds = self.clock() - self._t0
        self._t0 = None
        self.counts[source] += 1
        took = ""
        if source in ("computed", "remote") and seconds is not None:
            self.trained_s.append(float(seconds))
            took = f" in {seconds / 60:.1f} min" if self.show_duration else ""
        line = f"run {self.done}/{self.total} {label}: {source}{took} | {self.summary()}"
        self.log(line)
        return line

    def summary(self) -> str:
        c = self.counts
        parts = (
            f"finished {self.done}/{self.total}: trained {c['computed'] + c['remote']}, cached {c['cached']}"
        )
        parts += f", from disk {c['disk']}"
        if c["error"]:
            parts += f", errors {c['error']}"
        if self.done >= self.total:
            return parts
        return f"{parts}; {fmt_eta(self.eta_s())}"
