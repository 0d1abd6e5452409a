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
        # the design's numbers, each named with what it takes
        (["study", "--pilot-pairs", "1"], "'--pilot-pairs': Input should be greater than or equal to 2"),
        (
            ["study", "--pilot-pairs", "30", "--max-pairs", "20"],
            "--max-pairs 20 is below the pilot's 30 pairs (--pilot-pairs)",
        ),
        (["study", "--max-pairs", "10"], "--max-pairs 10 is below the pilot's 20 pairs"),  # v2's own pilot
        (
            ["study", "--max-pairs", "150"],
            "--max-pairs 150: design v2 has room for at most 100 grid seeds (1-100; its tuning runs use seeds "
            "from 101 on, and no grid run may be a tuning run): give --max-pairs 100 or less",
        ),
        (["study", "--secondary-seeds", "101"], "--secondary-seeds 101: design v2 has room for at most 100"),
        (["study", "--power", "1"], "--power must be in (0, 1), got 1"),
        (["study", "--power", "0"], "--power must be in (0, 1), got 0"),
        (["study", "--alpha", "1.5"], "--alpha must be in (0, 1), got 1.5"),
        (["study", "--target-effect", "0"], "--target-effect is in points of the headline metric"),
        (["study", "--target-effect", "-0.5"], "must be in (0, 100], got -0.5"),
        (["study", "--margin", "0"], "--margin is in points of the headline metric"),
        (["study", "--margin", "150"], "--margin is in points of the headline metric (0.5 = half a point) "),
        (["study", "--margin", "-1"], "must be in (0, 100], got -1"),
        (["study", "--sweep-seeds", "0"], "'--sweep-seeds': Input should be greater than or equal to 1"),
        (["study", "--design", "v1", "--power", "0.9"], "design v1 keeps the first study's numbers"),
    ],
)
def test_sweep_and_study_reject_bad_values_before_any_run(
    tmp_path: Path, args: list[str], message: str
) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert res.exit_code != 0
    assert message in " ".join(res.output.replace("│", " ").split())  # a message wrapped in a box
    assert not (tmp_path / "o").exists()


def test_study_options_are_the_designs_numbers() -> None:
    import typer.main

    from flatlora.bench.design import DESIGN_OPTIONS
    from flows.cli import app

    cmd = typer.main.get_command(app).commands["study"]  # type: ignore[attr-defined]
    options = {o for p in cmd.params for o in p.opts}
    assert set(DESIGN_OPTIONS.values()) <= options
    helps = {o: str(getattr(p, "help", "")) for p in cmd.params for o in p.opts}
    assert "at most 100: grid seeds stop below the seeds of the tuning runs" in helps["--max-pairs"]


def _study(args: list[str]) -> tuple[int, str]:
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["study", "--write-plan", *args], env={"COLUMNS": "200"})
    return res.exit_code, " ".join(res.output.replace("│", " ").split())


