"""The benchmark flow in-process on the embedded Prefect API: grid, report, artifact, caching on rerun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flows.benchmark import benchmark, default_run_id
from tests.flows.conftest import FAKE_RUNNER


def _calls(log: Path) -> list[str]:
    return [json.loads(ln)["run_id"] for ln in log.read_text().splitlines()] if log.exists() else []


def test_grid_rerun_is_fully_cached_and_report_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    out = tmp_path / "run"
    kw = {
        "profile": "smoke",
        "methods": ["lora", "flat_lora"],
        "seeds": [42, 43],
        "out": str(out),
        "runner": FAKE_RUNNER,
    }
    first = benchmark(**kw)
    assert (first["n_runs"], first["n_computed"], first["n_cached"]) == (4, 4, 0)
    assert len(_calls(log)) == 4
    report = (out / "report.md").read_text()
    assert "| Method | Accuracy | Weighted F1 |" in report
    assert json.loads((out / "validation.json").read_text())["fpb_50agree"]["success"] is True
    assert first["artifact_key"] == "benchmark-report-run"

    second = benchmark(**kw)  # Prefect cache: every run is a Cached task state, the runner is never called
    assert (second["n_cached"], second["n_computed"]) == (4, 0)
    assert len(_calls(log)) == 4
    assert (out / "report.md").read_text() == report

    shutil.rmtree(out / ".prefect-results")  # lose Prefect's cache: the records on disk still short-circuit
    third = benchmark(**kw)
    assert (third["n_disk"], third["n_computed"]) == (4, 0)
    assert len(_calls(log)) == 4
    assert (out / "report.md").read_text() == report


def test_new_seed_computes_only_the_new_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    out = str(tmp_path / "run")
    benchmark(profile="smoke", methods=["lora"], seeds=[42], out=out, runner=FAKE_RUNNER, publish=False)
    res = benchmark(
        profile="smoke", methods=["lora"], seeds=[42, 43], out=out, runner=FAKE_RUNNER, publish=False
    )
    assert (res["n_cached"], res["n_computed"]) == (1, 1)
    assert len(_calls(log)) == 2


def test_no_progress_reaches_every_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    for progress, out in ((False, "quiet"), (True, "bars")):
        benchmark(profile="smoke", methods=["lora"], seeds=[42, 43], out=str(tmp_path / out),
                  runner=FAKE_RUNNER, publish=False, progress=progress)  # fmt: skip
    shown = [json.loads(ln)["progress"] for ln in log.read_text().splitlines()]
    assert shown == [False, False, True, True]


def test_default_run_id_is_deterministic() -> None:
    a = default_run_id("quick", ["fpb_50agree"], ["lora"], [42], {})
    assert a == default_run_id("quick", ["fpb_50agree"], ["lora"], [42], {})
    assert a.startswith("quick-") and a != default_run_id("quick", ["fpb_50agree"], ["lora"], [43], {})


def test_the_default_run_dir_is_the_one_named_before_the_flow_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.benchmark import resolve_run_dir

    monkeypatch.chdir(tmp_path)
    res = benchmark(profile="smoke", methods=["lora"], seeds=[42], runner=FAKE_RUNNER, publish=False)
    assert Path(res["run_dir"]) == resolve_run_dir(None, "smoke", [], ["lora"], [42], {})
    assert Path(res["run_dir"]).parent == tmp_path / "runs"
    assert resolve_run_dir(None, "smoke", [], ["lora"], [43], {}) != Path(res["run_dir"])


def test_bad_config_fails_fast_without_retry(tmp_path: Path) -> None:
    from prefect.exceptions import ParameterTypeError

    with pytest.raises(ParameterTypeError, match=r"methods\.0: Input should be 'full', 'lora'"):
        benchmark(
            profile="smoke", methods=["not_a_method"], seeds=[42], out=str(tmp_path / "r"), runner=FAKE_RUNNER
        )
    assert not (tmp_path / "r").exists()  # refused before the flow ran
    with pytest.raises(ValueError, match=r"`lr` must be > 0, got -1\.0"):
        benchmark(profile="smoke", methods=["lora"], seeds=[42], out=str(tmp_path / "r"), runner=FAKE_RUNNER,
                  overrides={"lr": -1.0})  # fmt: skip


def test_real_runner_tiny_model_then_rerun_recomputes_nothing(tmp_path: Path, tiny_model: str) -> None:
    """The real run_one (smoke profile, tiny random BERT) end to end; the rerun is all cache hits."""
    out = str(tmp_path / "run")
    kw = {
        "profile": "smoke",
        "methods": ["lora", "flat_lora"],
        "seeds": [42],
        "out": out,
        "overrides": {"model": tiny_model, "num_threads": 1},
    }
    first = benchmark(**kw)
    assert first["n_computed"] == 2 and first["n_errors"] == 0
    recs = [json.loads(p.read_text()) for p in sorted(Path(out, "records").glob("*.json"))]
    assert [r["method"] for r in recs] == ["flat_lora", "lora"]
    assert all(r["status"] == "ok" for r in recs), [r["failure_reason"] for r in recs]
    report = Path(out, "report.md").read_text()
    second = benchmark(**kw)
    assert (second["n_cached"], second["n_computed"]) == (2, 0)
    assert Path(out, "report.md").read_text() == report


def test_parallel_map_matches_sequential(tmp_path: Path) -> None:
    kw = {
        "profile": "smoke",
        "methods": ["lora", "flat_lora"],
        "seeds": [42],
        "runner": FAKE_RUNNER,
        "publish": False,
    }
    seq = benchmark(out=str(tmp_path / "seq"), **kw)
    par = benchmark(out=str(tmp_path / "par"), parallel=2, **kw)
    assert par["n_computed"] == seq["n_computed"] == 2
    assert sorted(p.name for p in (tmp_path / "par" / "records").glob("*.json")) == sorted(
        p.name for p in (tmp_path / "seq" / "records").glob("*.json")
    )


def test_parallel_runs_at_most_n_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    monkeypatch.setenv("FAKE_RUNNER_SLEEP", "0.4")
    res = benchmark(profile="smoke", methods=["lora", "flat_lora"], seeds=[1, 2, 3], out=str(tmp_path / "r"),
                    runner=FAKE_RUNNER, publish=False, parallel=2)  # fmt: skip
    assert (res["n_computed"], res["n_errors"]) == (6, 0)
    spans = [(c["started"], c["ended"]) for c in map(json.loads, log.read_text().splitlines())]
    at_once = [sum(s <= t < e for s, e in spans) for t, _ in spans]  # runs going when each one started
    assert len(spans) == 6 and max(at_once) == 2


def test_a_finished_run_is_logged_with_its_final_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API may still say Running just after a run finished; the grid log reads the final state."""
    from prefect.states import Completed, Running

    import flows.benchmark as fb

    class Fut:
        def __init__(self) -> None:
            self.final = False

        def wait(self) -> None:
            self.final = True

        @property
        def state(self) -> object:
            return Completed(data={"source": "computed"}) if self.final else Running()

    lines: list[tuple[str, str]] = []

    class Log:
        def finish(self, label: str, source: str, seconds: float | None = None) -> None:
            lines.append((label, source))

    monkeypatch.setattr(fb, "as_completed", iter)
    monkeypatch.setattr(fb, "wait", lambda futures: None)
    specs = [{"dataset": "d", "method": "lora", "seed": s} for s in (1, 2, 3)]
    futures = fb._at_most(2, lambda i: Fut(), specs, Log())  # type: ignore[arg-type]
    assert len(futures) == 3 and [src for _, src in lines] == ["computed"] * 3
    lines.clear()
    fb._follow([Fut() for _ in specs], specs, Log())  # type: ignore[arg-type]
    assert [src for _, src in lines] == ["computed"] * 3


