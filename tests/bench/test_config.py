"""RunConfig validation, profiles, canonical hash, --set parsing."""

from __future__ import annotations

import pytest

from flatlora.bench.config import PROFILE_OVERRIDES, RunConfig, parse_set, resolve_config
from flatlora.bench.records import record_path


def test_study_profile_is_the_study_protocol() -> None:
    c = resolve_config("study-q4")
    assert (c.lora_r, c.lora_alpha, c.lr, c.batch_size, c.max_len, c.epochs, c.sigma) == (
        8,
        16,
        5e-5,
        8,
        256,
        5,
        0.05,
    )
    assert c.target_modules is None  # chosen per architecture at build time
    assert c.flatness_sigmas == (0.01, 0.05, 0.1) and c.flatness_k >= 5


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("sigma", -0.1, r"`sigma` must be >= 0, got -0.1"),
        ("method", "dora", r"`method` must be one of"),
        ("lora_r", 0, r"`lora_r` must be >= 1, got 0"),
        ("lr", 0.0, r"`lr` must be > 0, got 0.0"),
        ("flatness_k", 3, r"`flatness_k` must be >= 5 \(0: no probe\), got 3"),
        ("lora_dropout", 1.0, r"`lora_dropout` must be in \[0, 1\), got 1.0"),
        ("max_train_examples", 0, r"`max_train_examples` must be >= 1 or None, got 0"),
        ("lr_schedule", "step", r"`lr_schedule` must be linear\|cosine\|constant, got 'step'"),
    ],
)
def test_bad_config_names_field_and_value(field: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RunConfig(**{field: value})  # type: ignore[arg-type]


def test_resolve_config_profiles_and_overrides() -> None:
    q = resolve_config("quick", method="flat_lora", seed=43)
    assert (
        q.profile == "quick"
        and q.method == "flat_lora"
        and q.max_len == PROFILE_OVERRIDES["quick"]["max_len"]
    )
    with pytest.raises(ValueError, match="unknown config field `lora_rank`"):
        resolve_config("quick", lora_rank=4)
    with pytest.raises(ValueError, match="`profile` must be one of"):
        resolve_config("huge")


def test_config_hash_is_canonical_and_sensitive() -> None:
    a, b = resolve_config("smoke", seed=1), resolve_config("smoke", seed=1)
    assert a.config_hash() == b.config_hash() and len(a.config_hash()) == 64
    assert resolve_config("smoke", seed=2).config_hash() != a.config_hash()
    assert resolve_config("smoke", seed=1, num_threads=1).config_hash() == a.config_hash()  # threads excluded
    p = record_path(a, "/tmp/x")
    assert p.name == f"fpb_50agree__lora__s1__{a.config_hash()[:8]}.json" and p.parent.name == "records"


def test_parse_set_types() -> None:
    out = parse_set(
        [
            "lr=1e-3",
            "epochs=2",
            "max_train_examples=None",
            "flatness_sigmas=0.01,0.2",
            "target_modules=query,value",
            "max_grad_norm=0.5",
            "lr_schedule=cosine",
        ]
    )
    assert out == {
        "lr": 1e-3,
        "epochs": 2,
        "max_train_examples": None,
        "flatness_sigmas": (0.01, 0.2),
        "target_modules": ("query", "value"),
        "max_grad_norm": 0.5,
        "lr_schedule": "cosine",
    }
    with pytest.raises(ValueError, match="unknown config field `nope`"):
        parse_set(["nope=1"])


@pytest.mark.parametrize(
    ("pair", "match"),
    [
        ("lora_r=abc", r"`lora_r` takes an integer, got 'abc'"),
        ("epochs=2.5", r"`epochs` takes an integer, got '2.5'"),
        ("max_train_examples=all", r"`max_train_examples` takes an integer, got 'all'"),
        ("lr=fast", r"`lr` takes a number, got 'fast'"),
        ("flatness_sigmas=0.01,x", r"`flatness_sigmas` takes a comma-separated list of numbers, got 'x'"),
        ("val_metrics=maybe", r"`val_metrics` takes true or false, got 'maybe'"),
        ("merge_label_spellings=ture", r"`merge_label_spellings` takes true or false, got 'ture'"),
    ],
)
def test_parse_set_names_the_field_of_a_value_of_the_wrong_type(pair: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_set([pair])


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("no", False),
        ("OFF", False),
        ("0", False),
    ],
)
def test_parse_set_booleans(raw: str, value: bool) -> None:
    assert parse_set([f"val_metrics={raw}"]) == {"val_metrics": value}


