"""The noise ramp: a pure function of the optimizer step, so resume and accumulation are correct."""

from __future__ import annotations

import math


def sigma_schedule(sigma: float, step: int, total_steps: int, schedule: str = "cosine") -> float:
    """sigma_t for optimizer step ``step`` of ``total_steps``.

    t and T come from the optimizer (e.g. ``Trainer.state.global_step`` / ``max_steps``), never from a
    private counter: a resumed run recomputes exactly the same sigma_t. Steps past ``total_steps`` are
    clamped to the final value.
    """
    if sigma < 0 or not math.isfinite(sigma):
        raise ValueError(f"`sigma` must be >= 0 and finite, got {sigma!r}")
    if total_steps <= 0:
        raise ValueError(f"`total_steps` must be > 0, got {total_steps!r}")
    if step < 0:
        raise ValueError(f"`step` must be >= 0, got {step!r}")
    frac = min(step, total_steps) / total_steps
    if schedule == "cosine":
        return sigma * (1.0 - math.cos(math.pi * frac)) / 2.0
    if schedule == "linear":
        return sigma * frac
    if schedule == "constant":
        return sigma
    raise ValueError(f"`schedule` must be one of ('cosine', 'linear', 'constant'), got {schedule!r}")
