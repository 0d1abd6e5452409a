"""FlatLora: wraps a PEFT LoRA model without forking PEFT.

Inside ``with fl.perturb(step, total_steps):`` every LoRA-wrapped base layer computes
y = x (W + eps)^T + b, and PEFT adds s B A x on top as usual, so the model sees W + sBA + eps.
Exact mode replaces the base layer's ``forward`` (an instance attribute, removed at context exit)
with :class:`~flatlora.perturb.NoisyLinearFn`; in-place mode reproduces the reference code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from peft.tuners.lora import LoraLayer
from peft.utils.integrations import dequantize_module_weight
from torch import Tensor, nn
from transformers.pytorch_utils import Conv1D

from flatlora.config import FlatLoraConfig
from flatlora.perturb import (
    NoisyLinearFn,
    merged_row_norms_sq,
    noise_seed,
    out_in_view,
    row_norms_sq,
    row_scale,
    standard_noise,
)
from flatlora.schedule import sigma_schedule

_QUANTIZED_PARAM_CLASSES = ("Params4bit", "Int8Params")


def is_quantized(module: nn.Module) -> bool:
    """True for base layers whose weight is not a plain floating-point tensor (bnb, HQQ, torchao, int)."""
    if hasattr(module, "W_q"):
        return True
    weight = getattr(module, "weight", None)
    if weight is None:
        return False
    if type(weight).__module__.startswith("torchao.") or type(weight).__name__ in _QUANTIZED_PARAM_CLASSES:
        return True
    return isinstance(weight, Tensor) and not weight.is_floating_point()


@dataclass
class LayerState:
    """One LoRA-wrapped layer: where it is, how to read W, and its cached ||W_i||^2."""

    name: str
    index: int
    lora: LoraLayer
    base: nn.Module
    fan_in_fan_out: bool
    quantized: bool
    w_sq: Tensor | None = None
    w_key: tuple[int, int, bool] | None = None

    def dense_weight(self) -> Tensor:
        """The stored dense weight (dequantized on the fly for quantized layers)."""
        if self.quantized:
            w = dequantize_module_weight(self.base)
            return w.detach()
        return self.base.weight  # type: ignore[return-value]

    def out_in(self) -> Tensor:
        return out_in_view(self.dense_weight(), self.fan_in_fan_out)  # (m, n)

    def base_row_norms_sq(self, w: Tensor, use_cache: bool = True) -> Tensor:
        """||W_i||^2, cached while the stored weight is unchanged (pointer, version, merge state)."""
        if self.quantized or not use_cache:
            return row_norms_sq(w)
        key = (w.data_ptr(), self.base.weight._version, bool(self.lora.merged))
        if self.w_sq is None or key != self.w_key:
            self.w_sq, self.w_key = row_norms_sq(w), key
        return self.w_sq

    def merged_norms_sq(self, use_cache: bool = True) -> Tensor:
        """||W'_i||^2 for W' = W + sum over active adapters of s B A (detached)."""
        w = self.out_in()
        w_sq = self.base_row_norms_sq(w, use_cache)
        if self.lora.merged or self.lora.disable_adapters:
            return w_sq  # W already holds W' (merged) or the adapters are off
        a_list: list[Tensor] = []
        b_list: list[Tensor] = []
        s_list: list[float] = []
        for name in self.lora.active_adapters:
            if name not in self.lora.lora_A:
                continue
            if name in getattr(self.lora, "lora_variant", {}):
                raise NotImplementedError(
                    f"Flat-LoRA: layer '{self.name}' uses a LoRA variant (e.g. DoRA) for adapter '{name}'; "
                    "only vanilla LoRA is supported"
                )
            a_list.append(self.lora.lora_A[name].weight)  # type: ignore[arg-type]  # (r, n)
            b_list.append(self.lora.lora_B[name].weight)  # type: ignore[arg-type]  # (m, r)
            s_list.append(float(self.lora.scaling[name]))
        return merged_row_norms_sq(w, w_sq, a_list, b_list, s_list)


def find_lora_layers(model: nn.Module, config: FlatLoraConfig) -> list[LayerState]:
    """Every LoRA-wrapped layer in ``named_modules`` order (stable across processes and ranks)."""
    layers: list[LayerState] = []
    for name, module in model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        base = module.get_base_layer()
        quantized = is_quantized(base)
        if quantized:
            if config.on_quantized == "error":
                raise ValueError(
                    f"Flat-LoRA: layer '{name}' has a quantized base layer ({type(base).__name__}) and "
                    "`on_quantized` is 'error'; set on_quantized='dequantize' to perturb its dequantized weight"
                )
            if config.mode == "inplace":
                raise ValueError(
                    f"Flat-LoRA: layer '{name}' is quantized ({type(base).__name__}); `mode`='inplace' cannot "
                    "write into quantized weights, use mode='exact'"
                )
        elif not isinstance(base, nn.Linear | Conv1D):
            raise NotImplementedError(
                f"Flat-LoRA: layer '{name}' wraps {type(base).__name__}; only nn.Linear, transformers Conv1D "
                "and quantized linear layers are supported"
            )
        fan_in_fan_out = isinstance(base, Conv1D) or bool(getattr(module, "fan_in_fan_out", False))
        layers.append(LayerState(name, len(layers), module, base, fan_in_fan_out, quantized))
    if not layers:
        raise ValueError("Flat-LoRA: the model has no LoRA layers (wrap it with peft.get_peft_model first)")
    return layers


class FlatLora:
    """Random weight perturbation of the merged weights W + sBA, applied per optimizer step.

    >>> fl = FlatLora(peft_model, FlatLoraConfig(sigma=0.05, seed=0))
    >>> with fl.perturb(step, total_steps):
    ...     model(**batch).loss.backward()
    """

    def __init__(self, model: nn.Module, config: FlatLoraConfig | None = None) -> None:
        self.model = model
        self.config = config if config is not None else FlatLoraConfig()
        self.layers = find_lora_layers(model, self.config)
        self._active = False

    def sigma_at(self, step: int, total_steps: int) -> float:
        c = self.config
        return sigma_schedule(c.sigma, step, total_steps, c.schedule)

    def layer_seed(self, step: int, layer: LayerState) -> int:
        return noise_seed(self.config.seed, step, layer.index)

    @contextlib.contextmanager
    def perturb(self, step: int, total_steps: int) -> Iterator[float]:
        """Forward (and backward) passes inside see W + sBA + eps for optimizer step ``step``.

        Yields sigma_t. All micro-batches of one step must run inside contexts with the same ``step``:
        they then see the same eps. With sigma_t == 0 the model is left untouched.
        """
        if self._active:
            raise RuntimeError("Flat-LoRA: perturb() contexts cannot be nested")
        sigma_t = self.sigma_at(step, total_steps)
        if sigma_t == 0.0:
            yield sigma_t
            return
        self._active = True
        try:
            if self.config.mode == "exact":
                with self._exact(step, sigma_t):
                    yield sigma_t
            else:
                with self._inplace(step, sigma_t):
                    yield sigma_t
        finally:
            self._active = False

    # ------------------------------------------------------------------ exact mode
    @contextlib.contextmanager
    def _exact(self, step: int, sigma_t: float) -> Iterator[None]:
        installed: list[tuple[nn.Module, Any]] = []
        try:
            for layer in self.layers:
                prev = layer.base.__dict__.get("forward")
                layer.base.forward = self._make_forward(layer, step, sigma_t)
                installed.append((layer.base, prev))
            yield
        finally:
            for base, prev in reversed(installed):
                del base.forward
                if prev is not None:
                    base.forward = prev

    def _make_forward(self, layer: LayerState, step: int, sigma_t: float) -> Callable[..., Tensor]:
        seed = self.layer_seed(step, layer)
        memo: dict[str, Tensor] = {}

        def forward(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
            if args or kwargs:
                raise TypeError(f"Flat-LoRA: unexpected extra arguments to base layer '{layer.name}'")
            weight = layer.dense_weight()
            if "scale" not in memo:  # once per context: A, B do not change within a step
                n = out_in_view(weight, layer.fan_in_fan_out).shape[1]
                memo["scale"] = row_scale(layer.merged_norms_sq(), sigma_t, n)  # (m,)
            bias = getattr(layer.base, "bias", None)
            return NoisyLinearFn.apply(
                x, weight, bias, memo["scale"], seed, layer.dense_weight, layer.fan_in_fan_out
            )

        return forward

    # ------------------------------------------------------------------ in-place mode
    @contextlib.contextmanager
    def _inplace(self, step: int, sigma_t: float) -> Iterator[None]:
        """Reference behaviour: W += eps on entry, W -= eps (regenerated) on exit. Not exact in bf16/fp16."""
        done: list[tuple[LayerState, Tensor, int]] = []
        try:
            for layer in self.layers:
                w = layer.out_in().data  # (m, n) view of the stored weight
                scale = row_scale(layer.merged_norms_sq(use_cache=False), sigma_t, w.shape[1])
                seed = self.layer_seed(step, layer)
                z = standard_noise((w.shape[0], w.shape[1]), seed, w.device, w.dtype)
                w.addcmul_(z, scale.to(w.dtype).unsqueeze(1))
                done.append((layer, scale, seed))
            yield
        finally:
            for layer, scale, seed in reversed(done):
                w = layer.out_in().data
                z = standard_noise((w.shape[0], w.shape[1]), seed, w.device, w.dtype)
                w.addcmul_(z, scale.to(w.dtype).unsqueeze(1), value=-1.0)

    def noise(self, layer: LayerState, step: int, total_steps: int) -> Tensor:
        """The eps (m, n) that ``layer`` sees at ``step`` (materialized; for tests and inspection)."""
        w = layer.out_in()
        scale = row_scale(layer.merged_norms_sq(), self.sigma_at(step, total_steps), w.shape[1])
        z = standard_noise((w.shape[0], w.shape[1]), self.layer_seed(step, layer), w.device, w.dtype)
        return z * scale.to(w.dtype).unsqueeze(1)