def test_short_profiles_keep_a_smaller_lr_for_full_finetuning() -> None:
    assert resolve_config("quick", method="full").lr == 1e-4
    assert resolve_config("quick", method="lora").lr == PROFILE_OVERRIDES["quick"]["lr"]
    assert resolve_config("quick", method="full", lr=3e-5).lr == 3e-5  # explicit override wins
    assert (
        resolve_config("study-q4", method="full").lr == resolve_config("study-q4", method="lora").lr == 5e-5
    )


def test_one_default_profile_and_the_old_name_says_the_new_one() -> None:
    import inspect

    from flatlora.bench.config import DEFAULT_PROFILE
    from flows import cli_train

    assert DEFAULT_PROFILE == "quick" and resolve_config().profile == "quick"
    assert inspect.signature(cli_train.train).parameters["profile"].default == "quick"
    with pytest.raises(ValueError, match=r"`profile` 'default' was renamed to 'study-q4'"):
        resolve_config("default")
    with pytest.raises(ValueError, match=r"renamed to 'study-q4'"):
        RunConfig(profile="default")


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("device", "gpu", r"`device` must be auto \| cpu \| cuda \| cuda:N, got 'gpu'"),
        ("device", "cuda:x", r"`device` must be"),
        ("precision", "fp8", r"`precision` must be one of \('fp32', 'bf16', 'fp16'\), got 'fp8'"),
    ],
)
def test_bad_device_and_precision(field: str, value: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RunConfig(**{field: value})  # type: ignore[arg-type]


def test_threads_share_from_env_and_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from flatlora.bench.config import available_cores

    monkeypatch.delenv("FLATBENCH_THREADS", raising=False)
    assert RunConfig().threads() == available_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("FLATBENCH_THREADS", "1")
    assert RunConfig().threads() == 1
    assert RunConfig(num_threads=3).threads() == 3  # the config wins
    monkeypatch.setenv("FLATBENCH_THREADS", "zero")
    with pytest.raises(ValueError, match=r"FLATBENCH_THREADS must be an integer >= 1, got 'zero'"):
        RunConfig().threads()


def test_new_fields_change_the_hash_but_device_auto_is_stable() -> None:
    base = resolve_config("smoke")
    assert resolve_config("smoke", precision="bf16").config_hash() != base.config_hash()
    assert resolve_config("smoke", text_pair_col="b").config_hash() != base.config_hash()
    assert resolve_config("smoke", device="auto").config_hash() == base.config_hash()


def test_smoke_flatness_probe_is_proportionate() -> None:
    """Smoke checks the path: its probe is a few forward passes on a few examples, a small part of the
    forward passes the run spends training and evaluating."""
    c = resolve_config("smoke")
    probe = (1 + c.flatness_k * len(c.flatness_sigmas)) * c.flatness_batches * c.eval_batch_size
    train = 3 * c.max_train_examples * c.epochs  # forward + backward ~ 3 forward passes per example
    evals = c.max_eval_examples * c.epochs + c.max_test_examples
    assert probe <= 0.25 * (train + evals), (probe, train + evals)
    q = resolve_config("quick")
    probe_q = (1 + q.flatness_k * len(q.flatness_sigmas)) * q.flatness_batches * q.eval_batch_size
    assert probe_q <= 0.25 * (3 * q.max_train_examples * q.epochs + q.max_eval_examples * q.epochs)


def test_new_settings_leave_committed_config_hashes_unchanged() -> None:
    """A record computed before the data options (encoding, val_from_train, merge_label_spellings) keeps
    its config hash: they are hashed only when set."""
    import json
    from pathlib import Path

    from flatlora.bench.config import HASH_NEUTRAL_DEFAULTS, RunConfig

    records = Path(__file__).resolve().parents[2] / "reports" / "examples" / "study_fpb50" / "records"
    rec = json.loads(sorted(records.glob("*.json"))[0].read_text(encoding="utf-8"))
    cfg = RunConfig(**rec["config"])
    assert cfg.config_hash() == rec["config_hash"]
    for name in ("encoding", "val_from_train", "merge_label_spellings"):
        assert name in HASH_NEUTRAL_DEFAULTS and name not in rec["config"]
