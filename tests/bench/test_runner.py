"""The runner: lr schedule and metrics against theory, determinism, record schema, failed runs, all methods."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from flatlora.bench import probe, runner, training
from flatlora.bench.config import METHODS, resolve_config
from flatlora.bench.data import Splits
from flatlora.bench.records import RECORD_KEYS

CONTRACT_KEYS = {
    "schema_version", "status", "failure_reason", "run_id", "dataset", "method", "seed", "profile", "config",
    "config_hash", "provenance", "dataset_info", "model_info", "train_loss", "val_history", "best_epoch", "collapse", "test",
    "predictions", "cost", "flatness",
}  # fmt: skip


def test_lr_schedule_matches_formulas() -> None:
    assert runner.lr_at(0, 100, 1.0) == 1.0
    assert runner.lr_at(50, 100, 1.0) == 0.5
    assert runner.lr_at(100, 100, 1.0) == 0.0
    assert runner.lr_at(0, 100, 1.0, warmup_steps=10) == pytest.approx(0.1)
    assert runner.lr_at(9, 100, 1.0, warmup_steps=10) == pytest.approx(1.0)
    assert runner.lr_at(55, 100, 2.0, warmup_steps=10, kind="cosine") == pytest.approx(
        1.0
    )  # halfway: cos(pi/2)
    assert runner.lr_at(77, 100, 3.0, kind="constant") == 3.0


def test_metrics_against_hand_computation() -> None:
    gold, pred = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]
    m = runner.classification_metrics(gold, pred, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    # per-class F1: a: p=1/2 r=1/2 -> .5 ; b: p=2/3 r=1 -> .8 ; c: p=1 r=1/2 -> 2/3
    assert m["per_class_f1"] == pytest.approx({"a": 0.5, "b": 0.8, "c": 2 / 3})
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)  # equal supports
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def _small(splits: Splits, n_train: int = 96, n_eval: int = 48) -> Splits:
    from dataclasses import replace

    from flatlora.bench.data import subsample

    return replace(
        splits,
        train=subsample(splits.train, n_train, 0),
        val=subsample(splits.val, n_eval, 0),
        test=subsample(splits.test, n_eval, 0),
    )


def _cfg(model: str, **kw: Any) -> Any:
    base: dict[str, Any] = {
        "dataset": "fpb_allagree",
        "model": model,
        "num_threads": 1,
        "epochs": 2,
        "lr": 1e-3,
        "max_len": 32,
        "batch_size": 16,
        "eval_batch_size": 48,
    }
    return resolve_config("smoke", **{**base, **kw})


def test_two_runs_are_bit_identical(tmp_path: Path, tiny_bert: str, fpb_splits: Splits) -> None:
    sp = _small(fpb_splits)
    recs = [
        runner.run_one(_cfg(tiny_bert, method="flat_lora"), tmp_path / f"r{i}", progress=False, splits=sp)
        for i in range(2)
    ]
    a, b = recs
    assert a["status"] == "ok" and a["run_id"] == b["run_id"]
    for key in ("train_loss", "val_history", "test", "predictions", "flatness", "best_epoch"):
        assert a[key] == b[key], key
    # a different seed changes the numbers
    c = runner.run_one(
        _cfg(tiny_bert, method="flat_lora", seed=7), tmp_path / "r3", progress=False, splits=sp
    )
    assert c["train_loss"] != a["train_loss"]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_writes_a_complete_record(
    tmp_path: Path, tiny_bert: str, fpb_splits: Splits, method: str
) -> None:
    cfg = _cfg(tiny_bert, method=method, epochs=1)
    rec = runner.run_one(cfg, tmp_path, progress=False, splits=_small(fpb_splits, 48, 32))
    assert set(rec) == CONTRACT_KEYS == set(RECORD_KEYS)
    on_disk = json.loads(runner.record_path(cfg, tmp_path).read_text())
    assert on_disk == json.loads(json.dumps(rec))
    assert rec["status"] == "ok" and rec["failure_reason"] is None and rec["method"] == method
    assert rec["config"]["method"] == method and rec["config_hash"] == cfg.config_hash()
    info = rec["dataset_info"]
    assert (info["n_train"], info["n_val"], info["n_test"]) == (48, 32, 32)
    assert info["label_names"] == ["negative", "neutral", "positive"]
    assert info["label_map"] == {"negative": 0, "neutral": 1, "positive": 2}
    assert info["headline_metric"] == "accuracy"  # the PhraseBank card's choice
    mi = rec["model_info"]
    assert mi["target_modules"] == ["query", "value"] and mi["target_modules_source"] == "peft_default"
    assert len(rec["train_loss"]) == 3 and rec["train_loss"][0]["step"] == 1
    assert rec["val_history"][0]["epoch"] == 1 and rec["best_epoch"] == 1
    t = rec["test"]
    assert set(t) >= {
        "accuracy",
        "weighted_f1",
        "macro_f1",
        "mcc",
        "per_class_f1",
        "confusion_matrix",
        "loss",
    }
    assert -1.0 <= t["mcc"] <= 1.0 and "mcc" in rec["val_history"][0]
    assert sum(map(sum, t["confusion_matrix"])) == 32 == len(rec["predictions"])
    acc = sum(p["gold"] == p["pred"] for p in rec["predictions"]) / 32
    assert t["accuracy"] == pytest.approx(acc)
    assert set(rec["predictions"][0]) == {"index", "gold", "pred", "logp"}  # no texts: records are shareable
    # `logp` is the gold label's log-probability: its mean is the test loss (cross-entropy)
    mean_nll = -sum(p["logp"] for p in rec["predictions"]) / 32
    assert mean_nll == pytest.approx(t["loss"], abs=1e-5)
    col = rec["collapse"]  # the collapse rule, from training loss and validation only
    assert set(col["reasons"]) <= {"loss", "validation"} and col["collapsed"] is bool(col["reasons"])
    counts = info["label_counts"]
    assert sum(counts["train"].values()) == 48 and sum(counts["test"].values()) == 32
    fl = rec["flatness"]
    assert fl["sigmas"] == list(cfg.flatness_sigmas) and fl["k"] == 5
    assert len(fl["mean_increase"]) == len(cfg.flatness_sigmas)
    tl = info["token_lengths"]  # every example the run saw, untruncated, against its max_len
    assert tl["n"] == 48 + 32 + 32 and tl["max_len"] == 32 and tl["max_len_source"] == "config"
    assert tl["p50"] <= tl["p99"] <= tl["max"] and (tl["n_truncated"] > 0) == (tl["max"] > 32)
    assert tl["truncated_share"] == round(tl["n_truncated"] / tl["n"], 4)
    c = rec["cost"]
    assert c["wall_time_s"] > 0 and c["peak_mem_mb"] >= 0 and c["peak_mem_kind"] == "cpu_rss_above_baseline"
    assert c["rss_peak_mb"] >= c["rss_start_mb"] and c["peak_mem_mb"] < c["rss_peak_mb"]
    n_all = c["total_params"]
    assert (c["trainable_params"] == n_all) if method == "full" else (0 < c["trainable_params"] < n_all / 5)
    prov = rec["provenance"]
    assert set(prov) == {"git_sha", "versions", "device", "hardware", "started_at", "finished_at"}
    hw = prov["hardware"]
    assert hw["device"] == "cpu" and hw["precision"] == "fp32" and hw["torch_threads"] == 1
    assert hw["cpu_isa"] == torch.backends.cpu.get_cpu_capability() and hw["cpu_model"]
    assert all(isinstance(v, str | int) for v in hw.values())
    assert prov["device"] == "cpu (1 threads)"
    assert {"python", "torch", "transformers", "peft", "flatbench"} <= set(prov["versions"])


def test_eval_set_restores_row_order() -> None:
    ids = [[1, 2, 3], [1], [1, 2], [1, 2, 3, 4]]
    es = runner.EvalSet(ids, [0, 1, 2, 0], batch_size=2, pad_id=0)
    assert es.order == [1, 2, 0, 3]
    assert [b["input_ids"].shape for b in es.batches] == [(2, 2), (2, 4)]

    class Echo(torch.nn.Module):  # predicts the row length mod 3, loss 0
        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> Any:
            n = attention_mask.sum(-1)  # (b,)
            logits = torch.nn.functional.one_hot(n % 3, 3).float()  # (b, 3)
            return type("Out", (), {"loss": torch.tensor(0.0), "logits": logits})()

    _, preds = es.evaluate(Echo())
    assert preds == [0, 1, 2, 1]


def test_nan_loss_gives_a_failed_record(
    tmp_path: Path, tiny_bert: str, fpb_splits: Splits, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_build = runner.build_model

    def nan_build(cfg: Any, names: list[str]) -> Any:
        model, tok = real_build(cfg, names)
        fwd = model.forward

        def forward(*a: Any, **k: Any) -> Any:
            out = fwd(*a, **k)
            out.loss = out.loss * float("nan")
            return out

        model.forward = forward
        return model, tok

    monkeypatch.setattr(runner, "build_model", nan_build)
    cfg = _cfg(tiny_bert, method="lora", epochs=1)
    rec = runner.run_one(cfg, tmp_path, progress=False, splits=_small(fpb_splits, 32, 16))
    assert rec["status"] == "failed"
    assert "non-finite training loss (nan) at step 1" in rec["failure_reason"]
    for key in ("test", "predictions", "flatness", "best_epoch"):
        assert rec[key] is None
    text = runner.record_path(cfg, tmp_path).read_text()
    assert "NaN" not in text and json.loads(text)["status"] == "failed"


def test_divergence_is_a_failure(tmp_path: Path, tiny_bert: str, fpb_splits: Splits) -> None:
    cfg = _cfg(tiny_bert, method="full", epochs=2, lr=1e3, max_grad_norm=None, divergence_factor=2.0)
    rec = runner.run_one(cfg, tmp_path, progress=False, splits=_small(fpb_splits, 96, 16))
    assert rec["status"] == "failed"
    assert re_search(r"(diverged|non-finite)", rec["failure_reason"])


def re_search(pat: str, s: str) -> bool:
    import re

    return re.search(pat, s) is not None


def test_real_minilm_train_smoke_via_cli(tmp_path: Path) -> None:
    """One real-model end-to-end `flatbench train` (validation included), kept in CI."""
    import typer
    from typer.testing import CliRunner

    from flows import cli_train
    from tests.bench.conftest import DATA_DIR

    if not (DATA_DIR / "financial_phrasebank").is_dir():
        pytest.skip("shared data not present")
    app = typer.Typer()
    cli_train.register(app)
    torch.manual_seed(123)  # global state must not matter: the runner seeds itself
    res = CliRunner().invoke(
        app,
        [
            "train",
            "--dataset",
            "fpb_allagree",
            "--method",
            "lora",
            "--seed",
            "42",
            "--profile",
            "smoke",
            "--out",
            str(tmp_path),
            "--no-progress",
            "--data-dir",
            str(DATA_DIR),
            "--set",
            "num_threads=1",
            "--set",
            "max_train_examples=64",
            "--set",
            "max_eval_examples=48",
            "--set",
            "max_test_examples=48",
        ],
    )
    assert res.exit_code == 0, res.output
    path = Path(res.stdout.strip().splitlines()[-1])
    rec = json.loads(path.read_text())
    assert rec["status"] == "ok" and rec["config"]["model"] == "minilm"
    assert rec["cost"]["total_params"] > 22_000_000  # the real MiniLM-L6 (+ LoRA + head)
    assert 0.0 <= rec["test"]["accuracy"] <= 1.0 and math.isfinite(rec["flatness"]["base_loss"])


def test_evaluation_and_flatness_show_their_own_progress(
    tmp_path: Path,
    tiny_bert: str,
    fpb_splits: Splits,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bars: list[Any] = []
    real_bar = training.progress_bar

    def keep(total: int, desc: str, progress: bool) -> Any:
        bars.append(real_bar(total, desc, progress))
        return bars[-1]

    monkeypatch.setattr(runner, "progress_bar", keep)
    monkeypatch.setattr(probe, "progress_bar", keep)
    cfg = _cfg(tiny_bert, method="lora", epochs=1)
    rec = runner.run_one(cfg, tmp_path, progress=True, splits=_small(fpb_splits, 32, 16))
    err = capsys.readouterr().err
    assert rec["status"] == "ok"
    for desc in ("lora s42", "validate epoch 1", "test", "flatness probe"):
        assert f"{desc}:" in err, desc
    done = {b.desc: (b.n, b.total) for b in bars}
    assert done["validate epoch 1"] == (1, 1) and done["test"] == (1, 1)  # one eval batch each
    n_probe = 1 + cfg.flatness_k * len(cfg.flatness_sigmas)  # base + k draws per sigma, one batch
    assert done["flatness probe"] == (n_probe, n_probe)  # every forward ticks


def test_share_cores_splits_this_process_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from flatlora.bench.config import available_cores
    from flows.benchmark import share_cores

    monkeypatch.delenv("FLATBENCH_THREADS", raising=False)
    share_cores(2, {})
    import os

    assert os.environ["FLATBENCH_THREADS"] == str(max(1, available_cores() // 2))
    monkeypatch.setenv("FLATBENCH_THREADS", "7")
    share_cores(2, {})
    assert os.environ["FLATBENCH_THREADS"] == "7"  # a worker's own setting wins


def test_device_auto_is_resolved_by_the_executing_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A grid submitted from a CPU box keeps `auto` in the spec; the worker's run_one resolves it."""
    from tasks.train import resolve, run_spec

    cfg = resolve(run_spec("smoke", "fpb_50agree", "lora", 42))
    assert cfg.device == "auto" and cfg.to_dict()["device"] == "auto"
    h = cfg.config_hash()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve(run_spec("smoke", "fpb_50agree", "lora", 42)).config_hash() == h


