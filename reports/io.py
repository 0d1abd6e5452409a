"""Compatibility name for :mod:`fileio.atomic`, where the atomic writes now live.

They sit below every package (the benchmark harness writes files too), so nothing imports them
upward. New code imports :func:`fileio.atomic.atomic_write_text`.
"""

from __future__ import annotations

from fileio.atomic import atomic_write_text

__all__ = ["atomic_write_text"]