def test_parallel_real_runs_write_the_records_they_write_alone(tmp_path: Path, tiny_model: str) -> None:
    """Runs at once (each in its own process) validate their own data and train as they would alone."""
    kw = {
        "profile": "smoke",
        "methods": ["lora", "flat_lora"],
        "seeds": [42, 43],
        "overrides": {"model": tiny_model, "num_threads": 1},
        "publish": False,
    }
    seq = benchmark(out=str(tmp_path / "seq"), **kw)
    par = benchmark(out=str(tmp_path / "par"), parallel=2, **kw)
    assert (seq["n_computed"], seq["n_errors"]) == (par["n_computed"], par["n_errors"]) == (4, 0)

    def outcomes(run: str) -> dict[str, tuple[object, ...]]:
        recs = (json.loads(p.read_text()) for p in Path(tmp_path, run, "records").glob("*.json"))
        return {r["run_id"]: (r["train_loss"], r["val_history"], r["test"], r["predictions"]) for r in recs}

    assert outcomes("par") == outcomes("seq")


def test_artifact_carries_its_figures_and_report_tasks_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter

    monkeypatch.setenv("FAKE_RUNNER_LOG", str(tmp_path / "calls.jsonl"))
    out = tmp_path / "fig-run"
    state = benchmark(
        profile="smoke", methods=["lora"], seeds=[42], out=str(out), runner=FAKE_RUNNER, return_state=True
    )
    result = state.result()
    on_disk = (out / "report.md").read_text()
    assert "](fpb_50agree_confusion.png)" in on_disk  # the file on disk links the PNG beside it
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[result["artifact_key"]]))
        )
        flow_run_id = state.state_details.flow_run_id
        names = {
            t.name for t in client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [flow_run_id]}))
        }
    md = arts[0].data
    n_figs = on_disk.count("![")
    assert n_figs >= 2 and md.count("](data:image/png;base64,") == n_figs
    assert ".png)" not in md
    assert {"build-report: fig-run", "publish-report: fig-run"} <= names
