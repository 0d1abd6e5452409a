"""Tuning rules that see validation data only: bracketing learning-rate sweeps and the recipe choice.

Both are pure functions of finished run records (looked up by a callback), so a study resumes by asking
them again: they return the runs still missing, or their decision.

**Bracketing sweep.** Every candidate rate trains the same few seeds (none of them a grid seed); a rate's
score is the mean over its seeds of the headline validation score at each run's selected epoch; a rate
with a failed (diverged) run is not eligible. The best eligible rate wins (ties: lower mean validation
loss, then the smaller rate). When it is the highest (or lowest) candidate, the range is extended by one
rate `factor` beyond it and the rule applied again, at most `max_extensions` times per method; a winner
still at an edge after that is reported as such (`capped`).

**Recipe choice.** Each candidate recipe trains the control method on the same seeds; the one with the
fewest collapsed runs wins (a failed run counts as collapsed), ties going to the higher mean validation
score, then to the candidate listed first.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Lookup = Callable[[float, int], Mapping[str, Any] | None]  # (lr, seed) -> finished record or None


def selected_score(rec: Mapping[str, Any], metric: str) -> tuple[float, float] | None:
    """(headline validation score, validation loss) at the run's selected epoch; None unless ok."""
    if rec.get("status") != "ok" or not rec.get("best_epoch"):
        return None
    hist = rec.get("val_history") or []
    best = next((h for h in hist if h.get("epoch") == rec["best_epoch"]), None)
    if best is None or not _finite(best.get(metric)) or not _finite(best.get("loss")):
        return None
    return float(best[metric]), float(best["loss"])


def is_collapsed(rec: Mapping[str, Any]) -> bool:
    """A failed run, or one whose stored collapse check fired."""
    if rec.get("status") != "ok":
        return True
    return bool((rec.get("collapse") or {}).get("collapsed"))


def nice_rate(x: float) -> float:
    """3 significant digits: 1e-2 * 3 is 0.03, not 0.030000000000000002."""
    return float(f"{x:.3g}")


@dataclass
class RatePoint:
    lr: float
    seeds: list[int]
    scores: list[float | None]  # selected-epoch validation headline per seed (None: failed)
    val_losses: list[float | None]
    collapsed: list[bool]
    run_ids: list[str]
    mean: float | None  # None: a run failed, the rate is not eligible
    sd: float | None
    mean_val_loss: float | None

    @property
    def n_collapsed(self) -> int:
        return sum(self.collapsed)


@dataclass
class Bracket:
    method: str
    metric: str
    seeds: list[int]
    base_lrs: list[float]
    lrs: list[float]  # the base rates and any extensions, sorted
    extensions: list[float]
    points: list[RatePoint]
    complete: bool
    missing: list[tuple[float, int]] = field(default_factory=list)
    chosen_lr: float | None = None
    edge: str | None = None  # "highest" | "lowest": the chosen rate is still at an end of the range
    capped: bool = False  # ... because the extensions ran out
    factor: float = 3.0
    max_extensions: int = 0
    rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bracket_rule(metric: str, factor: float, max_extensions: int, n_seeds: int) -> str:
    return (
        f"mean over {n_seeds} seeds of the validation {metric} at each run's selected epoch; a rate with a "
        "failed run is not eligible; ties: lower mean validation loss, then the smaller rate; a best rate "
        f"at the edge of the range adds the next rate x{factor:g} beyond it, at most {max_extensions} "
        "times per method; test metrics are not used"
    )


def bracket(
    method: str,
    base_lrs: Sequence[float],
    seeds: Sequence[int],
    lookup: Lookup,
    *,
    metric: str = "accuracy",
    factor: float = 3.0,
    max_extensions: int = 2,
) -> Bracket:
    """The sweep's state: the (lr, seed) runs still missing, or the chosen rate (see module doc)."""
    if not base_lrs or not seeds:
        raise ValueError("a bracketing sweep needs at least one rate and one seed")
    lrs = sorted({nice_rate(x) for x in base_lrs})
    extensions: list[float] = []
    out = Bracket(
        method=method,
        metric=metric,
        seeds=list(seeds),
        base_lrs=list(lrs),
        lrs=lrs,
        extensions=extensions,
        points=[],
        complete=False,
        factor=factor,
        max_extensions=max_extensions,
        rule=bracket_rule(metric, factor, max_extensions, len(seeds)),
    )
    while True:
        out.lrs = sorted(lrs)
        missing = [(lr, s) for lr in out.lrs for s in seeds if lookup(lr, s) is None]
        if missing:
            out.missing, out.points = missing, []
            return out
        out.points = [_point(lr, seeds, lookup, metric) for lr in out.lrs]
        eligible = [p for p in out.points if p.mean is not None]
        out.complete = True
        if not eligible:
            return out
        best = max(eligible, key=lambda p: (p.mean, -(p.mean_val_loss or 0.0), -p.lr))
        at_top, at_bottom = best.lr == out.lrs[-1], best.lr == out.lrs[0]
        if (at_top or at_bottom) and len(out.lrs) > 1 and len(extensions) < max_extensions:
            new = nice_rate(best.lr * factor if at_top else best.lr / factor)
            extensions.append(new)
            lrs.append(new)
            out.complete = False
            continue
        out.chosen_lr = best.lr
        if len(out.lrs) > 1 and (at_top or at_bottom):
            out.edge = "highest" if at_top else "lowest"
            out.capped = len(extensions) >= max_extensions
        return out


