"""The shipped PhraseBank 50agree: a clone with no data dir and no network loads it, row for row the data
dir's file; other agreement levels come from a data dir or the hub's plain files (mocked here)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from flatlora.bench import data as D
from tests.bench.conftest import DATA_DIR, needs_data

SMALL = "Sales rose 5 % .@positive\r\nThe board met @ noon .@neutral\r\nProfit fell .@negative\r\n"


@pytest.fixture
def no_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain clone: no data dir anywhere, and a hub that must not be asked."""
    import huggingface_hub

    def no_hub(*a: object, **k: object) -> str:
        raise AssertionError("the hub was asked for a dataset that ships with the code")

    monkeypatch.delenv("FLATBENCH_DATA_DIR", raising=False)
    monkeypatch.setattr(D, "resolve_data_dir", lambda data_dir=None: None)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_hub)


def test_fpb_50agree_loads_without_data_dir_or_network(no_data_dir: None) -> None:
    d = D.load_labeled("fpb_50agree")
    assert len(d) == 4846 and d.checksum[:16] == "bb1b4df6de05d50b"
    assert [d.labels.count(c) for c in D.FPB_LABELS] == [604, 2879, 1363]
    assert d.source.endswith("datasets/financial_phrasebank/Sentences_50Agree.txt.gz")


def test_fpb_50agree_validates_without_data_dir(no_data_dir: None) -> None:
    from flatlora.bench.validation import validate_dataset

    rep, splits = validate_dataset("fpb_50agree")
    assert rep.success, rep.summary()
    assert splits is not None and splits.info()["checksum"] == D.FPB_SHA256["50agree"]


