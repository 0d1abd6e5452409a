"""The study: sweeps on validation (resumed, not retrained), then the per-method grid with the swept rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.study import run_study, study_grid
from tests.flows.conftest import FAKE_RUNNER


def _calls(log: Path) -> list[str]:
    return [json.loads(ln)["run_id"] for ln in log.read_text().splitlines()] if log.exists() else []


def test_study_grid_is_ten_and_five_seeds() -> None:
    grid = study_grid()
    assert {m: len(s) for m, s in grid.items()} == {
        "lora": 10,
        "flat_lora": 10,
        "full": 5,
        "sam_ab": 5,
        "sam_w": 5,
    }
    assert grid["lora"] == grid["flat_lora"] and grid["full"] == grid["lora"][:5]  # shared seeds pair up
    assert study_grid(["flat_lora", "lora"], max_seeds=2) == {"lora": [42, 43], "flat_lora": [42, 43]}
    with pytest.raises(ValueError, match="not in the study grid"):
        study_grid(["lorra"])


def test_study_sweeps_then_trains_the_grid_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    out = tmp_path / "study"
    kw = {
        "methods": ["lora", "flat_lora"],
        "max_seeds": 2,
        "lrs": {"lora": [3e-3, 1e-3]},
        "profile": "smoke",
        "runner": FAKE_RUNNER,
        "publish": False,
        "log": lambda _m: None,
    }
    first = run_study(out, **kw)
    # the fake records score every rate the same: the rule's tie-break takes the smaller rate
    assert first["learning_rates"] == {"lora": 1e-3, "flat_lora": 1e-3}
    sweep = json.loads((out / "sweep" / "sweep.json").read_text())["sweeps"]["lora"]
    assert sweep["chosen_lr"] == 1e-3 and [p["lr"] for p in sweep["points"]] == [1e-3, 3e-3]
    assert all(p["val_history"] for p in sweep["points"]) and "test" not in sweep["rule"].split(";")[0]
    # 2 sweep runs + 4 grid runs, of which lora/s42 at the chosen rate is the sweep's own record
    assert len(_calls(log)) == 2 + 3 and first["n_runs"] == 4 and first["n_disk"] == 1
    recs = [json.loads(p.read_text()) for p in (out / "records").glob("*.json")]
    assert sorted((r["method"], r["seed"], r["config"]["lr"]) for r in recs) == [
        ("flat_lora", 42, 1e-3), ("flat_lora", 43, 1e-3), ("lora", 42, 1e-3), ("lora", 43, 1e-3),
    ]  # fmt: skip
    report = (out / "report.md").read_text()
    assert "## Learning rates (validation sweep)" in report and "| **0.001** |" in report
    assert "Flat-LoRA − LoRA (test accuracy):**" in report

    again = run_study(out, **kw)  # nothing is trained twice
    assert len(_calls(log)) == 5 and again["n_computed"] == 0
    assert (out / "report.md").read_text() == report


def test_study_profile_without_a_sweep_refuses_naming_the_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["benchmark", "--profile", "study", "--out", str(tmp_path / "b")])
    assert res.exit_code != 0
    assert "flatbench study --out DIR" in " ".join(res.output.split())
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", "--lrs", "1e-4,abc"], "'abc'"),
        (["sweep", "--method", "loraa"], "did you mean 'lora'"),
        (["study", "--lrs", "lora"], "METHOD=lr,lr"),
        (["study", "--lrs", "lorra=1e-3"], "did you mean 'lora'"),
        (["study", "--set", "lr=1e-3"], "takes its learning rates from the sweep"),
        (["study", "--max-seeds", "0"], "--max-seeds must be >= 1"),
    ],
)
def test_sweep_and_study_reject_bad_values_before_any_run(
    tmp_path: Path, args: list[str], message: str
) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert res.exit_code != 0
    assert message in " ".join(res.output.split())
    assert not (tmp_path / "o").exists()
