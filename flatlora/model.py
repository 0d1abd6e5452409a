"""FlatLora: wraps a PEFT LoRA model without forking PEFT.

Inside ``with fl.perturb(step, total_steps):`` every LoRA-wrapped base layer computes
y = x (W + eps)^T + b, and PEFT adds s B A x on top as usual, so the model sees W + sBA + eps.
Exact mode leaves the base layer's ``forward`` (and any hook installed there, e.g. accelerate's
device-placement hooks) alone: a forward pre-hook and a forward hook on the base layer open a
:class:`~torch.overrides.TorchFunctionMode` around its call that routes only the layer's own
``F.linear`` (``torch.addmm`` for Conv1D) through :class:`~flatlora.perturb.NoisyLinearFn`, with the
weight the layer's forward actually passed. Quantized base layers run their own kernel and get the
noise term x eps^T added (:class:`~flatlora.perturb.NoiseTermFn`). In-place mode reproduces the
reference code.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from peft.tuners.lora import LoraLayer
from peft.utils.integrations import dequantize_module_weight
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils.hooks import RemovableHandle
from transformers.pytorch_utils import Conv1D

from flatlora.config import FlatLoraConfig
from flatlora.perturb import (
    ContextToken,
    NoiseTermFn,
    NoisyLinearFn,
    column,
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


def distributed_rank() -> int:
    """This process's torch.distributed rank (0 when not running distributed)."""
    dist = torch.distributed
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _in_backward() -> bool:
    """True while the autograd engine runs a backward pass (where checkpointing recomputes forwards)."""
    return bool(torch._C._current_graph_task_id() != -1)


def _tensor_key(t: Any) -> tuple[int, int]:
    return (t.data_ptr(), t._version)


@dataclass
class LayerState:
    """One LoRA-wrapped layer: where it is, how to read W, and its cached norms."""

    name: str
    index: int
    lora: LoraLayer
    base: nn.Module
    fan_in_fan_out: bool
    quantized: bool
    w_sq: Tensor | None = None
    w_key: tuple[Any, ...] | None = None
    scale: Tensor | None = None
    scale_key: tuple[Any, ...] | None = None
    noise_dtype: torch.dtype | None = None  # quantized layers: the dequantized weight's dtype

    def dense_weight(self) -> Tensor:
        """The stored dense weight (dequantized on the fly for quantized layers)."""
        if self.quantized:
            w = dequantize_module_weight(self.base)
            return w.detach()
        return self.base.weight  # type: ignore[return-value]

    def out_in(self) -> Tensor:
        return out_in_view(self.dense_weight(), self.fan_in_fan_out)  # (m, n)

    def _stored_key(self) -> tuple[Any, ...]:
        """Identifies the stored weight's contents: storage, version, device, merge state."""
        stored = getattr(self.base, "W_q", None) if self.quantized else None
        if not isinstance(stored, Tensor):
            stored = self.base.weight
        assert isinstance(stored, Tensor)
        return (stored.data_ptr(), stored._version, stored.device, bool(self.lora.merged))

    def base_row_norms_sq(self, w: Tensor, use_cache: bool = True) -> Tensor:
        """||W_i||^2, cached while the stored weight is unchanged."""
        if not use_cache:
            return row_norms_sq(w)
        key = self._stored_key()
        if self.w_sq is None or key != self.w_key:
            self.w_sq, self.w_key = row_norms_sq(w), key
        return self.w_sq

    def _adapters(self) -> list[str]:
        if self.lora.merged or self.lora.disable_adapters:
            return []  # W already holds W' (merged) or the adapters are off
        names = []
        for name in self.lora.active_adapters:
            if name not in self.lora.lora_A:
                continue
            if name in getattr(self.lora, "lora_variant", {}):
                raise NotImplementedError(
                    f"Flat-LoRA: layer '{self.name}' uses a LoRA variant (e.g. DoRA) for adapter '{name}'; "
                    "only vanilla LoRA is supported"
                )
            names.append(name)
        return names

    def merged_norms_sq(self, use_cache: bool = True, weight: Tensor | None = None) -> Tensor:
        """||W'_i||^2 for W' = W + sum over active adapters of s B A (detached). ``weight``: the (m, n)
        view to use instead of reading (or dequantizing) it again."""
        w = self.out_in() if weight is None else weight
        w_sq = self.base_row_norms_sq(w, use_cache)
        names = self._adapters()
        a_list = [self.lora.lora_A[n].weight for n in names]  # (r, n) each
        b_list = [self.lora.lora_B[n].weight for n in names]  # (m, r) each
        s_list = [float(self.lora.scaling[n]) for n in names]
        return merged_row_norms_sq(w, w_sq, a_list, b_list, s_list)  # type: ignore[arg-type]

    def step_scale(self, step: int, sigma_t: float, weight: Tensor | None = None) -> Tensor:
        """The (m,) row scale of eps at ``step``: computed once per optimizer step and reused by every
        micro-batch (A and B only change at the optimizer step, which bumps their versions)."""
        lora = self.lora
        adapters = tuple(
            (
                n,
                *_tensor_key(lora.lora_A[n].weight),
                *_tensor_key(lora.lora_B[n].weight),
                float(lora.scaling[n]),
            )
            for n in self._adapters()
        )
        key = (step, sigma_t, self._stored_key(), adapters)
        if self.scale is None or key != self.scale_key:
            w = self.out_in() if weight is None else weight  # (m, n); at most one dequantization
            if self.quantized:
                self.noise_dtype = w.dtype
            self.scale = row_scale(self.merged_norms_sq(weight=w), sigma_t, w.shape[1])
            self.scale_key = key
        return self.scale


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


