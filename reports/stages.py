"""The tuning stages of a study, as the report shows them: the recipe stage and the bracketing sweeps.

Read from the files the study writes (:mod:`flatlora.bench.study`): ``recipe/recipe.json`` (each candidate
recipe's runs, collapses and validation scores, and the pick) and ``sweep/brackets.json`` (each swept
method's rates, per-seed validation scores and collapses, the extensions and the chosen rate). A chosen
rate is *interior* (a better one was tried on either side), at an *edge* of the range with the extensions
used up (*capped*: the optimum may lie beyond it), or the only rate tried.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flatlora.bench.design import StudyDesign

__all__ = [
    "BracketSweep",
    "RateRow",
    "RecipeRow",
    "RecipeStage",
    "StudySummary",
    "bracket_sweeps",
    "recipe_stage",
    "study_summary",
]


@dataclass
class RecipeRow:
    name: str
    overrides: dict[str, Any]
    why: str
    n_runs: int
    n_collapsed: int
    collapsed_seeds: list[int]
    n_failed: int
    mean_val: float
    sd_val: float
    chosen: bool


@dataclass
class RecipeStage:
    method: str  # the control method every candidate trained
    metric: str
    lr: float
    seeds: list[int]
    rows: list[RecipeRow]
    chosen: str | None
    rule: str
    complete: bool


@dataclass
class RateRow:
    lr: float
    n_seeds: int
    mean: float  # NaN: a run failed, the rate was not eligible
    sd: float
    n_collapsed: int
    collapsed_seeds: list[int]
    n_failed: int
    extension: bool  # added by the bracketing rule beyond the planned range
    chosen: bool


@dataclass
class BracketSweep:
    method: str
    used_by: list[str]  # methods that take their rate from this sweep
    metric: str
    seeds: list[int]
    rates: list[RateRow]
    extensions: list[float]
    chosen_lr: float | None
    position: str  # "interior" | "edge" | "capped" | "single" | "none"
    edge: str | None  # "highest" | "lowest"
    max_extensions: int
    factor: float
    rule: str
    complete: bool


@dataclass
class StudySummary:
    """A study folder's design numbers (``design.json``, or the first design for a folder without one)
    and its tuning stages."""

    design: str
    preregistered: bool  # the robust and secondary endpoints are in the plan (designs after the first)
    treatment: str
    control: str
    secondary: list[str]
    alpha: float
    margin: float
    target_effect: float
    power: float
    sd_bound_confidence: float
    pilot_seeds: int
    max_seeds: int
    secondary_seeds: int
    collapse_rule: str
    recipe: RecipeStage | None = None
    brackets: list[BracketSweep] = field(default_factory=list)
    poolings: dict[str, int] = field(default_factory=dict)  # pooling of the grid's records -> runs
    has_design_file: bool = False  # the folder holds design.json (else: started before designs were stored)


def _num(x: Any) -> float:
    return (
        float(x) if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) else math.nan
    )


def recipe_stage(data: Mapping[str, Any] | None, design: StudyDesign) -> RecipeStage | None:
    """The recipe stage from ``recipe.json`` (None without one)."""
    if not data or not data.get("candidates"):
        return None
    why = {r.name: r.why for r in design.recipes}
    rows = [
        RecipeRow(
            name=str(c["name"]),
            overrides=dict(c.get("overrides") or {}),
            why=why.get(str(c["name"]), ""),
            n_runs=int(c.get("n_runs") or 0),
            n_collapsed=int(c.get("n_collapsed") or 0),
            collapsed_seeds=[int(s) for s in c.get("collapsed_seeds") or []],
            n_failed=int(c.get("n_failed") or 0),
            mean_val=_num(c.get("mean_val")),
            sd_val=_num(c.get("sd_val")),
            chosen=c["name"] == data.get("chosen"),
        )
        for c in data["candidates"]
    ]
    return RecipeStage(
        method=design.control,
        metric=str(data.get("metric") or "accuracy"),
        lr=_num(data.get("lr")),
        seeds=[int(s) for s in data.get("seeds") or []],
        rows=rows,
        chosen=data.get("chosen"),
        rule=str(data.get("rule") or ""),
        complete=bool(data.get("complete")),
    )


def _position(b: Mapping[str, Any]) -> str:
    if b.get("chosen_lr") is None:
        return "none"
    if len(b.get("lrs") or []) <= 1:
        return "single"
    if b.get("edge"):
        return "capped" if b.get("capped") else "edge"
    return "interior"


def bracket_sweeps(data: Mapping[str, Any] | None) -> list[BracketSweep]:
    """Each swept method of ``brackets.json``, in the file's order ([] without one)."""
    if not data:
        return []
    source = dict(data.get("lr_source") or {})
    out = []
    for m, b in (data.get("sweeps") or {}).items():
        ext = {float(x) for x in b.get("extensions") or []}
        chosen = b.get("chosen_lr")
        rates = []
        for p in b.get("points") or []:
            scores = p.get("scores") or []
            collapsed = p.get("collapsed") or []
            seeds = p.get("seeds") or b.get("seeds") or []
            rates.append(
                RateRow(
                    lr=float(p["lr"]),
                    n_seeds=len(scores),
                    mean=_num(p.get("mean")),
                    sd=_num(p.get("sd")),
                    n_collapsed=sum(bool(c) for c in collapsed),
                    collapsed_seeds=[int(s) for s, c in zip(seeds, collapsed, strict=False) if c],
                    n_failed=sum(s is None for s in scores),
                    extension=float(p["lr"]) in ext,
                    chosen=chosen is not None and float(p["lr"]) == float(chosen),
                )
            )
        out.append(
            BracketSweep(
                method=str(m),
                used_by=sorted(k for k, v in source.items() if v == m) or [str(m)],
                metric=str(b.get("metric") or "accuracy"),
                seeds=[int(s) for s in b.get("seeds") or []],
                rates=sorted(rates, key=lambda r: r.lr),
                extensions=[float(x) for x in b.get("extensions") or []],
                chosen_lr=float(chosen) if chosen is not None else None,
                position=_position(b),
                edge=b.get("edge"),
                max_extensions=int(b.get("max_extensions") or 0),
                factor=float(b.get("factor") or 0.0),
                rule=str(b.get("rule") or ""),
                complete=bool(b.get("complete")),
            )
        )
    return out


