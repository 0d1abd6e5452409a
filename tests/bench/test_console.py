"""A quiet console: no warnings from our own calls, bars that leave nothing behind, --no-progress silent."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from flatlora.bench import runner
from flatlora.bench.data import Splits
from tests.bench.test_runner import _cfg, _small


def test_building_a_lora_model_raises_no_future_warning(tiny_bert: str) -> None:
    cfg = _cfg(tiny_bert, method="lora")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runner.build_model(cfg, ["negative", "neutral", "positive"])
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == []


@pytest.mark.parametrize(
    ("progress", "must_show"),
    [
        (False, ()),  # --no-progress: not one bar, the "Loading weights" one included
        (True, ("lora s42:", "validate epoch 1:", "test:", "flatness probe:")),
    ],
)
def test_progress_bars_leave_no_escape_codes_and_no_progress_silences_all(
    tmp_path: Path,
    tiny_bert: str,
    fpb_splits: Splits,
    capfd: pytest.CaptureFixture[str],
    progress: bool,
    must_show: tuple[str, ...],
) -> None:
    cfg = _cfg(tiny_bert, method="lora", epochs=2)
    rec = runner.run_one(cfg, tmp_path, progress=progress, splits=_small(fpb_splits, 32, 16))
    err = capfd.readouterr().err
    assert rec["status"] == "ok"
    assert "\x1b[A" not in err  # nested bars stacked below each other leave cursor-up codes in logs
    assert "FutureWarning" not in err
    # what stays on screen: each line as a terminal shows it after its carriage returns
    visible = [line.rsplit("\r", 1)[-1].strip() for line in err.split("\n")]
    assert not [v for v in visible if "it/s" in v or "%|" in v or "Loading weights" in v], visible
    if not progress:
        assert "Loading weights" not in err and "it/s" not in err and "%|" not in err
    for desc in must_show:
        assert desc in err, desc


def test_validation_logs_nothing_from_great_expectations(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GE's "Created temporary directory ... for ephemeral docs site" is not ours to print."""
    import logging

    import great_expectations  # noqa: F401  (its import-time logging is not what this test is about)

    from flatlora.bench import checks, validation
    from tests.bench.test_validation import ROWS, csv_text

    monkeypatch.setenv(checks.ENGINE_ENV, "great_expectations")
    checks._gx_context.cache_clear()  # a fresh context, as in a new process
    p = tmp_path / "ok.csv"
    p.write_text(csv_text(ROWS), encoding="utf-8")
    with caplog.at_level(logging.INFO):
        rep, _ = validation.validate_dataset(str(p))
    assert rep.success
    assert [r.getMessage() for r in caplog.records if r.name.startswith("great_expectations")] == []
