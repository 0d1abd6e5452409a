"""Training-level behaviour: exactness in bf16, determinism, resume, SAM baselines, flatness, quantized."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from flatlora import FlatLora, FlatLoraConfig, SamAB, SamW, flatness

from .conftest import IN, base_weights, ce_loss, lora_state, make_data, make_lora_mlp, train


@pytest.mark.parametrize("mode", ["exact", "inplace"])
def test_bf16_200_steps_base_weights_exact_only_in_exact_mode(mode: str) -> None:
    model = make_lora_mlp(dtype=torch.bfloat16)
    start = base_weights(model)
    fl = FlatLora(model, FlatLoraConfig(sigma=0.05, seed=0, mode=mode))
    train(model, fl, make_data(4), steps=200, lr=1e-3)
    end = base_weights(model)
    changed = sum(int((start[k] != end[k]).sum()) for k in start)
    total = sum(v.numel() for v in start.values())
    if mode == "exact":
        assert changed == 0  # bit-identical
    else:
        # W += eps; W -= eps does not cancel in bf16: the reference implementation drifts
        assert changed / total > 0.2, changed / total
        drift = max(
            float((end[k].float() - start[k].float()).norm() / start[k].float().norm()) for k in start
        )
        assert drift > 1e-3


def test_inplace_matches_exact_in_fp64() -> None:
    """In-place mode is the same perturbation (same seeds, same scales) -- only its rounding differs."""
    model = make_lora_mlp().double()
    twin = copy.deepcopy(model)
    data = [(x.double(), y) for x, y in make_data(2)]
    train(model, FlatLora(model, FlatLoraConfig(sigma=0.1, mode="exact")), data, steps=6)
    train(twin, FlatLora(twin, FlatLoraConfig(sigma=0.1, mode="inplace")), data, steps=6)
    for k, v in lora_state(model).items():
        torch.testing.assert_close(v, lora_state(twin)[k], atol=1e-10, rtol=1e-10)


def test_same_seed_same_adapters_other_seed_different() -> None:
    runs = {}
    for tag, seed in (("a", 0), ("b", 0), ("c", 1)):
        model = make_lora_mlp()
        train(model, FlatLora(model, FlatLoraConfig(sigma=0.1, seed=seed)), make_data(), steps=8)
        runs[tag] = lora_state(model)
    assert all(torch.equal(runs["a"][k], runs["b"][k]) for k in runs["a"])
    assert any(not torch.equal(runs["a"][k], runs["c"][k]) for k in runs["a"])


def test_resume_from_step_k_equals_uninterrupted_run() -> None:
    data, cfg, total, k = make_data(), FlatLoraConfig(sigma=0.1, seed=4), 10, 4
    full = make_lora_mlp()
    train(full, FlatLora(full, cfg), data, steps=total)

    first = make_lora_mlp()
    opt = train(first, FlatLora(first, cfg), data, steps=k, total=total)  # interrupted after k steps
    ckpt = {"lora": copy.deepcopy(lora_state(first)), "opt": copy.deepcopy(opt.state_dict())}
    del first, opt

    resumed = make_lora_mlp(seed=99)  # fresh process: different init, then load the checkpoint
    resumed.load_state_dict(make_lora_mlp().state_dict())
    with torch.no_grad():
        for name, p in resumed.named_parameters():
            if name in ckpt["lora"]:
                p.copy_(ckpt["lora"][name])
    opt2 = torch.optim.AdamW([p for p in resumed.parameters() if p.requires_grad], lr=1e-2)
    opt2.load_state_dict(ckpt["opt"])
    # t is the optimizer step, T the total: noise and sigma_t at steps k.. are those of the full run
    train(resumed, FlatLora(resumed, cfg), data, steps=total, start=k, opt=opt2)
    assert all(torch.equal(v, lora_state(resumed)[n]) for n, v in lora_state(full).items())


def test_nested_perturb_is_rejected(lora_mlp: nn.Module) -> None:
    fl = FlatLora(lora_mlp, FlatLoraConfig(schedule="constant"))
    with fl.perturb(1, 2), pytest.raises(RuntimeError, match="cannot be nested"), fl.perturb(1, 2):
        pass


def test_model_without_lora_or_with_unsupported_layer_raises() -> None:
    with pytest.raises(ValueError, match="no LoRA layers"):
        FlatLora(nn.Linear(3, 3), FlatLoraConfig())

    class Emb(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10, 4)

    model = get_peft_model(Emb(), LoraConfig(r=2, target_modules=["emb"]))
    with pytest.raises(NotImplementedError, match=r"layer '.*emb' wraps Embedding"):
        FlatLora(model, FlatLoraConfig())


class FakeQuantLinear(nn.Module):
    """Stands in for an HQQ layer: integer storage + ``dequantize()``, which PEFT's accessor calls."""

    def __init__(self, lin: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = lin.in_features, lin.out_features
        self.W_q = nn.Parameter(torch.zeros(1, dtype=torch.int8), requires_grad=False)
        self.register_buffer("_dense", lin.weight.detach().clone())
        self.bias = lin.bias
        self.dequantized = 0  # calls from outside the layer's own kernel

    def dequantize(self) -> torch.Tensor:
        self.dequantized += 1
        return self._dense.clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # its own kernel: no dequantize() call
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self._dense.T).view(*x.shape[:-1], -1)