def test_study_numbers_go_into_the_design_and_plan_until_the_first_run(tmp_path: Path) -> None:
    from flatlora.bench.design import DESIGN_V2, load_design, with_numbers

    out = tmp_path / "s"
    set_ = ["--pilot-pairs", "10", "--max-pairs", "40", "--target-effect", "1", "--power", "0.9"]
    code, said = _study(["--out", str(out), *set_, "--alpha", "0.01", "--sweep-seeds", "2", "--margin", "1"])
    assert code == 0, said
    want = with_numbers(
        DESIGN_V2,
        pilot_seeds=10,
        max_seeds=40,
        target_effect=0.01,
        equivalence_margin=0.01,
        power=0.9,
        alpha=0.01,
        sweep_seeds=2,
    )
    assert load_design(out) == want
    assert json.loads((out / "design.json").read_text())["equivalence_margin"] == 0.01
    plan = " ".join((out / "PLAN.md").read_text().split())
    assert "in place of design v2's own: --pilot-pairs 20 -> 10; --max-pairs 60 -> 40;" in plan
    assert "--target-effect 0.5 -> 1; --margin 0.5 -> 1; --power 0.8 -> 0.9;" in plan
    assert "seeds 1–10 of both methods (10 pairs)" in plan and "clamped to [10, 40]" in plan
    assert "detects 1 point with 90% power (paired t, two-sided α = 0.01)" in plan
    assert "*worse* (the 99% paired-t interval excludes 0)" in plan  # the intervals follow α
    assert "*equivalent within ±1 point* (two one-sided tests at α = 0.01: the 98% interval inside" in plan
    # a rerun without the options goes on under the folder's numbers; before the first run they may change
    assert _study(["--out", str(out)])[0] == 0 and load_design(out) == want
    code, said = _study(["--out", str(out), "--pilot-pairs", "12"])
    assert code == 0 and "design.json rewritten before the study's first run: --pilot-pairs 10 -> 12" in said
    want = with_numbers(want, pilot_seeds=12)
    assert load_design(out) == want and "seeds 1–12 of both methods" in (out / "PLAN.md").read_text()
    # once a run of the study exists, other numbers stop the command, naming them; the same ones resume
    (out / "sweep" / "records").mkdir(parents=True)
    (out / "sweep" / "records" / "run.json").write_text("{}")
    plan = (out / "PLAN.md").read_text()
    for args in (["--power", "0.8", "--pilot-pairs", "12"], ["--design", "v2", "--secondary-seeds", "6"]):
        code, said = _study(["--out", str(out), *args])
        assert code == 2, said
        assert "started under design v2 with other numbers" in said and "another --out" in said
        assert ("--power 0.9 -> 0.8" in said) != ("--secondary-seeds 5 -> 6" in said)
        assert "--pilot-pairs" not in said  # the same as it began with
    code, said = _study(["--out", str(out), "--margin", "0.5"])
    assert code == 2 and "--margin 1 -> 0.5" in said and "--target-effect" not in said, said
    assert load_design(out) == want and (out / "PLAN.md").read_text() == plan
    for args in ([], ["--pilot-pairs", "12", "--power", "0.9", "--target-effect", "1", "--margin", "1"]):
        assert _study(["--out", str(out), *args])[0] == 0
    assert load_design(out) == want


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


def test_run_local_calls_back_after_every_stage_it_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`after_stage` sees each stage once its runs ended, failed runs included (the caller rebuilds the
    report from the records so far), and not a stage that `until` stopped before."""
    from flatlora.bench import study as plan
    from flatlora.bench.design import DESIGNS

    spec = plan.StudySpec(tmp_path / "s", "smoke", "fpb_50agree", None, {}, DESIGNS["v2"])
    cfg = spec.recipe_config(spec.design.recipes[0].name, 101)
    stages = iter([("recipe", [cfg]), ("pilot", [cfg]), ("extension", [cfg])])
    monkeypatch.setattr(plan, "next_stage", lambda *_a, **_k: next(stages))
    failed = {"pilot": [{"run_id": "x", "status": "failed", "crashed": False}]}
    monkeypatch.setattr(plan, "run_configs", lambda _c, run_dir, *_a, label, **_k: failed.get(label, []))
    seen: list[str] = []
    with pytest.raises(RuntimeError, match="stage pilot: 1 run"):
        plan.run_local(spec, log=lambda _m: None, after_stage=seen.append)
    assert seen == ["recipe", "pilot"]

    stages = iter([("recipe", [cfg]), ("pilot", [cfg])])
    seen.clear()
    assert plan.run_local(spec, until="recipe", log=lambda _m: None, after_stage=seen.append) == "pilot"
    assert seen == ["recipe"]


def test_study_local_writes_the_report_after_a_grid_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`study --local` leaves OUT/report.md built from the grid records (as the Prefect path does); a stage
    without grid records (the recipe stage, sweeps) builds none."""
    import shutil

    from typer.testing import CliRunner

    from flatlora.bench import study as plan
    from flows.cli import app

    fixtures = Path(__file__).parents[1] / "reports" / "fixtures"
    out = tmp_path / "study_v2_small"
    shutil.copytree(fixtures / "study_v2_small", out)
    (out / "report.md").unlink()
    (out / "summary.json").unlink()
    stages: list[str] = []

    def fake_run_local(_spec, *, after_stage, **_kw):  # type: ignore[no-untyped-def]
        after_stage("recipe")
        stages.append("recipe: report" if (out / "report.md").exists() else "recipe: none")
        after_stage("pilot")
        stages.append("pilot: report" if (out / "report.md").exists() else "pilot: none")
        return None

    monkeypatch.setattr(plan, "run_local", fake_run_local)
    monkeypatch.setattr("flows.study.write_plan", lambda _spec: out / "PLAN.md")
    data = fixtures / "study_small_data"
    res = CliRunner().invoke(app, ["study", "--out", str(out), "--local", "--data-dir", str(data)])
    assert res.exit_code == 0, res.output
    assert stages == ["recipe: none", "pilot: report"]
    assert f"report: {out / 'report.md'}" in res.output
    committed = (fixtures / "study_v2_small" / "report.md").read_text(encoding="utf-8")
    assert (out / "report.md").read_text(encoding="utf-8") == committed


