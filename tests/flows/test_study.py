"""The study: sweeps on validation (resumed, not retrained), then the per-method grid with the swept rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.study import run_study
from tests.flows.conftest import FAKE_RUNNER


def _calls(log: Path) -> list[str]:
    return [json.loads(ln)["run_id"] for ln in log.read_text().splitlines()] if log.exists() else []


def test_study_runs_its_plan_stage_by_stage_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flatlora.bench import study as plan

    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    out = tmp_path / "study"
    kw = {
        "profile": "smoke",
        "runner": FAKE_RUNNER,
        "publish": False,
        "until": "pilot",
        "log": lambda _m: None,
    }
    first = run_study(out, **kw)
    assert (out / "PLAN.md").read_text().startswith("# Analysis plan")
    sweeps = json.loads((out / "sweep" / "sweep.json").read_text())["sweeps"]
    assert sorted(sweeps) == ["flat_lora", "lora"]  # each primary method tuned on its own
    assert all(s["seed"] == 0 and s["lrs"] == [1e-4, 3e-4, 1e-3, 3e-3] for s in sweeps.values())
    # 8 sweep runs (seed 0) + the 10 + 10 pilot (seeds 1-10): no grid run is a sweep run
    assert len(_calls(log)) == 8 + 20 and first["n_runs"] == 20 and first["n_disk"] == 0
    recs = [json.loads(p.read_text()) for p in (out / "records").glob("*.json")]
    assert sorted({r["seed"] for r in recs}) == list(range(1, 11))
    assert {r["method"]: r["config"]["lr"] for r in recs} == {
        m: sweeps[m]["chosen_lr"] for m in ("lora", "flat_lora")
    }
    power = json.loads((out / "power.json").read_text())  # the extension's n, from the pilot's SD
    assert power["pilot_seeds"] == list(range(1, 11)) and 10 <= power["n"] <= 30
    assert power["n"] == plan.seeds_for_power(power["sd_upper"])
    assert first["next_stage"] == "extension"

    again = run_study(out, **kw)  # nothing is trained twice
    assert len(_calls(log)) == 28 and again["next_stage"] == "extension"


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
        (["study", "--until", "pilott"], "did you mean 'pilot'"),
        (["study", "--set", "lr=1e-3"], "takes its learning rates from the sweep"),
        (["study", "--jobs", "0"], "--jobs must be >= 1"),
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


def test_cli_stage_names_are_the_plans() -> None:
    from flatlora.bench.study import STAGES
    from flows.cli_study import STAGE_NAMES

    assert STAGE_NAMES == STAGES


def test_write_plan_writes_only_the_plan(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["study", "--write-plan", "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    # a new study starts under the current design, which the folder keeps beside its plan
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["PLAN.md", "design.json"]
    assert "Analysis plan (v2)" in (tmp_path / "s" / "PLAN.md").read_text()
    res = CliRunner().invoke(app, ["study", "--write-plan", "--design", "v1", "--out", str(tmp_path / "s")])
    flat = " ".join(res.output.replace("│", " ").split())
    assert res.exit_code != 0 and "study design 'v2'" in flat and "--design v2" in flat
    res = CliRunner().invoke(app, ["study", "--write-plan", "--design", "v1", "--out", str(tmp_path / "s1")])
    assert res.exit_code == 0 and sorted(p.name for p in (tmp_path / "s1").iterdir()) == ["PLAN.md"]
