"""Deployed flows refuse bad parameter values at submission: the flows' types become the deployments'
parameter schemas, which the Prefect server checks before it creates a flow run."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools.validation import ValidationError, validate

from flows.benchmark import benchmark
from flows.llm_robustness import llm_robustness
from flows.sanity import sanity
from flows.train_run import train_run

RUN: dict[str, Any] = {
    "spec": {"profile": "smoke", "dataset": "fpb_50agree", "method": "lora", "seed": 42, "overrides": {}},
    "config_hash": "0" * 64,
    "out_dir": "/shared/runs/x",
}


def _server_check(flow: Any, params: dict[str, Any]) -> None:
    """What the server does with a submitted run of a deployment of ``flow`` (enforce_parameter_schema)."""
    validate(params, parameter_schema(flow).model_dump_for_openapi(), raise_on_error=True)


@pytest.mark.parametrize(
    ("flow", "params", "field", "reason"),
    [
        (benchmark, {"profile": "quik"}, "profile", "'quik' is not one of ['quick'"),
        (benchmark, {"methods": ["lora", "flatlora"]}, "methods", "'flatlora' is not one of"),
        (benchmark, {"method_seeds": {"lorra": [42]}}, "method_seeds", "'lorra'"),
        (benchmark, {"parallel": 0}, "parallel", "0 is less than the minimum of 1"),
        (benchmark, {"seeds": ["x"]}, "seeds", "'x' is not of type 'integer'"),
        (llm_robustness, {"suite": "noisey"}, "suite", "'noisey' is not one of"),
        (llm_robustness, {"provider": "openai"}, "provider", "'openai' is not one of ['anthropic', 'local']"),
        (llm_robustness, {"mitigation": "pinned"}, "mitigation", "'pinned' is not one of"),
        (llm_robustness, {"judge": "gpt"}, "judge", "'gpt' is not one of"),
        (llm_robustness, {"limit": 0}, "limit", "0 is less than the minimum of 1"),
        (sanity, {"methods": ["full"]}, "methods", "'full' is not one of ['lora', 'flat_lora']"),
        (
            train_run,
            {**RUN, "spec": {**RUN["spec"], "method": "flatlora"}},
            "spec.method",
            "'flatlora' is not",
        ),
        (
            train_run,
            {**RUN, "spec": {**RUN["spec"], "profile": "quik"}},
            "spec.profile",
            "'quik' is not one of",
        ),
    ],
)
def test_bad_values_are_refused_at_submission(
    flow: Any, params: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ValidationError, match=f"field '{field}") as err:
        _server_check(flow, params)
    assert reason in str(err.value)


@pytest.mark.parametrize(
    ("flow", "params"),
    [
        (
            benchmark,
            {"profile": "smoke", "methods": ["lora", "flat_lora"], "seeds": [42], "work_pool": "gpu-pool"},
        ),
        (
            benchmark,
            {"method_seeds": {"lora": [1, 2], "sam_w": [3]}, "method_overrides": {"lora": {"lr": 1e-4}}},
        ),
        (llm_robustness, {"suite": "smoke", "provider": "local", "mitigation": "none", "limit": 3}),
        (sanity, {"methods": ["flat_lora"], "epochs": 1}),
        (train_run, RUN),
    ],
)
def test_good_values_pass(flow: Any, params: dict[str, Any]) -> None:
    _server_check(flow, params)


def test_a_direct_call_is_checked_before_the_flow_runs(tmp_path: Any) -> None:
    """In-process (no deployment), Prefect validates the call against the same types."""
    from prefect.exceptions import ParameterTypeError

    with pytest.raises(ParameterTypeError, match="profile"):
        benchmark(profile="quik", out=str(tmp_path / "run"))  # type: ignore[arg-type]
    assert not (tmp_path / "run").exists()
