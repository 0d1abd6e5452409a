"""The generative track: a causal LM trained on prompt -> target, scored by greedy generation.

`runner.run_one` calls `train` here for a generative dataset (`gen_data.GenSplits`); the record, cache,
grid and report are the classification ones. What differs:

* Model: any Hugging Face causal LM by path or hub id (`smollm2`: the pip-installed SmolLM2-135M-Instruct).
  LoRA targets are PEFT's default for the architecture (`model_info.target_modules{,_source}`).
* Template: the tokenizer's chat template when it has one (user turn = prompt, assistant turn = target,
  the end-of-turn token included in the target), else PLAIN_TEMPLATE with " {target}<eos>" after it.
* Loss on the target tokens only (prompt labels -100). A pair longer than `max_len` keeps at most
  `max_len // 2` prompt tokens (the end of the prompt) and cuts the target to fit; `n_truncated` counts them.
* Evaluation: token-weighted held-out loss on the targets (teacher forcing), and greedy generation of at
  most `max_new_tokens` (card, or the config's) from the prompt (left-truncated to `max_len`), scored
  by `gen_scoring` with the card's `answer_format`. `accuracy` in the record is that exact match.
  `test.loss_before` is the held-out loss of the model as loaded, on the same pairs: the reference that
  says whether fine-tuning moved the loss at all.
* Best epoch: highest validation exact match, ties to the lower validation loss (as for classification).
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import torch

from flatlora.bench.config import RunConfig
from flatlora.bench.gen_data import GenSplits
from flatlora.bench.gen_scoring import gold_answer, predicted_answer
from flatlora.bench.probe import flatness_probe
from flatlora.bench.training import (
    RunFailed,
    autocast,
    load_trainable,
    lr_at,
    progress_bar,
    rss_mb,
    trainable_state,
)

PLAIN_TEMPLATE = "{prompt}\nAnswer:"  # then " {target}<eos>"; used when the tokenizer has no chat template
SMOLLM2_ALIASES = ("smollm2", "smollm2-135m", "smollm2-135m-instruct")
Batch = dict[str, torch.Tensor]
Pair = tuple[list[int], list[int]]  # (prompt ids, target ids)


# ---------------------------------------------------------------- model


def load_causal_lm(model: str) -> tuple[Any, Any]:
    """(AutoModelForCausalLM in fp32, tokenizer with a pad token)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # "Loading weights" bars would interleave with the run's own output
    if model.lower() in SMOLLM2_ALIASES:
        from flatlora.bench.models import smollm2_cache_path

        path = str(smollm2_cache_path())
    else:
        path = model
    tok = AutoTokenizer.from_pretrained(path)
    mdl = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if tok.eos_token_id is None:
        raise ValueError(f"`model` {model!r}: its tokenizer has no eos token, needed to end the targets")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return mdl, tok


def causal_targets(model: Any, requested: tuple[str, ...] | None) -> tuple[list[str], str]:
    """PEFT's per-architecture default when every module it names exists (any layer type: GPT-2's
    Conv1D too), else `models.resolve_target_modules`."""
    from flatlora.bench.models import peft_lora_defaults, resolve_target_modules, target_matches

    if not requested:
        names = [n for n, _ in model.named_modules()]
        default = peft_lora_defaults().get(str(getattr(model.config, "model_type", "")))
        if default and all(any(target_matches(n, t) for n in names) for t in default):
            return list(default), "peft_default"
    return resolve_target_modules(model, requested)


def build_causal(cfg: RunConfig) -> tuple[Any, Any]:
    """Seeded load, then LoRA (PEFT CAUSAL_LM) unless `full`; the model carries `flatbench_model_info`."""
    torch.manual_seed(cfg.seed)
    model, tok = load_causal_lm(cfg.model)
    targets, source = causal_targets(model, cfg.target_modules)
    info: dict[str, Any] = {
        "model": cfg.model,
        "model_type": str(getattr(model.config, "model_type", "")),
        "architecture": type(model).__name__,
        "target_modules": targets,
        "target_modules_source": source,
        "template": "chat" if getattr(tok, "chat_template", None) else "plain",
        "plain_template": None if getattr(tok, "chat_template", None) else PLAIN_TEMPLATE,
    }
    if cfg.method != "full":
        from peft import LoraConfig, TaskType, get_peft_model

        lcfg = LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=list(targets),
        )
        model = get_peft_model(model, lcfg)
        raw = {k: sorted(v) if isinstance(v, set | frozenset) else v for k, v in lcfg.to_dict().items()}
        info["peft_config"] = {k: v for k, v in raw.items() if _jsonable(v)}
    model.flatbench_model_info = info
    return model, tok


