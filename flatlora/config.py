"""Flat-LoRA configuration: one dataclass, validated on construction."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEDULES: tuple[str, ...] = ("cosine", "linear", "constant")
MODES: tuple[str, ...] = ("exact", "inplace")
QUANTIZED_POLICIES: tuple[str, ...] = ("dequantize", "error")
RANK_NOISE: tuple[str, ...] = ("independent", "shared")


@dataclass(frozen=True)
class FlatLoraConfig:
    """Everything that determines the Flat-LoRA noise; saved with every result."""

    sigma: float = field(
        default=0.05,
        metadata={
            "help": "Final noise level: eps_ij ~ N(0, sigma_t^2/n * ||W'_i||^2). 0 disables the noise."
        },
    )
    seed: int | None = field(
        default=None,
        metadata={
            "help": "Base seed; the noise of layer l at optimizer step t on rank r is seeded from "
            "(seed, t, l, r). None: TrainingArguments.seed under the Trainer integrations, else 0."
        },
    )
    schedule: str = field(  # one of SCHEDULES (plain str so CLI values type-check)
        default="cosine",
        metadata={
            "help": "sigma_t ramp: cosine sigma*(1-cos(pi t/T))/2 (paper), linear sigma*t/T, or constant."
        },
    )
    mode: str = field(  # one of MODES
        default="exact",
        metadata={
            "help": "exact: noise applied inside the layer's computation, base weights never written. "
            "inplace: reference behaviour (W += eps, later W -= eps); drifts in low precision."
        },
    )
    on_quantized: str = field(  # one of QUANTIZED_POLICIES
        default="dequantize",
        metadata={"help": "Quantized base layer: dequantize through PEFT's accessor, or raise an error."},
    )

    rank_noise: str = field(  # one of RANK_NOISE
        default="independent",
        metadata={
            "help": "independent: every torch.distributed rank draws its own eps (rank 0 draws what a "
            "single process draws), so the ranks average over more noise samples. shared: every rank "
            "draws the same eps."
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, int | float):
            raise TypeError(f"`sigma` must be a number, got {self.sigma!r}")
        if not math.isfinite(self.sigma) or self.sigma < 0:
            raise ValueError(f"`sigma` must be >= 0 and finite, got {self.sigma!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise TypeError(f"`seed` must be an int or None, got {self.seed!r}")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise ValueError(f"`seed` must be in [0, 2**63), got {self.seed!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"`schedule` must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got {self.mode!r}")
        if self.on_quantized not in QUANTIZED_POLICIES:
            raise ValueError(f"`on_quantized` must be one of {QUANTIZED_POLICIES}, got {self.on_quantized!r}")
        if self.rank_noise not in RANK_NOISE:
            raise ValueError(f"`rank_noise` must be one of {RANK_NOISE}, got {self.rank_noise!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
