"""The study's analysis plan: the extension rule's numbers against theory, hashes that stay put."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2
from statsmodels.stats.power import TTestPower

from flatlora.bench import study
from flatlora.bench.config import resolve_config
from flatlora.bench.sweep import LR_SOURCE, STUDY_GRID, SWEEP_LRS, SWEEP_SEED


def test_sd_upper_bound_is_the_chi_square_bound() -> None:
    d = [0.01, -0.005, 0.002, 0.0, 0.004, -0.003, 0.006, 0.001, -0.002, 0.003]
    s = float(np.std(d, ddof=1))
    assert study.sd_upper_bound(d) == pytest.approx(s * math.sqrt(9 / chi2.ppf(0.2, 9)), rel=1e-12)
    assert study.sd_upper_bound(d) > s  # an upper bound
    with pytest.raises(ValueError, match="at least 2"):
        study.sd_upper_bound([0.1])


@pytest.mark.parametrize(("d", "n"), [(1.0, 10), (0.5376, 29), (0.3, 12), (0.8, 20)])
def test_paired_t_power_matches_statsmodels(d: float, n: int) -> None:
    ref = TTestPower().power(effect_size=d, nobs=n, alpha=0.05, alternative="two-sided")
    assert study.paired_t_power(d, n) == pytest.approx(ref, abs=1e-9)


def test_paired_t_power_is_one_for_huge_effects_where_statsmodels_gives_nan() -> None:
    assert study.paired_t_power(5.0, 10) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("sd", "n"),
    [
        (0.0093, 30),  # needs 29.13 by statsmodels' solver: 30 seeds
        (0.02, 30),  # wants far more than 30: capped
        (0.001, 10),  # the pilot already suffices: never below the pilot
        (0.0, 10),
    ],
)
def test_seeds_for_power(sd: float, n: int) -> None:
    assert study.seeds_for_power(sd) == n


def test_seeds_for_power_is_the_smallest_sufficient_n() -> None:
    sd = 0.0040
    n = study.seeds_for_power(sd)
    solved = TTestPower().solve_power(effect_size=0.005 / sd, alpha=0.05, power=0.8)
    assert n == max(10, math.ceil(solved))


def test_decision_uses_the_sd_only_never_the_mean() -> None:
    d = np.array([0.01, -0.005, 0.002, 0.0, 0.004, -0.003, 0.006, 0.001, -0.002, 0.003])
    a = study.decide_n(list(d), list(range(1, 11)), "accuracy")
    b = study.decide_n(list(d + 0.02), list(range(1, 11)), "accuracy")  # shifted: same spread
    assert a.n == b.n and a.sd_upper == pytest.approx(b.sd_upper)
    assert a.n == study.seeds_for_power(study.sd_upper_bound(list(d)))
    assert not a.capped


def test_fair_tuning_and_seeds_outside_the_grid() -> None:
    assert LR_SOURCE["flat_lora"] == "flat_lora" and LR_SOURCE["sam_ab"] == "lora"
    assert SWEEP_LRS["flat_lora"] == SWEEP_LRS["lora"]
    assert all(SWEEP_SEED not in seeds for seeds in STUDY_GRID.values())
    assert SWEEP_SEED not in study.grid_seeds(study.MAX_SEEDS)


def test_config_hash_is_pinned() -> None:
    """Finished records are found by this hash: a change here orphans every computed run."""
    cfg = resolve_config("study", method="lora", seed=1, lr=1e-3)
    assert cfg.config_hash() == "01150d2e683db7035f789ba0b9fbaa0af01eff91d2f96c911919d58b9d45e73b"
    assert resolve_config("smoke", method="flat_lora", seed=42).config_hash() == (
        "e83dd8535999689bda95346312f6befaf3003b62b33328cf7ec95a790cc7386f"
    )


def test_plan_markdown_names_the_rule_and_margin(tmp_path: object) -> None:
    from pathlib import Path

    md = study.plan_markdown(study.StudySpec(out=Path("x")))
    assert "±0.5 points" in md and "no multiplicity adjustment" in md.lower()
    assert "| flat_lora | 0.0001, 0.0003, 0.001, 0.003 |" in md
    assert "upper 80% confidence bound" in md and "[10, 30]" in md


@pytest.mark.parametrize(
    ("chosen", "lrs", "edge"),
    [(3e-3, [1e-4, 3e-4, 1e-3, 3e-3], "highest"), (1e-4, [1e-4, 1e-3], "lowest"), (3e-4, [1e-4, 3e-4, 1e-3], None),
     (1e-3, [1e-3], None), (None, [1e-4, 1e-3], None)],
)  # fmt: skip
def test_sweep_names_a_rate_at_the_end_of_its_range(
    chosen: float | None, lrs: list[float], edge: str | None
) -> None:
    from flatlora.bench.sweep import range_edge

    assert range_edge(chosen, lrs) == edge


@pytest.mark.parametrize(
    ("walls", "n_left", "jobs", "said"),
    [
        ([600.0, 900.0, 700.0], 6, 2, "about 35 min left in this stage"),  # median 700 s x 3 rounds
        ([3600.0, 3000.0], 5, 2, "about 2 h 45 min left in this stage"),  # median 3300 s x 3 rounds
        ([10.0], 1, 2, "about 1 min left in this stage"),
        ([], 4, 2, ""),  # nothing trained yet (every run so far was reused)
        ([600.0], 0, 2, ""),  # the stage's last run
    ],
)
def test_a_local_stage_says_how_long_is_left(walls: list[float], n_left: int, jobs: int, said: str) -> None:
    from flatlora.bench.study import time_left

    assert time_left(walls, n_left, jobs) == said
