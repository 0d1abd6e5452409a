"""The pieces of a training run that the classification and the generative tracks share.

The error a diverging run raises, the learning-rate schedule, the device and autocast, progress
bars, memory sampling, and snapshots of the trainable weights (the best epoch). Nothing here knows
about datasets, batches or records; `runner` and `generative` both build on it.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from contextlib import AbstractContextManager
from typing import Any

import torch


class RunFailed(Exception):
    """Training produced a non-finite or diverging loss; recorded as status "failed"."""


def lr_at(step: int, total_steps: int, base_lr: float, warmup_steps: int = 0, kind: str = "linear") -> float:
    """Learning rate for optimizer step `step` (0-based): linear warmup, then linear/cosine decay to 0."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if kind == "constant":
        return base_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(max(progress, 0.0), 1.0)
    if kind == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    return base_lr * (1.0 - progress)


def rss_mb() -> float:
    """This process's resident memory in MiB (psutil, else /proc)."""
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRSS:
    """Samples this process's RSS in a thread: an honest per-run CPU peak (ru_maxrss never resets).

    `above_start_mb` is the run's own cost: the peak above the RSS sampled when sampling started.
    """

    def __init__(self, interval_s: float = 0.05) -> None:
        self.start_mb = rss_mb()
        self.peak_mb = self.start_mb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(interval_s,), daemon=True)

    def _loop(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.peak_mb = max(self.peak_mb, rss_mb())

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())

    @property
    def above_start_mb(self) -> float:
        return max(0.0, self.peak_mb - self.start_mb)


def resolve_device(requested: str) -> torch.device:
    """`auto` -> CUDA when this process sees a GPU, else CPU; `cuda`/`cuda:N` must exist here."""
    if requested == "auto":
        return (
            torch.device("cuda", torch.cuda.current_device())
            if torch.cuda.is_available()
            else torch.device("cpu")
        )
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"`device` {requested!r}: CUDA is not available in this process (torch {torch.__version__}, "
                f"built for CUDA {torch.version.cuda}); use --device cpu or auto"
            )
        idx = int(requested.split(":", 1)[1]) if ":" in requested else torch.cuda.current_device()
        if idx >= torch.cuda.device_count():
            raise ValueError(
                f"`device` {requested!r}: only {torch.cuda.device_count()} CUDA device(s) visible "
                "(CUDA_VISIBLE_DEVICES renumbers them from 0)"
            )
        return torch.device("cuda", idx)
    return torch.device("cpu")


AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str) -> AbstractContextManager[Any]:
    """Autocast for bf16/fp16; fp32 runs exactly the plain code path."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[precision])


def progress_bar(total: int, desc: str, progress: bool) -> Any:
    """A tqdm bar on stderr, disabled when `progress` is false."""
    from tqdm.auto import tqdm

    # every bar on line 0: a bar opened inside another (validation inside training) replaces it for a moment
    # instead of stacking below it, so closing it writes no cursor-up codes (`ESC[A`) into logs
    return tqdm(
        total=total,
        desc=desc,
        disable=not progress,
        leave=False,
        position=0,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def trainable_state(model: Any) -> dict[str, torch.Tensor]:
    """A detached copy of every trainable parameter, by name (the best epoch's weights)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: Any, state: dict[str, torch.Tensor]) -> None:
    """Copy a `trainable_state` snapshot back into the model's parameters, in place."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, v in state.items():
            params[n].copy_(v)


__all__ = [
    "AMP_DTYPES",
    "PeakRSS",
    "RunFailed",
    "autocast",
    "load_trainable",
    "lr_at",
    "progress_bar",
    "resolve_device",
    "rss_mb",
    "trainable_state",
]
