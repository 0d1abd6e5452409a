import dataclasses
import math

import pytest

from flatlora import FlatLoraConfig, sigma_schedule


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"sigma": -0.1}, ValueError, r"`sigma` must be >= 0 and finite, got -0.1"),
        ({"sigma": float("nan")}, ValueError, r"`sigma` .* got nan"),
        ({"sigma": "0.05"}, TypeError, r"`sigma` must be a number, got '0.05'"),
        ({"seed": -1}, ValueError, r"`seed` must be in \[0, 2\*\*63\), got -1"),
        ({"seed": 1.5}, TypeError, r"`seed` must be an int or None, got 1.5"),
        ({"rank_noise": "per-rank"}, ValueError, r"`rank_noise` must be one of .*got 'per-rank'"),
        ({"schedule": "cos"}, ValueError, r"`schedule` must be one of .*got 'cos'"),
        ({"mode": "fast"}, ValueError, r"`mode` must be one of .*got 'fast'"),
        ({"on_quantized": "skip"}, ValueError, r"`on_quantized` must be one of .*got 'skip'"),
    ],
)
def test_config_validation_names_field_and_value(kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        FlatLoraConfig(**kwargs)


def test_config_defaults_help_and_dict() -> None:
    cfg = FlatLoraConfig()
    assert (cfg.sigma, cfg.schedule, cfg.mode, cfg.on_quantized) == (0.05, "cosine", "exact", "dequantize")
    assert all(f.metadata.get("help") for f in dataclasses.fields(cfg))
    assert cfg.to_dict() == {
        "sigma": 0.05,
        "seed": None,
        "schedule": "cosine",
        "mode": "exact",
        "on_quantized": "dequantize",
        "rank_noise": "independent",
    }


@pytest.mark.parametrize(
    ("schedule", "step", "expected"),
    [
        ("cosine", 0, 0.0),
        ("cosine", 50, 0.05),  # sigma * (1 - cos(pi/2)) / 2
        ("cosine", 25, 0.1 * (1 - math.cos(math.pi / 4)) / 2),
        ("cosine", 100, 0.1),
        ("cosine", 150, 0.1),  # clamped past T
        ("linear", 0, 0.0),
        ("linear", 30, 0.03),
        ("constant", 0, 0.1),
        ("constant", 77, 0.1),
    ],
)
def test_sigma_schedule_values(schedule: str, step: int, expected: float) -> None:
    assert sigma_schedule(0.1, step, 100, schedule) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.1, -1, 10, "cosine"), r"`step` must be >= 0, got -1"),
        ((0.1, 0, 0, "cosine"), r"`total_steps` must be > 0, got 0"),
        ((-0.1, 0, 10, "cosine"), r"`sigma` must be >= 0"),
        ((0.1, 0, 10, "exp"), r"`schedule` must be one of .*got 'exp'"),
    ],
)
def test_sigma_schedule_rejects_bad_inputs(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sigma_schedule(*args)