@needs_data
def test_shipped_copy_gives_the_data_dirs_rows_order_and_checksum(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records made from either source are one dataset: same rows, order, checksum and split."""
    from_dir = D.load_fpb("50agree", DATA_DIR)
    assert from_dir.source == str(DATA_DIR / "financial_phrasebank" / "Sentences_50Agree.txt")
    monkeypatch.setattr(D, "resolve_data_dir", lambda data_dir=None: None)
    shipped = D.load_fpb("50agree")
    assert shipped.source != from_dir.source
    assert (shipped.texts, shipped.labels, shipped.checksum) == (
        from_dir.texts,
        from_dir.labels,
        from_dir.checksum,
    )
    a, b = D.make_splits(shipped, split_seed=0), D.make_splits(from_dir, split_seed=0)
    assert a.info()["checksum"] == b.info()["checksum"]
    for part in ("train", "val", "test"):
        assert getattr(a, part).equals(getattr(b, part))


@needs_data
def test_shipped_file_is_the_original_bytes() -> None:
    original = (DATA_DIR / "financial_phrasebank" / "Sentences_50Agree.txt").read_bytes()
    assert D.read_shipped_fpb("50agree") == original
    assert hashlib.sha256(original).hexdigest() == D.FPB_SHA256["50agree"]


def test_shipped_copy_carries_licence_citation_and_checksum() -> None:
    folder = D.DATASETS_DIR / "financial_phrasebank"
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "CC BY-NC-SA 3.0" in (folder / "License.txt").read_text(encoding="latin-1").replace(
        "Attribution-NonCommercial-ShareAlike 3.0", "CC BY-NC-SA 3.0"
    )
    assert "CC BY-NC-SA 3.0" in readme and "Malo, P." in readme and D.FPB_SHA256["50agree"] in readme
    gz = hashlib.sha256((folder / "Sentences_50Agree.txt.gz").read_bytes()).hexdigest()
    assert gz in readme


def test_data_dir_without_phrasebank_falls_back_to_the_shipped_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLATBENCH_DATA_DIR", str(tmp_path))  # the user's own data dir, no PhraseBank in it
    d = D.load_fpb("50agree")
    assert d.source == str(D.FPB_SHIPPED["50agree"]) and d.checksum == D.FPB_SHA256["50agree"]


def test_a_damaged_shipped_copy_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "Sentences_50Agree.txt.gz"
    bad.write_bytes(gzip.compress(SMALL.encode("latin-1")))
    monkeypatch.setitem(D.FPB_SHIPPED, "50agree", bad)
    with pytest.raises(D.DataError, match=r"shipped copy .* has sha256 .*git checkout"):
        D.read_shipped_fpb("50agree")


# ---------------------------------------------------------------- the hub, mocked


def _zip(tmp_path: Path, content: bytes) -> Path:
    p = tmp_path / "FinancialPhraseBank-v1.0.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("FinancialPhraseBank-v1.0/Sentences_AllAgree.txt", content)
        zf.writestr("FinancialPhraseBank-v1.0/README.txt", "readme")
    return p


def _parquet(tmp_path: Path, rows: list[tuple[str, int]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = {"label": {"names": ["negative", "neutral", "positive"], "_type": "ClassLabel"}}
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    table = pa.table({"sentence": [r[0] for r in rows], "label": [r[1] for r in rows]})
    p = tmp_path / "0000.parquet"
    pq.write_table(table.replace_schema_metadata(meta), p)
    return p


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A mocked hub: `files` maps (filename, revision) to a local path; every request is logged.
    `datasets.load_dataset` (a loading script) must never be used."""
    import datasets
    import huggingface_hub

    state: dict[str, object] = {"files": {}, "calls": []}

    def download(
        repo_id: str, filename: str, *, repo_type: str | None = None, revision: str | None = None
    ) -> str:
        state["calls"].append((repo_id, filename, repo_type, revision))  # type: ignore[attr-defined]
        path = state["files"].get((filename, revision))  # type: ignore[attr-defined]
        if path is None:
            raise FileNotFoundError(f"{filename} not in {repo_id}@{revision}")
        return str(path)

    def no_script(*a: object, **k: object) -> None:
        raise AssertionError("load_dataset (a loading script) was used")

    monkeypatch.setattr(D, "resolve_data_dir", lambda data_dir=None: None)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.setattr(datasets, "load_dataset", no_script)
    return state


def test_hub_zip_gives_the_files_bytes(tmp_path: Path, hub: dict) -> None:
    raw = SMALL.encode("latin-1")
    hub["files"][(D.HF_FPB_ZIP, None)] = _zip(tmp_path, raw)
    d = D.load_fpb("allagree")
    assert d.texts == ["Sales rose 5 % .", "The board met @ noon .", "Profit fell ."]
    assert d.labels == ["positive", "neutral", "negative"]
    assert d.checksum == hashlib.sha256(raw).hexdigest()  # the file's own checksum, as from a data dir
    assert (
        d.source
        == f"hf://datasets/{D.HF_FPB_ID}/{D.HF_FPB_ZIP}#FinancialPhraseBank-v1.0/Sentences_AllAgree.txt"
    )
    assert hub["calls"] == [(D.HF_FPB_ID, D.HF_FPB_ZIP, "dataset", None)]


def test_hub_parquet_conversion_when_the_zip_is_gone(tmp_path: Path, hub: dict) -> None:
    rows = [("Sales rose 5 % .", 2), ("The board met @ noon .", 1), ("Profit fell .", 0)]
    hub["files"][("sentences_allagree/train/0000.parquet", "refs/convert/parquet")] = _parquet(tmp_path, rows)
    d = D.load_fpb("allagree")
    assert d.labels == ["positive", "neutral", "negative"] and d.texts[1] == "The board met @ noon ."
    # rebuilt as the file's `sentence@label` CRLF lines: the same checksum as the original bytes
    assert d.checksum == hashlib.sha256(SMALL.encode("latin-1")).hexdigest()
    assert d.source.endswith("@refs/convert/parquet/sentences_allagree/train/0000.parquet")


def test_hub_unreachable_is_one_clear_error(hub: dict) -> None:
    with pytest.raises(D.DataError) as info:
        D.load_fpb("66agree")
    msg = str(info.value)
    assert "\n" not in msg
    assert "66agree is not shipped and not in a data dir" in msg
    assert "--data-dir" in msg and "financial_phrasebank/Sentences_66Agree.txt" in msg
    assert D.HF_FPB_ID in msg and "FileNotFoundError" in msg


def test_parquet_rows_rebuild_latin1_bytes(tmp_path: Path) -> None:
    p = _parquet(tmp_path, [("Yhtym\u00e4 Oyj profit up", 2)])
    assert D._fpb_bytes_from_parquet(p) == "Yhtym\u00e4 Oyj profit up@positive\r\n".encode("latin-1")
    assert io.BytesIO(D._fpb_bytes_from_parquet(p)).read().endswith(b"\r\n")
