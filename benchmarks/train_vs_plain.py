"""What a run costs: `flatbench train` against a plain Trainer + PEFT script, as whole processes.

    python benchmarks/train_vs_plain.py [--pairs 3] [--threads N] [--tree PATH] [--json FILE]

One workload on both sides: PhraseBank 50agree, 1,000 training rows, MiniLM-L6, LoRA r=8 alpha=16 on
query/value, batch 16, max_len 72, one epoch (63 steps), one evaluation of the test split. The flatbench
side is the command itself,

    flatbench train --method lora --profile quick --set max_train_examples=1000 --set epochs=1 --set max_len=72

once as it is (flatness probe on) and once with `--no-flatness`. The plain side is the script a user would
write: read the same training and test rows from a CSV (written beforehand, untimed), tokenize them with
`datasets.map`, `get_peft_model`, `Trainer.train()`, `Trainer.predict()` on the test rows, print the
accuracy. Nothing of flatbench is imported there.

Each arm is a fresh process timed from start to exit (interpreter start, imports and teardown included),
wall and CPU (user + system, from `wait4`). A round runs every arm once, in an order that rotates from
round to round, so load on a shared machine falls on all arms alike; `--pairs` rounds are run. Printed:
each arm's median wall and CPU seconds, the ratio of its median to the plain script's, and the median of
the per-round ratios, for wall and CPU time; also the load average around the runs, and where the CPU
time went (the plain script's training and test prediction, the record's `cost.cpu_s` on the flatbench
side). Both sides use `--threads` torch threads (default: this process's cores). On a machine shared with
other work, `--threads 1` and the CPU ratio are the steadier measure: the wall time of each process then
follows the load more than its own work, and several torch threads that wait for a busy core spin and
inflate both. `--tree PATH` adds one more arm: `flatbench train` from another checkout (e.g. the main
branch), for a before/after in the same rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a source tree, uninstalled

SETTINGS = ["--set", "max_train_examples=1000", "--set", "epochs=1", "--set", "max_len=72"]
TRAIN = ["train", "--method", "lora", "--profile", "quick", *SETTINGS, "--no-progress"]


def write_rows(path: Path, data_dir: str | None) -> dict[str, Any]:
    """The runner's own training and test rows (same split, same subsample) as CSVs for the plain script."""
    from flatlora.bench.config import resolve_config
    from flatlora.bench.models import resolve_model_path
    from flatlora.bench.runner import prepare_splits

    cfg = resolve_config("quick", method="lora", max_train_examples=1000, epochs=1, max_len=72)
    splits = prepare_splits(cfg, data_dir)
    splits.train[["text", "label"]].to_csv(path / "train.csv", index=False)
    splits.test[["text", "label"]].to_csv(path / "test.csv", index=False)
    spec = {
        "dir": str(path),
        "model": str(resolve_model_path(cfg.model)),
        "labels": list(splits.label_names),
        "seed": cfg.seed,
        "lr": cfg.lr,
        "warmup_ratio": cfg.warmup_ratio,
        "batch_size": cfg.batch_size,
        "eval_batch_size": cfg.eval_batch_size,
        "max_len": cfg.max_len,
        "r": cfg.lora_r,
        "alpha": cfg.lora_alpha,
        "dropout": cfg.lora_dropout,
        "n_train": len(splits.train),
        "n_test": len(splits.test),
    }
    (path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    return spec


def plain_script(spec_path: str, threads: int) -> None:
    """The plain side: Trainer + get_peft_model on the CSVs, then one test prediction."""
    import pandas as pd
    import torch
    from datasets import Dataset
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(threads)
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    names = spec["labels"]
    l2i = {n: i for i, n in enumerate(names)}
    set_seed(spec["seed"])
    tok = AutoTokenizer.from_pretrained(spec["model"])
    model = AutoModelForSequenceClassification.from_pretrained(
        spec["model"], num_labels=len(names), id2label=dict(enumerate(names)), label2id=l2i
    )
    lcfg = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=spec["r"],
        lora_alpha=spec["alpha"],
        lora_dropout=spec["dropout"],
        target_modules=["query", "value"],
    )
    model = get_peft_model(model, lcfg)

    def dataset(name: str) -> Any:
        df = pd.read_csv(Path(spec["dir"]) / name, keep_default_na=False, dtype=str)
        d = Dataset.from_dict({"text": list(df["text"]), "label": [l2i[x] for x in df["label"]]})
        return d.map(
            lambda b: tok(b["text"], truncation=True, max_length=spec["max_len"]), batched=True
        ).remove_columns(["text"])

    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="plain-trainer-"),
        per_device_train_batch_size=spec["batch_size"],
        per_device_eval_batch_size=spec["eval_batch_size"],
        learning_rate=spec["lr"],
        num_train_epochs=1,
        warmup_steps=spec["warmup_ratio"],  # a float below 1 is a ratio of the steps
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        seed=spec["seed"],
        report_to=[],
        save_strategy="no",
        eval_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset("train.csv"),
        data_collator=DataCollatorWithPadding(tok),
    )
    c0 = time.process_time()
    trainer.train()
    c1 = time.process_time()
    pred = trainer.predict(dataset("test.csv"))
    c2 = time.process_time()
    acc = float((pred.predictions.argmax(-1) == pred.label_ids).mean())
    cpu = {"train": round(c1 - c0, 2), "test": round(c2 - c1, 2)}
    print(json.dumps({"accuracy": acc, "steps": trainer.state.global_step, "cpu_s": cpu}))