def _probe_inputs(model_dir: str, splits: Splits, n: int) -> tuple[Any, Any, list[list[int]], list[int]]:
    cfg = _cfg(model_dir, method="lora")
    names = list(splits.label_names)
    model, tok = runner.build_model(cfg, names)
    texts = [str(t) for t in splits.val["text"]][:n]
    ids = runner.encode(tok, texts, 64)
    labels = [names.index(str(x)) for x in splits.val["label"]][:n]
    return cfg, model, ids, labels


@pytest.mark.parametrize("method", ["lora", "full"])
def test_length_sorted_probe_batches_give_the_one_batch_numbers(
    tiny_bert: str, fpb_splits: Splits, method: str
) -> None:
    """64 probe rows as four length-sorted batches of 16 (weighted) against one unsorted batch of 64."""
    cfg, model, ids, labels = _probe_inputs(tiny_bert, fpb_splits, 64)
    if method == "full":  # the dense probe on the same modules
        model = runner.build_model(_cfg(tiny_bert, method="full"), list(fpb_splits.label_names))[0]
        cfg = _cfg(tiny_bert, method="full")
    targets = ("query", "value")
    one = runner.collate(ids, labels, pad_id=0)  # split order, padded to the longest of all 64
    ref = probe.flatness_probe(model, [one], cfg, targets)
    batches, weights = runner.probe_batches(ids, labels, 64, pad_id=0)
    got = probe.flatness_probe(model, batches, cfg, targets, weights=weights)
    assert ref is not None and got is not None
    assert [len(b["labels"]) for b in batches] == [16] * 4 and weights == [0.25] * 4
    widths = [b["input_ids"].shape[1] for b in batches]
    assert widths == sorted(widths) and widths[0] < one["input_ids"].shape[1]  # less padding
    assert got["base_loss"] == pytest.approx(ref["base_loss"], abs=1e-6)
    assert got["mean_increase"] == pytest.approx(ref["mean_increase"], abs=1e-6)
    assert got["std_increase"] == pytest.approx(ref["std_increase"], abs=1e-6)
    assert got["n_batches"] == 1 and got["n_examples"] == 64


