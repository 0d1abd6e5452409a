"""Exact mode on CUDA: the device noise path, bf16 exactness, gradients, placement, determinism.

Run with ``pytest -m gpu tests/flatlora``; skipped without CUDA. Imports torch, transformers and peft
only (the GPU machine has no Prefect or great-expectations).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from flatlora import FlatLora, FlatLoraConfig
from flatlora.perturb import noise_seed, standard_noise

from .conftest import base_weights, ce_loss, lora_state, make_data, make_lora_mlp, train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
DEV = torch.device("cuda")


def _on_gpu(model: nn.Module) -> nn.Module:
    return model.to(DEV)


def _gpu_data(n: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.to(DEV), y.to(DEV)) for x, y in make_data(n)]


def test_device_noise_is_one_generator_call_per_layer_and_draw() -> None:
    seed = noise_seed(0, 5, 2)
    z = standard_noise((1000, 300), seed, DEV, torch.float32)
    gen = torch.Generator(device=DEV).manual_seed(seed)
    assert torch.equal(z, torch.randn((1000, 300), generator=gen, device=DEV))
    assert z.device.type == "cuda"
    assert abs(z.mean().item()) < 0.01 and abs(z.std().item() - 1) < 0.01


def test_bf16_base_weights_bit_identical_after_many_steps_on_cuda() -> None:
    model = _on_gpu(make_lora_mlp(dtype=torch.bfloat16))
    start = base_weights(model)
    fl = FlatLora(model, FlatLoraConfig(sigma=0.05, seed=0))
    train(model, fl, _gpu_data(), steps=300, lr=1e-3)
    end = base_weights(model)
    assert all(torch.equal(start[k], end[k]) for k in start)
    assert all(v.device.type == "cuda" for v in end.values())


def test_gradients_equal_materialized_w_plus_eps_on_cuda() -> None:
    model = _on_gpu(make_lora_mlp())
    ref = copy.deepcopy(model)
    fl = FlatLora(model, FlatLoraConfig(sigma=0.2, seed=11, schedule="constant"))
    x, y = _gpu_data(1)[0]
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    with fl.perturb(4, 10):
        nn.functional.cross_entropy(model(x1), y).backward()
    sigma_t = fl.sigma_at(4, 10)
    with torch.no_grad():
        for st in FlatLora(ref, fl.config).layers:
            lay = st.lora
            w = lay.base_layer.weight  # (m, n)
            merged = w + lay.scaling["default"] * lay.lora_B["default"].weight @ lay.lora_A["default"].weight
            scale = sigma_t * merged.norm(dim=1) / w.shape[1] ** 0.5
            gen = torch.Generator(device=DEV).manual_seed(noise_seed(fl.seed, 4, st.index))
            w.add_(scale[:, None] * torch.randn(w.shape, generator=gen, device=DEV))
    nn.functional.cross_entropy(ref(x2), y).backward()
    for (k, p), (_, q) in zip(model.named_parameters(), ref.named_parameters(), strict=True):
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4, msg=k)
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-4)


class _Placement(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.devices: set[str] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, tuple | list) else (out,):
            if isinstance(t, torch.Tensor) and t.dim() > 0:
                self.devices.add(t.device.type)
        return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_tensor_on_the_device_and_no_host_sync_inside_the_step(dtype: torch.dtype) -> None:
    model = _on_gpu(make_lora_mlp(dtype=dtype))
    fl = FlatLora(model, FlatLoraConfig(sigma=0.1, seed=0, schedule="constant"))
    x, y = _gpu_data(1)[0]
    x = x.to(dtype).requires_grad_(True)
    with fl.perturb(1, 10):  # warm-up: caches and generators created
        nn.functional.cross_entropy(model(x).float(), y).backward()
    log = _Placement()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any host synchronisation raises
    try:
        with log, fl.perturb(2, 10):
            nn.functional.cross_entropy(model(x).float(), y).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert log.devices == {"cuda"}
    assert all(st.scale is not None and st.scale.device.type == "cuda" for st in fl.layers)


def test_same_gpu_same_results() -> None:
    runs = []
    for _ in range(2):
        model = _on_gpu(make_lora_mlp())
        train(model, FlatLora(model, FlatLoraConfig(sigma=0.1, seed=3)), _gpu_data(), steps=20)
        runs.append(lora_state(model))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    model = _on_gpu(make_lora_mlp())
    with torch.no_grad():
        assert ce_loss(model, _gpu_data(1)[0]).device.type == "cuda"