def timed(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Wall and CPU seconds of one whole process, and its last stdout line."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C or SIGTERM: the timed process ends with this one
            proc.terminate()
            proc.wait()
            raise
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-3000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "load": (load + os.getloadavg()[0]) / 2,
        "last": (stdout.strip().splitlines() or [""])[-1],
    }


def check_record(arm: str, last: str) -> dict[str, Any]:
    """The run's record is ok, 63 steps, probe as asked; returns its phase times (`cost.phase_s`) and
    its CPU seconds (`cost.cpu_s`: the training loop, the whole run)."""
    rec = json.loads(Path(last).read_text(encoding="utf-8"))
    if rec["status"] != "ok" or len(rec["train_loss"]) != 63:
        raise RuntimeError(
            f"{arm}: {rec['status']} {rec.get('failure_reason')}, {len(rec['train_loss'])} steps"
        )
    if (rec["flatness"] is None) != arm.endswith("--no-flatness"):
        raise RuntimeError(f"{arm}: flatness {rec['flatness']!r}")
    cost = rec["cost"]
    return {
        "phase_s": {k: float(v) for k, v in cost["phase_s"].items()},
        "run_cpu_s": {k: float(v) for k, v in cost["cpu_s"].items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=3, help="rounds; each runs every arm once")
    ap.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads, both sides"
    )
    ap.add_argument("--tree", default=None, help="also time `flatbench train` from this checkout")
    ap.add_argument(
        "--data-dir", default=None, help="data folder (else FLATBENCH_DATA_DIR or ../shared/data)"
    )
    ap.add_argument("--json", default=None, help="also write every timing here")
    ap.add_argument("--plain", default=None, help=argparse.SUPPRESS)  # the plain side, in its own process
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds `timed`, which ends its process
    if args.plain:
        plain_script(args.plain, args.threads)
        return 0
    flatbench = str(Path(sys.executable).with_name("flatbench"))
    base_env = {
        **os.environ,
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "FLATBENCH_THREADS": str(args.threads),
    }
    if args.data_dir:
        base_env["FLATBENCH_DATA_DIR"] = str(Path(args.data_dir).resolve())
    elif "FLATBENCH_DATA_DIR" not in base_env:
        base_env["FLATBENCH_DATA_DIR"] = str((ROOT.parent / "shared" / "data").resolve())
    with tempfile.TemporaryDirectory(prefix="train-vs-plain-") as tmp:
        spec = write_rows(Path(tmp), base_env["FLATBENCH_DATA_DIR"])
        arms: dict[str, tuple[list[str], dict[str, str]]] = {
            "plain Trainer + PEFT": (
                [
                    sys.executable,
                    __file__,
                    "--plain",
                    str(Path(tmp) / "spec.json"),
                    "--threads",
                    str(args.threads),
                ],
                {**base_env, "PYTHONPATH": ""},
            ),
            "flatbench train": ([flatbench, *TRAIN], {**base_env, "PYTHONPATH": str(ROOT)}),
            "flatbench train --no-flatness": (
                [flatbench, *TRAIN, "--no-flatness"],
                {**base_env, "PYTHONPATH": str(ROOT)},
            ),
        }
        if args.tree:
            tree = str(Path(args.tree).resolve())
            arms[f"flatbench train ({tree})"] = ([flatbench, *TRAIN], {**base_env, "PYTHONPATH": tree})
        names = list(arms)
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for r in range(args.pairs):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                cmd, env = arms[name]
                if name.startswith("flatbench"):
                    cmd = [*cmd, "--out", str(Path(tmp) / f"out-{r}-{names.index(name)}")]
                res = timed(cmd, env)
                if name.startswith("flatbench"):
                    res.update(check_record(name, res["last"]))
                else:
                    res["run_cpu_s"] = json.loads(res["last"])["cpu_s"]
                runs[name].append(res)
                print(
                    f"round {r + 1}: {name:<40s} wall {res['wall_s']:7.1f} s  CPU {res['cpu_s']:7.1f} s  "
                    f"load {res['load']:.1f}",
                    file=sys.stderr,
                    flush=True,
                )
    plain = runs[names[0]]
    summary: dict[str, Any] = {}
    for name in names:
        rs = runs[name]
        wall = statistics.median(x["wall_s"] for x in rs)
        cpu = statistics.median(x["cpu_s"] for x in rs)
        summary[name] = {
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "wall_ratio": round(wall / statistics.median(x["wall_s"] for x in plain), 3),
            "wall_ratio_per_round": round(
                statistics.median(a["wall_s"] / b["wall_s"] for a, b in zip(rs, plain, strict=True)), 3
            ),
            "cpu_ratio": round(cpu / statistics.median(x["cpu_s"] for x in plain), 3),
            "cpu_ratio_per_round": round(
                statistics.median(a["cpu_s"] / b["cpu_s"] for a, b in zip(rs, plain, strict=True)), 3
            ),
        }
    loads = [x["load"] for rs in runs.values() for x in rs]
    head = ("arm", "wall s", "CPU s", "wall ratio", "per-round", "CPU ratio", "per-round")
    print(f"{head[0]:<40s}" + "".join(f"{h:>11s}" for h in head[1:]))
    for name, s in summary.items():
        cells = (
            s["wall_s"],
            s["cpu_s"],
            s["wall_ratio"],
            s["wall_ratio_per_round"],
            s["cpu_ratio"],
            s["cpu_ratio_per_round"],
        )
        print(f"{name:<40s}" + "".join(f"{c:>11}" for c in cells))
    print(
        f"(medians of {args.pairs} rounds, whole processes, {args.threads} torch thread(s), "
        f"{spec['n_train']} training rows, {spec['n_test']} test rows; ratios against the plain script; "
        f"1-minute load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs)"
    )
    print("CPU seconds by part (medians):")
    for name in names:
        rs = runs[name]
        if name == names[0]:
            parts = {
                "train": [x["run_cpu_s"]["train"] for x in rs],
                "test": [x["run_cpu_s"]["test"] for x in rs],
                "the rest (start, imports, data, model, exit)": [
                    x["cpu_s"] - x["run_cpu_s"]["train"] - x["run_cpu_s"]["test"] for x in rs
                ],
            }
        else:
            parts = {
                "train": [x["run_cpu_s"]["train"] for x in rs],
                "the rest of the run (validation, model, test, probe)": [
                    x["run_cpu_s"]["run"] - x["run_cpu_s"]["train"] for x in rs
                ],
                "outside the run (start, imports, exit)": [x["cpu_s"] - x["run_cpu_s"]["run"] for x in rs],
            }
        print(f"  {name}: " + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in parts.items()))
    print("flatbench phases (record cost.phase_s, wall, median s):")
    for name in names[1:]:
        phases = runs[name][0]["phase_s"]
        cells = [f"{k} {statistics.median(x['phase_s'].get(k, 0.0) for x in runs[name]):.1f}" for k in phases]
        print(f"  {name}: " + ", ".join(cells))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"threads": args.threads, "summary": summary, "runs": runs}, indent=1) + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