def test_the_dense_probe_puts_the_same_noise_on_a_conv1d_as_on_its_linear_twin(tmp_path: Path) -> None:
    """GPT-2 stores its projections as transformers' Conv1D, weight (n, m): full fine-tuning's probe
    perturbs it as the nn.Linear holding W.T, draw for draw, instead of finding no layer to probe."""
    import copy

    from transformers import AutoModelForSequenceClassification
    from transformers.pytorch_utils import Conv1D

    from tests.tiny_models import save_tiny_decoder

    conv = AutoModelForSequenceClassification.from_pretrained(
        save_tiny_decoder(tmp_path / "gpt2", "gpt2"), num_labels=2
    ).eval()
    conv.config.pad_token_id = 0
    lin = copy.deepcopy(conv)
    for block in lin.transformer.h:
        c = block.attn.c_attn
        assert isinstance(c, Conv1D)
        twin = torch.nn.Linear(c.weight.shape[0], c.weight.shape[1])
        with torch.no_grad():
            twin.weight.copy_(c.weight.T)  # (m, n)
            twin.bias.copy_(c.bias)
        block.attn.c_attn = twin
    g = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(3, 200, (8, 12), generator=g),
        "attention_mask": torch.ones(8, 12, dtype=torch.long),
        "labels": torch.tensor([0, 1] * 4),
    }
    cfg = _cfg(str(tmp_path / "gpt2"), method="full")
    before = [b.attn.c_attn.weight.clone() for b in conv.transformer.h]
    got = probe.flatness_probe(conv, [batch], cfg, ("c_attn",))
    ref = probe.flatness_probe(lin, [batch], cfg, ("c_attn",))
    assert got is not None and ref is not None and got["scope"] == "target_modules (dense)"
    assert got["base_loss"] == pytest.approx(ref["base_loss"], abs=1e-6)
    assert got["mean_increase"] == pytest.approx(ref["mean_increase"], abs=1e-6)
    assert got["std_increase"] == pytest.approx(ref["std_increase"], abs=1e-6)
    assert max(got["mean_increase"]) > 0  # the noise reached the layers
    for b, w in zip(conv.transformer.h, before, strict=True):  # and was taken off again
        assert torch.equal(b.attn.c_attn.weight, w)


