"""A run record in the layout of PEFT's method comparison (`method_comparison/MetaMathQA/results/*.json`).

PEFT's harness writes one JSON per run with three blocks, which its comparison app reads:

* `run_info`: `created_at`, `total_time`, `experiment_name`, `peft_branch`, `train_config` (model id,
  dtype, lengths, batch sizes, steps, template, seed, clipping, optimizer and its kwargs, scheduler, AMP,
  generation kwargs), `peft_config` (the adapter config's dict) and `error_msg`;
* `train_info`: accelerator memory (`accelerator_memory_reserved_avg`, `accelerator_memory_max`,
  `accelerator_memory_reserved_99th`, bytes), `train_time`, `file_size` (adapter bytes), parameter
  counts, `status`, and `metrics`: one entry per evaluation ("valid accuracy", "train loss", "train
  samples", ...) and a last one with "test accuracy" and "train total tokens";
* `meta_info`: model and dataset hashes, `package_info` ("<pkg>-version" / "<pkg>-commit-hash"),
  `system_info` and `pytorch_info`.

`peft_results(record)` maps a flatbench record onto it. What flatbench measures differently is said
in `meta_info.flatbench` (memory: CUDA allocator samples on a GPU, process RSS on CPU; evaluation once
per epoch; accuracy is exact match of the final number as in PEFT). Fields with no flatbench
counterpart are null. Extra keys sit beside PEFT's (e.g. `train_config.flat_lora`), never instead.
"""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path
from typing import Any

from flatlora.bench.records import atomic_write_json

PEFT_STATUS = {"ok": "success", "failed": "failed"}


def _name(model: str) -> str:
    return Path(model.rstrip("/")).name or model


def experiment_name(record: dict[str, Any]) -> str:
    """`<method>/<model>-rank<r>-s<seed>` (`full-finetuning/<model>-lr_<lr>-s<seed>` for full)."""
    cfg = record.get("config") or {}
    model = _name(str(cfg.get("model", "model")))
    if record.get("method") == "full":
        return f"full-finetuning/{model}-lr_{cfg.get('lr')}-s{record.get('seed')}"
    return f"{record.get('method')}/{model}-rank{cfg.get('lora_r')}-s{record.get('seed')}"


def _epoch_metrics(record: dict[str, Any]) -> list[dict[str, Any]]:
    losses = record.get("train_loss") or []
    n_train = int((record.get("dataset_info") or {}).get("n_train") or 0)
    out = []
    for v in record.get("val_history") or []:
        ep = int(v["epoch"])
        mine = [p for p in losses if ep - 1 < float(p["epoch"]) <= ep]
        out.append(
            {
                "step": int(mine[-1]["step"]) if mine else None,
                "valid accuracy": v.get("exact_match", v.get("accuracy")),
                "valid loss": v.get("loss"),
                "train loss": statistics.fmean(float(p["loss"]) for p in mine) if mine else None,
                "train samples": n_train * ep,
            }
        )
    return out


