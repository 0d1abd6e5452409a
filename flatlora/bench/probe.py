"""The flatness probe of a trained model: the loss increase under filter-wise weight noise.

LoRA methods use the core probe (`flatlora.flatness`, on the merged W' of the LoRA layers); full
fine-tuning has no LoRA layers, so the same noise goes on the same target modules here. Both tracks
call `flatness_probe` after training.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from flatlora.bench.config import RunConfig
from flatlora.bench.training import RunFailed, autocast, progress_bar

Batch = dict[str, torch.Tensor]


def flatness_probe(
    model: Any,
    batches: list[Batch],
    cfg: RunConfig,
    targets: tuple[str, ...] | None = None,
    device: torch.device | None = None,
    progress: bool = False,
    weights: list[float] | None = None,
) -> dict[str, Any] | None:
    """Loss increase under filter-wise weight noise at each sigma (k draws), on the LoRA target layers;
    None when `flatness_k` is 0 (the probe is off).

    LoRA methods use the core probe (merged W' of the LoRA-wrapped layers). `full` has no LoRA
    layers, so the same noise is put on the same modules (the resolved `targets`) by `_dense_flatness`.
    `weights` (one per batch, `probe_batches`) make the loss a weighted mean of the batches' losses.
    A progress bar counts the probe's forward passes.
    """
    if cfg.flatness_k == 0:
        return None
    model.eval()
    device = device or torch.device("cpu")
    bar = progress_bar(
        len(batches) * (1 + len(cfg.flatness_sigmas) * cfg.flatness_k), "flatness probe", progress
    )

    def tick(*_: Any) -> None:  # a forward hook must return None (a value would replace the output)
        bar.update(1)

    hook = model.register_forward_hook(tick)
    try:
        with autocast(device, cfg.precision):
            if cfg.method == "full":
                res = _dense_flatness(
                    model, batches, cfg, targets or tuple(cfg.target_modules or ()), weights
                )
                scope = "target_modules (dense)"
            else:
                from flatlora import flatness

                res = flatness(
                    model,
                    batches,
                    sigmas=cfg.flatness_sigmas,
                    k=cfg.flatness_k,
                    seed=cfg.seed,
                    weights=weights,
                ).to_dict()
                scope = "lora_layers (merged W')"
    finally:
        hook.remove()
        bar.close()
    out: dict[str, Any] = {**res, "scope": scope, "n_batches": len(batches)}
    if weights is not None:  # `probe_batches`: n_batches counts the eval-size batches (each weighs 1 in all)
        out.update(n_batches=round(sum(weights)), n_examples=sum(len(b["labels"]) for b in batches))
    for key in ("base_loss", "mean_increase", "std_increase"):
        v = out.get(key)
        vals = v if isinstance(v, list) else [v]
        if any(x is None or not math.isfinite(float(x)) for x in vals):
            raise RunFailed(f"non-finite flatness {key}: {v}")
    return out


@torch.no_grad()
def _dense_flatness(
    model: Any,
    batches: list[Batch],
    cfg: RunConfig,
    target_names: tuple[str, ...],
    weights: list[float] | None = None,
) -> dict[str, Any]:
    """The core's filter-wise noise (eps_ij ~ N(0, sigma^2/n ||W_i||^2)) on plain nn.Linear targets and
    transformers' Conv1D (GPT-2; its weight is stored (n, m), so the noise goes on its (m, n) view),
    matched as PEFT matches `target_modules`: the full name or a dotted suffix."""
    import statistics

    from transformers.pytorch_utils import Conv1D

    from flatlora.bench.models import target_matches
    from flatlora.flatness import mean_loss
    from flatlora.perturb import noise_seed, out_in_view, row_norms_sq, row_scale, standard_noise

    layers = [
        m
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear | Conv1D) and any(target_matches(name, t) for t in target_names)
    ]
    if not layers:
        raise RunFailed(f"flatness: no Linear or Conv1D layers named {list(target_names)}")
    # (m, n) views of the stored weights: noise written into a view lands in the weight
    targets = [out_in_view(m.weight, isinstance(m, Conv1D)) for m in layers]
    backups = [w.detach().clone() for w in targets]
    norms = [row_norms_sq(w) for w in targets]  # (m,) per layer

    base = mean_loss(model, batches, weights=weights)
    means, stds = [], []
    try:
        for si, sigma in enumerate(cfg.flatness_sigmas):
            incs = []
            for draw in range(cfg.flatness_k):
                for li, (w, nsq) in enumerate(zip(targets, norms, strict=True)):
                    z = standard_noise(
                        (w.shape[0], w.shape[1]),
                        noise_seed(cfg.seed, si * 1_000_003 + draw, li, 0xF1A7),
                        w.device,
                        w.dtype,
                    )  # (m, n)
                    w.addcmul_(z, row_scale(nsq, float(sigma), w.shape[1]).to(w.dtype).unsqueeze(1))
                incs.append(mean_loss(model, batches, weights=weights) - base)
                for w, b in zip(targets, backups, strict=True):
                    w.copy_(b)
            means.append(statistics.fmean(incs))
            stds.append(statistics.stdev(incs))
    finally:
        for w, b in zip(targets, backups, strict=True):
            w.copy_(b)
    return {
        "sigmas": list(cfg.flatness_sigmas),
        "base_loss": base,
        "mean_increase": means,
        "std_increase": stds,
        "k": cfg.flatness_k,
    }


__all__ = ["flatness_probe"]
