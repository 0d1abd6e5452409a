"""PLAN.md for a study design with a recipe stage and bracketing sweeps, rendered from the design itself.

Every number below comes from the `StudyDesign` stored in the study folder (`design.json`), and the
compute estimate from the probe runs of `flatbench study --estimate` (`estimate.json`), so the plan a
reader sees is the one the code executes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flatlora.bench.design import DESIGNS, StudyDesign, describe_changes, design_changes


def _rates(xs: Sequence[float]) -> str:
    return ", ".join(f"{x:g}" for x in xs)


def _seeds(xs: Sequence[int]) -> str:
    xs = list(xs)
    if len(xs) > 2 and xs == list(range(xs[0], xs[0] + len(xs))):
        return f"{xs[0]}–{xs[-1]}"
    return ", ".join(str(x) for x in xs)


def _override_text(overrides: Mapping[str, Any]) -> str:
    if not overrides:
        return "(none)"
    parts = []
    for k, v in overrides.items():
        if isinstance(v, list | tuple):
            v = ",".join(str(x) for x in v)
        parts.append(f"`{k}={v}`")
    return " ".join(parts)


def _custom_numbers(design: StudyDesign) -> str:
    """A paragraph naming the numbers set for this study in place of its named design's ('' if none)."""
    base = DESIGNS.get(design.name)
    changes = design_changes(base, design) if base is not None else {}
    if not changes:
        return ""
    return (
        f"\nNumbers set for this study (`flatbench study` options) in place of design {design.name}'s own: "
        f"{describe_changes(changes)}.\n"
    )


def _secondary_sweep_text(d: StudyDesign) -> str:
    n, n_primary = len(d.seeds_for_sweep(d.secondary[0])), len(d.sweep_seeds)
    if n < n_primary:
        return f"{n} seed{'s' * (n != 1)} per rate, fewer than the primary methods' (compute)"
    return f"{n} seed{'s' * (n != 1)} per rate, as the primary methods' do"


def estimate_section(estimate: Mapping[str, Any] | None, design: StudyDesign) -> str:
    if not estimate:
        return (
            "## Compute estimate\n- Not measured yet: `flatbench study --out DIR --estimate` trains one probe "
            "run per candidate recipe and method and writes it here.\n"
        )
    lines = [
        "## Compute estimate",
        f"- Measured with `flatbench study --estimate`: one probe run (seed {estimate['probe_seed']}, used by no "
        "stage) of each candidate recipe and each method, on the machine that ran it. CPU seconds per run "
        "count every thread; two single-thread runs at once on two cores take about half as long in wall "
        "time.",
        "",
        "| candidate recipe | CPU s per run (probe) | wall s (probe) |",
        "|---|---|---|",
    ]
    for name, v in estimate["per_recipe"].items():
        lines.append(f"| {name} | {v['cpu_s']:.0f} | {v['wall_s']:.0f} |")
    ratio = estimate.get("method_cost_ratio") or {}
    lines += [
        "",
        "- Cost of each method relative to "
        f"{design.control} under the first candidate: "
        + ", ".join(f"{m} {r:.2f}" for m, r in ratio.items())
        + ".",
        "",
        "| stage | runs (fewest–most) | CPU hours (low–high) |",
        "|---|---|---|",
    ]
    counts = estimate["run_counts"]
    for stage, (lo, hi) in counts.items():
        a, b = estimate["cpu_hours_low"][stage], estimate["cpu_hours_high"][stage]
        lines.append(f"| {stage} | {lo}–{hi} | {a:.1f}–{b:.1f} |")
    lo_t, hi_t = estimate["total_cpu_hours"]
    lines += [
        f"| **total** | | **{lo_t:.1f}–{hi_t:.1f}** |",
        "",
        "- Low: the cheapest candidate is chosen and no range is extended; high: the dearest candidate, every "
        "extension, and the extension stage at its cap.",
    ]
    return "\n".join(lines) + "\n"


