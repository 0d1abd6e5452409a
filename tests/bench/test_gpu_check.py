"""`benchmarks/gpu_check.sh --dry-run`: the prepared GPU check's steps on CPU, so CI keeps it working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_dry_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path)}
    env.pop("PYTHONPATH", None)  # the script sets it to the source tree itself
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"],
        cwd=tmp_path,  # not the repo root: the script finds its own tree
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert summary["dry_run"] == 1 and summary["failed"] == 0
    assert summary["smoke_train"]["rc"] == 0 and summary["gpu_tests"]["rc"] == 0
    smoke = json.loads((tmp_path / "smoke.json").read_text())
    assert smoke["device"] == "cpu" and smoke["precision"] == "bf16"
    assert smoke["runs"]["lora"]["status"] == "ok"
    assert summary["decoder_train"]["rc"] == 0
    dec = json.loads((tmp_path / "decoder_train.json").read_text())
    assert dec["size"] == "tiny" and dec["precision"] == "bf16"
    assert {m: r["status"] for m, r in dec["runs"].items()} == {"lora": "ok", "flat_lora": "ok"}
    assert dec["step_time_ratio"] > 0 and dec["peak_mem_ratio"] > 0
    assert "skipped" in (tmp_path / "gpu_tests.log").read_text()  # gpu tests collected, skipped without CUDA
    assert (tmp_path / "gpu_check.log").stat().st_size > 0


MISSING = ("pandas", "sklearn", "great_expectations", "prefect", "threadpoolctl", "datasets")


def test_smoke_run_needs_none_of_the_pipeline_packages(tmp_path: Path) -> None:
    """What a bare GPU machine lacks (pandas, sklearn, great-expectations, Prefect, ...) the runner path
    must not need: each is replaced by a package that fails to import."""
    stubs = tmp_path / "stubs"
    for name in MISSING:
        (stubs / name).mkdir(parents=True)
        (stubs / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed here')\n")
    env = {**os.environ, "PYTHONPATH": f"{stubs}{os.pathsep}{ROOT}"}
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "flatlora.bench.smoke", "--device", "cpu", "--precision", "fp32"),
            *("--methods", "lora", "--epochs", "1", "--n-train", "24", "--json", str(tmp_path / "s.json")),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "s.json").read_text())
    assert res["runs"]["lora"]["status"] == "ok" and "threadpools" not in res["hardware"]