def _jsonable(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool | list | dict)


def check_sam_memory(model: Any, method: str, device: torch.device) -> None:
    """Refuse SAM-W when its extra memory (a gradient, an ascent step and a backup of every LoRA-wrapped
    weight: 3x those weights) exceeds what the device has free; SAM-AB's extra is the LoRA factors'."""
    if method != "sam_w":
        return
    from peft.tuners.lora import LoraLayer

    w_bytes = 0
    for m in model.modules():
        if isinstance(m, LoraLayer):
            w: Any = m.get_base_layer().weight
            w_bytes += int(w.numel()) * 4  # fp32 master weights
    need = 3 * w_bytes
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
    else:
        try:
            import psutil

            free = int(psutil.virtual_memory().available)
        except ImportError:
            return
    if need > 0.8 * free:
        raise ValueError(
            f"sam_w needs about {need / 2**20:.0f} MB beyond the model (3x the {w_bytes / 2**20:.0f} MB of "
            f"LoRA-wrapped weights) but {free / 2**20:.0f} MB is free on {device}; use sam_ab, fewer "
            "target_modules, or a device with more memory"
        )


# ---------------------------------------------------------------- text -> token ids


def _ids(x: Any) -> list[int]:
    """apply_chat_template's ids across transformers versions (a list, or a mapping with input_ids)."""
    if hasattr(x, "keys"):
        x = x["input_ids"]
    return [int(i) for i in x]


def encode_pair(tok: Any, prompt: str, target: str | None) -> Pair:
    """(prompt ids, target ids) under the chat template, else PLAIN_TEMPLATE; target None: prompt only."""
    if getattr(tok, "chat_template", None):
        user = [{"role": "user", "content": prompt}]
        p = _ids(tok.apply_chat_template(user, add_generation_prompt=True, tokenize=True))
        if target is None:
            return p, []
        full = _ids(tok.apply_chat_template([*user, {"role": "assistant", "content": target}], tokenize=True))
        if full[: len(p)] == p and len(full) > len(p):
            return p, full[len(p) :]
        return p, [*_ids(tok(target, add_special_tokens=False)["input_ids"]), tok.eos_token_id]
    p = _ids(tok(PLAIN_TEMPLATE.format(prompt=prompt))["input_ids"])
    if target is None:
        return p, []
    return p, [*_ids(tok(" " + target, add_special_tokens=False)["input_ids"]), tok.eos_token_id]


