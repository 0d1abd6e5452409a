"""The Flat-LoRA math: seeded noise, merged-weight row norms, and the exact noisy linear map.

Shapes use the paper's convention: a layer maps n inputs to m outputs and W is (m, n) -- for a
transformers ``Conv1D`` (fan_in_fan_out) the stored weight is (n, m) and we work on its transposed view.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import Tensor

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def noise_seed(seed: int, step: int, layer_index: int, stream: int = 0) -> int:
    """A 63-bit seed that depends only on (seed, step, layer, stream).

    No global RNG and no clock: every process (and every rank under torch.distributed) derives the
    same seed, hence the same noise. ``stream`` separates other users (e.g. the flatness probe).
    """
    h = _splitmix64(seed & _MASK64)
    for v in (step, layer_index, stream):
        h = _splitmix64(h ^ (v & _MASK64))
    return h & ((1 << 63) - 1)


# Noise is drawn in fixed blocks of rows, each from its own generator, so that big layers can be
# filled by several CPU threads (one mt19937 stream is serial) while the values stay independent of
# the thread count. Block c of a layer uses seed ``chunk_seed(seed, c)``; a layer of at most
# CHUNK_ELEMS elements is a single block seeded with ``seed`` itself.
CHUNK_ELEMS = 1 << 17
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_scratch = threading.local()


def chunk_seed(seed: int, chunk: int) -> int:
    return seed if chunk == 0 else _splitmix64(seed ^ _splitmix64(chunk)) & ((1 << 63) - 1)


def chunk_rows(m: int, n: int) -> int:
    """Rows per noise block for an (m, n) weight."""
    return max(1, CHUNK_ELEMS // max(n, 1))


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, torch.get_num_threads() - 1), thread_name_prefix="flatlora"
            )
        return _pool


def fill_standard_noise(out: Tensor, seed: int) -> Tensor:
    """Fill a contiguous (m, n) tensor with z ~ N(0, 1), block by block (see ``chunk_seed``)."""
    m, n = out.shape
    rows = chunk_rows(m, n)
    starts = list(range(0, m, rows))

    def fill(c: int) -> None:
        gen = torch.Generator(device=out.device)
        gen.manual_seed(chunk_seed(seed, c))
        out[starts[c] : starts[c] + rows].normal_(generator=gen)

    if out.device.type == "cpu" and len(starts) > 1 and torch.get_num_threads() > 1:
        # blocks 1.. go to the pool, block 0 is filled here: one hand-off fewer, no idle waiting
        futures = [_thread_pool().submit(fill, c) for c in range(1, len(starts))]
        fill(0)
        for f in futures:
            f.result()
    else:
        for c in range(len(starts)):
            fill(c)
    return out


def standard_noise(shape: tuple[int, int], seed: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """z ~ N(0, 1) of ``shape`` from dedicated generators derived from ``seed`` (a fresh tensor)."""
    return fill_standard_noise(torch.empty(shape, device=device, dtype=dtype), seed)


def scratch(shape: tuple[int, int], device: torch.device, dtype: torch.dtype) -> Tensor:
    """A reusable per-thread (m, n) work buffer (saves an allocation and its page faults per layer).

    Only for values that die before the next call on the same thread: W + eps inside forward or
    backward. Its size is that of the largest perturbed layer, not of the model.
    """
    cache: dict[tuple[torch.device, torch.dtype], Tensor] = getattr(_scratch, "buffers", None) or {}
    _scratch.buffers = cache
    numel = shape[0] * shape[1]
    buf = cache.get((device, dtype))
    if buf is None or buf.numel() < numel:
        buf = torch.empty(numel, device=device, dtype=dtype)
        cache[(device, dtype)] = buf
    return buf[:numel].view(shape)


def clear_scratch() -> None:
    """Free this thread's work buffers."""
    _scratch.buffers = {}


def out_in_view(weight: Tensor, fan_in_fan_out: bool) -> Tensor:
    """The (m, n) view of a stored weight: itself for nn.Linear, the transpose for Conv1D."""
    return weight.T if fan_in_fan_out else weight


@torch.no_grad()
def row_norms_sq(weight: Tensor) -> Tensor:
    """||W_i||^2 for the (m, n) view, in float32. O(mn); callers cache it."""
    return weight.float().pow(2).sum(dim=1)  # (m,)


