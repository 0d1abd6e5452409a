"""Exact-mode gradients equal the gradients of an explicitly materialized W + eps."""

from __future__ import annotations

import copy

import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

from flatlora import FlatLora, FlatLoraConfig
from flatlora.perturb import noise_seed

from .conftest import IN, ce_loss, make_data, make_lora_mlp

NO_DROPOUT = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "bos_token_id": 0, "eos_token_id": 0}


def _materialize_noise(model: nn.Module, fl: FlatLora, step: int) -> None:
    """Reference: W <- W + eps written out in full, from an independent computation of the spec."""
    sigma_t = fl.sigma_at(step, 10)
    with torch.no_grad():
        for st in fl.layers:
            lay = st.lora
            stored = lay.base_layer.weight
            w = stored.T if st.fan_in_fan_out else stored  # (m, n)
            delta = lay.scaling["default"] * lay.lora_B["default"].weight @ lay.lora_A["default"].weight
            scale = sigma_t * (w + delta).norm(dim=1) / w.shape[1] ** 0.5  # (m,)
            gen = torch.Generator().manual_seed(noise_seed(fl.config.seed, step, st.index))
            z = torch.randn(w.shape, generator=gen)
            w.add_(scale[:, None] * z)


def _lora_grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def test_ab_and_input_gradients_equal_materialized_reference() -> None:
    model = make_lora_mlp()
    ref = copy.deepcopy(model)
    fl = FlatLora(model, FlatLoraConfig(sigma=0.2, seed=11, schedule="constant"))
    x, y = make_data(1)[0]
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)

    with fl.perturb(4, 10):
        nn.functional.cross_entropy(model(x1), y).backward()
    _materialize_noise(ref, FlatLora(ref, fl.config), 4)
    nn.functional.cross_entropy(ref(x2), y).backward()

    got, want = _lora_grads(model), _lora_grads(ref)
    assert set(got) == set(want) and len(got) == 4  # A, B of l1 and l2
    for k in got:
        torch.testing.assert_close(got[k], want[k], atol=1e-6, rtol=0)
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-6, rtol=0)
    # and the noise matters: clean gradients differ
    clean = copy.deepcopy(model)
    clean.zero_grad()
    nn.functional.cross_entropy(clean(x), y).backward()
    assert not torch.allclose(_lora_grads(clean)[next(iter(got))], got[next(iter(got))], atol=1e-4)


def test_micro_batches_of_one_step_accumulate_to_the_full_batch_gradient() -> None:
    model = make_lora_mlp()
    twin = copy.deepcopy(model)
    cfg = FlatLoraConfig(sigma=0.2, schedule="constant")
    fl, fl_twin = FlatLora(model, cfg), FlatLora(twin, cfg)
    x, y = make_data(1, batch=8)[0]
    with fl.perturb(3, 10):  # one step, two micro-batches (as Trainer does with accumulation)
        for sl in (slice(0, 4), slice(4, 8)):
            (0.5 * ce_loss(model, (x[sl], y[sl]))).backward()
    with fl_twin.perturb(3, 10):
        ce_loss(twin, (x, y)).backward()
    for k, g in _lora_grads(model).items():
        torch.testing.assert_close(g, _lora_grads(twin)[k], atol=1e-6, rtol=1e-5)


def _tiny_gpt2() -> nn.Module:
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=61, n_embd=32, n_layer=1, n_head=2, n_positions=16, **NO_DROPOUT)
    base = GPT2LMHeadModel(cfg)
    lcfg = LoraConfig(
        r=4, lora_alpha=8, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True, init_lora_weights=False
    )
    return get_peft_model(base, lcfg)


def test_conv1d_fan_in_fan_out_gradients_equal_materialized_reference() -> None:
    model = _tiny_gpt2()
    ref = copy.deepcopy(model)
    fl = FlatLora(model, FlatLoraConfig(sigma=0.2, seed=2, schedule="constant"))
    assert all(st.fan_in_fan_out for st in fl.layers) and len(fl.layers) == 2
    ids = torch.randint(0, 61, (2, 9), generator=torch.Generator().manual_seed(0))
    with fl.perturb(6, 10):
        model(input_ids=ids, labels=ids).loss.backward()
    _materialize_noise(ref, FlatLora(ref, fl.config), 6)
    ref(input_ids=ids, labels=ids).loss.backward()
    got, want = _lora_grads(model), _lora_grads(ref)
    assert len(got) == 4
    for k in got:
        torch.testing.assert_close(got[k], want[k], atol=1e-6, rtol=0)


def test_conv1d_noise_row_std_uses_output_rows() -> None:
    torch.manual_seed(0)
    base = GPT2LMHeadModel(
        GPT2Config(vocab_size=61, n_embd=128, n_layer=1, n_head=2, n_positions=16, **NO_DROPOUT)
    )
    model = get_peft_model(
        base, LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True, init_lora_weights=False)
    )
    fl = FlatLora(model, FlatLoraConfig(sigma=0.3, schedule="constant"))
    layer = fl.layers[0].lora
    eye = torch.eye(128)
    with torch.no_grad():
        clean = layer(eye)
        with fl.perturb(1, 2):
            eps = (layer(eye) - clean).T  # (384, 128): output rows
    w = layer.base_layer.weight.detach().T  # (m, n)
    merged = w + layer.scaling["default"] * layer.lora_B["default"].weight @ layer.lora_A["default"].weight
    expected = 0.3 * merged.detach().norm(dim=1) / 128**0.5
    z = eps / expected[:, None]
    assert abs(z.std().item() - 1) < 0.02  # 49k samples
    assert (eps.std(dim=1) / expected).sub(1).abs().max() < 0.3


def test_weight_and_bias_gradients_when_base_is_trainable() -> None:
    """If a user unfreezes W (or bias), the noisy layer still returns their gradients (at W + eps)."""
    model = make_lora_mlp()
    ref = copy.deepcopy(model)
    for m in (model, ref):
        m.base_model.model.l1.base_layer.weight.requires_grad_(True)
        m.base_model.model.l1.base_layer.bias.requires_grad_(True)
    fl = FlatLora(model, FlatLoraConfig(sigma=0.2, schedule="constant"))
    x = torch.randn(5, IN)
    with fl.perturb(2, 10):
        model(x).sum().backward()
    _materialize_noise(ref, FlatLora(ref, fl.config), 2)
    ref(x).sum().backward()
    for name in ("weight", "bias"):
        got = getattr(model.base_model.model.l1.base_layer, name).grad
        want = getattr(ref.base_model.model.l1.base_layer, name).grad
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
