"""SAM baselines with the same plain-loop shape as Flat-LoRA.

    sam = SamAB(model, base_optimizer, rho=0.05)   # ascent on the LoRA factors A, B
    sam = SamW(model, base_optimizer, rho=0.05)    # ascent on the merged weights W' (paper's Table 6)
    loss = sam.step(closure)                       # closure: zero-free forward + backward, returns loss
    base_optimizer.zero_grad()

Each step costs two forward/backward passes. Perturbed weights are restored from a copy, so the
restore is bit-exact in any precision.

Scope: all three methods perturb the same layers by default, the LoRA-wrapped ones -- SamAB ascends
their A and B, SamW their W (hence W'), Flat-LoRA adds noise to their W'. Other trainable parameters
(e.g. a classifier head in ``modules_to_save``) are trained but not perturbed; ``SamAB(...,
scope="trainable")`` ascends every trainable parameter instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from peft.tuners.lora import LoraLayer
from torch import Tensor, nn

from flatlora.model import is_quantized

Closure = Callable[[], Tensor]
SCOPES: tuple[str, ...] = ("lora_layers", "trainable")


def _validate_rho(rho: float) -> None:
    if not rho > 0:
        raise ValueError(f"`rho` must be > 0, got {rho!r}")


def _ascent(params: list[nn.Parameter], rho: float) -> list[Tensor]:
    """e = rho * g / ||g|| (global norm over ``params``); returns per-parameter e."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
    factor = rho / (norm + 1e-12)
    return [(g.float() * factor).to(g.dtype) for g in grads]


def lora_factors(model: nn.Module) -> list[nn.Parameter]:
    """The trainable A and B weights of the active adapters of every LoRA-wrapped layer."""
    out: list[nn.Parameter] = []
    for module in model.modules():
        if isinstance(module, LoraLayer):
            for name in module.active_adapters:
                if name in module.lora_A:
                    pair: tuple[Any, Any] = (module.lora_A[name].weight, module.lora_B[name].weight)
                    out += [p for p in pair if p.requires_grad]
    return out


class SamAB:
    """SAM on the LoRA factors: W frozen, A and B of the LoRA-wrapped layers get the ascent step.

    ``scope="trainable"`` ascends every parameter the optimizer trains (e.g. a classifier head too).
    """

    def __init__(
        self,
        model: nn.Module,
        base_optimizer: torch.optim.Optimizer,
        rho: float = 0.05,
        scope: str = "lora_layers",
    ) -> None:
        _validate_rho(rho)
        if scope not in SCOPES:
            raise ValueError(f"`scope` must be one of {SCOPES}, got {scope!r}")
        self.model, self.base_optimizer, self.rho, self.scope = model, base_optimizer, rho, scope
        if scope == "trainable":
            self.params = [p for g in base_optimizer.param_groups for p in g["params"] if p.requires_grad]
        else:
            self.params = lora_factors(model)
        if not self.params:
            raise ValueError(f"SamAB: no parameters to perturb with scope={scope!r}")

    def step(self, closure: Closure) -> Tensor:
        """Gradient at theta, ascend to theta + e, gradient there, restore theta, optimizer step."""
        self.base_optimizer.zero_grad(set_to_none=True)
        loss = closure()  # grads at theta
        eps = _ascent(self.params, self.rho)
        backup = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, e in zip(self.params, eps, strict=True):
                p.add_(e)
        self.base_optimizer.zero_grad(set_to_none=True)
        closure()  # grads at theta + e
        with torch.no_grad():
            for p, b in zip(self.params, backup, strict=True):
                p.copy_(b)
        self.base_optimizer.step()
        return loss.detach()


class SamW:
    """SAM on the weights W of LoRA-wrapped layers; the LoRA factors are what the optimizer updates.

    Since W' = W + sBA, dL/dW' = dL/dW, so the ascent on W is the ascent on the merged weight.
    The first pass temporarily enables ``requires_grad`` on the base weights (memory: one W-gradient
    per wrapped layer, fine for small models); they are frozen again before the second pass.
    """

    def __init__(self, model: nn.Module, base_optimizer: torch.optim.Optimizer, rho: float = 0.05) -> None:
        _validate_rho(rho)
        self.model, self.base_optimizer, self.rho = model, base_optimizer, rho
        self.weights: list[nn.Parameter] = []
        for name, module in model.named_modules():
            if isinstance(module, LoraLayer):
                base = module.get_base_layer()
                if is_quantized(base):
                    raise ValueError(f"SamW: layer '{name}' is quantized; SAM on W needs dense weights")
                self.weights.append(base.weight)  # type: ignore[arg-type]
        if not self.weights:
            raise ValueError("SamW: the model has no LoRA layers")

    def step(self, closure: Closure) -> Tensor:
        self.base_optimizer.zero_grad(set_to_none=True)
        flags = [w.requires_grad for w in self.weights]
        try:
            for w in self.weights:
                w.requires_grad_(True)
            loss = closure()  # grads of W (and of A, B, discarded) at W
        finally:
            for w, f in zip(self.weights, flags, strict=True):
                w.requires_grad_(f)
        eps = _ascent(self.weights, self.rho)
        backup = [w.detach().clone() for w in self.weights]
        for w, f in zip(self.weights, flags, strict=True):
            if not f:
                w.grad = None
        try:
            with torch.no_grad():
                for w, e in zip(self.weights, eps, strict=True):
                    w.add_(e)
            self.base_optimizer.zero_grad(set_to_none=True)
            closure()  # LoRA grads at W + e
        finally:
            with torch.no_grad():
                for w, b in zip(self.weights, backup, strict=True):
                    w.copy_(b)  # bit-exact restore
        self.base_optimizer.step()
        return loss.detach()
