"""Reproducibility: the same config rerun in a fresh process gives every loss and prediction bit for bit,
and the record names the hardware that computed it (CPU model, instruction set, math libraries, threads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from flatlora.bench import runner
from flatlora.bench.config import resolve_config

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import json, sys
from flatlora.bench import runner
from flatlora.bench.config import RunConfig
cfg = RunConfig(**json.loads(sys.argv[1]))
rec = runner.run_one(cfg, sys.argv[2], progress=False)
print(runner.record_path(cfg, sys.argv[2]))
"""


def test_fresh_process_rerun_is_bit_identical(tmp_path: Path, tiny_bert: str) -> None:
    rows = [(f"word{j % 7} sample {j} {lab}", lab) for lab in ("good", "bad") for j in range(20)]
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    cfg = resolve_config(
        "smoke", dataset=str(data), model=tiny_bert, method="flat_lora", num_threads=1, max_len=24,
        batch_size=8, epochs=2, device="cpu",
    )  # fmt: skip
    first = runner.run_one(cfg, tmp_path / "a", progress=False)
    # the run's deterministic settings do not outlive it
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.utils.deterministic.fill_uninitialized_memory is True  # type: ignore[attr-defined]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(cfg.to_dict()), str(tmp_path / "b")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    second = json.loads(Path(proc.stdout.strip().splitlines()[-1]).read_text())
    assert first["status"] == second["status"] == "ok" and first["run_id"] == second["run_id"]
    assert [s["loss"] for s in first["train_loss"]] == [s["loss"] for s in second["train_loss"]]
    assert first["predictions"] == second["predictions"]
    for key in ("val_history", "test", "flatness", "best_epoch"):
        assert first[key] == second[key], key
    hw = second["provenance"]["hardware"]
    assert hw["cpu_isa"] == torch.backends.cpu.get_cpu_capability()
    assert {"cpu_model", "cpu_arch", "torch_threads", "cpu_count"} <= set(hw)
    assert hw == first["provenance"]["hardware"]  # same machine, same libraries, same threads
