"""Compatibility name for :mod:`flatlora.bench.atomic`, where the atomic writes now live.

They sit below every package (the benchmark harness writes files too), so nothing imports them
upward. New code imports :func:`flatlora.bench.atomic.atomic_write_text`.
"""

from __future__ import annotations

from flatlora.bench.atomic import atomic_write_text

__all__ = ["atomic_write_text"]