def fit(p: list[int], t: list[int], max_len: int) -> tuple[list[int], list[int], bool]:
    """Cut a pair to `max_len`: the prompt keeps its last max(max_len // 2, max_len - len(t)) tokens."""
    if len(p) + len(t) <= max_len:
        return p, t, False
    keep_p = min(len(p), max(max_len // 2, max_len - len(t)))
    p = p[len(p) - keep_p :]
    return p, t[: max_len - len(p)], True


def collate(pairs: list[Pair], pad_id: int) -> Batch:
    """Right-padded (input_ids, attention_mask, labels); labels -100 on prompt and padding."""
    t = max(len(p) + len(y) for p, y in pairs)
    ids = torch.full((len(pairs), t), pad_id, dtype=torch.long)  # (b, t)
    labels = torch.full((len(pairs), t), -100, dtype=torch.long)  # (b, t)
    mask = torch.zeros((len(pairs), t), dtype=torch.long)  # (b, t)
    for i, (p, y) in enumerate(pairs):
        n = len(p) + len(y)
        ids[i, :n] = torch.tensor(p + y)
        labels[i, len(p) : n] = torch.tensor(y)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _to(b: Batch, device: torch.device) -> Batch:
    return b if device.type == "cpu" else {k: v.to(device) for k, v in b.items()}


# ---------------------------------------------------------------- evaluation


class GenEvalSet:
    """One split's pairs for the held-out loss and prompts for generation, batched in length order."""

    def __init__(self, tok: Any, prompts: list[str], targets: list[str], cfg: RunConfig, fmt: str) -> None:
        self.tok, self.fmt = tok, fmt
        enc = [encode_pair(tok, p, t) for p, t in zip(prompts, targets, strict=True)]
        fitted = [fit(p, t, cfg.max_len) for p, t in enc]
        self.pairs = [(p, t) for p, t, _ in fitted]
        self.n_truncated = sum(cut for *_, cut in fitted)
        self.prompts = [p[-cfg.max_len :] for p, _ in enc]
        self.golds = [gold_answer(t, fmt) or "" for t in targets]
        self.bs = cfg.eval_batch_size
        self.order = sorted(range(len(enc)), key=self._length_key)

    def _length_key(self, i: int) -> tuple[int, int]:
        return (len(self.pairs[i][0]) + len(self.pairs[i][1]), i)

    def loss_batches(self, pad_id: int, limit: int | None = None) -> list[Batch]:
        idx = (
            self.order if limit is None else sorted(range(min(limit, len(self.pairs))), key=self._length_key)
        )
        return [
            collate([self.pairs[i] for i in idx[s : s + self.bs]], pad_id)
            for s in range(0, len(idx), self.bs)
        ]

    @torch.no_grad()
    def loss(self, model: Any, device: torch.device, precision: str, pad_id: int) -> float:
        """Mean loss per target token over the split."""
        model.eval()
        total, n = 0.0, 0
        for b in self.loss_batches(pad_id):
            k = int((b["labels"][:, 1:] != -100).sum())  # target tokens the shifted loss averages over
            with autocast(device, precision):
                total += float(model(**_to(b, device)).loss) * k
            n += k
        return total / max(n, 1)

    @torch.no_grad()
    def generate(
        self, model: Any, device: torch.device, precision: str, max_new_tokens: int, desc: str | None
    ) -> list[str]:
        """Greedy continuations (left-padded batches, length-sorted), in the split's row order."""
        model.eval()
        tok, out = self.tok, [""] * len(self.prompts)
        order = sorted(range(len(self.prompts)), key=lambda i: (len(self.prompts[i]), i))
        bar = progress_bar(len(order), desc or "", desc is not None)
        for s in range(0, len(order), self.bs):
            idx = order[s : s + self.bs]
            t = max(len(self.prompts[i]) for i in idx)
            ids = torch.full((len(idx), t), tok.pad_token_id, dtype=torch.long)  # (b, t), left padding
            mask = torch.zeros((len(idx), t), dtype=torch.long)
            for r, i in enumerate(idx):
                p = self.prompts[i]
                ids[r, t - len(p) :] = torch.tensor(p)
                mask[r, t - len(p) :] = 1
            with autocast(device, precision):
                gen = model.generate(
                    input_ids=ids.to(device),
                    attention_mask=mask.to(device),
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    num_beams=1,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=tok.eos_token_id,
                )
            for r, i in enumerate(idx):
                out[i] = tok.decode(gen[r, t:], skip_special_tokens=True)
            bar.update(len(idx))
        bar.close()
        return out

    def score(self, outputs: list[str]) -> tuple[float, list[str]]:
        preds = [predicted_answer(o, self.fmt) for o in outputs]
        hits = sum(p == g and g != "" for p, g in zip(preds, self.golds, strict=True))
        return hits / max(len(preds), 1), preds


# ---------------------------------------------------------------- training


def _mem_sample(device: torch.device) -> float:
    """Bytes reserved by the CUDA allocator, or this process's RSS on CPU (PEFT's avg / 99th percentile)."""
    return float(torch.cuda.memory_reserved(device)) if device.type == "cuda" else rss_mb() * 2**20


def train(
    cfg: RunConfig, splits: GenSplits, record: dict[str, Any], progress: bool, device: torch.device
) -> None:
    """Fill `record` (model_info, train_loss, val_history, best_epoch, test, predictions, flatness, cost)."""
    t_start = time.perf_counter()
    fmt = splits.answer_format
    max_new = cfg.max_new_tokens or splits.max_new_tokens
    model, tok = build_causal(cfg)
    record["model_info"] = dict(model.flatbench_model_info)
    record["dataset_info"]["max_new_tokens"] = max_new
    targets = tuple(record["model_info"]["target_modules"])
    model.to(device)
    check_sam_memory(model, cfg.method, device)
    pad_id, amp = int(tok.pad_token_id), cfg.precision
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    cost = record["cost"]
    cost.update(
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        total_params=sum(p.numel() for p in model.parameters()),
    )
    cost["adapter_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    phase = cost["phase_s"]
    phase["load_model"] = round(time.perf_counter() - t_start, 2)

    enc = [
        encode_pair(tok, str(p), str(t))
        for p, t in zip(splits.train["text"], splits.train["label"], strict=True)
    ]
    fitted = [fit(p, t, cfg.max_len) for p, t in enc]
    train_pairs = [(p, t) for p, t, _ in fitted]
    cost["n_truncated_train"] = sum(c for *_, c in fitted)
    val = GenEvalSet(
        tok, [str(x) for x in splits.val["text"]], [str(x) for x in splits.val["label"]], cfg, fmt
    )
    test = GenEvalSet(
        tok, [str(x) for x in splits.test["text"]], [str(x) for x in splits.test["label"]], cfg, fmt
    )
    flat_batches = [
        _to(b, device) for b in val.loss_batches(pad_id, cfg.flatness_batches * cfg.eval_batch_size)
    ]

    # the reference: the model as loaded (LoRA's B starts at 0), on the same test pairs
    tb = time.perf_counter()
    loss_before = test.loss(model, device, amp, pad_id)
    phase["test_loss_before"] = round(time.perf_counter() - tb, 2)

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_pairs) / (cfg.batch_size * cfg.grad_accum))
    total_steps = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_ratio * total_steps)
    fl, sam = None, None
    if cfg.method == "flat_lora":
        from flatlora import FlatLora, FlatLoraConfig

        fl = FlatLora(
            model,
            FlatLoraConfig(sigma=cfg.sigma, seed=cfg.seed, schedule=cfg.sigma_schedule, mode=cfg.flat_mode),
        )
    elif cfg.method in ("sam_ab", "sam_w"):
        if cfg.grad_accum != 1:
            raise ValueError(f"`grad_accum` must be 1 for {cfg.method}, got {cfg.grad_accum}")
        from flatlora import SamAB, SamW

        sam = (SamAB if cfg.method == "sam_ab" else SamW)(model, opt, rho=cfg.rho)

    gen = torch.Generator().manual_seed(cfg.seed)  # data order: independent of model init
    torch.manual_seed(cfg.seed)  # dropout stream
    first_loss: float | None = None
    best_key, best_state, best_epoch, step = (-1.0, 0.0), None, 0, 0
    mem: list[float] = []
    step_s: list[float] = []
    tokens = 0
    t_eval = 0.0
    bar = progress_bar(total_steps, f"{cfg.method} s{cfg.seed}", progress)
    t_loop = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(train_pairs), generator=gen).tolist()
        micro = [
            collate([train_pairs[i] for i in order[s : s + cfg.batch_size]], pad_id)
            for s in range(0, len(order), cfg.batch_size)
        ]
        for s in range(0, len(micro), cfg.grad_accum):
            group = micro[s : s + cfg.grad_accum]
            ts = time.perf_counter()
            lr = lr_at(step, total_steps, cfg.lr, warmup, cfg.lr_schedule)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            if sam is not None:
                b = _to(group[0], device)

                def closure(b: Batch = b) -> torch.Tensor:
                    with autocast(device, amp):
                        loss = model(**b).loss
                    loss.backward()
                    return loss

                loss_val = float(sam.step(closure))
            else:
                loss_val = 0.0
                for b in group:
                    b = _to(b, device)
                    with fl.perturb(step, total_steps) if fl is not None else contextlib.nullcontext():
                        with autocast(device, amp):
                            loss = model(**b).loss / len(group)
                        (scaler.scale(loss) if scaler is not None else loss).backward()
                    loss_val += float(loss.detach())
            tokens += sum(int(b["attention_mask"].sum()) for b in group)
            if not math.isfinite(loss_val):
                raise RunFailed(f"non-finite training loss ({loss_val}) at step {step + 1}, epoch {epoch}")
            first_loss = first_loss if first_loss is not None else max(loss_val, 1e-3)
            if loss_val > cfg.divergence_factor * first_loss:
                raise RunFailed(
                    f"training diverged: loss {loss_val:.3g} at step {step + 1} > {cfg.divergence_factor}x initial {first_loss:.3g}"
                )
            if sam is None:
                if scaler is not None:
                    scaler.unscale_(opt)
                if cfg.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                if scaler is not None:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # the step's kernels are done: an honest step time
            step_s.append(round(time.perf_counter() - ts, 5))
            step += 1
            mem.append(_mem_sample(device))
            record["train_loss"].append(
                {"step": step, "epoch": round(step / steps_per_epoch, 4), "loss": loss_val, "lr": lr}
            )
            bar.update(1)
            bar.set_postfix(loss=f"{loss_val:.3f}", ep=epoch)
        te = time.perf_counter()
        vloss = val.loss(model, device, amp, pad_id)
        if not math.isfinite(vloss):
            raise RunFailed(f"non-finite validation loss ({vloss}) after epoch {epoch}")
        vem, _ = val.score(
            val.generate(model, device, amp, max_new, f"validate epoch {epoch}" if progress else None)
        )
        t_eval += time.perf_counter() - te
        record["val_history"].append({"epoch": epoch, "loss": vloss, "accuracy": vem, "exact_match": vem})
        key = (vem, -vloss)  # best exact match; ties go to the lower validation loss
        if key > best_key:
            best_key, best_epoch = key, epoch
            best_state = trainable_state(model) if cfg.epochs > 1 else None
    bar.close()
    phase["train"] = round(time.perf_counter() - t_loop - t_eval, 2)
    phase["val_eval"] = round(t_eval, 2)
    cost["train_tokens"] = tokens
    cost["step_s"] = step_s
    cost["train_tokens_per_s"] = round(tokens / max(phase["train"], 1e-9), 1)
    if mem:
        import statistics

        cost["mem_reserved_avg_bytes"] = int(statistics.fmean(mem))
        cost["mem_reserved_p99_bytes"] = int(sorted(mem)[min(len(mem) - 1, math.ceil(0.99 * len(mem)) - 1)])
        cost["mem_sample_kind"] = "cuda_memory_reserved" if device.type == "cuda" else "cpu_rss"

    te = time.perf_counter()
    if best_state is not None and best_epoch != cfg.epochs:
        load_trainable(model, best_state)
    record["best_epoch"] = best_epoch
    tloss = test.loss(model, device, amp, pad_id)
    if not math.isfinite(tloss):
        raise RunFailed(f"non-finite test loss ({tloss})")
    outputs = test.generate(model, device, amp, max_new, "test" if progress else None)
    em, preds = test.score(outputs)
    record["test"] = {
        "accuracy": em,
        "exact_match": em,
        "loss": tloss,
        "loss_before": loss_before,  # held-out loss of the model before fine-tuning
        "n": len(preds),
        "n_no_answer": sum(p == "" for p in preds),
        "n_truncated": test.n_truncated,  # pairs cut to max_len for the held-out loss
    }
    # text-free as for classification: `index` names the row in the loaded data; `output` is the model's own text
    record["predictions"] = [
        {"index": int(i), "gold": g, "pred": p, "output": o}
        for i, g, p, o in zip(splits.test["index"], test.golds, preds, outputs, strict=True)
    ]
    phase["test_eval"] = round(time.perf_counter() - te, 2)
    tf = time.perf_counter()
    record["flatness"] = flatness_probe(model, flat_batches, cfg, targets, device, progress)
    phase["flatness"] = round(time.perf_counter() - tf, 2)


__all__ = [
    "PLAIN_TEMPLATE",
    "GenEvalSet",
    "build_causal",
    "collate",
    "encode_pair",
    "fit",
    "load_causal_lm",
    "train",
]
