"""Tiny config-built models shared by the flatlora tests (CPU, fp32 unless stated)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import Tensor, nn

from flatlora import FlatLora

IN, HID, OUT, CLASSES = 37, 53, 29, 3  # odd sizes: no activation shares m*n with a weight


class TinyMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Linear(IN, HID)
        self.l2 = nn.Linear(HID, OUT)
        self.head = nn.Linear(OUT, CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.tanh(self.l2(torch.tanh(self.l1(x)))))


def make_lora_mlp(seed: int = 0, dtype: torch.dtype = torch.float32, dropout: float = 0.0) -> nn.Module:
    """TinyMLP with LoRA r=4 on l1, l2 and B != 0 (init_lora_weights=False), so W' != W."""
    torch.manual_seed(seed)
    base = TinyMLP().to(dtype)
    cfg = LoraConfig(
        r=4, lora_alpha=8, target_modules=["l1", "l2"], lora_dropout=dropout, init_lora_weights=False
    )
    return get_peft_model(base, cfg)


def make_data(n_batches: int = 4, batch: int = 8, seed: int = 123) -> list[tuple[Tensor, Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(batch, IN, generator=g), torch.randint(0, CLASSES, (batch,), generator=g))
        for _ in range(n_batches)
    ]


def ce_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    x, y = batch
    out = model(x.to(next(model.parameters()).dtype))
    return nn.functional.cross_entropy(out.float(), y)


def train(
    model: nn.Module,
    fl: FlatLora | None,
    data: list[tuple[Tensor, Tensor]],
    steps: int,
    start: int = 0,
    opt: torch.optim.Optimizer | None = None,
    lr: float = 1e-2,
    total: int | None = None,
) -> torch.optim.Optimizer:
    """The plain loop from the README: one optimizer step per batch, noise keyed by (step, total)."""
    total = steps if total is None else total
    if opt is None:
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    for step in range(start, steps):
        batch = data[step % len(data)]
        if fl is not None:
            with fl.perturb(step, total):
                ce_loss(model, batch).backward()
        else:
            ce_loss(model, batch).backward()
        opt.step()
        opt.zero_grad()
    return opt


def lora_state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if "lora_" in k}


def base_weights(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if "base_layer" in k}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models: intra-op threads only add contention on the shared 2-core CI machine."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture
def lora_mlp() -> nn.Module:
    return make_lora_mlp()


@pytest.fixture
def clone() -> Callable[[nn.Module], nn.Module]:
    return copy.deepcopy
