"""Run records: atomic JSON writes, ids, provenance. One self-contained file per run."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flatlora.bench.atomic import atomic_write_text

if TYPE_CHECKING:
    from flatlora.bench.config import RunConfig

SCHEMA_VERSION = 1
RECORD_KEYS = (
    "schema_version", "status", "failure_reason", "run_id", "dataset", "method", "seed", "profile",
    "config", "config_hash", "provenance", "dataset_info", "model_info", "train_loss", "val_history",
    "best_epoch", "collapse", "test", "predictions", "cost", "flatness",
)  # fmt: skip
CPU_FLAGS = (
    "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8",
    "avx_vnni", "avx2", "fma", "f16c", "avx", "sse4_2", "asimd", "sve", "bf16",
)  # fmt: skip


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False) + "\n")


def run_id(cfg: RunConfig) -> str:
    return f"{cfg.dataset_slug()}__{cfg.method}__s{cfg.seed}__{cfg.config_hash()[:8]}"


def record_path(cfg: RunConfig, out_dir: str | os.PathLike[str]) -> Path:
    """`<out_dir>/records/<dataset>__<method>__s<seed>__<hash8>.json`"""
    return Path(out_dir) / "records" / f"{run_id(cfg)}.json"


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def git_sha() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        )
        sha = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist, key in (
        ("torch", "torch"),
        ("numpy", "numpy"),
        ("scikit-learn", "sklearn"),
        ("transformers", "transformers"),
        ("peft", "peft"),
        ("flatbench", "flatbench"),
        ("great-expectations", "great_expectations"),
    ):
        try:
            out[key] = version(dist)
        except PackageNotFoundError:
            out[key] = None
    return out


# ---------------------------------------------------------------- hardware provenance


def _cpuinfo() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor block is enough
        key, _, val = line.partition(":")
        out.setdefault(key.strip(), val.strip())
    return out


def _torch_build() -> dict[str, str]:
    """BLAS/LAPACK, MKL and oneDNN versions from torch's build config."""
    import re

    import torch

    out: dict[str, str] = {}
    try:
        cfg = torch.__config__.show()
    except Exception:
        return out
    for key in ("BLAS_INFO", "LAPACK_INFO"):
        m = re.search(rf"{key}=([^,\s]+)", cfg)
        if m:
            out[key.split("_")[0].lower()] = m.group(1)
    m = re.search(r"Math Kernel Library Version ([\w.\-]+)", cfg)
    if m:
        out["mkl"] = m.group(1)
    m = re.search(r"MKL-DNN (v[\d.]+)", cfg)
    if m:
        out["onednn"] = m.group(1)
    return out


def _threadpools() -> str | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    parts = [
        f"{p.get('internal_api')} {p.get('version') or ''} ({p.get('num_threads')} threads)".replace(
            "  ", " "
        )
        for p in threadpool_info()
    ]
    return "; ".join(sorted(parts)) or None  # sorted: library load order differs between processes


def _nvidia_driver() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        v = pynvml.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else str(v)
    except Exception:
        pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip().splitlines()[0] or None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def hardware_info(device: Any, precision: str) -> dict[str, str | int]:
    """Flat provenance of what computed a run: CPU model and ISA, math libraries, threads, GPU.

    The same inputs give bit-identical results only on the same kind of hardware: CPU kernels are
    chosen at run time by instruction set (torch's `cpu_isa`, oneDNN/MKL code paths), GPU kernels
    by GPU model and library versions.
    """
    import torch

    info = _cpuinfo()
    flags = set(info.get("flags", info.get("Features", "")).split())
    hw: dict[str, str | int | None] = {
        "device": str(device),
        "precision": precision,
        "cpu_model": info.get("model name")
        or info.get("Model")
        or platform.processor()
        or platform.machine(),
        "cpu_arch": platform.machine(),
        "cpu_isa": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags": " ".join(f for f in CPU_FLAGS if f in flags) or None,
        "cpu_count": os.cpu_count() or 0,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "aten_cpu_capability_env": os.environ.get("ATEN_CPU_CAPABILITY"),
        "threadpools": _threadpools(),
        **_torch_build(),
    }
    with contextlib.suppress(AttributeError, OSError):
        hw["cpu_affinity"] = len(os.sched_getaffinity(0))
    if getattr(device, "type", str(device)).startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        hw.update(
            gpu_name=props.name,
            gpu_capability=f"{props.major}.{props.minor}",
            gpu_memory_mb=int(props.total_memory // 2**20),
            gpu_count=torch.cuda.device_count(),
            cuda=torch.version.cuda,
            cudnn=str(torch.backends.cudnn.version()),
            driver=_nvidia_driver(),
        )
    return {k: v for k, v in hw.items() if v is not None and v != ""}


def device_label(device: Any) -> str:
    """Short device string for `provenance.device`: "cpu (2 threads)" or "cuda:0 (NVIDIA H200)"."""
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
