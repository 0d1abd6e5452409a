"""Two CPU processes under torch.distributed (gloo): per-rank and shared noise."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from flatlora import FlatLora, FlatLoraConfig

from . import _dist_worker
from .conftest import make_lora_mlp

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")


def test_two_ranks_independent_and_shared_noise(tmp_path: Path) -> None:
    mp.spawn(_dist_worker.run, args=(2, str(tmp_path), 2), nprocs=2, join=True)
    first, again = ([torch.load(tmp_path / f"run{run}_rank{r}.pt") for r in range(2)] for run in range(2))
    model = make_lora_mlp()
    single = FlatLora(model, FlatLoraConfig(sigma=0.1, seed=5, schedule="constant"))
    alone = [single.noise(st, 3, 10) for st in single.layers]  # one process, no torch.distributed
    r0, r1 = first
    # independent (default): rank 0 draws what a single process draws, rank 1 its own noise
    assert all(torch.equal(a, b) for a, b in zip(r0["independent_eps"], alone, strict=True))
    assert all(
        not torch.allclose(a, b) for a, b in zip(r0["independent_eps"], r1["independent_eps"], strict=True)
    )
    # shared: every rank draws the single-process noise
    assert all(torch.equal(a, b) for a, b in zip(r1["shared_eps"], alone, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(r0["shared_eps"], alone, strict=True))
    # data-parallel training stays in sync across ranks (averaged gradients) in both modes
    for mode in ("independent", "shared"):
        assert all(torch.equal(v, r1[f"{mode}_lora"][k]) for k, v in r0[f"{mode}_lora"].items())
    # and averaging two noise draws trains differently from one
    assert any(not torch.equal(v, r0["shared_lora"][k]) for k, v in r0["independent_lora"].items())

    # a rerun (fresh process group, model and FlatLora) with the same world size is bit-identical
    for old, new in zip(first, again, strict=True):
        for key, val in old.items():
            if key.endswith("_eps"):
                assert all(torch.equal(a, b) for a, b in zip(val, new[key], strict=True))
            else:
                assert all(torch.equal(v, new[key][k]) for k, v in val.items())
