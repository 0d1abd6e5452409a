"""The Flat-LoRA math: seeded noise, merged-weight row norms, and the exact noisy linear maps.

Shapes use the paper's convention: a layer maps n inputs to m outputs and W is (m, n) -- for a
transformers ``Conv1D`` (fan_in_fan_out) the stored weight is (n, m) and we work on its transposed view.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import Tensor

_MASK64 = (1 << 64) - 1
_MASK63 = (1 << 63) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def noise_seed(seed: int, step: int, layer_index: int, stream: int = 0, rank: int = 0) -> int:
    """A 63-bit seed that depends only on (seed, step, layer, stream, rank).

    No global RNG and no clock. ``stream`` separates other users (e.g. the flatness probe); ``rank``
    gives each torch.distributed rank its own noise. Rank 0 is mixed in as nothing at all, so a
    single process draws the same noise whether or not it runs under torch.distributed.
    """
    h = _splitmix64(seed & _MASK64)
    for v in (step, layer_index, stream):
        h = _splitmix64(h ^ (v & _MASK64))
    if rank:
        h = _splitmix64(h ^ _splitmix64(rank & _MASK64))
    return h & _MASK63


# On CPU, noise is drawn in fixed blocks of rows, each from its own generator, so that big layers can
# be filled by several threads (one mt19937 stream is serial) while the values stay independent of the
# thread count. Block c of a layer uses seed ``chunk_seed(seed, c)``; a layer of at most CHUNK_ELEMS
# elements is a single block seeded with ``seed`` itself. On an accelerator the whole layer is one
# call to one (cached, reseeded) device generator: Philox is parallel on its own.
CHUNK_ELEMS = 1 << 17
PARALLEL_FILL = True  # False: CPU blocks are filled on the calling thread only (same values)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_device_generators: dict[tuple[torch.device, int], torch.Generator] = {}


def chunk_seed(seed: int, chunk: int) -> int:
    return seed if chunk == 0 else _splitmix64(seed ^ _splitmix64(chunk)) & _MASK63


def chunk_rows(m: int, n: int) -> int:
    """Rows per CPU noise block for an (m, n) weight."""
    return max(1, CHUNK_ELEMS // max(n, 1))


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, torch.get_num_threads() - 1), thread_name_prefix="flatlora"
            )
        return _pool


def device_generator(device: torch.device) -> torch.Generator:
    """One generator per (device, thread), created once: reseeding it is host-side only, no sync."""
    key = (device, threading.get_ident())
    gen = _device_generators.get(key)
    if gen is None:
        gen = _device_generators[key] = torch.Generator(device=device)
    return gen


def draw(out: Tensor, seed: int, weight: Tensor | None = None, scale: Tensor | None = None) -> Tensor:
    """Fill a contiguous (m, n) ``out`` with z ~ N(0, 1) from ``seed`` (see ``chunk_seed`` for CPU) or,
    given ``weight`` (m, n) and ``scale`` (m,), with W + scale_i z_ij.

    On CPU the add runs block by block right after each block's draw, while the block is still in
    cache, on the same threads; elementwise, so the values do not depend on the blocking.
    """
    col = None if scale is None else column(scale, out.dtype)  # (m, 1)
    if out.device.type != "cpu":
        out.normal_(generator=device_generator(out.device).manual_seed(seed))
        if weight is not None and col is not None:
            torch.addcmul(weight, out, col, out=out)
        return out
    m, n = out.shape
    rows = chunk_rows(m, n)
    if rows >= m:  # one block: no slicing
        out.normal_(generator=torch.Generator().manual_seed(seed))
        if weight is not None and col is not None:
            torch.addcmul(weight, out, col, out=out)
        return out
    starts = list(range(0, m, rows))

    def fill(c: int) -> None:
        gen = torch.Generator(device=out.device)
        gen.manual_seed(chunk_seed(seed, c))
        block = slice(starts[c], starts[c] + rows)
        out[block].normal_(generator=gen)
        if weight is not None and col is not None:
            torch.addcmul(weight[block], out[block], col[block], out=out[block])

    if PARALLEL_FILL and len(starts) > 1 and torch.get_num_threads() > 1:
        # blocks 1.. go to the pool, block 0 is filled here: one hand-off fewer, no idle waiting
        futures = [_thread_pool().submit(fill, c) for c in range(1, len(starts))]
        fill(0)
        for f in futures:
            f.result()
    else:
        for c in range(len(starts)):
            fill(c)
    return out


def column(scale: Tensor, dtype: torch.dtype) -> Tensor:
    """An (m,) or (m, 1) row scale as an (m, 1) column in ``dtype``."""
    col = scale if scale.dim() == 2 else scale.unsqueeze(1)
    return col if col.dtype == dtype else col.to(dtype)


def fill_standard_noise(out: Tensor, seed: int) -> Tensor:
    """Fill a contiguous (m, n) tensor with z ~ N(0, 1) from ``seed``."""
    return draw(out, seed)


def standard_noise(shape: tuple[int, int], seed: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """z ~ N(0, 1) of ``shape`` from dedicated generators derived from ``seed`` (a fresh tensor)."""
    return draw(torch.empty(shape, device=device, dtype=dtype), seed)


class Scratch:
    """Reusable (m, n) work buffers for W + eps, one per (thread, device, dtype), owned by one
    ``perturb()`` context and released when it closes.

    Saves an allocation (and its page faults) per layer and draw. Only for values that die before the
    next request on the same thread. Its size is that of the largest perturbed layer, not of the model.
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple[int, torch.device, torch.dtype], Tensor] = {}
        self._views: dict[tuple[int, torch.device, torch.dtype, tuple[int, int]], Tensor] = {}

    def get(self, shape: tuple[int, int], device: torch.device, dtype: torch.dtype) -> Tensor:
        key = (threading.get_ident(), device, dtype)
        view = self._views.get((*key, shape))
        if view is not None:
            return view
        numel = shape[0] * shape[1]
        buf = self._buffers.get(key)
        if buf is None or buf.numel() < numel:
            buf = self._buffers[key] = torch.empty(numel, device=device, dtype=dtype)
            self._views = {k: v for k, v in self._views.items() if k[:3] != key}  # views of the old buffer
        view = self._views[(*key, shape)] = buf[:numel].view(shape)
        return view

    def release(self) -> None:
        self._buffers.clear()
        self._views.clear()

    def __len__(self) -> int:
        return len(self._buffers)


