"""Token lengths against max_len: the truncated share, its warning, and max_len chosen from the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flatlora.bench import lengths as L
from flatlora.bench.validation import validate_dataset


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        (list(range(1, 101)), 99, 99),  # nearest rank: the 99th of 100 values
        (list(range(1, 101)), 50, 50),
        ([7] * 10, 99, 7),
        ([3, 1, 2], 100, 3),
        ([5, 9], 50, 5),
    ],
)
def test_percentile_is_a_nearest_rank_length(values: list[int], q: float, expected: int) -> None:
    assert L.percentile(values, q) == expected


@pytest.mark.parametrize(
    ("values", "cap", "expected"),
    [
        (list(range(1, 101)), 128, 104),  # p99 99 -> next multiple of 8
        (list(range(1, 101)), 64, 64),  # capped
        ([5] * 50, 128, 16),  # floor
        ([40] * 99 + [500], 256, 40),  # one outlier above the 99th percentile does not move it
    ],
)
def test_auto_max_len(values: list[int], cap: int, expected: int) -> None:
    assert L.auto_max_len(values, cap) == expected


@pytest.mark.parametrize(("n_long", "warn"), [(0, False), (5, False), (6, True), (100, True)])
def test_warning_above_five_percent(n_long: int, warn: bool) -> None:
    s = L.length_stats([100] * n_long + [10] * (100 - n_long), max_len=64)
    assert s.n_truncated == n_long and s.truncated_share == n_long / 100 and s.warn is warn


def _pairs_file(tmp_path: Path, words: int = 14) -> Path:
    # each text alone is short; the pair is longer than 32 tokens: pairs must be counted together
    rows = [
        (
            f"the first sentence number {i} " + "word " * words,
            "another sentence " + "text " * words,
            "ab"[i % 2],
        )
        for i in range(40)
    ]
    p = tmp_path / "pairs.csv"
    p.write_text(
        "premise,hypothesis,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows), encoding="utf-8"
    )
    return p


def test_validate_counts_both_texts_of_a_pair(tmp_path: Path) -> None:
    p = _pairs_file(tmp_path)
    kw = {"text_col": "premise", "text_pair_col": "hypothesis"}
    rep, _ = validate_dataset(str(p), max_len=32, **kw)
    [check] = [c for c in rep.checks if c.name == "tokens_within_max_len"]
    assert not check.success and check.severity == "warning" and rep.success
    assert check.message.startswith("40 of 40 sentence pairs (100.0%) are longer than max_len 32 tokens")
    assert "--max-len auto" in check.message
    assert rep.lengths is not None and rep.lengths["truncated_share"] == 1.0
    rep2, _ = validate_dataset(str(p), max_len=128, **kw)
    [ok] = [c for c in rep2.checks if c.name == "tokens_within_max_len"]
    assert ok.success and ok.message.startswith("0 of 40 sentence pairs (0.0%)")
    assert "info  0 of 40 sentence pairs" in rep2.render()


def test_max_len_auto_is_chosen_from_the_training_split_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli_common import auto_max_len_override

    p = _pairs_file(tmp_path)
    opts = {"text_col": "premise", "text_pair_col": "hypothesis"}
    got = auto_max_len_override("auto", "quick", [str(p)], opts)
    tok = L.load_tokenizer("minilm")
    from flatlora.bench.data import load_labeled, make_splits

    sp = make_splits(load_labeled(str(p), **opts))
    want = L.auto_max_len(L.token_lengths(tok, list(sp.train["text"]), list(sp.train["text_pair"])), 128)
    assert got["max_len"] == want and 32 < want <= 128
    assert str(got["max_len_source"]).startswith(f"--max-len auto: {want} = the 99th percentile")
    assert f"max_len {want}: --max-len auto" in capsys.readouterr().err
    assert auto_max_len_override("48", "quick", [str(p)], opts) == {"max_len": 48}
    import typer

    with pytest.raises(typer.BadParameter, match="integer or 'auto'"):
        auto_max_len_override("long", "quick", [str(p)], opts)


def test_max_len_auto_stays_within_the_models_position_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The study profile's cap (256) on a model of 128 positions: auto chose 256, and the run failed on
    its first step ("`max_len` 256 is more than the model takes")."""
    from flows.cli_common import auto_max_len_override
    from tests.bench.tiny_encoders import save_tiny_encoder

    model = str(save_tiny_encoder(tmp_path / "distilbert", "distilbert"))  # 128 positions
    p = _pairs_file(tmp_path, words=80)  # every pair far over 128 tokens
    opts = {"text_col": "premise", "text_pair_col": "hypothesis"}
    got = auto_max_len_override("auto", "study", [str(p)], opts, model=model)
    assert got["max_len"] == 128
    assert str(got["max_len_source"]).endswith(
        "within [16, 128] (the model's 128 token positions; the study profile's cap is 256)"
    )
    assert "max_len 128: --max-len auto" in capsys.readouterr().err


