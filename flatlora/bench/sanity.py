"""The study's Q3 sanity check, done right: "repeat: hello" -> "hello hello" on held-out words.

The study's harness reported accuracy 1.0 while t5-small echoed its input. Here the metric is
exact match of the *generated continuation* against the target, on words never seen in
training, with every prediction kept. Echoing the prompt scores 0. The model is the local
SmolLM2-135M-Instruct (causal LM); the loss covers only the target tokens.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from flatlora.bench.data import load_sanity
from flatlora.bench.records import atomic_write_json, now_iso, versions

PROMPT_FMT = "{prompt}\nAnswer:"  # the target follows as " {target}<eos>"
THRESHOLD = 0.75


@dataclass
class SanityConfig:
    methods: tuple[str, ...] = ("lora", "flat_lora")
    seed: int = 0
    epochs: int = 4
    lr: float = 2e-3
    batch_size: int = 8
    lora_r: int = 8
    lora_alpha: int = 16
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    sigma: float = 0.1
    max_new_tokens: int = 8
    max_train: int | None = None
    max_test: int | None = None
    num_threads: int | None = None

    def __post_init__(self) -> None:
        for m in self.methods:
            if m not in ("lora", "flat_lora"):
                raise ValueError(f"`methods` entries must be lora|flat_lora, got {m!r}")
        if self.epochs < 1:
            raise ValueError(f"`epochs` must be >= 1, got {self.epochs}")
        if self.sigma < 0:
            raise ValueError(f"`sigma` must be >= 0, got {self.sigma}")


@dataclass
class MethodResult:
    method: str
    exact_match: float
    n_test: int
    predictions: list[dict[str, Any]]
    train_loss: list[float]
    wall_time_s: float


@dataclass
class SanityResult:
    config: dict[str, Any]
    threshold: float
    baseline: MethodResult  # the untrained model with the same prompt
    methods: dict[str, MethodResult] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    versions: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(r.exact_match >= self.threshold for r in self.methods.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        return d

    def summary(self) -> str:
        parts = [f"baseline EM {self.baseline.exact_match:.2f}"]
        parts += [f"{m} EM {r.exact_match:.2f} ({r.wall_time_s:.0f}s)" for m, r in self.methods.items()]
        return f"sanity {'PASSED' if self.passed else 'FAILED'} (>= {self.threshold}): " + ", ".join(parts)


def normalize(text: str) -> str:
    """Continuation up to the first newline/special token, whitespace-normalised."""
    text = text.split("\n")[0].split("<|")[0]
    return " ".join(text.split())


def exact_match(preds: list[str], targets: list[str]) -> float:
    if not targets:
        return 0.0
    return sum(normalize(p) == normalize(t) for p, t in zip(preds, targets, strict=True)) / len(targets)


def _encode_train(tok: Any, rows: list[dict[str, str]]) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) with labels = -100 on the prompt: loss only on target tokens (+ eos)."""
    out = []
    for r in rows:
        p = tok(PROMPT_FMT.format(prompt=r["prompt"]), add_special_tokens=False)["input_ids"]
        t = tok(" " + r["target"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        out.append((p + t, [-100] * len(p) + t))
    return out


def _collate(items: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    t = max(len(x) for x, _ in items)
    ids = torch.full((len(items), t), pad_id, dtype=torch.long)  # (b, t), right padding
    labels = torch.full((len(items), t), -100, dtype=torch.long)  # (b, t)
    mask = torch.zeros((len(items), t), dtype=torch.long)
    for i, (x, y) in enumerate(items):
        ids[i, : len(x)] = torch.tensor(x)
        labels[i, : len(y)] = torch.tensor(y)
        mask[i, : len(x)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@torch.no_grad()
def generate(model: Any, tok: Any, rows: list[dict[str, str]], max_new_tokens: int) -> list[str]:
    """Greedy continuation, one prompt at a time (no padding subtleties)."""
    model.eval()
    outs = []
    for r in rows:
        enc = tok(PROMPT_FMT.format(prompt=r["prompt"]), return_tensors="pt", add_special_tokens=False)
        gen = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
        outs.append(tok.decode(gen[0, enc["input_ids"].shape[1] :], skip_special_tokens=True))
    return outs


def _evaluate(
    method: str,
    model: Any,
    tok: Any,
    test: list[dict[str, str]],
    cfg: SanityConfig,
    losses: list[float],
    t0: float,
) -> MethodResult:
    preds = generate(model, tok, test, cfg.max_new_tokens)
    targets = [r["target"] for r in test]
    rows = [
        {
            "prompt": r["prompt"],
            "target": r["target"],
            "pred": normalize(p),
            "raw": p,
            "correct": normalize(p) == normalize(r["target"]),
        }
        for r, p in zip(test, preds, strict=True)
    ]
    return MethodResult(
        method, exact_match(preds, targets), len(test), rows, losses, round(time.perf_counter() - t0, 2)
    )


def train_method(
    method: str,
    cfg: SanityConfig,
    train: list[dict[str, str]],
    test: list[dict[str, str]],
    progress: bool = True,
) -> MethodResult:
    from peft import LoraConfig, TaskType
    from tqdm.auto import tqdm

    from flatlora.bench.models import get_peft_model_quietly, load_smollm2

    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    base, tok = load_smollm2()
    model = get_peft_model_quietly(
        base,
        LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=0.0,
            target_modules=list(cfg.target_modules),
        ),
    )
    fl = None
    if method == "flat_lora":
        from flatlora import FlatLora, FlatLoraConfig

        fl = FlatLora(model, FlatLoraConfig(sigma=cfg.sigma, seed=cfg.seed))
    data = _encode_train(tok, train)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    steps_per_epoch = math.ceil(len(data) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    gen = torch.Generator().manual_seed(cfg.seed)
    losses: list[float] = []
    step = 0
    bar = tqdm(total=total, desc=f"sanity {method}", disable=not progress, leave=False, file=sys.stderr)
    for _epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(data), generator=gen).tolist()
        for s in range(0, len(order), cfg.batch_size):
            batch = _collate([data[i] for i in order[s : s + cfg.batch_size]], tok.pad_token_id)
            for g in opt.param_groups:  # linear decay
                g["lr"] = cfg.lr * (1 - step / total)
            opt.zero_grad(set_to_none=True)
            if fl is not None:
                with fl.perturb(step, total):
                    loss = model(**batch).loss
                    loss.backward()
            else:
                loss = model(**batch).loss
                loss.backward()
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise RuntimeError(f"sanity {method}: non-finite loss at step {step}")
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(loss_value)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss):.3f}")
    bar.close()
    return _evaluate(method, model, tok, test, cfg, losses, t0)


def run_sanity(
    out: str | os.PathLike[str] | None = None, cfg: SanityConfig | None = None, progress: bool = True
) -> SanityResult:
    """Baseline, then each method from the same init; writes `<out>/sanity.json` atomically when `out` given."""
    from flatlora.bench.models import load_smollm2

    cfg = cfg or SanityConfig()
    from flatlora.bench.config import available_cores, env_threads

    torch.set_num_threads(cfg.num_threads or env_threads() or available_cores())
    from flatlora.bench.validation import ValidationFailed, validate_sanity

    report = validate_sanity()
    if not report.success:
        raise ValidationFailed(report)
    train, test = load_sanity("train"), load_sanity("test")
    train, test = train[: cfg.max_train], test[: cfg.max_test]
    started = now_iso()
    t0 = time.perf_counter()
    base, tok = load_smollm2()
    baseline = _evaluate("baseline", base, tok, test, cfg, [], t0)
    del base
    res = SanityResult(
        config={**asdict(cfg), "n_train": len(train), "n_test": len(test), "prompt_format": PROMPT_FMT},
        threshold=THRESHOLD,
        baseline=baseline,
        started_at=started,
        versions=versions(),
    )
    for m in cfg.methods:
        res.methods[m] = train_method(m, cfg, train, test, progress)
    res.finished_at = now_iso()
    if out is not None:
        atomic_write_json(Path(out) / "sanity.json", res.to_dict())
    return res  # the caller prints `res.summary()` once (CLI, flow)
