"""The error a dataset that cannot be read raises, shared by loading, cards and validation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DataError(ValueError):
    """A dataset could not be read; the message names the problem."""

    def __init__(self, message: str, check: str = "file_readable", rows: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.check = check
        self.rows = list(rows)
