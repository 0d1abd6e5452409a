"""Loader counts/checksums against ../shared/data/README.md, parsing, data-dir resolution, splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from flatlora.bench import data as D
from tests.bench.conftest import DATA_DIR, needs_data

README_TABLE = {  # copied from ../shared/data/README.md
    "50agree": (4846, 604, 2879, 1363, "bb1b4df6de05d50b"),
    "66agree": (4217, 514, 2535, 1168, "725adb1de7d33977"),
    "75agree": (3453, 420, 2146, 887, "a7ca39fb9dc60aed"),
    "allagree": (2264, 303, 1391, 570, "5fb370b3005b9a27"),
}


@needs_data
@pytest.mark.parametrize("config", sorted(README_TABLE))
def test_fpb_counts_and_checksums_match_readme(config: str) -> None:
    n, neg, neu, pos, sha16 = README_TABLE[config]
    d = D.load_fpb(config, DATA_DIR)
    assert len(d) == n
    assert Counter(d.labels) == {"negative": neg, "neutral": neu, "positive": pos}
    assert d.checksum[:16] == sha16
    assert d.label_names == ["negative", "neutral", "positive"]
    assert all(t and "@" not in t[-10:] for t in d.texts)


def test_parse_handles_crlf_bare_cr_and_at_in_sentence() -> None:
    raw = "Profit rose @ 5 %@positive\r\nSales fell@negative\rFlat@neutral\r\n\r\n"
    texts, labels = D.parse_fpb_text(raw)
    assert texts == ["Profit rose @ 5 %", "Sales fell", "Flat"]
    assert labels == ["positive", "negative", "neutral"]


def test_parse_line_without_label_is_a_clear_error() -> None:
    with pytest.raises(D.DataError, match=r"line 2 has no '@label'"):
        D.parse_fpb_text("a@neutral\nno label here\n")


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    monkeypatch.setenv("FLATBENCH_DATA_DIR", str(env_dir))
    assert D.resolve_data_dir() == env_dir
    assert D.resolve_data_dir(tmp_path) == tmp_path  # explicit beats env
    with pytest.raises(D.DataError, match="does not exist"):
        D.resolve_data_dir(tmp_path / "nope")
    monkeypatch.delenv("FLATBENCH_DATA_DIR")
    beside = D.REPO_ROOT.parent / "shared" / "data"
    if beside.is_dir():
        assert D.resolve_data_dir() == beside  # ../shared/data beside the checkout


def test_hub_fallback_offline_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(D, "resolve_data_dir", lambda data_dir=None: None)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        D.DataError, match=r"allagree is not shipped and not in a data dir.*takala/financial_phrasebank"
    ):
        D.load_fpb("allagree")


def test_unknown_dataset_name() -> None:
    with pytest.raises(D.DataError, match="unknown dataset 'fpb_99agree'"):
        D.load_labeled("fpb_99agree")


@needs_data
def test_splits_are_stratified_disjoint_and_deduped(fpb_splits: D.Splits) -> None:
    s = fpb_splits
    n = len(s.train) + len(s.val) + len(s.test)
    assert n == 2264 - s.n_dropped_duplicates and s.n_dropped_duplicates == 5
    assert (len(s.test) / n, len(s.val) / n) == pytest.approx((0.2, 0.1), abs=0.005)
    overall = Counter(list(s.train.label) + list(s.val.label) + list(s.test.label))
    for part in (s.train, s.val, s.test):
        c = Counter(part.label)
        for lab in overall:  # stratified: class shares within 1 point of the overall share
            assert c[lab] / len(part) == pytest.approx(overall[lab] / n, abs=0.01)
    idx = [set(p["index"]) for p in (s.train, s.val, s.test)]
    assert not (idx[0] & idx[1]) and not (idx[0] & idx[2]) and not (idx[1] & idx[2])
    texts = [set(p["text"]) for p in (s.train, s.val, s.test)]
    assert not (texts[0] & texts[2])


@needs_data
def test_split_seed_controls_split_and_training_seed_does_not() -> None:
    from flatlora.bench.config import resolve_config

    d = D.load_fpb("allagree", DATA_DIR)
    a, b, c = (D.make_splits(d, split_seed=s) for s in (0, 0, 1))
    assert list(a.test["index"]) == list(b.test["index"])
    assert list(a.test["index"]) != list(c.test["index"])
    # the split depends only on split_seed: configs for seeds 42/43/44 all share it
    seeds = {resolve_config("quick", seed=s).split_seed for s in (42, 43, 44)}
    assert seeds == {0}
    sub1 = D.subsample(a.train, 100, seed=0)
    sub2 = D.subsample(a.train, 100, seed=0)
    assert list(sub1["index"]) == list(sub2["index"]) and len(sub1) == 100


def test_sanity_dataset_has_disjoint_held_out_words() -> None:
    train, test = D.load_sanity("train"), D.load_sanity("test")
    assert len(train) >= 40 and len(test) >= 10
    words = lambda rows: {r["prompt"].removeprefix("repeat: ") for r in rows}  # noqa: E731
    assert not words(train) & words(test)
    for r in train + test:
        w = r["prompt"].removeprefix("repeat: ")
        assert r["target"] == f"{w} {w}"