def test_probe_batches_keep_the_numbers_of_uneven_eval_batches(tiny_bert: str, fpb_splits: Splits) -> None:
    """50 rows at eval batch 32 were two batches (32, 18) whose losses were averaged; cut into
    batches of at most 16, the weights keep that mean."""
    cfg, model, ids, labels = _probe_inputs(tiny_bert, fpb_splits, 50)
    old = runner.EvalSet(ids, labels, 32, pad_id=0).batches
    ref = probe.flatness_probe(model, old, cfg, ("query", "value"))
    batches, weights = runner.probe_batches(ids, labels, 32, pad_id=0)
    assert [len(b["labels"]) for b in batches] == [16, 16, 16, 2]
    assert weights == pytest.approx([0.5, 0.5, 16 / 18, 2 / 18])
    got = probe.flatness_probe(model, batches, cfg, ("query", "value"), weights=weights)
    assert ref is not None and got is not None
    assert got["base_loss"] == pytest.approx(ref["base_loss"], abs=1e-6)
    assert got["mean_increase"] == pytest.approx(ref["mean_increase"], abs=1e-6)
    assert got["n_batches"] == len(old) == 2


def test_flatness_k_zero_runs_no_probe(tmp_path: Path, tiny_bert: str, fpb_splits: Splits) -> None:
    from flatlora.bench.config import RunConfig

    rec = runner.run_one(
        _cfg(tiny_bert, method="flat_lora", epochs=1, flatness_k=0),
        tmp_path,
        progress=False,
        splits=_small(fpb_splits, 32, 16),
    )
    assert rec["status"] == "ok" and rec["flatness"] is None and rec["test"]["accuracy"] >= 0
    with pytest.raises(ValueError, match=r"`flatness_k` must be >= 5 \(0: no probe\), got 3"):
        RunConfig(flatness_k=3)


