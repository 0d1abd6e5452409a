"""flatlora: an exact, seeded Flat-LoRA for PEFT LoRA models, plus SAM baselines and a flatness probe."""

from flatlora.config import FlatLoraConfig
from flatlora.flatness import FlatnessResult, flatness
from flatlora.model import FlatLora
from flatlora.sam import SamAB, SamW
from flatlora.schedule import sigma_schedule

__all__ = ["FlatLora", "FlatLoraConfig", "FlatnessResult", "SamAB", "SamW", "flatness", "sigma_schedule"]
