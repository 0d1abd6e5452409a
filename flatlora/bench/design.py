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
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
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


def points_text(fraction: float) -> str:
    """A fraction of the headline metric in points, as the plan and report word it: "1 point",
    "0.5 points" (the number as `:g` prints it, so 0.01 reads as one point whatever its float error)."""
    pts = f"{fraction * 100:g}"
    return f"{pts} point{'' if pts == '1' else 's'}"


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
        for name in ("alpha", "power", "sd_bound_confidence"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be in (0, 1), got {getattr(self, name)}")
        for name in ("target_effect", "equivalence_margin"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")
        if self.secondary_seeds < 2:  # a paired comparison needs two pairs
            raise ValueError(f"`secondary_seeds` must be >= 2, got {self.secondary_seeds}")
        if not self.sweep_seeds:
            raise ValueError("`sweep_seeds` must name at least one seed")
        if self.recipes and (not self.recipe_seeds or self.recipe_lr is None):
            raise ValueError("a recipe stage needs `recipe_seeds` and `recipe_lr`")
        grid = set(self.grid_seeds(max(self.max_seeds, self.secondary_seeds)))
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

    @property
    def target_text(self) -> str:
        """The target effect in points of the headline metric, as the plan and report word it."""
        return points_text(self.target_effect)

    @property
    def margin_text(self) -> str:
        """The equivalence margin in points of the headline metric, as the plan and report word it."""
        return "±" + points_text(self.equivalence_margin)

    def seeds_for_sweep(self, method: str) -> tuple[int, ...]:
        if method in self.secondary and self.secondary_sweep_seeds:
            return self.secondary_sweep_seeds
        return self.sweep_seeds

    def grid_seeds(self, n: int) -> list[int]:
        return list(range(self.first_seed, self.first_seed + n))

    @property
    def grid_room(self) -> int:
        """The most grid seeds (pairs) the design has room for: grid seeds count up from `first_seed`
        and stop below the first seed a sweep or the recipe stage uses, so no grid run is a tuning run."""
        tuning = [*self.sweep_seeds, *self.recipe_seeds, *(self.secondary_sweep_seeds or ())]
        above = [s for s in tuning if s >= self.first_seed]
        return min(above) - self.first_seed if above else 10**6

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["recipes"] = [r.to_dict() for r in self.recipes]
        d["sweep_lrs"] = {m: list(v) for m, v in self.sweep_lrs.items()}
        d["lr_source"] = dict(self.lr_source)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StudyDesign:
        """A design from its `to_dict` form; a field its dataclass lacks is refused (TypeError), one it has
        but `d` lacks (a file written before the field existed) takes its default, but the name. A number
        or text of the wrong type is refused (TypeError, naming the field)."""
        d = dict(d)
        known = {f.name for f in fields(cls)}
        if unknown := [k for k in d if k not in known]:
            raise TypeError(f"unknown field {', '.join(f'`{k}`' for k in unknown)}")
        for f in fields(cls):
            required = f.default is MISSING and f.default_factory is MISSING
            if required and f.name not in d:
                raise TypeError(f"missing field `{f.name}`")
            want = str if required else type(f.default)
            if f.name in d and want in (int, float, str) and not _is_a(d[f.name], want):
                raise TypeError(f"`{f.name}` must be {want.__name__}, got {d[f.name]!r}")
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


def _is_a(value: Any, want: type) -> bool:
    """JSON's types as a design field takes them: an int is a float, a bool is neither."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) if want is float else isinstance(value, want)


class DesignUnreadable(ValueError):
    """A study folder's design.json that is not a design: invalid JSON, a field missing or of the wrong
    type. The message names the file, the problem and how to get a readable one back."""


def read_design(path: str | Path) -> StudyDesign:
    """The design stored at `path` (a study folder's design.json); DesignUnreadable, in one line, when the
    file is not one `flatbench study` could have written (hand-edited, truncated)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError(f"a JSON object was expected, got {type(data).__name__}")
        return StudyDesign.from_dict(data)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        problem = f"a recipe lacks field {err}" if isinstance(err, KeyError) else " ".join(str(err).split())
        raise DesignUnreadable(
            f"{path} is not a readable study design ({problem}): restore it from git (`git checkout -- "
            f"{path}`) or a backup, or start a new study with another --out"
        ) from err


# The design's numbers that an option gives in points of the headline metric; design.json keeps fractions.
POINTS_FIELDS = ("target_effect", "equivalence_margin")

# The numbers a user sets for a new study (`flatbench study`'s options, by field): each is written into
# the folder's design.json with the rest, and a started study resumes only under the numbers it began with.
DESIGN_OPTIONS: dict[str, str] = {
    "pilot_seeds": "--pilot-pairs",
    "max_seeds": "--max-pairs",
    "target_effect": "--target-effect",
    "equivalence_margin": "--margin",
    "power": "--power",
    "alpha": "--alpha",
    "sweep_seeds": "--sweep-seeds",
    "secondary_seeds": "--secondary-seeds",
}


def with_numbers(
    design: StudyDesign,
    *,
    pilot_seeds: int | None = None,
    max_seeds: int | None = None,
    target_effect: float | None = None,
    equivalence_margin: float | None = None,
    power: float | None = None,
    alpha: float | None = None,
    sweep_seeds: int | None = None,
    secondary_seeds: int | None = None,
) -> StudyDesign:
    """`design` with the numbers given (None: the design's own); ValueError names a field out of range.

    `sweep_seeds` is a count: the primary sweeps' seeds are that many, counted up from the design's first
    sweep seed; the secondaries' sweeps keep their fewer seeds, never more than the primaries'. The
    design's note on what it trimmed is dropped once the numbers it speaks of change."""
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "pilot_seeds": pilot_seeds,
            "max_seeds": max_seeds,
            "target_effect": target_effect,
            "equivalence_margin": equivalence_margin,
            "power": power,
            "alpha": alpha,
            "secondary_seeds": secondary_seeds,
        }.items()
        if v is not None
    }
    if sweep_seeds is not None:
        if sweep_seeds < 1:
            raise ValueError(f"`sweep_seeds` must be >= 1, got {sweep_seeds}")
        seeds = tuple(range(design.sweep_seeds[0], design.sweep_seeds[0] + sweep_seeds))
        changes["sweep_seeds"] = seeds
        if design.secondary_sweep_seeds is not None:
            changes["secondary_sweep_seeds"] = seeds[: min(len(design.secondary_sweep_seeds), len(seeds))]
    new = replace(design, **changes)
    if (new.secondary_seeds, new.secondary_sweep_seeds) != (
        design.secondary_seeds,
        design.secondary_sweep_seeds,
    ):
        new = replace(new, trimmed="")
    return new


def design_changes(old: StudyDesign, new: StudyDesign) -> dict[str, tuple[Any, Any]]:
    """{field: (old value, new value)} for every field in which two designs differ, as design.json holds them."""
    a, b = (json.loads(json.dumps(d.to_dict())) for d in (old, new))
    return {k: (a.get(k), b.get(k)) for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)}


