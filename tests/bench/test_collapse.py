"""The collapse rule: numbers against their definitions, each trigger on its own."""

from __future__ import annotations

import math

import pytest
from scipy.stats import entropy

from flatlora.bench.collapse import CollapseRule, assess, majority_share, prior_entropy


def test_prior_entropy_is_scipys_entropy_in_nats() -> None:
    counts = [604, 2879, 1363]  # PhraseBank 50agree
    assert prior_entropy(counts) == pytest.approx(float(entropy(counts)), rel=1e-12)
    assert prior_entropy({"a": 5, "b": 5}) == pytest.approx(math.log(2))
    assert prior_entropy([7, 0]) == 0.0
    with pytest.raises(ValueError, match="at least one"):
        prior_entropy([0, 0])


def test_majority_share() -> None:
    assert majority_share({"neg": 1, "neu": 6, "pos": 3}) == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("losses", "val", "fired"),
    [
        ([1.1] * 90 + [0.40] * 10, 0.80, []),  # learned: the tail is low, validation above the majority
        ([0.5] * 90 + [0.93] * 10, 0.80, ["loss"]),  # ends on the prior's plateau
        ([1.1] * 90 + [0.40] * 10, 0.60, ["validation"]),  # validation at the majority class
        ([0.93] * 100, 0.55, ["loss", "validation"]),
    ],
)
def test_each_trigger(losses: list[float], val: float, fired: list[str]) -> None:
    c = assess(losses, [604, 2879, 1363], val, 0.60)
    assert c.reasons == fired and c.collapsed is bool(fired)
    assert c.tail_steps == 10 and c.prior_entropy == pytest.approx(0.926, abs=1e-3)
    assert "not_measured" not in c.to_dict()


@pytest.mark.parametrize(("losses", "fired"), [([1.1] * 90 + [0.40] * 10, []), ([0.93] * 100, ["loss"])])
def test_without_validation_the_loss_rule_alone_is_applied_and_said(
    losses: list[float], fired: list[str]
) -> None:
    c = assess(losses, [604, 2879, 1363], None, None)
    assert c.reasons == fired and c.collapsed is bool(fired)
    d = c.to_dict()
    assert d["not_measured"] == ["validation"] and d["val_score"] is None and d["val_majority"] is None


def test_threshold_is_a_share_of_the_prior_entropy() -> None:
    h = prior_entropy([50, 50])
    rule = CollapseRule(loss_ratio=0.5)
    just_below = assess([0.5 * h - 1e-9] * 20, [50, 50], 0.9, 0.5, rule)
    at = assess([0.5 * h] * 20, [50, 50], 0.9, 0.5, rule)
    assert not just_below.collapsed and at.collapsed


def test_the_default_rule_separates_the_first_studys_stuck_runs() -> None:
    """Tail losses (share of the prior entropy) of the first study's runs on both sides of the gap."""
    h = prior_entropy([422, 2009, 953])  # its training split
    stuck = [0.650, 0.662, 0.693, 1.030]  # e.g. LoRA seed 30 (test 0.730), LoRA seed 19 (0.594)
    healthy = [0.602, 0.589, 0.45]  # e.g. Flat-LoRA seed 26 (test 0.765)
    for share in stuck:
        assert assess([share * h] * 50, [422, 2009, 953], 0.8, 0.59).collapsed
    for share in healthy:
        assert not assess([share * h] * 50, [422, 2009, 953], 0.8, 0.59).collapsed


def test_tail_is_a_fraction_of_the_steps_with_a_floor() -> None:
    rule = CollapseRule()
    assert rule.tail_steps(424) == 43 and rule.tail_steps(50) == 10 and rule.tail_steps(4) == 4


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"loss_ratio": 0}, "loss_ratio"),
        ({"tail_fraction": 1.5}, "tail_fraction"),
        ({"min_tail_steps": 0}, "min_tail"),
    ],
)
def test_bad_rule(kw: dict[str, float], msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        CollapseRule(**kw)  # type: ignore[arg-type]


def test_no_losses_is_an_error() -> None:
    with pytest.raises(ValueError, match="training losses"):
        assess([], [1, 2], 0.5, 0.5)