def test_study_local_says_when_the_report_cannot_be_rebuilt_and_goes_on(tmp_path: Path) -> None:
    from flows.cli_study import rebuild_report

    out = tmp_path / "s"
    (out / "records").mkdir(parents=True)
    (out / "records" / "a.json").write_text(json.dumps({"run_id": "a"}), encoding="utf-8")
    said: list[str] = []
    rebuild_report(out, None, said.append)
    assert len(said) == 1 and said[0].startswith("warning: the report was not rebuilt"), said


def _intents_csv(path: Path) -> Path:
    words = ["alarm", "weather", "music"]
    rows = [f"please do the {w} thing number {i} now,{w}" for i in range(40) for w in words]
    path.write_text("utterance,intent\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_study_validates_the_data_once_before_any_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Columns the runs could not read stop the study before its first run, naming the option that fixes
    it; with that option the runs read the right columns, and naming a default changes no config hash."""
    from typer.testing import CliRunner

    from flatlora.bench import study as plan
    from flows.cli import app

    data = _intents_csv(tmp_path / "intents.csv")
    started: list[dict[str, object]] = []

    def fake_run_local(spec, **_kw):  # type: ignore[no-untyped-def]
        started.append(dict(spec.overrides))
        return "primary-sweeps"

    monkeypatch.setattr(plan, "run_local", fake_run_local)
    base = ["study", "--dataset", str(data), "--local", "--until", "recipe"]
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "a")])
    assert res.exit_code == 1 and started == []
    assert "missing required text column 'text'" in res.output and "--text-col" in res.output
    assert not (tmp_path / "a" / "PLAN.md").exists()

    cols = ["--text-col", "utterance", "--label-col", "intent"]
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "b"), *cols])
    assert res.exit_code == 0, res.output
    assert started == [{"text_col": "utterance", "label_col": "intent"}]

    plain = tmp_path / "plain.csv"
    plain.write_text(data.read_text(encoding="utf-8").replace("utterance,intent", "text,label", 1))
    named = ["--text-col", "text", "--label-col", "label"]
    res = CliRunner().invoke(app, [*base[:2], str(plain), *base[3:], "--out", str(tmp_path / "c"), *named])
    assert res.exit_code == 0, res.output
    assert started[-1] == {}  # the defaults named: the overrides (and config hashes) are unchanged


def test_a_stage_starts_no_more_runs_once_one_refuses_its_data(tmp_path: Path) -> None:
    """Runs that could only fail the way the first did are not started (each would cost a process and a
    model load); the runs that were started finish and are kept."""
    from flatlora.bench.config import resolve_config
    from flatlora.bench.study import run_configs

    data = _intents_csv(tmp_path / "intents.csv")  # no `text` column: every run's validation refuses it
    cfgs = [resolve_config("smoke", dataset=str(data), method="lora", seed=s) for s in range(1, 7)]
    said: list[str] = []
    bad = run_configs(cfgs, tmp_path / "runs", None, jobs=1, label="recipe", log=said.append)
    crashed = [ln for ln in said if "crashed: validation of" in ln]
    assert 1 <= len(crashed) <= 2 and len(bad) == len(crashed), said  # one started, one maybe queued
    assert any(f"{6 - len(crashed)} run(s) not started" in ln for ln in said), said


def test_sweep_validates_the_data_once_before_its_first_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from flatlora.bench import sweep as sweeps
    from flows.cli import app

    data = _intents_csv(tmp_path / "intents.csv")
    started: list[dict[str, object]] = []

    def fake_run_sweep(_m, _lrs, _out, **kw):  # type: ignore[no-untyped-def]
        started.append(dict(kw["overrides"]))
        raise SystemExit(0)

    monkeypatch.setattr(sweeps, "run_sweep", fake_run_sweep)
    base = ["sweep", "--dataset", str(data), "--method", "lora", "--lrs", "1e-3", "--profile", "smoke"]
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "a")])
    assert res.exit_code == 1 and started == [] and "Traceback" not in res.output
    assert "missing required text column 'text'" in res.output and "--text-col" in res.output

    cols = ["--text-col", "utterance", "--label-col", "intent"]
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "b"), *cols])
    assert started == [{"text_col": "utterance", "label_col": "intent"}], res.output
