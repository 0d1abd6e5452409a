"""prefect.yaml: the four deployments, shared anchors, importable entrypoints, schedules inactive."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from tests.flows.conftest import REPO


def test_deployments_declared_and_entrypoints_exist() -> None:
    raw = (REPO / "prefect.yaml").read_text()
    spec = yaml.safe_load(raw)
    deps = {d["name"]: d for d in spec["deployments"]}
    assert set(deps) == {"benchmark", "train-run", "sanity", "llm-robustness"}
    assert deps["benchmark"]["work_pool"]["name"] == deps["train-run"]["work_pool"]["name"] == "gpu-pool"
    assert deps["sanity"]["work_pool"]["name"] == deps["llm-robustness"]["work_pool"]["name"] == "cpu-pool"
    assert "&gpu_pool" in raw and "*gpu_pool" in raw  # shared settings via definitions anchors
    assert all(s["active"] is False for s in deps["benchmark"]["schedules"])
    assert deps["benchmark"]["schedules"][0]["cron"]
    for name in ("benchmark", "train-run", "sanity"):
        path, func = deps[name]["entrypoint"].split(":")
        assert (REPO / path).is_file()
        mod = importlib.import_module(Path(path).with_suffix("").as_posix().replace("/", "."))
        assert getattr(mod, func).name == name
    assert (
        spec["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"]
        == "{{ $FLATBENCH_REPO }}"
    )


def test_deploy_refuses_without_flatbench_repo(tmp_path: Path) -> None:
    """The build step (run at `prefect deploy` time, before anything is registered) checks FLATBENCH_REPO."""
    import os
    import subprocess

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    step = spec["build"][0]["prefect.deployments.steps.run_shell_script"]
    assert step["shell"] is True

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if k != "FLATBENCH_REPO"}
        return subprocess.run(
            step["script"],
            shell=True,
            executable="/bin/sh",
            env={**base, **env},
            capture_output=True,
            text=True,
        )

    unset = run()
    assert unset.returncode == 1
    assert unset.stderr.strip() == (
        "FLATBENCH_REPO is not set: export FLATBENCH_REPO=$PWD (the checkout the workers run) "
        "and rerun prefect deploy"
    )
    wrong = run(FLATBENCH_REPO=str(tmp_path))
    assert wrong.returncode == 1 and "is not a flatbench checkout" in wrong.stderr
    assert run(FLATBENCH_REPO=str(REPO)).returncode == 0