@torch.no_grad()
def merged_row_norms_sq(
    weight: Tensor,
    w_sq: Tensor,
    lora_a: list[Tensor],
    lora_b: list[Tensor],
    scalings: list[float],
) -> Tensor:
    """||W'_i||^2 with W' = W + sum_a s_a B_a A_a, in O(mnr) and without forming any B A.

    Uses ||W_i + (BA)_i||^2 = ||W_i||^2 + 2 <W_i, (BA)_i> + ||(BA)_i||^2 with the adapters stacked
    into one rank-R product: <W_i,(BA)_i> = ((W A^T) * B)_i summed, ||(BA)_i||^2 = b_i^T (A A^T) b_i.
    ``weight`` is the (m, n) view, ``w_sq`` its cached row norms, A_a (r, n), B_a (m, r).
    Detached: the noise scale carries no gradient (as in the paper).
    """
    if not lora_a:
        return w_sq
    a = torch.cat([x.float() for x in lora_a], dim=0)  # (R, n)
    b = torch.cat([y.float() * s for y, s in zip(lora_b, scalings, strict=True)], dim=1)  # (m, R)
    w = weight if weight.dtype in (torch.float32, torch.float64) else weight.float()
    wa = (w @ a.to(w.dtype).T).float()  # (m, R)   O(mnR)
    cross = (wa * b).sum(dim=1)  # (m,)
    gram = a @ a.T  # (R, R)   O(nR^2)
    ba_sq = ((b @ gram) * b).sum(dim=1)  # (m,)
    return (w_sq + 2.0 * cross + ba_sq).clamp_min(0.0)


def row_scale(norms_sq: Tensor, sigma_t: float, n: int) -> Tensor:
    """Per-row std of eps: sigma_t * ||W'_i|| / sqrt(n). (m,) float32."""
    return norms_sq.sqrt() * (sigma_t / n**0.5)


def perturbed_weight(weight: Tensor, scale: Tensor, seed: int, reuse_buffer: bool = False) -> Tensor:
    """W + eps, eps_ij = scale_i * z_ij, as an (m, n) tensor. Transient: callers must not keep it.

    With ``reuse_buffer`` the result lives in this thread's scratch buffer and is overwritten by
    the next call.
    """
    shape = (weight.shape[0], weight.shape[1])
    if reuse_buffer:
        z = fill_standard_noise(scratch(shape, weight.device, weight.dtype), seed)  # (m, n)
    else:
        z = standard_noise(shape, seed, weight.device, weight.dtype)  # (m, n)
    return torch.addcmul(weight, z, scale.to(weight.dtype).unsqueeze(1), out=z)  # one pass, in place


class NoisyLinearFn(torch.autograd.Function):
    """y = x (W + eps)^T + b with eps redrawn from its seed in backward.

    Saved between forward and backward: the seed, the O(m) row scale and (only if W itself needs a
    gradient) x. The weight is re-read through ``get_weight`` (the frozen parameter, or a fresh
    dequantization), so no m x n tensor stays alive in the autograd graph.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        scale: Tensor,
        seed: int,
        get_weight: Callable[[], Tensor],
        fan_in_fan_out: bool,
    ) -> Tensor:
        w = out_in_view(weight, fan_in_fan_out)  # (m, n)
        w_pert = perturbed_weight(w, scale, seed, reuse_buffer=True)  # (m, n), dead after the matmul
        y = torch.nn.functional.linear(x, w_pert, bias)  # (..., m)
        ctx.seed = seed
        ctx.get_weight = get_weight
        ctx.fan_in_fan_out = fan_in_fan_out
        ctx.version = weight._version
        ctx.x_dtype = x.dtype
        ctx.w_needs_grad = weight.requires_grad
        ctx.has_bias = bias is not None
        if weight.requires_grad:
            ctx.save_for_backward(scale, x)
        else:
            ctx.save_for_backward(scale)
        return y

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        saved = ctx.saved_tensors
        scale = saved[0]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            weight = ctx.get_weight()
            if weight._version != ctx.version:
                raise RuntimeError(
                    "Flat-LoRA: a base weight was modified in place between forward and backward"
                )
            w_pert = perturbed_weight(
                out_in_view(weight, ctx.fan_in_fan_out), scale, ctx.seed, reuse_buffer=True
            )
            grad_x = (grad_y.to(w_pert.dtype) @ w_pert).to(ctx.x_dtype)  # (..., n)
            del w_pert
        if ctx.w_needs_grad and ctx.needs_input_grad[1]:
            x = saved[1]
            gw = grad_y.reshape(-1, grad_y.shape[-1]).T @ x.reshape(-1, x.shape[-1]).to(
                grad_y.dtype
            )  # (m, n)
            grad_w = gw.T if ctx.fan_in_fan_out else gw
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_y.reshape(-1, grad_y.shape[-1]).sum(dim=0)
        return grad_x, grad_w, grad_b, None, None, None, None
