"""A decoder training check: a Llama-shaped causal LM built from a config (random weights), synthetic
prompt -> target data and a byte-level tokenizer, trained with LoRA and Flat-LoRA through
`runner.run_one` (the generative track), reporting step time and peak memory of each.

Needs only torch, transformers, tokenizers and peft (no pandas, Prefect or great-expectations):

    PYTHONPATH=. python -m flatlora.bench.gen_smoke --device cuda --precision bf16 --json out/decoder.json

`--size 0.9b` (the GPU default) is 16 blocks of hidden 2048 (MLP 5632, 16 heads, 4 KV heads) with a
32,000-token vocabulary: 0.85B parameters. `--size tiny` is for CPU dry runs. Step time is the median
over the training steps after the first `--warmup` (the record's `cost.step_s`); peak memory is the
CUDA allocator's peak (`cost.peak_mem_mb`). Flat-LoRA's goal is a step time at most 1.03x LoRA's.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

SIZES: dict[str, dict[str, int]] = {
    "0.9b": {
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 16,
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
        "vocab_size": 32000,
    },
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 512,
    },
}
GOAL = 1.03
WORDS = ["apples", "pears", "boxes", "trains", "coins", "books", "hours", "miles", "cups", "seeds"]


def synthetic_rows(n: int, seed: int, filler: int) -> list[tuple[str, str]]:
    """Word problems with `#### n` answers; `filler` words lengthen each prompt (sequence length)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b, w = rng.randint(2, 99), rng.randint(2, 99), rng.choice(WORDS)
        pad = " ".join(rng.choice(WORDS) for _ in range(filler))
        prompt = f"Problem {i}: {pad}. Ann has {a} {w} and gets {b} more. How many {w} does she have?"
        rows.append((prompt, f"She has {a} + {b} = {a + b} {w}.\n#### {a + b}"))
    return rows


def save_checkpoint(path: Path, size: str) -> int:
    """Byte-level tokenizer + a seeded LlamaForCausalLM of `size`, saved in bf16; returns parameters."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    core = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    shape: dict[str, Any] = dict(SIZES[size])
    shape["vocab_size"] = max(shape["vocab_size"], len(tok))
    cfg = LlamaConfig(
        **shape,
        max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    n = sum(p.numel() for p in model.parameters())
    model = model.to(dtype=torch.bfloat16)  # type: ignore[call-arg]
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="bf16", choices=("fp32", "bf16", "fp16"))
    ap.add_argument("--size", default=None, choices=sorted(SIZES), help="default: 0.9b on cuda, tiny on cpu")
    ap.add_argument("--methods", default="lora,flat_lora")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default 30 on cuda, 4 on cpu)")
    ap.add_argument("--warmup", type=int, default=None, help="steps left out of the median (default 5 / 1)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--filler", type=int, default=None, help="prompt filler words (default 60 / 4)")
    ap.add_argument("--n-eval", type=int, default=None, help="validation and test rows each (default 16 / 4)")
    ap.add_argument("--out", default="runs/gen_smoke")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import torch

    from flatlora.bench import runner
    from flatlora.bench.config import resolve_config
    from flatlora.bench.data import Table
    from flatlora.bench.gen_data import GenSplits

    cuda = args.device.startswith("cuda")
    size = args.size or ("0.9b" if cuda else "tiny")
    steps = args.steps or (30 if cuda else 3)
    n_eval = args.n_eval or (16 if cuda else 4)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    filler = args.filler if args.filler is not None else (60 if cuda else 4)
    out = Path(args.out)
    ckpt = out / f"llama-{size}"
    n_params = save_checkpoint(ckpt, size)
    n_train = steps * args.batch_size
    rows = synthetic_rows(n_train + 2 * n_eval, 0, filler)

    def frame(part: list[tuple[str, str]], start: int) -> Table:
        return Table(
            index=range(start, start + len(part)), text=[p for p, _ in part], label=[t for _, t in part]
        )

    splits = GenSplits(
        name="synthetic_math",
        source="memory",
        checksum="synthetic-seed0",
        label_names=[],
        card="generation",
        split_seed=0,
        train=frame(rows[:n_train], 0),
        val=frame(rows[n_train : n_train + n_eval], n_train),
        test=frame(rows[n_train + n_eval :], n_train + n_eval),
        answer_format="gsm8k",
        max_new_tokens=8,
        prompt_col="prompt",
        target_col="target",
    )
    result: dict[str, Any] = {
        "device": args.device,
        "precision": args.precision,
        "size": size,
        "parameters": n_params,
        "steps": steps,
        "warmup_steps": warmup,
        "batch_size": args.batch_size,
        "goal_step_ratio": GOAL,
        "runs": {},
    }
    ok = True
    for method in args.methods.split(","):
        cfg = resolve_config(
            "smoke",
            dataset="synthetic_math",
            card="generation",
            model=str(ckpt),
            method=method,
            device=args.device,
            precision=args.precision,
            max_len=1024,
            batch_size=args.batch_size,
            eval_batch_size=min(8, n_eval),
            max_new_tokens=8,
            lr=1e-4,
            lora_dropout=0.0,
            flatness_batches=1,
        )
        rec = runner.run_one(cfg, out, progress=False, splits=splits)
        cost = rec.get("cost") or {}
        times = cost.get("step_s") or []
        timed = times[warmup:] or times
        result["runs"][method] = {
            "status": rec["status"],
            "failure_reason": rec.get("failure_reason"),
            "step_s_median": statistics.median(timed) if timed else None,
            "peak_mem_mb": cost.get("peak_mem_mb"),
            "peak_mem_kind": cost.get("peak_mem_kind"),
            "tokens_per_step": (cost.get("train_tokens") or 0) / max(len(times), 1),
            "wall_time_s": cost.get("wall_time_s"),
            "device": (rec.get("provenance") or {}).get("device"),
            "test_loss": (rec.get("test") or {}).get("loss"),
        }
        ok &= rec["status"] == "ok"
        if cuda:
            torch.cuda.empty_cache()
    runs = result["runs"]
    if {"lora", "flat_lora"} <= set(runs) and all(runs[m]["step_s_median"] for m in ("lora", "flat_lora")):
        r = runs["flat_lora"]["step_s_median"] / runs["lora"]["step_s_median"]
        m = (runs["flat_lora"]["peak_mem_mb"] or 0) / max(runs["lora"]["peak_mem_mb"] or 0, 1e-9)
        result.update(step_time_ratio=round(r, 4), peak_mem_ratio=round(m, 4), meets_goal=r <= GOAL)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        from flatlora.bench.atomic import atomic_write_text

        atomic_write_text(args.json, text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