def test_quantized_base_layer_is_dequantized_or_rejected_never_skipped() -> None:
    dense = make_lora_mlp()
    quant = copy.deepcopy(dense)
    l1 = quant.base_model.model.l1
    l1.base_layer = FakeQuantLinear(l1.base_layer)

    with pytest.raises(ValueError, match=r"layer '.*l1' has a quantized base layer \(FakeQuantLinear\)"):
        FlatLora(quant, FlatLoraConfig(on_quantized="error"))
    with pytest.raises(ValueError, match=r"'inplace' cannot write into quantized"):
        FlatLora(quant, FlatLoraConfig(mode="inplace"))

    cfg = FlatLoraConfig(sigma=0.2, schedule="constant")
    fq, fd = FlatLora(quant, cfg), FlatLora(dense, cfg)
    assert fq.layers[0].quantized and not fd.layers[0].quantized
    x = torch.randn(6, IN, requires_grad=True)
    xd = x.detach().clone().requires_grad_(True)
    fake = quant.base_model.model.l1.base_layer
    fake.dequantized = 0
    with fq.perturb(3, 5):
        yq = quant(x)
        yq.sum().backward()
    with fd.perturb(3, 5):
        yd = dense(xd)
        yd.sum().backward()
    torch.testing.assert_close(yq, yd, atol=1e-6, rtol=0)  # same noise as the dense layer
    torch.testing.assert_close(x.grad, xd.grad, atol=1e-6, rtol=0)  # and the same backward
    assert not torch.allclose(yq, quant(x), atol=1e-4)  # and the noise is really applied
    assert quant.base_model.model.l1.lora_A["default"].weight.grad is not None
    # forward and backward draw, one step: a single dequantization (for the row norms)
    assert fake.dequantized == 1
    with fq.perturb(3, 5):  # a second micro-batch of the same step reuses the norms
        quant(x).sum().backward()
    assert fake.dequantized == 1


@pytest.mark.parametrize("cls", [SamAB, SamW])
def test_sam_variants_step_and_reduce_the_loss(cls: type) -> None:
    model = make_lora_mlp()
    w0 = base_weights(model)
    data = make_data(2)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    sam = cls(model, opt, rho=0.05)
    with torch.no_grad():
        before = sum(float(ce_loss(model, b)) for b in data)
    first_losses = []
    for step in range(30):
        batch = data[step % 2]

        def closure(batch: tuple = batch) -> torch.Tensor:
            loss = ce_loss(model, batch)
            loss.backward()
            return loss

        first_losses.append(float(sam.step(closure)))
        opt.zero_grad()
    with torch.no_grad():
        after = sum(float(ce_loss(model, b)) for b in data)
    assert after < 0.7 * before, (before, after)
    with torch.no_grad():
        assert first_losses[0] == pytest.approx(float(ce_loss(make_lora_mlp(), data[0])), rel=1e-6)
    end = base_weights(model)
    assert all(torch.equal(w0[k], end[k]) for k in w0)  # W restored bit-exactly (and never trained)
    assert all(
        not p.requires_grad and p.grad is None for k, p in model.named_parameters() if "base_layer" in k
    )


@pytest.mark.parametrize("cls", [SamAB, SamW])
def test_sam_second_gradient_is_taken_at_the_perturbed_point(cls: type) -> None:
    model = make_lora_mlp()
    batch = make_data(1)[0]
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)
    grads: list[torch.Tensor] = []

    def closure() -> torch.Tensor:
        loss = ce_loss(model, batch)
        loss.backward()
        grads.append(model.base_model.model.l1.lora_B["default"].weight.grad.clone())
        return loss

    cls(model, opt, rho=0.5).step(closure)
    assert len(grads) == 2 and not torch.allclose(grads[0], grads[1], atol=1e-6)


def test_sam_rejects_bad_rho(lora_mlp: nn.Module) -> None:
    opt = torch.optim.SGD([p for p in lora_mlp.parameters() if p.requires_grad], lr=0.1)
    with pytest.raises(ValueError, match=r"`rho` must be > 0, got -1"):
        SamAB(lora_mlp, opt, rho=-1)


