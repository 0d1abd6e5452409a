"""Bracketing sweeps and the recipe choice, on synthetic records."""

from __future__ import annotations

from typing import Any

import pytest

from flatlora.bench.tuning import bracket, choose_recipe, nice_rate


def rec(score: float, *, loss: float = 0.5, status: str = "ok", collapsed: bool = False) -> dict[str, Any]:
    return {
        "status": status,
        "run_id": f"r{score}",
        "best_epoch": 1 if status == "ok" else None,
        "val_history": [{"epoch": 1, "accuracy": score, "loss": loss}],
        "collapse": {"collapsed": collapsed},
        "cost": {"phase_s": {"train": 10.0}},
    }


def curve(peak: float, width: float = 1.0) -> Any:
    """Validation accuracy peaking at lr `peak` (log scale), the same for every seed."""
    import math

    return lambda lr, seed: rec(0.9 - 0.05 * abs(math.log10(lr) - math.log10(peak)) / width)


def test_an_interior_optimum_is_chosen_without_extension() -> None:
    b = bracket("lora", [1e-4, 1e-3, 1e-2], [1, 2, 3], curve(1e-3))
    assert b.complete and b.chosen_lr == 1e-3 and b.edge is None and b.extensions == []


def test_an_edge_optimum_extends_the_range_until_it_is_interior() -> None:
    b = bracket("lora", [1e-4, 3e-4, 1e-3], [1, 2, 3], curve(3e-3), factor=3, max_extensions=2)
    assert b.extensions == [0.003, 0.009]
    assert b.chosen_lr == 0.003 and b.edge is None and not b.capped


def test_extensions_are_capped_and_said() -> None:
    b = bracket("lora", [1e-4, 3e-4], [1], curve(1.0), factor=3, max_extensions=2)
    assert b.chosen_lr == max(b.lrs) and b.edge == "highest" and b.capped and len(b.extensions) == 2


def test_extends_downward_too() -> None:
    b = bracket("full", [1e-4, 3e-4, 1e-3], [1, 2], curve(3e-5), max_extensions=1)
    assert b.extensions == [nice_rate(1e-4 / 3)] and b.chosen_lr == b.extensions[0] and b.edge == "lowest"


def test_missing_runs_are_listed_before_any_choice() -> None:
    have = {(1e-3, 1)}
    b = bracket("lora", [1e-3, 1e-2], [1, 2], lambda lr, s: rec(0.8) if (lr, s) in have else None)
    assert not b.complete and b.chosen_lr is None
    assert sorted(b.missing) == [(1e-3, 2), (1e-2, 1), (1e-2, 2)]


def test_a_rate_with_a_failed_run_is_not_eligible() -> None:
    def look(lr: float, seed: int) -> dict[str, Any]:
        if lr == 1e-2 and seed == 2:
            return rec(0.0, status="failed")
        return rec(0.95 if lr == 1e-2 else 0.8 if lr == 1e-3 else 0.7)

    b = bracket("lora", [1e-4, 1e-3, 1e-2], [1, 2], look)
    assert b.chosen_lr == 1e-3 and b.edge is None and b.extensions == []
    assert next(p for p in b.points if p.lr == 1e-2).mean is None


def test_the_mean_over_seeds_decides_not_one_seed() -> None:
    scores = {
        (1e-3, 1): 0.80,
        (1e-3, 2): 0.80,
        (1e-3, 3): 0.80,
        (3e-3, 1): 0.90,
        (3e-3, 2): 0.60,
        (3e-3, 3): 0.60,
    }
    scores |= {(1e-4, s): 0.7 for s in (1, 2, 3)}
    b = bracket("lora", [1e-4, 1e-3, 3e-3], [1, 2, 3], lambda lr, s: rec(scores[(lr, s)]))
    assert b.chosen_lr == 1e-3


def test_ties_go_to_the_lower_validation_loss_then_the_smaller_rate() -> None:
    b = bracket("lora", [1e-4, 1e-3, 1e-2], [1], lambda lr, s: rec(0.8, loss=0.3 if lr == 1e-2 else 0.5))
    assert b.chosen_lr == 1e-2 or b.extensions  # lowest loss at the top: extended
    flat = bracket("lora", [1e-4, 1e-3, 1e-2], [1], lambda lr, s: rec(0.8), max_extensions=0)
    assert flat.chosen_lr == 1e-4


def test_nice_rate() -> None:
    assert nice_rate(1e-2 * 3) == 0.03 and nice_rate(1e-4 / 3) == 3.33e-05


def test_recipe_fewest_collapses_then_validation() -> None:
    cands = [("given", {}), ("mean", {"pooling": "mean"}), ("long", {"epochs": 4})]
    table = {
        "given": [rec(0.85), rec(0.6, collapsed=True), rec(0.84)],
        "mean": [rec(0.80), rec(0.81), rec(0.79)],
        "long": [rec(0.83), rec(0.82), rec(0.0, status="failed")],
    }
    choice = choose_recipe(cands, [1, 2, 3], 3e-3, lambda n, s: table[n][s - 1])
    assert choice.complete and choice.chosen == "mean"
    by = {c.name: c for c in choice.candidates}
    assert by["given"].n_collapsed == 1 and by["long"].n_collapsed == 1 and by["long"].n_failed == 1
    assert by["given"].collapsed_seeds == [2]
    table["mean"][0] = rec(0.5, collapsed=True)  # all tie on 1 collapse: the best mean validation (of
    # the runs that finished) wins
    choice = choose_recipe(cands, [1, 2, 3], 3e-3, lambda n, s: table[n][s - 1])
    assert choice.chosen == "long"


def test_recipe_missing_runs() -> None:
    choice = choose_recipe([("a", {}), ("b", {})], [1, 2], 1e-3, lambda n, s: rec(0.8) if n == "a" else None)
    assert not choice.complete and choice.missing == [("b", 1), ("b", 2)] and choice.chosen is None


def test_bracket_needs_rates_and_seeds() -> None:
    with pytest.raises(ValueError, match="at least one"):
        bracket("lora", [], [1], lambda lr, s: None)