def peft_results(
    record: dict[str, Any], system_info: dict[str, Any] | None = None, pytorch_info: str | None = None
) -> dict[str, Any]:
    """The PEFT-layout dict of one record (pure: the machine description is passed in)."""
    cfg = record.get("config") or {}
    cost = record.get("cost") or {}
    info = record.get("dataset_info") or {}
    minfo = record.get("model_info") or {}
    prov = record.get("provenance") or {}
    vers = prov.get("versions") or {}
    test = record.get("test") or {}
    cuda = cost.get("peak_mem_kind") == "cuda_max_allocated"
    peak = cost.get("peak_mem_mb") if cuda else cost.get("rss_peak_mb")
    epochs = _epoch_metrics(record)
    steps = len(record.get("train_loss") or [])
    amp = cfg.get("precision", "fp32") != "fp32"
    train_config: dict[str, Any] = {
        "model_id": cfg.get("model"),
        "dtype": "float32",  # weights are loaded in fp32; bf16/fp16 run under autocast (use_amp)
        "max_seq_length": cfg.get("max_len"),
        "batch_size": cfg.get("batch_size"),
        "batch_size_eval": cfg.get("eval_batch_size"),
        "max_steps": steps,
        "eval_steps": epochs[0]["step"] if epochs else None,
        "compile": False,
        "query_template": minfo.get("plain_template") or "chat template of the tokenizer",
        "seed": record.get("seed"),
        "grad_norm_clip": cfg.get("max_grad_norm"),
        "optimizer_type": "AdamW",
        "optimizer_kwargs": {"lr": cfg.get("lr"), "weight_decay": cfg.get("weight_decay")},
        "lr_scheduler": cfg.get("lr_schedule"),
        "use_amp": amp,
        "autocast_adapter_dtype": True,
        "generation_kwargs": {"max_length": None, "max_new_tokens": info.get("max_new_tokens")},
        "attn_implementation": None,
        "warmup_ratio": cfg.get("warmup_ratio"),
        "epochs": cfg.get("epochs"),
        "amp_dtype": {"bf16": "bfloat16", "fp16": "float16"}.get(cfg.get("precision", "")),
    }
    if record.get("method") == "flat_lora":
        train_config["flat_lora"] = {
            "sigma": cfg.get("sigma"),
            "sigma_schedule": cfg.get("sigma_schedule"),
            "mode": cfg.get("flat_mode"),
        }
    if record.get("method") in ("sam_ab", "sam_w"):
        train_config["sam"] = {"variant": record.get("method"), "rho": cfg.get("rho")}
    final: dict[str, Any] = {
        "step": steps,
        "test accuracy": test.get("exact_match", test.get("accuracy")),
        "train loss": epochs[-1]["train loss"] if epochs else None,
        "train samples": int(info.get("n_train") or 0) * int(cfg.get("epochs") or 0),
        "train total tokens": cost.get("train_tokens"),
        "test loss": test.get("loss"),
    }
    package_info: dict[str, Any] = {}
    for pkg in ("transformers", "peft", "datasets", "bitsandbytes", "torch"):
        package_info[f"{pkg}-version"] = vers.get(pkg)
        package_info[f"{pkg}-commit-hash"] = None
    package_info["flatbench-commit-hash"] = prov.get("git_sha")
    return {
        "run_info": {
            "created_at": prov.get("finished_at"),
            "total_time": cost.get("wall_time_s"),
            "experiment_name": experiment_name(record),
            "peft_branch": None,
            "train_config": train_config,
            "peft_config": minfo.get("peft_config"),
            "error_msg": record.get("failure_reason") or "",
        },
        "train_info": {
            "accelerator_memory_reserved_avg": cost.get("mem_reserved_avg_bytes"),
            "accelerator_memory_max": None if peak is None else int(float(peak) * 2**20),
            "accelerator_memory_reserved_99th": cost.get("mem_reserved_p99_bytes"),
            "train_time": (cost.get("phase_s") or {}).get("train"),
            "file_size": cost.get("adapter_bytes"),
            "num_trainable_params": cost.get("trainable_params"),
            "num_total_params": cost.get("total_params"),
            "status": PEFT_STATUS.get(str(record.get("status")), str(record.get("status"))),
            "metrics": [*epochs, final] if record.get("status") == "ok" else epochs,
        },
        "meta_info": {
            "model_info": {"sha": None, "created_at": None},
            "dataset_info": {str(record.get("dataset")): {"sha": info.get("checksum"), "created_at": None}},
            "package_info": package_info,
            "system_info": dict(system_info or {}),
            "pytorch_info": pytorch_info,
            "flatbench": {
                "run_id": record.get("run_id"),
                "config_hash": record.get("config_hash"),
                "method": record.get("method"),
                "target_modules": minfo.get("target_modules"),
                "n_test": test.get("n"),
                "accuracy": "exact match of the final number (gen_scoring, answer_format "
                f"{info.get('answer_format')!r}), greedy decoding",
                "evaluation": "validation once per epoch (PEFT: every eval_steps)",
                "memory": (
                    "accelerator_memory_max: torch.cuda.max_memory_allocated; avg/99th: memory_reserved "
                    "sampled after each step"
                    if cuda
                    else "CPU run: accelerator_memory_max is the process's peak RSS, avg/99th its RSS after each step"
                ),
                "file_size": "bytes of the trained tensors (the adapter for LoRA methods)",
            },
        },
    }


def system_description(record: dict[str, Any]) -> dict[str, Any]:
    """`system_info` as PEFT writes it (this machine), with the record's accelerator."""
    hw = (record.get("provenance") or {}).get("hardware") or {}
    return {
        "system": platform.system(),
        "release": platform.release(),
        "version": platform.version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "accelerator": hw.get("gpu_name") or hw.get("cpu_model") or "cpu",
    }


def write_peft_results(record: dict[str, Any], out_dir: str | os.PathLike[str]) -> Path:
    """`<out_dir>/peft_results/<run_id>.json`, written atomically beside the record."""
    try:
        import torch

        torch_info: str | None = torch.__config__.show()
    except Exception:
        torch_info = None
    path = Path(out_dir) / "peft_results" / f"{record['run_id']}.json"
    atomic_write_json(path, peft_results(record, system_description(record), torch_info))
    return path


__all__ = ["experiment_name", "peft_results", "system_description", "write_peft_results"]
