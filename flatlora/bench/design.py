"""A study's design: every number its plan fixes before the first run, as one frozen dataclass.

`flatbench study` writes the design into the study folder (`design.json`) and renders PLAN.md from it, so
a folder always resumes under the plan it started with, whatever the code's current default is. A folder
without `design.json` was started under `DESIGN_V1`, the first design.

Designs differ in how they tune and size the comparison:

* `v1`: learning rates from one sweep seed (the highest validation score at any epoch), a pilot of 10
  pairs, an extension capped at 30 pairs, secondaries on 5 seeds; no recipe stage.
* `v2`: first a **recipe stage** (candidate training recipes on the control method alone, many seeds
  each, picked by the fewest collapses, then validation); **bracketing sweeps** (several seeds per rate,
  the mean validation score picks; a rate at the edge of the range extends it by a fixed factor, a fixed
  number of times, the same rule for every method); a pilot of 20 pairs and an extension whose cap (60)
  can reach the target; robust and secondary endpoints fixed in advance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flatlora.bench.collapse import DEFAULT_RULE, CollapseRule

DESIGN_FILE = "design.json"


@dataclass(frozen=True)
class Recipe:
    """A candidate training recipe: RunConfig overrides applied to every method once chosen."""

    name: str
    overrides: Mapping[str, Any]
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "overrides": dict(self.overrides), "why": self.why}


@dataclass(frozen=True)
class StudyDesign:
    name: str
    treatment: str = "flat_lora"
    control: str = "lora"
    secondary: tuple[str, ...] = ("full", "sam_ab", "sam_w")
    alpha: float = 0.05
    equivalence_margin: float = 0.005  # ±0.5 points of accuracy
    target_effect: float = 0.005  # the paper's average GLUE gain is about +0.5 points
    power: float = 0.80
    sd_bound_confidence: float = 0.80
    pilot_seeds: int = 10
    max_seeds: int = 30
    secondary_seeds: int = 5
    first_seed: int = 1  # grid seeds are first_seed, first_seed + 1, ...
    # tuning: each method's candidate rates; SAM-AB takes LoRA's rate, as the Flat-LoRA paper does
    sweep_lrs: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    lr_source: Mapping[str, str] = field(default_factory=dict)
    sweep_seeds: tuple[int, ...] = (0,)
    sweep_factor: float = 3.0  # a rate at the edge of the range adds the next one, this factor away
    max_extensions: int = 0  # per method, both directions together
    # how the secondaries are sweept, when it differs from the primary methods (fewer seeds: compute)
    secondary_sweep_seeds: tuple[int, ...] | None = None
    # the recipe stage: candidates tried on the control method alone, at `recipe_lr`
    recipes: tuple[Recipe, ...] = ()
    recipe_seeds: tuple[int, ...] = ()
    recipe_lr: float | None = None
    collapse: CollapseRule = DEFAULT_RULE
    # what was cut to fit the compute, said in the plan
    trimmed: str = ""

    def __post_init__(self) -> None:
        if self.pilot_seeds < 2 or self.max_seeds < self.pilot_seeds:
            raise ValueError(
                f"need 2 <= pilot_seeds <= max_seeds, got {self.pilot_seeds} and {self.max_seeds}"
            )
        if self.recipes and (not self.recipe_seeds or self.recipe_lr is None):
            raise ValueError("a recipe stage needs `recipe_seeds` and `recipe_lr`")
        grid = set(range(self.first_seed, self.first_seed + self.max_seeds))
        for what, seeds in (
            ("sweep_seeds", self.sweep_seeds),
            ("recipe_seeds", self.recipe_seeds),
            ("secondary_sweep_seeds", self.secondary_sweep_seeds or ()),
        ):
            if grid & set(seeds):
                raise ValueError(f"`{what}` {sorted(grid & set(seeds))} overlap the grid's seeds")
        if self.sweep_factor <= 1:
            raise ValueError(f"`sweep_factor` must be > 1, got {self.sweep_factor}")

    @property
    def primary(self) -> tuple[str, str]:
        return (self.treatment, self.control)

    @property
    def stages(self) -> tuple[str, ...]:
        head = ("recipe",) if self.recipes else ()
        return (*head, "primary-sweeps", "pilot", "extension", "secondary-sweeps", "secondary")

    def seeds_for_sweep(self, method: str) -> tuple[int, ...]:
        if method in self.secondary and self.secondary_sweep_seeds:
            return self.secondary_sweep_seeds
        return self.sweep_seeds

    def grid_seeds(self, n: int) -> list[int]:
        return list(range(self.first_seed, self.first_seed + n))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["recipes"] = [r.to_dict() for r in self.recipes]
        d["sweep_lrs"] = {m: list(v) for m, v in self.sweep_lrs.items()}
        d["lr_source"] = dict(self.lr_source)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StudyDesign:
        d = dict(d)
        d["recipes"] = tuple(
            Recipe(
                r["name"],
                {k: tuple(v) if isinstance(v, list) else v for k, v in r["overrides"].items()},
                r.get("why", ""),
            )
            for r in d.get("recipes") or ()
        )
        d["sweep_lrs"] = {m: tuple(float(x) for x in v) for m, v in (d.get("sweep_lrs") or {}).items()}
        for key in ("secondary", "sweep_seeds", "recipe_seeds"):
            d[key] = tuple(d.get(key) or ())
        if d.get("secondary_sweep_seeds") is not None:
            d["secondary_sweep_seeds"] = tuple(d["secondary_sweep_seeds"])
        d["collapse"] = CollapseRule(**(d.get("collapse") or {}))
        return cls(**d)


_LORA_LRS = (1e-4, 3e-4, 1e-3, 3e-3)
_SOURCE = {"lora": "lora", "flat_lora": "flat_lora", "sam_ab": "lora", "full": "full", "sam_w": "sam_w"}

DESIGN_V1 = StudyDesign(
    name="v1",
    sweep_lrs={"lora": _LORA_LRS, "flat_lora": _LORA_LRS, "full": (1e-5, 3e-5, 1e-4), "sam_w": _LORA_LRS},
    lr_source=_SOURCE,
)

DESIGN_V2 = StudyDesign(
    name="v2",
    pilot_seeds=20,
    max_seeds=60,
    secondary_seeds=5,
    sweep_lrs={
        "lora": (3e-4, 1e-3, 3e-3, 1e-2),
        "flat_lora": (3e-4, 1e-3, 3e-3, 1e-2),
        "full": (3e-5, 1e-4, 3e-4),
        "sam_w": (1e-3, 3e-3, 1e-2),
    },
    lr_source=_SOURCE,
    sweep_seeds=(201, 202, 203),
    secondary_sweep_seeds=(201, 202),
    max_extensions=2,
    recipes=(
        Recipe(
            "given",
            {},
            "the profile as it is (the first study's recipe): LoRA on PEFT's default targets, "
            "the checkpoint's own head (BERT: the [CLS] pooler, frozen under LoRA)",
        ),
        Recipe(
            "mean",
            {"pooling": "mean"},
            "the pooling the checkpoint was trained with: the mean of the "
            "last hidden states, then a new linear head",
        ),
        Recipe(
            "mean-blocks",
            {"pooling": "mean", "target_modules": ("blocks",)},
            "mean pooling, LoRA on every Linear layer of the encoder blocks",
        ),
        Recipe(
            "mean-blocks-long",
            {"pooling": "mean", "target_modules": ("blocks",), "epochs": 4, "warmup_ratio": 0.1},
            "mean pooling, every block Linear, 4 epochs (the best on validation is kept), 10% warm-up",
        ),
    ),
    recipe_seeds=tuple(range(101, 121)),
    recipe_lr=3e-3,
    trimmed=(
        "The probe-based estimate passed 30 CPU-hours at its high end, so the secondaries were trimmed "
        "before the primary: 5 grid seeds instead of 10, and sweeps of 3 rates x 2 seeds instead of "
        "4 rates x 3 seeds (the extension rule is the same for every method)."
    ),
)

DESIGNS: dict[str, StudyDesign] = {d.name: d for d in (DESIGN_V1, DESIGN_V2)}
DEFAULT_DESIGN = DESIGN_V2.name


def load_design(out: str | Path) -> StudyDesign | None:
    """The design a study folder was started under: its `design.json`; `v1` for a folder that holds
    records but no design file (started before designs were written down); None for a new folder."""
    path = Path(out) / DESIGN_FILE
    if path.is_file():
        return StudyDesign.from_dict(json.loads(path.read_text(encoding="utf-8")))
    if any((Path(out) / sub / "records").is_dir() for sub in (".", "sweep")):
        return DESIGN_V1
    return None


__all__ = [
    "DEFAULT_DESIGN",
    "DESIGNS",
    "DESIGN_FILE",
    "DESIGN_V1",
    "DESIGN_V2",
    "Recipe",
    "StudyDesign",
    "load_design",
]