def describe_changes(changes: Mapping[str, tuple[Any, Any]]) -> str:
    """e.g. "--pilot-pairs 20 -> 10; --target-effect 0.5 -> 1": the numbers an option sets as the option
    takes them (points, a count of seeds), first; any other field by name, but the note on what the
    design trimmed, which follows from the numbers."""
    said = [
        f"{opt} {_as_option(k, changes[k][0])} -> {_as_option(k, changes[k][1])}"
        for k, opt in DESIGN_OPTIONS.items()
        if k in changes
    ]
    said += [
        f"{k} {_short(a)} -> {_short(b)}"
        for k, (a, b) in changes.items()
        if k not in DESIGN_OPTIONS and k != "trimmed"
    ]
    return "; ".join(said)


def _as_option(key: str, value: Any) -> str:
    """A design.json value as its option takes it: the target effect and margin in points, sweep seeds
    counted."""
    if key in POINTS_FIELDS:
        return f"{round(float(value) * 100, 10):g}"
    if key == "sweep_seeds":
        return str(len(value))
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _short(v: Any) -> str:
    """A design value as a reader wants it: seeds as a range, long text cut."""
    if (
        isinstance(v, list)
        and len(v) > 2
        and all(isinstance(x, int) for x in v)
        and v == list(range(v[0], v[-1] + 1))
    ):
        return f"{v[0]}-{v[-1]}"
    text = json.dumps(v) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


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
        return read_design(path)
    if any((Path(out) / sub / "records").is_dir() for sub in (".", "sweep")):
        return DESIGN_V1
    return None


__all__ = [
    "DEFAULT_DESIGN",
    "DESIGNS",
    "DESIGN_FILE",
    "DESIGN_OPTIONS",
    "DESIGN_V1",
    "DESIGN_V2",
    "POINTS_FIELDS",
    "DesignUnreadable",
    "Recipe",
    "StudyDesign",
    "describe_changes",
    "design_changes",
    "load_design",
    "points_text",
    "read_design",
    "with_numbers",
]
