"""Sanity task: the metric is honest (echo scores 0), and a tiny end-to-end run produces real predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flatlora.bench.sanity import SanityConfig, exact_match, normalize, run_sanity


def test_exact_match_is_honest() -> None:
    targets = ["hello hello", "cloud cloud"]
    assert exact_match(["repeat: hello", "repeat: cloud"], targets) == 0.0  # the study's echo scores 0
    assert exact_match([" hello hello\nrepeat: x", "cloud cloud<|im_end|>"], targets) == 1.0
    assert exact_match(["hello", "cloud cloud cloud"], targets) == 0.0
    assert normalize("  a   b \n c") == "a b"


def test_sanity_config_validation() -> None:
    with pytest.raises(ValueError, match=r"`methods` entries must be lora\|flat_lora, got 'full'"):
        SanityConfig(methods=("full",))
    with pytest.raises(ValueError, match="`sigma` must be >= 0, got -1"):
        SanityConfig(sigma=-1)


def test_sanity_suite_and_held_out_words() -> None:
    from flatlora.bench.validation import validate_sanity

    rep = validate_sanity()
    assert rep.success, rep.summary()


def test_suites_on_disk_match_their_cards() -> None:
    from flatlora.bench.data import DATASETS_DIR
    from flatlora.bench.validation import build_suite_spec, load_card

    for name in ("financial_phrasebank", "user_default"):
        on_disk = json.loads((DATASETS_DIR / "suites" / f"{name}.json").read_text())["expectations"]
        assert on_disk == build_suite_spec(load_card(name)), f"regenerate with write_suite({name!r})"


def test_sanity_tiny_subset_end_to_end(tmp_path: Path) -> None:
    """8 train words, 1 epoch, 2 held-out words: checks the pipeline and the record, not the EM bar."""
    cfg = SanityConfig(epochs=1, max_train=8, max_test=2, num_threads=1, max_new_tokens=4)
    res = run_sanity(tmp_path, cfg, progress=False)
    d = json.loads((tmp_path / "sanity.json").read_text())
    assert set(d["methods"]) == {"lora", "flat_lora"} and d["threshold"] == 0.75
    for r in [d["baseline"], *d["methods"].values()]:
        assert r["n_test"] == 2 and len(r["predictions"]) == 2
        assert r["exact_match"] == sum(p["correct"] for p in r["predictions"]) / 2
        assert {p["prompt"] for p in r["predictions"]} == {"repeat: cloud", "repeat: honey"}
    assert len(d["methods"]["lora"]["train_loss"]) == 1
    assert d["passed"] == res.passed


@pytest.mark.slow
def test_sanity_full_reaches_threshold(tmp_path: Path) -> None:
    res = run_sanity(tmp_path, SanityConfig(), progress=False)
    assert res.passed, res.summary()
    assert res.baseline.exact_match < 0.75  # untrained model does not already solve it


def test_cli_prints_the_verdict_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from flatlora.bench import models, sanity
    from flows import cli_train

    def fake_eval(name: str, *a: object, **k: object) -> sanity.MethodResult:
        preds = [{"prompt": "repeat: cloud", "target": "cloud cloud", "pred": "cloud cloud", "correct": True}]
        return sanity.MethodResult(name, 1.0, 1, preds, [0.5], 0.1)

    monkeypatch.setattr(models, "load_smollm2", lambda *a, **k: (object(), object()))
    monkeypatch.setattr(sanity, "_evaluate", fake_eval)
    monkeypatch.setattr(sanity, "train_method", lambda m, *a, **k: fake_eval(m))
    app = typer.Typer()
    cli_train.register(app)
    res = CliRunner().invoke(app, ["sanity", "--out", str(tmp_path), "--epochs", "1"])
    assert res.exit_code == 0, res.output
    assert res.output.count("sanity PASSED") == 1
