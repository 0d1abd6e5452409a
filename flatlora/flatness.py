"""Flatness probe: how much does the loss rise under random filter-wise weight perturbations?

For each sigma, k draws perturb every merged weight W' = W + sBA of the LoRA-wrapped layers with
eps_ij ~ N(0, sigma^2/n * ||W'_i||^2) -- the same filter-wise noise Flat-LoRA trains against. Other
Linear layers (e.g. a freshly trained classifier head) are left alone by default so LoRA and
Flat-LoRA runs are compared on exactly the weights Flat-LoRA perturbs; ``include_other_linear=True``
perturbs every other nn.Linear / Conv1D weight as well. The perturbation is added to the stored
base weight (PEFT adds sBA on top); weights are restored bit-exactly from a copy after each draw.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
from peft.tuners.lora import LoraLayer
from torch import Tensor, nn
from transformers.pytorch_utils import Conv1D

from flatlora.config import FlatLoraConfig
from flatlora.model import LayerState, find_lora_layers
from flatlora.perturb import noise_seed, out_in_view, row_norms_sq, row_scale, standard_noise

LossFn = Callable[[nn.Module, Any], Tensor]
_FLATNESS_STREAM = 0xF1A7


@dataclass
class FlatnessResult:
    sigmas: list[float]
    base_loss: float
    mean_increase: list[float]
    std_increase: list[float]  # ddof=1 over the k draws (0.0 when k == 1)
    k: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _default_loss(model: nn.Module, batch: Any) -> Tensor:
    out = model(**batch) if isinstance(batch, Mapping) else model(batch)
    return out.loss if hasattr(out, "loss") else out


def mean_loss(
    model: nn.Module,
    batches: Sequence[Any],
    loss_fn: LossFn | None = None,
    weights: Sequence[float] | None = None,
) -> float:
    """The mean of the batches' losses (`loss_fn`, else the model's own `.loss`), or with `weights` (one
    per batch) their weighted mean."""
    loss_fn = loss_fn or _default_loss
    if weights is None:
        return sum(float(loss_fn(model, b)) for b in batches) / len(batches)
    return sum(w * float(loss_fn(model, b)) for b, w in zip(batches, weights, strict=True)) / sum(weights)


def _targets(model: nn.Module, include_other_linear: bool) -> list[tuple[Tensor, bool, LayerState | None]]:
    """(stored weight, fan_in_fan_out, LoRA layer or None) for every weight to perturb."""
    lora_layers = find_lora_layers(model, FlatLoraConfig(mode="inplace", on_quantized="error"))
    out: list[tuple[Tensor, bool, LayerState | None]] = [
        (cast(Tensor, lay.base.weight), lay.fan_in_fan_out, lay) for lay in lora_layers
    ]
    if include_other_linear:
        seen = {id(lay.base) for lay in lora_layers}
        inside_lora = {id(m) for lay in lora_layers for m in cast(nn.Module, lay.lora).modules()}
        for module in model.modules():
            if isinstance(module, LoraLayer) or id(module) in seen or id(module) in inside_lora:
                continue
            if isinstance(module, nn.Linear | Conv1D):
                out.append((module.weight, isinstance(module, Conv1D), None))
    return out


@torch.no_grad()
def flatness(
    model: nn.Module,
    batches: Iterable[Any],
    sigmas: Sequence[float] = (0.01, 0.05, 0.1),
    k: int = 5,
    seed: int = 0,
    loss_fn: LossFn | None = None,
    include_other_linear: bool = False,
    weights: Sequence[float] | None = None,
) -> FlatnessResult:
    """Mean +- std of L(W' + eps) - L(W') over ``k`` draws per sigma, in eval mode, without grad.

    L is the mean of the batches' losses, or with ``weights`` (one per batch, e.g. its share of the
    examples) their weighted mean: rows split into smaller, length-sorted batches then give the loss
    of the unsplit batches while padding each small batch only to its own longest row.
    """
    if k < 1:
        raise ValueError(f"`k` must be >= 1, got {k!r}")
    if any(s < 0 for s in sigmas):
        raise ValueError(f"`sigmas` must all be >= 0, got {list(sigmas)!r}")
    batch_list = list(batches)
    if not batch_list:
        raise ValueError("`batches` must not be empty")
    if weights is not None:
        weights = [float(w) for w in weights]
        if len(weights) != len(batch_list) or any(not w > 0 for w in weights):
            raise ValueError(
                f"`weights` must be one positive number per batch ({len(batch_list)}), got {weights!r}"
            )
    fn = loss_fn if loss_fn is not None else _default_loss
    was_training = model.training
    model.eval()
    targets = _targets(model, include_other_linear)
    backups = [w.detach().clone() for w, _, _ in targets]
    # ||W'_i||^2 of the unperturbed model, computed once.
    norms = [
        lay.merged_norms_sq(use_cache=False) if lay is not None else row_norms_sq(out_in_view(w, f))
        for w, f, lay in targets
    ]
    try:
        base_loss = mean_loss(model, batch_list, fn, weights)
        means, stds = [], []
        for si, sigma in enumerate(sigmas):
            incs = []
            for draw in range(k):
                for li, ((w, f, _), nsq) in enumerate(zip(targets, norms, strict=True)):
                    view = out_in_view(w, f)  # (m, n)
                    scale = row_scale(nsq, float(sigma), view.shape[1])
                    z = standard_noise(
                        (view.shape[0], view.shape[1]),
                        noise_seed(seed, si * 1_000_003 + draw, li, _FLATNESS_STREAM),
                        view.device,
                        view.dtype,
                    )
                    view.addcmul_(z, scale.to(view.dtype).unsqueeze(1))
                try:
                    incs.append(mean_loss(model, batch_list, fn, weights) - base_loss)
                finally:
                    for (w, _, _), b in zip(targets, backups, strict=True):
                        w.copy_(b)
            means.append(statistics.fmean(incs))
            stds.append(statistics.stdev(incs) if k > 1 else 0.0)
    finally:
        for (w, _, _), b in zip(targets, backups, strict=True):
            w.copy_(b)
        model.train(was_training)
    return FlatnessResult([float(s) for s in sigmas], base_loss, means, stds, k)
