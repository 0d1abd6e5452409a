"""Per-step overhead of flatbench's runner against a plain PEFT training loop on the same batches.

    python benchmarks/runner_overhead.py [--steps 30] [--rounds 3] [--methods lora,flat_lora] [--threads 1]

Both sides train the same model (`build_model`: MiniLM-L6 + PEFT LoRA with the study profile's settings)
on the same PhraseBank batches in the same order, with AdamW, the same warm-up/linear schedule and
gradient clipping. The runner side is `run_one` itself (dataset validation, records, the RSS sampler,
deterministic algorithms, progress bookkeeping); its per-step time is the record's training phase
(validation passes excluded) over its steps. The plain side is a bare loop, timed around the loop only.
Both wall time and process CPU time (all threads) are taken: on a loaded machine the wall-clock ratio is
noise, while CPU time per step still shows what each side computes (at 1 thread; it includes the
runner's RSS-sampling thread).
Flat-LoRA's plain loop wraps the forward/backward in the same `FlatLora.perturb`, so the ratio is the
runner's overhead, not the method's. Rounds alternate the two sides (order rotates) so machine load hits
both alike; the medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree, uninstalled

from flatlora.bench.config import RunConfig, resolve_config
from flatlora.bench.runner import build_model, encode, iter_batches, lr_at, prepare_splits, run_one


def bench_config(method: str, steps: int, threads: int) -> RunConfig:
    return resolve_config(
        "study",
        method=method,
        seed=1,
        lr=1e-3,
        epochs=1,
        max_train_examples=steps * 16,
        max_eval_examples=64,
        max_test_examples=64,
        flatness_batches=1,
        num_threads=threads,
    )


def runner_step_s(cfg: RunConfig, out: Path, data_dir: str | None) -> tuple[float, float]:
    """(wall, CPU) seconds per training step of `run_one`."""
    rec = run_one(cfg, out, progress=False, data_dir=data_dir)
    if rec["status"] != "ok":
        raise RuntimeError(f"runner failed: {rec.get('failure_reason')}")
    n = len(rec["train_loss"])
    return float(rec["cost"]["phase_s"]["train"]) / n, float(rec["cost"]["cpu_s"]["train"]) / n


def plain_step_s(cfg: RunConfig, splits: Any) -> tuple[float, float]:
    """(wall, CPU) seconds per training step of a bare PEFT loop on the runner's batches."""
    torch.set_num_threads(cfg.threads())
    names = list(splits.label_names)
    lab2id = {n: i for i, n in enumerate(names)}
    model, tok = build_model(cfg, names)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    ids = encode(tok, [str(t) for t in splits.train["text"]], cfg.max_len)
    y = [lab2id[str(x)] for x in splits.train["label"]]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = list(iter_batches(ids, y, cfg.batch_size, pad_id, torch.Generator().manual_seed(cfg.seed)))
    total = len(batches)
    warmup = int(cfg.warmup_ratio * total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, total, 1.0, warmup, cfg.lr_schedule))
    fl = None
    if cfg.method == "flat_lora":
        from flatlora import FlatLora, FlatLoraConfig

        fl = FlatLora(model, FlatLoraConfig(sigma=cfg.sigma, seed=cfg.seed, schedule=cfg.sigma_schedule))
    torch.manual_seed(cfg.seed)
    model.train()
    t0, c0 = time.perf_counter(), time.process_time()
    for step, b in enumerate(batches):
        opt.zero_grad(set_to_none=True)
        with fl.perturb(step, total) if fl is not None else contextlib.nullcontext():
            loss = model(**b).loss
            loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm or 1.0)
        opt.step()
        sched.step()
        float(loss.detach())
    return (time.perf_counter() - t0) / total, (time.process_time() - c0) / total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--methods", default="lora,flat_lora")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            cfg = bench_config(method, args.steps, args.threads)
            splits = prepare_splits(cfg, args.data_dir)
            times: dict[str, list[tuple[float, float]]] = {"runner": [], "plain": []}
            for r in range(args.rounds):
                order = ("runner", "plain") if r % 2 == 0 else ("plain", "runner")
                for side in order:
                    if side == "runner":
                        times[side].append(runner_step_s(cfg, Path(tmp) / f"{method}-{r}", args.data_dir))
                    else:
                        times[side].append(plain_step_s(cfg, splits))
            wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
            cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
            results[method] = {
                "runner_ms": round(1000 * wall["runner"], 1),
                "plain_ms": round(1000 * wall["plain"], 1),
                "ratio": round(wall["runner"] / wall["plain"], 3),
                "runner_cpu_ms": round(1000 * cpu["runner"], 1),
                "plain_cpu_ms": round(1000 * cpu["plain"], 1),
                "cpu_ratio": round(cpu["runner"] / cpu["plain"], 3),
                "rounds": {
                    k: [[round(1000 * w, 1), round(1000 * c, 1)] for w, c in v] for k, v in times.items()
                },
            }
    head = ("method", "runner ms", "plain ms", "wall ratio", "runner CPU ms", "plain CPU ms", "CPU ratio")
    print("  ".join(f"{h:>13}" for h in head))
    for m, r in results.items():
        row = (
            m,
            r["runner_ms"],
            r["plain_ms"],
            r["ratio"],
            r["runner_cpu_ms"],
            r["plain_cpu_ms"],
            r["cpu_ratio"],
        )
        print("  ".join(f"{x:>13}" for x in row))
    print(
        f"(per training step; {args.steps} steps x {args.rounds} rounds, {args.threads} thread(s), medians)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
