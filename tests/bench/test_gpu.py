"""On a CUDA device: a tiny model trains through the runner on the GPU in bf16, everything on the device,
and the record names the GPU. Skips cleanly without CUDA (CPU coverage: test_gpu_check.py's dry run)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_runner_trains_on_cuda_in_bf16(tmp_path: Path) -> None:
    from flatlora.bench.smoke import run_smoke

    res = run_smoke(
        tmp_path, device="cuda", precision="bf16", methods=("lora", "flat_lora", "full"), epochs=1
    )
    hw = res["hardware"]
    assert hw["gpu_name"] == torch.cuda.get_device_name(0) and hw["precision"] == "bf16"
    assert hw["cuda"] == torch.version.cuda and hw["device"].startswith("cuda")
    for method, r in res["runs"].items():
        assert r["status"] == "ok" and r["peak_mem_kind"] == "cuda_max_allocated", method
        assert r["device"].startswith("cuda:") and torch.cuda.get_device_name(0) in r["device"]


def test_same_gpu_reruns_are_identical(tmp_path: Path) -> None:
    from flatlora.bench import runner
    from flatlora.bench.config import resolve_config
    from flatlora.bench.smoke import save_tiny_checkpoint, smoke_splits

    sp = smoke_splits(64, 16)
    ckpt = save_tiny_checkpoint(tmp_path / "m", [str(t) for t in sp.train["text"]], len(sp.label_names))
    cfg = resolve_config(
        "smoke", dataset="synthetic", model=str(ckpt), method="flat_lora", device="cuda", precision="bf16",
        max_len=32, eval_batch_size=16,
    )  # fmt: skip
    a, b = (runner.run_one(cfg, tmp_path / f"r{i}", progress=False, splits=sp) for i in range(2))
    assert a["train_loss"] == b["train_loss"] and a["predictions"] == b["predictions"]


def test_fp16_uses_a_grad_scaler_and_stays_finite(tmp_path: Path) -> None:
    from flatlora.bench.smoke import run_smoke

    res = run_smoke(tmp_path, device="cuda", precision="fp16", methods=("lora",), epochs=1)
    assert res["runs"]["lora"]["status"] == "ok"