def _point(lr: float, seeds: Sequence[int], lookup: Lookup, metric: str) -> RatePoint:
    scores: list[float | None] = []
    losses: list[float | None] = []
    collapsed: list[bool] = []
    ids: list[str] = []
    for s in seeds:
        rec = lookup(lr, s)
        assert rec is not None
        got = selected_score(rec, metric)
        scores.append(None if got is None else got[0])
        losses.append(None if got is None else got[1])
        collapsed.append(is_collapsed(rec))
        ids.append(str(rec.get("run_id")))
    ok = all(x is not None for x in scores)
    vals = [float(x) for x in scores if x is not None]
    vloss = [float(x) for x in losses if x is not None]
    return RatePoint(
        lr=lr,
        seeds=list(seeds),
        scores=scores,
        val_losses=losses,
        collapsed=collapsed,
        run_ids=ids,
        mean=statistics.fmean(vals) if ok else None,
        sd=statistics.stdev(vals) if ok and len(vals) > 1 else None,
        mean_val_loss=statistics.fmean(vloss) if ok else None,
    )


@dataclass
class RecipeScore:
    name: str
    overrides: dict[str, Any]
    n_runs: int
    n_collapsed: int
    n_failed: int
    mean_val: float | None  # over the runs that finished
    sd_val: float | None
    collapsed_seeds: list[int]
    run_ids: list[str]
    median_train_s: float | None = None


@dataclass
class RecipeChoice:
    metric: str
    seeds: list[int]
    lr: float
    candidates: list[RecipeScore]
    complete: bool
    missing: list[tuple[str, int]] = field(default_factory=list)
    chosen: str | None = None
    rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


RECIPE_RULE = (
    "fewest collapsed runs (a failed run counts as collapsed); ties: higher mean validation {metric} at the "
    "selected epoch; then the candidate listed first; test metrics are not used"
)


def choose_recipe(
    candidates: Sequence[tuple[str, Mapping[str, Any]]],
    seeds: Sequence[int],
    lr: float,
    lookup: Callable[[str, int], Mapping[str, Any] | None],
    *,
    metric: str = "accuracy",
) -> RecipeChoice:
    """The recipe stage's state: missing (candidate, seed) runs, or each candidate's scores and the pick."""
    missing = [(name, s) for name, _ in candidates for s in seeds if lookup(name, s) is None]
    out = RecipeChoice(
        metric, list(seeds), lr, [], not missing, missing, rule=RECIPE_RULE.format(metric=metric)
    )
    if missing:
        return out
    for name, overrides in candidates:
        recs = [lookup(name, s) for s in seeds]
        scores, walls = [], []
        collapsed = []
        for s, rec in zip(seeds, recs, strict=True):
            assert rec is not None
            got = selected_score(rec, metric)
            if got is not None:
                scores.append(got[0])
            if is_collapsed(rec):
                collapsed.append(s)
            t = ((rec.get("cost") or {}).get("phase_s") or {}).get("train")
            if isinstance(t, int | float) and _finite(t):
                walls.append(float(t))
        out.candidates.append(
            RecipeScore(
                name=name,
                overrides=dict(overrides),
                n_runs=len(recs),
                n_collapsed=len(collapsed),
                n_failed=sum(1 for r in recs if r is not None and r.get("status") != "ok"),
                mean_val=statistics.fmean(scores) if scores else None,
                sd_val=statistics.stdev(scores) if len(scores) > 1 else None,
                collapsed_seeds=collapsed,
                run_ids=[str(r.get("run_id")) for r in recs if r is not None],
                median_train_s=statistics.median(walls) if walls else None,
            )
        )
    order = {c.name: i for i, c in enumerate(out.candidates)}
    best = min(
        out.candidates,
        key=lambda c: (c.n_collapsed, -(c.mean_val if c.mean_val is not None else -math.inf), order[c.name]),
    )
    out.chosen = best.name
    return out


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


__all__ = [
    "Bracket",
    "RatePoint",
    "RecipeChoice",
    "RecipeScore",
    "bracket",
    "choose_recipe",
    "is_collapsed",
    "nice_rate",
    "selected_score",
]
