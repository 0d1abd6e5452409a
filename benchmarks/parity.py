"""Does flatbench's runner train as well as the script a user would write? Runner vs Trainer + PEFT.

    python benchmarks/parity.py [--seeds 1-10] [--workload quick1000] [--jobs 2] [--out FILE] [--align]

Both arms train LoRA on the same rows (the runner's own splits, so the same training subset and the same
validation rows) at the same nominal settings: MiniLM-L6, LoRA r=8 alpha=16 dropout 0.1 on query/value,
AdamW, linear decay after the warm-up, clipping at 1.0, batch 16. Each arm seeds itself as it would in
use: the runner from the run's seed; the plain script with transformers' `set_seed` before building the
model and the Trainer's own sampler. A seed's two runs therefore share the initial weights but not the
data order or dropout masks, and the outcome of one seed is not comparable between arms; collapses and
validation accuracy over many seeds are. Each run is a fresh process; `--jobs` run at once.

`--align` adds one more check: the plain script fed the runner's data order, its warm-up convention and
its dropout stream (the runner restarts the global generator from the seed before the first step). If the
two pipelines compute the same thing, the per-step training losses agree to float precision; the largest
difference is printed.

The collapse rule is the study's (`flatlora.bench.collapse`): a run that ends on the class-prior plateau or
scores at or below the majority class on validation.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a source tree, uninstalled

WORKLOADS: dict[str, dict[str, Any]] = {
    # 1,000 training rows, one epoch (63 steps) at the quick profile's rate: a fast, collapse-prone workload
    "quick1000": {"profile": "quick", "max_train_examples": 1000, "epochs": 1, "max_len": 72, "lr": 3e-3},
    # the first study's recipe at its LoRA rate: the whole training split, 2 epochs (424 steps)
    "study": {"profile": "study", "lr": 3e-3},
}


def _config(workload: str, seed: int) -> Any:
    from flatlora.bench.config import resolve_config

    w = dict(WORKLOADS[workload])
    return resolve_config(w.pop("profile"), method="lora", seed=seed, num_threads=1, **w)


def _collapse(losses: list[float], splits: Any, val_acc: float) -> dict[str, Any]:
    from flatlora.bench.collapse import assess, majority_share

    train = [str(x) for x in splits.train["label"]]
    val = [str(x) for x in splits.val["label"]]
    counts = {n: train.count(n) for n in splits.label_names}
    majority = max(counts, key=lambda n: counts[n])
    return assess(losses, counts, val_acc, val.count(majority) / len(val)).to_dict() | {
        "val_majority_share": majority_share({n: val.count(n) for n in splits.label_names})
    }


def run_runner(workload: str, seed: int, data_dir: str | None) -> dict[str, Any]:
    from flatlora.bench.runner import prepare_splits, run_one

    cfg = _config(workload, seed)
    splits = prepare_splits(cfg, data_dir)
    rec = run_one(cfg, tempfile.mkdtemp(prefix="parity-"), progress=False, splits=splits)
    losses = [float(x["loss"]) for x in rec["train_loss"]]
    val = float(rec["val_history"][-1]["accuracy"])
    return {
        "arm": "runner",
        "seed": seed,
        "val_accuracy": val,
        "losses": losses,
        "lrs": [float(x["lr"]) for x in rec["train_loss"]],
        "collapse": _collapse(losses, splits, val),
    }


def run_trainer(workload: str, seed: int, data_dir: str | None, align: bool = False) -> dict[str, Any]:
    """A plain `Trainer` + `get_peft_model` script on the runner's rows; `align`: with the runner's data
    order, warm-up convention and dropout stream."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, TaskType, get_peft_model
    from torch.utils.data import SequentialSampler
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    from flatlora.bench.models import resolve_model_path
    from flatlora.bench.runner import lr_at, prepare_splits

    hf_logging.set_verbosity_error()
    torch.set_num_threads(1)
    cfg = _config(workload, seed)
    splits = prepare_splits(cfg, data_dir)
    names = list(splits.label_names)
    l2i = {n: i for i, n in enumerate(names)}
    path = resolve_model_path(cfg.model)
    set_seed(seed)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=len(names), id2label=dict(enumerate(names)), label2id=l2i
    )
    model = get_peft_model(
        model,
        LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=["query", "value"],
        ),
    )

    def dataset(df: Any, order: list[int] | None = None) -> Any:
        texts = [str(t) for t in df["text"]]
        ys = [l2i[str(x)] for x in df["label"]]
        if order is not None:
            texts, ys = [texts[i] for i in order], [ys[i] for i in order]
        d = Dataset.from_dict({"text": texts, "label": ys})
        return d.map(
            lambda b: tok(b["text"], truncation=True, max_length=cfg.max_len), batched=True
        ).remove_columns(["text"])

    n = len(splits.train)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist() if align else None
    steps = math.ceil(n / cfg.batch_size) * cfg.epochs
    warmup = int(cfg.warmup_ratio * steps)

    class PlainTrainer(Trainer):
        restart = align

        def _get_train_sampler(self, *a: Any, **k: Any) -> Any:
            if align:  # the runner's order (one epoch: the aligned check trains one)
                return SequentialSampler(self.train_dataset)
            return super()._get_train_sampler(*a, **k)

        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            if align:  # the runner's warm-up convention
                opt = optimizer or self.optimizer
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                    opt, lambda s: lr_at(s, steps, 1.0, warmup, cfg.lr_schedule)
                )
                return self.lr_scheduler
            return super().create_scheduler(num_training_steps, optimizer)

        def training_step(self, *a: Any, **k: Any) -> Any:
            if PlainTrainer.restart:  # the runner's dropout stream starts from the seed at step 1
                torch.manual_seed(seed)
                PlainTrainer.restart = False
            return super().training_step(*a, **k)

    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="parity-trainer-"),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=cfg.lr,
        num_train_epochs=cfg.epochs,
        warmup_steps=cfg.warmup_ratio,
        lr_scheduler_type="linear",
        max_grad_norm=cfg.max_grad_norm,
        weight_decay=cfg.weight_decay,
        seed=seed,
        report_to=[],
        save_strategy="no",
        eval_strategy="no",
        use_cpu=True,
        logging_steps=1,
        disable_tqdm=True,
    )
    trainer = PlainTrainer(
        model=model,
        args=args,
        train_dataset=dataset(splits.train, order),
        data_collator=DataCollatorWithPadding(tok),
    )
    trainer.train()
    pred = trainer.predict(dataset(splits.val))
    val = float((pred.predictions.argmax(-1) == pred.label_ids).mean())
    hist = trainer.state.log_history
    losses = [float(h["loss"]) for h in hist if "loss" in h]
    return {
        "arm": "trainer-aligned" if align else "trainer",
        "seed": seed,
        "val_accuracy": val,
        "losses": losses,
        "lrs": [float(h["learning_rate"]) for h in hist if "learning_rate" in h],
        "collapse": _collapse(losses, splits, val),
    }


