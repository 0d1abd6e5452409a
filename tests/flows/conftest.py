"""Shared fixtures for flow tests: Prefect env, a tiny random BERT classifier with MiniLM's tokenizer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAKE_RUNNER = "tests.flows.fake_runner:run_one"


def make_tiny_model(path: Path) -> Path:
    """2-layer, 32-wide BERT (random init) + the real MiniLM tokenizer: trains a smoke run in seconds."""
    from tests.tiny_models import save_tiny_bert

    if (path / "config.json").is_file():
        return path
    return save_tiny_bert(path)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tiny_model(tmp_path_factory.mktemp("tiny_bert")))


@pytest.fixture(scope="session", autouse=True)
def prefect_env() -> Iterator[None]:
    """Telemetry off, generous ephemeral-server start-up on slow shared CPUs, one thread per op."""
    env = {
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    old = {k: os.environ.get(k) for k in env}
    for k, v in env.items():
        os.environ.setdefault(k, v)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