def test_max_len_source_is_recorded_but_not_hashed() -> None:
    from flatlora.bench.config import resolve_config

    a = resolve_config("smoke", max_len=48)
    b = resolve_config("smoke", max_len=48, max_len_source="--max-len auto: 48 = ...")
    assert a.config_hash() == b.config_hash() and b.to_dict()["max_len_source"].startswith("--max-len auto")


@pytest.fixture
def pair_splits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The pairs file's splits, with the runner's said-once memory emptied."""
    from flatlora.bench import runner
    from flatlora.bench.data import load_labeled, make_splits

    monkeypatch.setattr(runner, "_SAID", set())
    p = _pairs_file(tmp_path)
    return make_splits(load_labeled(str(p), text_col="premise", text_pair_col="hypothesis"))


def _run_lengths(tok: Any, splits: Any) -> list[int]:
    """What the runner counts: every example's untruncated length, train, val, test."""
    return [
        n
        for df in (splits.train, splits.val, splits.test)
        for n in L.token_lengths(tok, list(df["text"]), list(df["text_pair"]))
    ]


def test_a_grid_says_its_truncation_warning_once_per_process(
    pair_splits: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from flatlora.bench import runner
    from flatlora.bench.config import resolve_config

    lengths = _run_lengths(L.load_tokenizer("minilm"), pair_splits)
    for seed in (1, 2, 3):  # three runs of one grid, one data file
        info = runner._token_lengths(resolve_config("smoke", max_len=8, seed=seed), pair_splits, lengths)
        assert info["n_truncated"] > 0  # every run still records its own share
    assert capsys.readouterr().err.count("warning:") == 1
    runner._token_lengths(
        resolve_config("smoke", max_len=9), pair_splits, lengths
    )  # another max_len: said again
    assert capsys.readouterr().err.count("warning:") == 1


def test_the_warning_after_max_len_auto_does_not_suggest_it_again(
    pair_splits: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from flatlora.bench import runner
    from flatlora.bench.config import resolve_config

    cfg = resolve_config("smoke", max_len=8, max_len_source="--max-len auto: 8 = the 99th percentile ...")
    runner._token_lengths(cfg, pair_splits, _run_lengths(L.load_tokenizer("minilm"), pair_splits))
    err = capsys.readouterr().err
    assert "--max-len auto chose 8 (the profile caps it); raise it with --set max_len=N" in err
    assert "or --max-len auto" not in err


def test_the_warning_after_max_len_auto_names_the_model_when_the_model_capped_it(
    pair_splits: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Raising max_len past the model's positions fails the run: the warning must not suggest it."""
    from flatlora.bench import runner
    from flatlora.bench.config import resolve_config

    why = "--max-len auto: 8 = ..., within [16, 8] (the model's 8 token positions; the smoke profile's cap is 64)"
    runner._token_lengths(
        resolve_config("smoke", max_len=8, max_len_source=why),
        pair_splits,
        _run_lengths(L.load_tokenizer("minilm"), pair_splits),
    )
    err = capsys.readouterr().err
    assert "--max-len auto chose 8, all the model takes; a model with more positions reads more" in err
    assert "--set max_len=N" not in err