def study_summary(
    design: StudyDesign,
    *,
    first_design: str,
    recipe: Mapping[str, Any] | None = None,
    brackets: Mapping[str, Any] | None = None,
    records: Sequence[Mapping[str, Any]] = (),
    has_design_file: bool = False,
    order: Callable[[str], Any] = str,
) -> StudySummary:
    """The design's numbers and the stages' tables. ``first_design``: the name of the design whose plan
    had no robust or secondary endpoints; ``order``: the sort key of method names (the sweeps' order)."""
    poolings: dict[str, int] = {}
    for r in records:
        if r.get("status") == "ok":
            key = str((r.get("model_info") or {}).get("pooling") or "model")
            poolings[key] = poolings.get(key, 0) + 1
    return StudySummary(
        design=design.name,
        preregistered=design.name != first_design,
        treatment=design.treatment,
        control=design.control,
        secondary=list(design.secondary),
        alpha=design.alpha,
        margin=design.equivalence_margin,
        target_effect=design.target_effect,
        power=design.power,
        sd_bound_confidence=design.sd_bound_confidence,
        pilot_seeds=design.pilot_seeds,
        max_seeds=design.max_seeds,
        secondary_seeds=design.secondary_seeds,
        collapse_rule=design.collapse.text(),
        recipe=recipe_stage(recipe, design),
        brackets=sorted(bracket_sweeps(brackets), key=lambda b: order(b.method)),
        poolings=dict(sorted(poolings.items())),
        has_design_file=has_design_file,
    )
