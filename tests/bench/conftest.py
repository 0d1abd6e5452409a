"""Shared fixtures for tests/bench: a tiny config-built BERT (fast, deterministic) and FPB splits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# A bare GPU machine (torch, transformers, peft only) runs the gpu tests; the rest need pandas/sklearn.
try:
    import pandas  # noqa: F401
    import sklearn  # noqa: F401
except ImportError:
    collect_ignore_glob = ["test_[!g]*.py"]

DATA_DIR = Path(
    os.environ.get("FLATBENCH_DATA_DIR") or Path(__file__).resolve().parents[2].parent / "shared" / "data"
)
needs_data = pytest.mark.skipif(
    not (DATA_DIR / "financial_phrasebank").is_dir(), reason="../shared/data/financial_phrasebank not present"
)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer, 32-wide BERT with MiniLM's tokenizer, saved like a real checkpoint."""
    from tests.tiny_models import save_tiny_bert

    return str(save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), num_labels=3))


@pytest.fixture(scope="session")
def fpb_splits():  # type: ignore[no-untyped-def]
    """AllAgree, split with split_seed 0 (no GE: the runner accepts ready splits)."""
    if not (DATA_DIR / "financial_phrasebank").is_dir():
        pytest.skip("shared data not present")
    from flatlora.bench.data import load_fpb, make_splits

    return make_splits(load_fpb("allagree", DATA_DIR), split_seed=0)