def plan_markdown_v2(
    design: StudyDesign,
    *,
    dataset: str,
    profile: str,
    overrides: Mapping[str, Any],
    estimate: Mapping[str, Any] | None = None,
) -> str:
    d = design
    recipes = "\n".join(f"| `{r.name}` | {_override_text(r.overrides)} | {r.why} |" for r in d.recipes)
    sweep_rows = "\n".join(
        f"| {m} | {_rates(d.sweep_lrs[m])} | {_seeds(d.seeds_for_sweep(m))} |" for m in d.sweep_lrs
    )
    shared = [m for m, src in d.lr_source.items() if src != m]
    shared_text = "; ".join(f"{m} takes {d.lr_source[m]}'s rate" for m in shared) or "none"
    return f"""\
# Analysis plan ({d.name}): Flat-LoRA vs LoRA on `{dataset}`

Fixed before the study's first run, and generated from the study's design (`design.json`, from
`flatlora/bench/design.py`) by `flatbench study --write-plan`. Nothing below is chosen after looking at
test results; the tuning stages see training and validation data only.
{_custom_numbers(d)}
## Why a second design
The first study (design v1) compared methods at a recipe that often failed to train: 9 of its 60 primary
runs never left the class-prior plateau, and every one-seed learning-rate sweep chose its highest rate.
This design checks that the recipe trains before it compares methods, brackets every tuned rate, and sizes
the comparison so that its cap can reach the target.

## Collapse: a run that learned nothing
- {d.collapse.text()}.
- Computed by the runner for every run, stored in its record (`collapse`), counted per method in the
  report. A failed (diverged) run counts as collapsed in the tuning stages.

## Stage 1: the recipe
- {d.control} alone at lr {d.recipe_lr:g}, seeds {_seeds(d.recipe_seeds)} ({len(d.recipe_seeds)} per
  candidate), profile `{profile}` with the study's overrides and each candidate's:

| candidate | overrides | why |
|---|---|---|
{recipes}

- **Rule:** the fewest collapsed runs; ties: the higher mean validation headline score at the selected
  epoch; then the candidate listed first. Every method then uses the chosen recipe.
- Caveat, fixed in advance: the candidates are compared at one learning rate ({d.recipe_lr:g}, the rate the
  first study used for LoRA), so a recipe whose best rate is elsewhere is judged away from it.

## Stage 2: sweeps that bracket
- Each method's rate is tuned on the chosen recipe; {shared_text} (as the Flat-LoRA paper does).

| method | candidate learning rates | seeds |
|---|---|---|
{sweep_rows}

- **Rule:** a rate's score is the mean over its seeds of the validation headline score at each run's
  selected epoch; a rate with a failed run is not eligible; ties: lower mean validation loss, then the
  smaller rate. When the best rate is the highest (lowest) candidate, the next rate ×{d.sweep_factor:g}
  (÷{d.sweep_factor:g}) is added and the rule applied again, at most {d.max_extensions} times per method;
  a winner still at an edge after that is reported as capped.
- Sweep seeds are outside the grid's seeds, so no grid run is a sweep run.

## Stage 3: the primary comparison
- **Endpoint:** Flat-LoRA − LoRA on the dataset's headline test metric (accuracy for PhraseBank), paired
  over training seeds (a seed gives both methods the same initialisation and data order), two-sided
  α = {d.alpha}, no multiplicity adjustment.
- **Verdict:** *better* or *worse* (the {(1 - d.alpha) * 100:.4g}% paired-t interval excludes 0); *equivalent within
  {d.margin_text}* (two one-sided tests at α = {d.alpha}: the {(1 - 2 * d.alpha) * 100:.4g}% interval inside the
  margin); else *inconclusive*.
- **Pilot:** seeds {_seeds(d.grid_seeds(d.pilot_seeds))} of both methods ({d.pilot_seeds} pairs).
- **Extension rule:** the SD of the pilot's paired differences, its upper {d.sd_bound_confidence:.0%}
  confidence bound (χ² bound), and the smallest n that detects {d.target_text} with
  {d.power:.0%} power (paired t, two-sided α = {d.alpha}), clamped to [{d.pilot_seeds}, {d.max_seeds}]. The
  rule uses the SD only, never the observed difference; `power.json` keeps its inputs. The report states
  the power the study achieved at the SD observed over all n pairs.
- **Pre-registered beside the verdict (they do not change it):**
  - robust: the Hodges–Lehmann estimate of the paired difference with the Wilcoxon signed-rank test;
  - collapses: the count per method, and the exact McNemar test on seeds where exactly one method
    collapsed;
  - test log-loss (from each example's gold-label probability, kept in the records), paired over seeds.
- The two-way bootstrap (seeds and test examples resampled) is shown for reference.

## Stage 4: secondary comparisons
- {", ".join(d.secondary)} against {d.control}, each paired over seeds {_seeds(d.grid_seeds(d.secondary_seeds))},
  on the headline metric, Holm-adjusted within this one family. Their sweeps use
  {_secondary_sweep_text(d)}.
- A between-method comparison only ever pairs the same seeds.
{("- " + d.trimmed) if d.trimmed else ""}

## Run settings
- Profile `{profile}`, overrides {_override_text(overrides)}, then the chosen recipe's.
- The flatness probe is descriptive, not an endpoint.
- All runs of one comparison run on one kind of machine; every record names its CPU or GPU.
- Order: recipe, primary sweeps, pilot, extension, secondary sweeps, secondary grid. The verdict is
  published when the primary endpoint is complete.

{estimate_section(estimate, d)}"""


__all__ = ["estimate_section", "plan_markdown_v2"]
