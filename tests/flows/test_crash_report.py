"""The report does not depend on the launching flow run surviving: the run that completes the grid builds
it, and the next flow run into a run dir whose earlier flow run crashed builds it first thing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.flows.conftest import FAKE_RUNNER


@pytest.fixture
def api() -> Any:
    if not os.environ.get("PREFECT_API_URL"):
        pytest.skip("PREFECT_API_URL is not set (run under .ci/with-prefect-server)")
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        yield client


def test_the_run_that_completes_the_grid_builds_the_report(api: Any, tmp_path: Path) -> None:
    """As when the benchmark flow's process died while its runs went on on other workers."""
    from flows.train_run import train_run
    from tasks.report import artifact_key
    from tasks.train import config_hash, run_spec

    out = tmp_path / f"grid-{uuid.uuid4().hex[:8]}"  # its own artifact key on a shared server
    out.mkdir()
    manifest = {
        "run_id": out.name,
        "datasets": ["fpb_50agree"],
        "methods": ["lora", "flat_lora"],
        "seeds": [42],
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    specs = [run_spec("smoke", "fpb_50agree", m, 42) for m in ("lora", "flat_lora")]
    train_run(specs[0], config_hash(specs[0]), str(out), runner=FAKE_RUNNER)
    assert not (out / "report.md").exists()  # half the grid: nothing to report yet
    alive = out / ".flow-runs" / "launcher.json"  # the launching flow still runs here: it reports
    alive.parent.mkdir()
    alive.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    train_run(specs[1], config_hash(specs[1]), str(out), runner=FAKE_RUNNER)
    assert not (out / "report.md").exists()
    alive.unlink()  # ... and now it is gone: the run that finds the grid complete reports
    train_run(specs[1], config_hash(specs[1]), str(out), runner=FAKE_RUNNER)
    assert "| Method | Accuracy | Weighted F1 |" in (out / "report.md").read_text()
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    key = artifact_key(str(out))
    published = api.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert len(published) == 1 and "| Method | Accuracy |" in str(published[0].data)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_next_flow_run_reports_a_crashed_one_before_anything_else(api: Any, tmp_path: Path) -> None:
    from prefect.states import Running

    from flows.benchmark import benchmark

    out = tmp_path / "run"
    kw: dict[str, Any] = {"profile": "smoke", "methods": ["lora"], "seeds": [42, 43], "out": str(out)}
    benchmark(**kw, runner=FAKE_RUNNER, publish=False)
    (out / "report.md").unlink()  # as if the flow run had died between its last run and its report
    crashed = api.create_flow_run(benchmark, state=Running())
    marker = {"pid": _dead_pid(), "host": socket.gethostname()}
    (out / ".flow-runs" / f"{crashed.id}.json").write_text(json.dumps(marker))

    # the next flow run into the same folder fails on its own bad input, after reporting the crashed one
    with pytest.raises(Exception, match=r"no-such-file\.csv"):
        benchmark(
            **{**kw, "datasets": [str(tmp_path / "no-such-file.csv")]}, runner=FAKE_RUNNER, publish=False
        )
    assert api.read_flow_run(crashed.id).state.name == "Crashed"
    assert "| Method | Accuracy | Weighted F1 |" in (out / "report.md").read_text()