def _one(arm: str, workload: str, seed: int, data_dir: str | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--one", arm, "--workload", workload, "--seeds", str(seed)]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{arm} seed {seed} failed:\n{out.stderr[-3000:]}")
    res: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return res


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    from scipy.stats import fisher_exact, ttest_ind

    out: dict[str, Any] = {}
    arms = {}
    for arm in ("runner", "trainer"):
        rs = [r for r in runs if r["arm"] == arm]
        vals = [r["val_accuracy"] for r in rs]
        arms[arm] = rs
        out[arm] = {
            "n": len(rs),
            "collapsed": sum(r["collapse"]["collapsed"] for r in rs),
            "collapsed_seeds": [r["seed"] for r in rs if r["collapse"]["collapsed"]],
            "val_mean": statistics.fmean(vals) if vals else None,
            "val_sd": statistics.stdev(vals) if len(vals) > 1 else None,
            "val_mean_not_collapsed": statistics.fmean(
                [r["val_accuracy"] for r in rs if not r["collapse"]["collapsed"]] or [math.nan]
            ),
        }
    a, b = arms["runner"], arms["trainer"]
    if len(a) > 1 and len(b) > 1:
        t = ttest_ind([r["val_accuracy"] for r in a], [r["val_accuracy"] for r in b], equal_var=False)
        ci = t.confidence_interval(0.95)
        ca, cb = out["runner"]["collapsed"], out["trainer"]["collapsed"]
        out["runner_minus_trainer"] = {
            "val_mean_diff": out["runner"]["val_mean"] - out["trainer"]["val_mean"],
            "welch_ci95": [float(ci.low), float(ci.high)],
            "welch_p": float(t.pvalue),
            "collapse_fisher_p": float(fisher_exact([[ca, len(a) - ca], [cb, len(b) - cb]]).pvalue),
        }
    aligned = [r for r in runs if r["arm"] == "trainer-aligned"]
    if aligned:
        checks = []
        for r in aligned:
            ref = next(x for x in a if x["seed"] == r["seed"])
            diffs = [abs(x - y) for x, y in zip(r["losses"], ref["losses"], strict=True)]
            checks.append({"seed": r["seed"], "steps": len(diffs), "max_abs_loss_diff": max(diffs)})
        out["aligned"] = checks
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="1-10", help="e.g. 1-10 or 1,2,5")
    ap.add_argument("--workload", default="quick1000", choices=sorted(WORKLOADS))
    ap.add_argument("--jobs", type=int, default=2, help="runs at once, one thread each")
    ap.add_argument(
        "--data-dir", default=None, help="data folder (else FLATBENCH_DATA_DIR or ../shared/data)"
    )
    ap.add_argument("--align", action="store_true", help="also the aligned check on the first seed")
    ap.add_argument("--out", default=None, help="write every run and the summary as JSON here")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    seeds = _seeds(args.seeds)
    if args.one:
        fn = {
            "runner": lambda s: run_runner(args.workload, s, args.data_dir),
            "trainer": lambda s: run_trainer(args.workload, s, args.data_dir),
            "trainer-aligned": lambda s: run_trainer(args.workload, s, args.data_dir, align=True),
        }[args.one]
        print(json.dumps(fn(seeds[0])))
        return
    jobs = [(arm, s) for s in seeds for arm in ("runner", "trainer")]  # interleaved
    if args.align:
        jobs.append(("trainer-aligned", seeds[0]))
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futs = [pool.submit(_one, arm, args.workload, s, args.data_dir) for arm, s in jobs]
        runs = []
        for (arm, s), f in zip(jobs, futs, strict=True):
            r = f.result()
            runs.append(r)
            c = "collapsed" if r["collapse"]["collapsed"] else "ok"
            print(f"{arm:16s} seed {s:3d}  val acc {r['val_accuracy']:.4f}  {c}", file=sys.stderr)
    summary = summarise(runs)
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {"workload": WORKLOADS[args.workload], "seeds": seeds, "summary": summary, "runs": runs},
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
