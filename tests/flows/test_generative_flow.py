"""`flatbench benchmark` on a generative dataset (a user JSONL, tiny config-built decoder): grid, report, cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.tiny_models import save_tiny_decoder

    return str(save_tiny_decoder(tmp_path_factory.mktemp("decoder"), "llama", chat_template=True))


def test_benchmark_reports_exact_match_and_held_out_loss(tmp_path: Path, tiny_decoder: str) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    data = tmp_path / "sums.jsonl"
    rows = [{"prompt": f"What is {i} plus {i % 5}?", "target": f"#### {i + i % 5}"} for i in range(60)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    card = tmp_path / "sums.yaml"  # a copy of the generation card that reads the final number
    card.write_text(
        Path("datasets/cards/generation.yaml")
        .read_text()
        .replace("answer_format: exact", "answer_format: gsm8k")
    )
    out = tmp_path / "run"
    args = [
        "benchmark",
        "--profile",
        "smoke",
        "-d",
        str(data),
        "--card",
        str(card),
        "-m",
        "lora",
        "-m",
        "flat_lora",
    ]
    args += ["--seeds", "42,43", "--out", str(out)]
    for s in (f"model={tiny_decoder}", "num_threads=1", "max_new_tokens=6", "max_len=48", "batch_size=8"):
        args += ["--set", s]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    recs = [json.loads(p.read_text()) for p in sorted((out / "records").glob("*.json"))]
    assert [(r["method"], r["seed"], r["status"]) for r in recs] == [
        ("flat_lora", 42, "ok"),
        ("flat_lora", 43, "ok"),
        ("lora", 42, "ok"),
        ("lora", 43, "ok"),
    ]
    assert len(list((out / "peft_results").glob("*.json"))) == 4
    summary = json.loads((out / "summary.json").read_text())
    ds = summary["datasets"][0]
    assert ds["task"] == "generation" and ds["answer_format"] == "gsm8k"
    tested = {(c["method_a"], c["method_b"], c["metric"]) for c in ds["comparisons"]}
    assert tested == {("flat_lora", "lora", "accuracy")}  # the headline (exact match) only, as planned
    acc = next(c for c in ds["comparisons"] if c["metric"] == "accuracy")
    assert acc["mcnemar"] is not None and acc["paired"]["n"] == 2  # per-item McNemar, paired over 2 seeds
    means = {m["method"]: m["metrics"]["loss"]["mean"] for m in ds["methods"]}
    assert means["lora"] == pytest.approx(sum(r["test"]["loss"] for r in recs if r["method"] == "lora") / 2)
    before = [r["test"]["loss_before"] for r in recs]  # the model as loaded, on the same test pairs
    assert ds["loss_before"]["n"] == 4 and ds["loss_before"]["mean"] == pytest.approx(sum(before) / 4)
    assert all(r["test"]["loss"] != b for r, b in zip(recs, before, strict=True))  # fine-tuning moved it
    report = (out / "report.md").read_text()
    assert "accuracy is the exact match" in report and "Held-out loss" in report
    assert "| Before fine-tuning (the model as loaded; every run measures it) | 4 |" in report
    moved = ds["loss_changes"]["flat_lora"]["fine_tuning"]
    flat_before = [b for r, b in zip(recs, before, strict=True) if r["method"] == "flat_lora"]
    flat_after = [r["test"]["loss"] for r in recs if r["method"] == "flat_lora"]
    assert moved["n"] == 2 and moved["estimate"] == pytest.approx((sum(flat_after) - sum(flat_before)) / 2)
    vs = ds["loss_changes"]["flat_lora"]["vs_control"]
    assert vs["n"] == 2 and vs["estimate"] == pytest.approx((sum(flat_after) - means["lora"] * 2) / 2)
    assert ds["loss_changes"]["lora"]["vs_control"] is None
    assert f"| Flat-LoRA | {moved['estimate']:+.4f} |" in report
    assert "Failure-mode buckets" not in report  # PhraseBank's keyword buckets are not for prompts
