"""flatlora: an exact, seeded Flat-LoRA for PEFT LoRA models, plus SAM baselines and a flatness probe.

The public names load on first use (PEP 562), so importing a light module of the package, such as
``flatlora.bench.atomic`` from ``llm_eval``, does not import torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flatlora.config import FlatLoraConfig
    from flatlora.flatness import FlatnessResult, flatness
    from flatlora.model import FlatLora
    from flatlora.sam import SamAB, SamW
    from flatlora.schedule import sigma_schedule

_EXPORTS = {
    "FlatLora": "flatlora.model",
    "FlatLoraConfig": "flatlora.config",
    "FlatnessResult": "flatlora.flatness",
    "SamAB": "flatlora.sam",
    "SamW": "flatlora.sam",
    "flatness": "flatlora.flatness",
    "sigma_schedule": "flatlora.schedule",
}

__all__ = ["FlatLora", "FlatLoraConfig", "FlatnessResult", "SamAB", "SamW", "flatness", "sigma_schedule"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'flatlora' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