def test_flatness_probe_restores_weights_and_grows_with_sigma(lora_mlp: nn.Module) -> None:
    data = make_data(2)
    before = {k: v.clone() for k, v in lora_mlp.state_dict().items()}
    lora_mlp.train()
    res = flatness(lora_mlp, data, sigmas=(0.0, 0.05, 0.5), k=4, seed=0, loss_fn=ce_loss)
    assert lora_mlp.training
    assert all(torch.equal(before[k], v) for k, v in lora_mlp.state_dict().items())
    assert res.k == 4 and res.sigmas == [0.0, 0.05, 0.5]
    assert res.base_loss == pytest.approx(sum(float(ce_loss(lora_mlp, b)) for b in data) / 2)
    assert res.mean_increase[0] == 0.0 and res.std_increase[0] == 0.0
    assert res.mean_increase[2] > res.mean_increase[1] and res.std_increase[2] > 0
    again = flatness(lora_mlp, data, sigmas=(0.0, 0.05, 0.5), k=4, seed=0, loss_fn=ce_loss)
    assert again.to_dict() == res.to_dict()
    assert set(res.to_dict()) == {"sigmas", "base_loss", "mean_increase", "std_increase", "k"}
    wider = flatness(lora_mlp, data, sigmas=(0.5,), k=4, seed=0, loss_fn=ce_loss, include_other_linear=True)
    assert wider.mean_increase[0] != res.mean_increase[2]
    with pytest.raises(ValueError, match=r"`k` must be >= 1, got 0"):
        flatness(lora_mlp, data, k=0, loss_fn=ce_loss)


def test_flatness_weights_make_split_batches_give_the_unsplit_loss(lora_mlp: nn.Module) -> None:
    """Rows cut into smaller batches, each weighted by its share of the rows, give the probe's numbers
    on the uncut batch: the loss is a weighted mean of the batches' mean losses."""
    whole = make_data(1, batch=24)[0]
    x, y = whole
    parts = [(x[:5], y[:5]), (x[5:16], y[5:16]), (x[16:], y[16:])]  # 5, 11, 8 rows
    ref = flatness(lora_mlp, [whole], sigmas=(0.05, 0.5), k=5, seed=3, loss_fn=ce_loss)
    got = flatness(
        lora_mlp, parts, sigmas=(0.05, 0.5), k=5, seed=3, loss_fn=ce_loss, weights=[5 / 24, 11 / 24, 8 / 24]
    )
    assert got.base_loss == pytest.approx(ref.base_loss, abs=1e-6)
    assert got.mean_increase == pytest.approx(ref.mean_increase, abs=1e-6)
    assert got.std_increase == pytest.approx(ref.std_increase, abs=1e-6)
    unweighted = flatness(lora_mlp, parts, sigmas=(0.05, 0.5), k=5, seed=3, loss_fn=ce_loss)
    assert abs(unweighted.base_loss - ref.base_loss) > 1e-4  # unequal batches: the weights matter
    with pytest.raises(ValueError, match=r"`weights` must be one positive number per batch \(3\)"):
        flatness(lora_mlp, parts, k=5, loss_fn=ce_loss, weights=[1.0, 1.0])


def _lora_mlp_with_trained_head() -> nn.Module:
    torch.manual_seed(0)
    from .conftest import TinyMLP

    cfg = LoraConfig(
        r=4, lora_alpha=8, target_modules=["l1", "l2"], modules_to_save=["head"], init_lora_weights=False
    )
    return get_peft_model(TinyMLP(), cfg)


@pytest.mark.parametrize(("scope", "head_perturbed"), [("lora_layers", False), ("trainable", True)])
def test_sam_ab_perturbs_the_lora_layers_only_by_default(scope: str, head_perturbed: bool) -> None:
    model = _lora_mlp_with_trained_head()
    head = model.base_model.model.head.modules_to_save["default"].weight
    assert head.requires_grad  # the head is trained ...
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)
    sam = SamAB(model, opt, rho=0.5, scope=scope)
    assert (any(p is head for p in sam.params)) == head_perturbed
    assert len(sam.params) == (6 if head_perturbed else 4)  # A, B of l1 and l2 (+ head weight, bias)
    batch = make_data(1)[0]
    seen: list[torch.Tensor] = []

    def closure() -> torch.Tensor:
        seen.append(head.detach().clone())  # the head as the second pass sees it
        loss = ce_loss(model, batch)
        loss.backward()
        return loss

    sam.step(closure)
    assert torch.equal(seen[0], seen[1]) != head_perturbed  # ... but ascended only with scope="trainable"
    with pytest.raises(ValueError, match=r"`scope` must be one of .*got 'all'"):
        SamAB(model, opt, scope="all")