def test_a_one_epoch_run_can_skip_validation_with_the_same_results(
    tmp_path: Path, tiny_bert: str, fpb_splits: Splits
) -> None:
    sp = _small(fpb_splits, 48, 32)
    cfg = _cfg(tiny_bert, method="lora", epochs=1)
    skip = _cfg(tiny_bert, method="lora", epochs=1, val_metrics=False)
    a = runner.run_one(cfg, tmp_path / "a", progress=False, splits=sp)
    b = runner.run_one(skip, tmp_path / "b", progress=False, splits=sp)
    assert a["status"] == b["status"] == "ok" and a["config_hash"] != b["config_hash"]
    for key in ("train_loss", "test", "predictions", "flatness", "best_epoch"):
        assert a[key] == b[key], key
    assert len(a["val_history"]) == 1 and b["val_history"] == [] and b["best_epoch"] == 1
    ca, cb = a["collapse"], b["collapse"]  # the loss rule alone, and the block says so
    assert "not_measured" not in ca and cb["not_measured"] == ["validation"]
    assert cb["val_score"] is None and cb["val_majority"] is None and "validation" not in cb["reasons"]
    assert cb["tail_loss"] == ca["tail_loss"] and ("loss" in cb["reasons"]) == ("loss" in ca["reasons"])
    assert b["cost"]["phase_s"]["val_eval"] == 0.0


