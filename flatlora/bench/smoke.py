"""A self-contained training smoke run: synthetic data, a word-level tokenizer and a tiny BERT built from a
config, through `runner.run_one` on a chosen device and precision.

Needs only torch, transformers, tokenizers and peft (no network, no pandas/sklearn, no Prefect or
great-expectations), so it runs on a bare GPU machine from the source tree:

    PYTHONPATH=. python -m flatlora.bench.smoke --device cuda --precision bf16 --json out/smoke.json

It checks what a test cannot on CPU: every parameter and buffer of the trained model sits on the run's
device, the record names the device (GPU model, CUDA, driver) and precision, and memory is the CUDA
allocator's peak.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch

from flatlora.bench import runner
from flatlora.bench.atomic import atomic_write_text
from flatlora.bench.config import resolve_config
from flatlora.bench.data import Splits, splits_from_rows

CLASS_WORDS = {
    "negative": ["loss", "fell", "weak", "cut", "decline", "miss"],
    "neutral": ["said", "report", "meeting", "quarter", "announced", "held"],
    "positive": ["profit", "rose", "strong", "beat", "growth", "record"],
}
FILLER = ["the", "company", "its", "in", "of", "a", "and", "shares", "market", "year", "to", "on"]


def synthetic_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` short sentences whose class shows in a few of their words (learnable in a few steps)."""
    rng = random.Random(seed)
    names = sorted(CLASS_WORDS)
    rows = []
    for i in range(n):
        lab = names[i % len(names)]
        words = [rng.choice(FILLER) for _ in range(rng.randint(6, 14))]
        for _ in range(2):
            words.insert(rng.randrange(len(words) + 1), rng.choice(CLASS_WORDS[lab]))
        rows.append((" ".join(words) + f" {i}", lab))
    return rows


def save_tiny_checkpoint(
    path: Path, texts: list[str], num_labels: int, hidden: int = 64, layers: int = 2
) -> Path:
    """A word-level tokenizer over `texts` plus a seeded BERT classifier of that vocabulary, saved as a checkpoint."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    words = sorted({w for t in texts for w in t.lower().split()} | {str(i) for i in range(10)})
    vocab = {w: i for i, w in enumerate(specials + words)}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]"
    )
    cfg = BertConfig(  # type: ignore[call-arg]  # num_labels is a PretrainedConfig kwarg
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
        num_labels=num_labels,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def smoke_splits(n_train: int = 192, n_eval: int = 48) -> Splits:
    rows = synthetic_rows(n_train + 2 * n_eval)
    return splits_from_rows(
        "synthetic",
        {"train": rows[:n_train], "val": rows[n_train : n_train + n_eval], "test": rows[n_train + n_eval :]},
        sorted(CLASS_WORDS),
    )


def placement(model: Any, device: torch.device) -> list[str]:
    """Names of parameters and buffers that are not on `device` (empty: all there)."""
    off = [n for n, p in model.named_parameters() if p.device.type != device.type]
    off += [n for n, b in model.named_buffers() if b.device.type != device.type]
    return off


def run_smoke(
    out_dir: str | Path,
    device: str = "auto",
    precision: str = "bf16",
    methods: tuple[str, ...] = ("lora", "flat_lora"),
    epochs: int = 3,
    progress: bool = False,
    n_train: int = 192,
    n_eval: int = 48,
) -> dict[str, Any]:
    """Train each method once; raise AssertionError if anything is off the device or the record is incomplete."""
    out = Path(out_dir)
    splits = smoke_splits(n_train, n_eval)
    ckpt = save_tiny_checkpoint(
        out / "tiny_bert", [str(t) for t in splits.train["text"]], len(splits.label_names)
    )
    want = runner.resolve_device(device)
    results: dict[str, Any] = {}
    for method in methods:
        cfg = resolve_config(
            "smoke",
            dataset="synthetic",
            model=str(ckpt),
            method=method,
            device=device,
            precision=precision,
            epochs=epochs,
            max_len=32,
            batch_size=16,
            lr=1e-2,
            eval_batch_size=n_eval,
        )
        seen: dict[str, Any] = {}
        real_build = runner.build_model

        def spy(
            c: Any, names: list[str], real: Any = real_build, seen: dict[str, Any] = seen
        ) -> tuple[Any, Any]:
            seen["model"], tok = real(c, names)
            return seen["model"], tok

        runner.build_model = spy  # type: ignore[assignment]  # same call shape, records the model
        t0 = time.perf_counter()
        try:
            rec = runner.run_one(cfg, out / "runs", progress=progress, splits=splits)
        finally:
            runner.build_model = real_build
        wall = time.perf_counter() - t0
        assert rec["status"] == "ok", f"{method}: {rec['failure_reason']}"
        off = placement(seen["model"], want)
        assert not off, f"{method}: not on {want}: {off[:5]}"
        hw = rec["provenance"]["hardware"]
        assert hw["device"] == str(want) and hw["precision"] == precision, hw
        kind = rec["cost"]["peak_mem_kind"]
        if want.type == "cuda":
            assert {"gpu_name", "cuda"} <= set(hw), f"record lacks GPU provenance: {hw}"
            assert kind == "cuda_max_allocated" and rec["cost"]["peak_mem_mb"] > 0, rec["cost"]
        else:
            assert kind == "cpu_rss_above_baseline", rec["cost"]
        results[method] = {
            "status": rec["status"],
            "test_accuracy": rec["test"]["accuracy"],
            "test_mcc": rec["test"]["mcc"],
            "final_train_loss": rec["train_loss"][-1]["loss"],
            "steps": len(rec["train_loss"]),
            "peak_mem_mb": rec["cost"]["peak_mem_mb"],
            "peak_mem_kind": kind,
            "wall_s": round(wall, 2),
            "device": rec["provenance"]["device"],
        }
    heavy = [m for m in ("prefect", "great_expectations") if m in sys.modules]
    assert not heavy, f"the runner path imported {heavy}"
    return {
        "device": str(want),
        "precision": precision,
        "hardware": rec["provenance"]["hardware"],
        "runs": results,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--precision", default="bf16", choices=("fp32", "bf16", "fp16"))
    ap.add_argument("--methods", default="lora,flat_lora")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument(
        "--n-train", type=int, default=192, help="training examples (val and test: a quarter each)"
    )
    ap.add_argument("--out", type=Path, default=None, help="run folder (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=None, help="write the summary here")
    args = ap.parse_args(argv)
    import tempfile

    out = args.out or Path(tempfile.mkdtemp(prefix="flatbench-smoke-"))
    res = run_smoke(
        out,
        args.device,
        args.precision,
        tuple(args.methods.split(",")),
        args.epochs,
        n_train=args.n_train,
        n_eval=max(8, args.n_train // 4),
    )
    text = json.dumps(res, indent=1)
    if args.json:
        atomic_write_text(args.json, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
