"""prefect.yaml: the four deployments, a pool layout that cannot starve itself (and the README saying the
same), schedules with explicit, cheap parameters the flows accept, the FLATBENCH_REPO check at deploy."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools.validation import validate

from tests.flows.conftest import REPO

SPEC = yaml.safe_load((REPO / "prefect.yaml").read_text())
DEPS = {d["name"]: d for d in SPEC["deployments"]}


def _flow(entrypoint: str) -> Any:
    path, func = entrypoint.split(":")
    return getattr(importlib.import_module(Path(path).with_suffix("").as_posix().replace("/", ".")), func)


def _readme_deploy_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("### Many machines: work pools, workers, deployments")
    return text[start : text.index("\n## ", start)]


def test_deployments_declared_and_entrypoints_exist() -> None:
    raw = (REPO / "prefect.yaml").read_text()
    assert set(DEPS) == {"benchmark", "train-run", "sanity", "llm-robustness"}
    assert "&gpu_pool" in raw and "*gpu_pool" in raw  # shared settings via definitions anchors
    for name, dep in DEPS.items():
        assert (REPO / dep["entrypoint"].split(":")[0]).is_file()
        assert _flow(dep["entrypoint"]).name == name
    assert (
        SPEC["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"]
        == "{{ $FLATBENCH_REPO }}"
    )


def test_the_benchmark_flow_never_holds_the_slot_its_runs_wait_for() -> None:
    """It waits on cpu-pool while its runs train on gpu-pool: one `--limit 1` worker per pool suffices."""
    runs_pool = DEPS["train-run"]["work_pool"]["name"]
    assert runs_pool == "gpu-pool" == DEPS["benchmark"]["parameters"]["work_pool"]
    assert DEPS["benchmark"]["work_pool"]["name"] == "cpu-pool" != runs_pool
    assert DEPS["sanity"]["work_pool"]["name"] == DEPS["llm-robustness"]["work_pool"]["name"] == "cpu-pool"
    readme = _readme_deploy_section()
    for pool in ("gpu-pool", "cpu-pool"):
        assert f"prefect work-pool create {pool} --type process" in readme
        assert f"flatbench worker --pool {pool} --limit 1" in readme
    assert (
        "prefect deploy --all                       # benchmark, sanity, llm-robustness (cpu-pool); train-run (gpu-pool)"
        in readme
    )


def test_shipped_schedules_carry_cheap_parameters_the_flows_accept() -> None:
    seen = 0
    for dep in DEPS.values():
        flow = _flow(dep["entrypoint"])
        schema = parameter_schema(flow).model_dump_for_openapi()
        for sched in dep.get("schedules") or []:
            seen += 1
            assert sched["active"] is False and sched["cron"]  # examples: enabled on purpose
            params = sched["parameters"]
            validate(params, schema, raise_on_error=True)
            if flow.name == "benchmark":  # one run per method, the smoke profile, on the GPU pool
                assert (
                    params["profile"] == "smoke"
                    and params["seeds"] == [42]
                    and params["work_pool"] == "gpu-pool"
                )
            else:
                assert params["suite"] == "smoke" and params["provider"] == "local" and params["limit"] <= 6
    assert seen == 2


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


def test_the_readme_s_schedule_example_is_accepted() -> None:
    """The README shows how to add a schedule with parameters; those parameters pass the flow's schema."""
    blocks = [yaml.safe_load(b) for b in _yaml_blocks(_readme_deploy_section())]
    scheduled = [
        d for b in blocks if isinstance(b, dict) for d in b.get("deployments", []) if d.get("schedules")
    ]
    assert scheduled, "no prefect.yaml schedule example in the README's deployment section"
    for dep in scheduled:
        flow = _flow(DEPS[dep["name"]]["entrypoint"])
        for sched in dep["schedules"]:
            validate(
                sched["parameters"], parameter_schema(flow).model_dump_for_openapi(), raise_on_error=True
            )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "error: FLATBENCH_REPO is not set: export FLATBENCH_REPO=$PWD (the checkout the workers run) "
             "and rerun prefect deploy"),
        ({"FLATBENCH_REPO": "/"}, "error: FLATBENCH_REPO=/ is not a flatbench checkout (no prefect.yaml there)"),
    ],
)  # fmt: skip
def test_deploy_stops_in_one_line_without_flatbench_repo(env: dict[str, str], message: str) -> None:
    """The build step (run by `prefect deploy` before anything is registered) exits without a traceback."""
    (step,) = SPEC["build"]
    (fqn,) = step
    module, func = fqn.rsplit(".", 1)
    base = {k: v for k, v in os.environ.items() if k != "FLATBENCH_REPO"}
    proc = subprocess.run(
        [sys.executable, "-c", f"from {module} import {func}; {func}()"],
        env={**base, **env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 1 and proc.stderr.strip() == message and "Traceback" not in proc.stderr


def test_deploy_step_passes_for_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.deploy_steps import check_repo

    monkeypatch.setenv("FLATBENCH_REPO", str(REPO))
    assert check_repo() == {"flatbench_repo": str(REPO)}
