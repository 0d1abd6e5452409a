"""The closed sets of values the flows accept, as ``Literal`` types.

A flow's parameter types become its deployment's parameter schema, and the Prefect server checks a
submitted run against that schema: ``prefect deployment run benchmark/benchmark -p profile=quik`` is
refused at submission, before any worker picks it up or any folder is created. The CLI checks the same
values earlier still, with a "did you mean". Each tuple mirrors a registry in the libraries
(``flatlora.bench.config``, ``llm_eval``); a test keeps them equal, so a new profile or suite that is
missing here fails the suite instead of being refused by deployments.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict  # pydantic reads typing.TypedDict only from Python 3.12

Profile = Literal["quick", "study", "study-q4", "smoke", "gen-cpu"]
Method = Literal["full", "lora", "flat_lora", "sam_ab", "sam_w"]
SanityMethod = Literal["lora", "flat_lora"]

Suite = Literal["all", "multilingual", "noisy", "smoke"]
Provider = Literal["anthropic", "local"]
Mitigation = Literal["none", "pin", "both"]
Judge = Literal["auto", "provider", "heuristic"]
Scorer = Literal["auto", "rule", "model"]
ResumeMode = Literal["rerun", "strict"]
AnswerFormat = Literal["plain", "final-line"]

PositiveInt = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0)]


class RunSpec(TypedDict):
    """One run of a grid, as the benchmark flow passes it to the train-run deployment
    (``tasks.train.run_spec``)."""

    profile: Profile
    dataset: str
    method: Method
    seed: int
    overrides: dict[str, Any]