class ContextToken:
    """Marks one ``perturb()`` context; the noisy ops refuse to run their backward once it is closed."""

    __slots__ = ("closed", "scratch")

    def __init__(self) -> None:
        self.closed = False
        self.scratch = Scratch()

    def close(self) -> None:
        self.closed = True
        self.scratch.release()


def check_open(token: ContextToken, what: str) -> None:
    if token.closed:
        raise RuntimeError(
            f"Flat-LoRA: {what} ran after its perturb() context closed, so it cannot see the step's noise; "
            "call loss.backward() inside `with fl.perturb(step, total):`"
        )


def autocast_off(device: torch.device) -> torch.autocast:
    return torch.autocast(device_type=device.type, enabled=False)


def out_in_view(weight: Tensor, fan_in_fan_out: bool) -> Tensor:
    """The (m, n) view of a stored weight: itself for nn.Linear, the transpose for Conv1D."""
    return weight.T if fan_in_fan_out else weight


# Low-precision weights are promoted to float32 this many elements at a time, so the norms never
# hold a float32 copy of a whole bf16/fp16 weight.
_NORM_BLOCK_ELEMS = 1 << 20


def _row_blocks(weight: Tensor) -> list[slice]:
    rows = max(1, _NORM_BLOCK_ELEMS // max(weight.shape[1], 1))
    return [slice(i, i + rows) for i in range(0, weight.shape[0], rows)]


@torch.no_grad()
def row_norms_sq(weight: Tensor) -> Tensor:
    """||W_i||^2 for the (m, n) view, in float32 with autocast off. O(mn); callers cache it."""
    with autocast_off(weight.device):
        if weight.dtype in (torch.float32, torch.float64):
            return weight.float().pow(2).sum(dim=1)  # (m,)
        out = torch.empty(weight.shape[0], device=weight.device, dtype=torch.float32)
        for rows in _row_blocks(weight):
            out[rows] = weight[rows].float().pow(2).sum(dim=1)
        return out


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
    Float32 (or float64) with autocast off, so the same (seed, step) gives the same eps under autocast.
    Detached: the noise scale carries no gradient (as in the paper).
    """
    if not lora_a:
        return w_sq
    with autocast_off(weight.device):
        if len(lora_a) == 1:
            a, b = lora_a[0].float(), lora_b[0].float() * scalings[0]  # (r, n), (m, r)
        else:
            a = torch.cat([x.float() for x in lora_a], dim=0)  # (R, n)
            b = torch.cat([y.float() * s for y, s in zip(lora_b, scalings, strict=True)], dim=1)  # (m, R)
        if weight.dtype in (torch.float32, torch.float64):
            wa = (weight @ a.to(weight.dtype).T).float()  # (m, R)   O(mnR)
        else:  # bf16/fp16: promote a block of rows at a time
            wa = torch.empty(weight.shape[0], a.shape[0], device=weight.device, dtype=torch.float32)
            for rows in _row_blocks(weight):
                wa[rows] = weight[rows].float() @ a.T
        cross = (wa * b).sum(dim=1)  # (m,)
        gram = a @ a.T  # (R, R)   O(nR^2)
        ba_sq = ((b @ gram) * b).sum(dim=1)  # (m,)
        # w_sq + 2 cross + ba_sq, left to right (2 * cross is exact, so alpha=2 rounds the same)
        return torch.add(w_sq, cross, alpha=2.0).add_(ba_sq).clamp_min_(0.0)


def row_scale(norms_sq: Tensor, sigma_t: float, n: int) -> Tensor:
    """Per-row std of eps: sigma_t * ||W'_i|| / sqrt(n). (m,) float32."""
    return norms_sq.sqrt() * (sigma_t / n**0.5)


def perturbed_weight(weight: Tensor, scale: Tensor, seed: int, scratch: Scratch | None = None) -> Tensor:
    """W + eps, eps_ij = scale_i * z_ij, as an (m, n) tensor in W's dtype. Transient: callers must not
    keep it. With ``scratch`` the result lives in a reused buffer, overwritten by the next request.
    """
    shape = (weight.shape[0], weight.shape[1])
    if scratch is not None:
        out = scratch.get(shape, weight.device, weight.dtype)
    else:
        out = torch.empty(shape, device=weight.device, dtype=weight.dtype)
    return draw(out, seed, weight, scale)  # (m, n)


def noise_only(
    shape: tuple[int, int], scale: Tensor, seed: int, dtype: torch.dtype, scratch: Scratch | None = None
) -> Tensor:
    """eps = scale_i * z_ij as an (m, n) tensor (transient, like ``perturbed_weight``)."""
    z = draw(scratch.get(shape, scale.device, dtype), seed) if scratch is not None else None
    z = z if z is not None else standard_noise(shape, seed, scale.device, dtype)
    return z.mul_(column(scale, dtype))


class _AutocastState:
    """The autocast state of a forward pass, re-entered by its backward (backward at forward's precision)."""

    __slots__ = ("device_type", "dtype", "enabled")

    def __init__(self, device: torch.device) -> None:
        self.device_type = device.type
        self.enabled = torch.is_autocast_enabled(device.type)
        self.dtype = torch.get_autocast_dtype(device.type)

    def __call__(self) -> torch.autocast:
        return torch.autocast(device_type=self.device_type, dtype=self.dtype, enabled=self.enabled)


class NoisyLinearFn(torch.autograd.Function):
    """y = x (W + eps)^T + b with eps redrawn from its seed in backward.

    Kept between forward and backward: the seed, the O(m) row scale, a reference to the (frozen) weight
    tensor the forward used (no copy) and, only if W itself needs a gradient, x. No new m x n tensor
    stays alive in the autograd graph. Backward runs under the forward's autocast state.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        scale: Tensor,
        seed: int,
        fan_in_fan_out: bool,
        token: ContextToken,
    ) -> Tensor:
        w = out_in_view(weight, fan_in_fan_out)  # (m, n)
        w_pert = perturbed_weight(w, scale, seed, token.scratch)  # (m, n), dead after the matmul
        y = torch.nn.functional.linear(x, w_pert, bias)  # (..., m)
        ctx.seed = seed
        ctx.weight = weight
        ctx.token = token
        ctx.fan_in_fan_out = fan_in_fan_out
        ctx.version = weight._version
        ctx.x_dtype = x.dtype
        ctx.autocast = _AutocastState(x.device)
        ctx.w_needs_grad = weight.requires_grad
        ctx.has_bias = bias is not None
        if weight.requires_grad:
            ctx.save_for_backward(scale, x)
        else:
            ctx.save_for_backward(scale)
        return y

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        check_open(ctx.token, "backward")
        saved = ctx.saved_tensors
        scale = saved[0]
        grad_x = grad_w = grad_b = None
        with ctx.autocast():
            if ctx.needs_input_grad[0]:
                weight = ctx.weight
                if weight._version != ctx.version:
                    raise RuntimeError(
                        "Flat-LoRA: a base weight was modified in place between forward and backward"
                    )
                w_pert = perturbed_weight(
                    out_in_view(weight, ctx.fan_in_fan_out), scale, ctx.seed, ctx.token.scratch
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


class NoiseTermFn(torch.autograd.Function):
    """x eps^T alone, for base layers whose own forward must run as is (quantized kernels): the layer
    returns x W_q^T + b and this adds x eps^T, so the output is x (W + eps)^T + b without any
    dequantization per draw. eps is redrawn in backward; only the seed and O(m) scale are kept.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        scale: Tensor,
        seed: int,
        shape: tuple[int, int],
        dtype: torch.dtype,
        token: ContextToken,
    ) -> Tensor:
        eps = noise_only(shape, scale, seed, dtype, token.scratch)  # (m, n)
        y = torch.nn.functional.linear(x.to(dtype) if x.dtype != dtype else x, eps)  # (..., m)
        ctx.seed, ctx.shape, ctx.dtype, ctx.token = seed, shape, dtype, token
        ctx.x_dtype = x.dtype
        ctx.autocast = _AutocastState(x.device)
        ctx.save_for_backward(scale)
        return y

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        check_open(ctx.token, "backward")
        grad_x = None
        if ctx.needs_input_grad[0]:
            (scale,) = ctx.saved_tensors
            with ctx.autocast():
                eps = noise_only(ctx.shape, scale, ctx.seed, ctx.dtype, ctx.token.scratch)
                grad_x = (grad_y.to(eps.dtype) @ eps).to(ctx.x_dtype)  # (..., n)
        return grad_x, None, None, None, None, None