class _NoisyCall(TorchFunctionMode):
    """Active only while one base layer runs: its own linear op becomes the noisy one."""

    def __init__(self, noisy: _ExactLayer) -> None:
        super().__init__()
        self.noisy = noisy

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        weight: Any = self.noisy.layer.base.weight
        if func is nn.functional.linear:
            x = args[0] if args else kwargs["input"]
            w = args[1] if len(args) > 1 else kwargs.get("weight")
            if w is weight:
                b = args[2] if len(args) > 2 else kwargs.get("bias")
                return self.noisy.apply(x, w, b, fan_in_fan_out=False)
        elif func is torch.addmm and len(args) == 3 and not kwargs and args[2] is weight:
            # Conv1D: bias + x @ W with W stored (n, m)
            return self.noisy.apply(args[1], args[2], args[0], fan_in_fan_out=True)
        return func(*args, **kwargs)


class _ExactLayer:
    """The hooks of one dense or quantized layer for one perturb() context."""

    def __init__(self, fl: FlatLora, layer: LayerState, step: int, sigma_t: float, token: ContextToken):
        self.layer, self.step, self.sigma_t, self.token = layer, step, sigma_t, token
        self.seed = fl.layer_seed(step, layer)
        self.mode: _NoisyCall | None = None
        self.hits = 0
        self.col: Tensor | None = None  # (m, 1) row scale in the weight's dtype, once per context

    def install(self) -> list[RemovableHandle]:
        base = self.layer.base
        return [
            base.register_forward_pre_hook(self._pre),
            base.register_forward_hook(self._post, always_call=True),
        ]

    def apply(self, x: Tensor, weight: Tensor, bias: Tensor | None, fan_in_fan_out: bool) -> Tensor:
        self.hits += 1
        col = self.col
        if col is None or col.dtype != weight.dtype or col.device != weight.device:
            view = out_in_view(weight.detach(), fan_in_fan_out)  # (m, n)
            col = self.col = column(self.layer.step_scale(self.step, self.sigma_t, view), weight.dtype)
        out: Tensor = NoisyLinearFn.apply(x, weight, bias, col, self.seed, fan_in_fan_out, self.token)
        return out

    def _pre(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if self.layer.quantized:
            return
        self.hits = 0
        self.mode = _NoisyCall(self)
        self.mode.__enter__()

    def _post(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        if self.layer.quantized:
            if output is None or not args:
                return None
            x = args[0]  # (..., n)
            scale = self.layer.step_scale(self.step, self.sigma_t)  # (m,)
            dtype = self.layer.noise_dtype or x.dtype
            shape = (scale.shape[0], x.shape[-1])
            term = NoiseTermFn.apply(x, scale, self.seed, shape, dtype, self.token)
            return output + term.to(output.dtype)
        mode, self.mode = self.mode, None
        if mode is not None:
            mode.__exit__(None, None, None)
        if output is not None and self.hits == 0:
            raise RuntimeError(
                f"Flat-LoRA: base layer '{self.layer.name}' ({type(module).__name__}) ran without calling "
                "F.linear (torch.addmm for Conv1D) on its weight, so the noise could not be applied"
            )
        return None


class FlatLora:
    """Random weight perturbation of the merged weights W + sBA, applied per optimizer step.

    >>> fl = FlatLora(peft_model, FlatLoraConfig(sigma=0.05, seed=0))
    >>> with fl.perturb(step, total_steps):
    ...     model(**batch).loss.backward()
    """

    def __init__(self, model: nn.Module, config: FlatLoraConfig | None = None) -> None:
        config = config if config is not None else FlatLoraConfig()
        if config.seed is None:
            config = dataclasses.replace(config, seed=0)
        self.model = model
        self.config = config
        self.layers = find_lora_layers(model, self.config)
        self._active = False
        self._tripwires: list[RemovableHandle] = []

    @property
    def seed(self) -> int:
        assert self.config.seed is not None
        return self.config.seed

    def sigma_at(self, step: int, total_steps: int) -> float:
        c = self.config
        return sigma_schedule(c.sigma, step, total_steps, c.schedule)

    def noise_rank(self) -> int:
        """The rank mixed into the noise seeds: this process's rank, or 0 for ``rank_noise='shared'``."""
        return distributed_rank() if self.config.rank_noise == "independent" else 0

    def layer_seed(self, step: int, layer: LayerState) -> int:
        return noise_seed(self.seed, step, layer.index, rank=self.noise_rank())

    @contextlib.contextmanager
    def perturb(self, step: int, total_steps: int) -> Iterator[float]:
        """Forward and backward passes inside see W + sBA + eps for optimizer step ``step``.

        Yields sigma_t. All micro-batches of one step must run inside contexts with the same ``step``:
        they then see the same eps. Backward must run inside the context (checkpointed recomputes too);
        after it closes, a backward through the noisy layers raises. With sigma_t == 0 the model is
        left untouched.
        """
        if self._active:
            raise RuntimeError("Flat-LoRA: perturb() contexts cannot be nested")
        self.remove_hooks()
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

    def remove_hooks(self) -> None:
        """Remove the recompute guards a closed exact-mode context leaves on the base layers."""
        for h in self._tripwires:
            h.remove()
        self._tripwires = []

    # ------------------------------------------------------------------ exact mode
    @contextlib.contextmanager
    def _exact(self, step: int, sigma_t: float) -> Iterator[None]:
        token = ContextToken()
        handles: list[RemovableHandle] = []
        states: list[_ExactLayer] = []
        try:
            for layer in self.layers:
                st = _ExactLayer(self, layer, step, sigma_t, token)
                handles += st.install()
                states.append(st)
            yield
        finally:
            for h in reversed(handles):
                h.remove()
            token.close()  # backward after this point raises; scratch buffers are freed
            self._arm_tripwires()

    def _arm_tripwires(self) -> None:
        """A forward of a noisy layer during a backward pass, outside any context, is a checkpointing
        recompute that would silently compute the unperturbed model: make it an error instead."""

        def guard(module: nn.Module, args: tuple[Any, ...], name: str) -> None:
            if not self._active and _in_backward():
                raise RuntimeError(
                    f"Flat-LoRA: layer '{name}' was recomputed during backward after its perturb() context "
                    "closed (gradient checkpointing); call loss.backward() inside `with fl.perturb(step, total):`"
                )

        for layer in self.layers:
            self._tripwires.append(
                layer.base.register_forward_pre_hook(lambda m, a, name=layer.name: guard(m, a, name))
            )

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