def test_only_a_one_epoch_run_may_skip_validation_and_never_in_a_sweep() -> None:
    from flatlora.bench.config import RunConfig
    from flatlora.bench.sweep import sweep_configs

    assert RunConfig(epochs=1, val_metrics=False).config_hash() != RunConfig(epochs=1).config_hash()
    with pytest.raises(ValueError, match=r"`val_metrics` must be true with epochs=2"):
        RunConfig(epochs=2, val_metrics=False)
    with pytest.raises(ValueError, match=r"`val_metrics` must stay true in a sweep"):
        sweep_configs("lora", [1e-3], "smoke", 1, "fpb_50agree", {"val_metrics": False})


@pytest.mark.parametrize(
    ("args", "val_metrics", "flatness_k"),
    [
        ([], False, 5),  # smoke is one epoch: nothing to select, no validation pass
        (["--val-metrics"], True, 5),
        (["--set", "epochs=2"], True, 5),
        (["--set", "val_metrics=true"], True, 5),
        (["--no-flatness"], False, 0),
    ],
)
def test_cli_train_skips_what_a_one_epoch_run_does_not_need(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], val_metrics: bool, flatness_k: int
) -> None:
    import typer
    from typer.testing import CliRunner

    from flows import cli_train
    from tests.bench.test_validation import ROWS, csv_text

    seen: list[Any] = []

    def fake_run_one(cfg: Any, out: Any, **_: Any) -> dict[str, Any]:
        seen.append(cfg)
        return {"status": "ok"}

    monkeypatch.setattr(runner, "run_one", fake_run_one)
    data = tmp_path / "d.csv"
    data.write_text(csv_text(ROWS), encoding="utf-8")
    app = typer.Typer()
    cli_train.register(app)
    res = CliRunner().invoke(
        app, ["train", "--dataset", str(data), "--profile", "smoke", "--out", str(tmp_path), *args]
    )
    assert res.exit_code == 0, res.output
    [cfg] = seen
    assert (cfg.val_metrics, cfg.flatness_k) == (val_metrics, flatness_k)


@pytest.mark.parametrize("pairs", [False, True])
def test_lengths_come_from_the_encoding_call(pairs: bool) -> None:
    """The same ids as a truncating `encode`, and the untruncated lengths, from one tokenizer call
    (only the rows longer than max_len are encoded again)."""
    from flatlora.bench.lengths import load_tokenizer, token_lengths

    tok = load_tokenizer("minilm")
    texts = ["short one", "a much longer sentence " * 6, "", "unbelievable tokenization, héllo wörld " * 3]
    seconds = ["b", "and a second text that is long " * 4, "x y", "z"] if pairs else None
    calls: list[int] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(tok, name)

        def __call__(self, *a: Any, **k: Any) -> Any:
            calls.append(len(a[0]))
            return tok(*a, **k)

    ids, lengths = runner.encode_with_lengths(Counting(), texts, 12, seconds)
    assert lengths == token_lengths(tok, texts, seconds)
    want = runner.encode(tok, texts, 12, seconds)
    assert [list(r) for r in ids] == [list(r) for r in want]
    assert [getattr(r, "token_type_ids", None) for r in ids] == [
        getattr(r, "token_type_ids", None) for r in want
    ]
    assert calls == [4, sum(n > 12 for n in lengths)]  # every row once, then only the long ones
