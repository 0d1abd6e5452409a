"""Suite registry: name -> Suite (callable ``(mitigation, seed) -> list[Sample]`` + optional analysis hook).

Other modules add suites without editing this file's functions::

    from llm_eval.suites import register_suite

    @register_suite("noisy", analyze=analyze_noisy, description="B2 messy inputs")
    def noisy(mitigation: str, seed: int) -> list[Sample]: ...

``SUITES[name](mitigation, seed)`` builds the samples; ``SUITES[name].analyze(records, out_dir)``
(if set) is called by the CLI after the run and may write summary.json / report.md and return a
small dict of headline numbers for the console.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from flatlora.bench.atomic import atomic_write_text
from llm_eval.types import Record, Request, Sample

__all__ = [
    "ANSWER_FORMATS",
    "FINAL_LINE_INSTRUCTION",
    "MITIGATIONS",
    "SUITES",
    "Suite",
    "apply_answer_format",
    "get_suite",
    "register_suite",
    "run_cost",
    "substring_accuracy",
]

MITIGATIONS = ("none", "pin", "both")
ANSWER_FORMATS = ("plain", "final-line")
# The one instruction of --answer-format final-line, identical in every condition and language, so
# that it can change no comparison between conditions; the scorer reads that line first.
FINAL_LINE_INSTRUCTION = "End your reply with a final line of the form 'Answer: <your answer>'."

Builder = Callable[[str, int], list[Sample]]
AnalyzeFn = Callable[[list[Record], Path], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Suite:
    name: str
    build: Builder
    analyze: AnalyzeFn | None = None
    description: str = ""

    def __call__(self, mitigation: str = "none", seed: int = 0) -> list[Sample]:
        if mitigation not in MITIGATIONS:
            raise ValueError(f"`mitigation` must be one of {MITIGATIONS}, got {mitigation!r}")
        samples = self.build(mitigation, seed)
        ids = [s.id for s in samples]
        if len(set(ids)) != len(ids):
            raise ValueError(f"suite {self.name!r} produced duplicate sample ids")
        return samples


def apply_answer_format(samples: Sequence[Sample], answer_format: str) -> list[Sample]:
    """Every sample with the answer-format protocol: ``plain`` leaves the study's prompts as they are;
    ``final-line`` appends :data:`FINAL_LINE_INSTRUCTION` to every sample's system prompt (after the
    mitigation prompt, if any). The format is recorded in each sample's meta."""
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"`answer_format` must be one of {'|'.join(ANSWER_FORMATS)}, got {answer_format!r}")
    out = []
    for s in samples:
        req = s.request
        if answer_format == "final-line":
            system = f"{req.system}\n\n{FINAL_LINE_INSTRUCTION}" if req.system else FINAL_LINE_INSTRUCTION
            req = replace(req, system=system)
        out.append(replace(s, request=req, meta={**s.meta, "answer_format": answer_format}))
    return out


SUITES: dict[str, Suite] = {}

# Modules that register suites on import; loaded lazily by get_suite so importing this module
# stays cheap and free of cycles; other modules may append their names here or import them itself.
SUITE_MODULES: list[str] = ["llm_eval.items", "llm_eval.robustness"]


def register_suite(
    name: str, *, analyze: AnalyzeFn | None = None, description: str = "", replace: bool = False
) -> Callable[[Builder], Builder]:
    """Decorator adding a builder to SUITES under ``name``."""

    def deco(fn: Builder) -> Builder:
        if name in SUITES and not replace and SUITES[name].build is not fn:
            raise ValueError(f"suite {name!r} is already registered")
        SUITES[name] = Suite(
            name=name, build=fn, analyze=analyze, description=description or (fn.__doc__ or "")
        )
        return fn

    return deco


def _load_plugins() -> None:
    for mod in SUITE_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:  # the module exists but one of its imports is broken: surface it
                raise


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        _load_plugins()
    if name not in SUITES:
        raise KeyError(f"unknown suite {name!r}; known: {sorted(SUITES)}")
    return SUITES[name]


# ---------------------------------------------------------------------------------------------
# Built-in "smoke" suite: a handful of English factual questions, enough to exercise the runner.

SMOKE_ITEMS: list[tuple[str, str, list[str]]] = [
    ("capital_france", "What is the capital of France? Answer in one word.", ["Paris"]),
    ("capital_japan", "What is the capital of Japan? Answer in one word.", ["Tokyo"]),
    ("largest_planet", "Which planet is the largest in our solar system? Answer in one word.", ["Jupiter"]),
    ("water_formula", "What is the chemical formula of water? Answer briefly.", ["H2O", "H₂O"]),
    ("red_planet", "Which planet is known as the Red Planet? Answer in one word.", ["Mars"]),
    ("two_plus_two", "What is 2 + 2? Answer with a number.", ["4", "four"]),
]

SMOKE_SYSTEM = "Answer the question directly and briefly."


def substring_accuracy(records: list[Record]) -> dict[str, Any]:
    """Trivial scorer: case-insensitive substring match of any gold; errors are excluded, not wrong."""
    answered = [r for r in records if r.error is None]
    correct = sum(
        1
        for r in answered
        if any(g.lower() in (r.response_text or "").lower() for g in r.meta.get("gold", []))
    )
    return {
        "n_answered": len(answered),
        "n_errors": len(records) - len(answered),
        "n_correct": correct,
        "accuracy": (correct / len(answered)) if answered else None,
    }


def run_cost(records: list[Record]) -> dict[str, Any]:
    """``cost_usd`` of the answers (None when any answer's model had no price: unknown, not $0),
    ``cost_known`` and the number of answers whose cost is unknown."""
    unknown = sum(1 for r in records if r.error is None and r.cost_usd is None)
    known = sum(r.cost_usd for r in records if r.cost_usd is not None)
    return {
        "cost_usd": round(known, 6) if unknown == 0 else None,
        "cost_known": unknown == 0,
        "cost_unknown_answers": unknown,
    }


def _smoke_analyze(records: list[Record], out_dir: Path) -> dict[str, Any]:
    summary = substring_accuracy(records)
    body = {"suite": "smoke", **summary, **run_cost(records)}
    atomic_write_text(out_dir / "summary.json", json.dumps(body, indent=2) + "\n")
    return summary


@register_suite(
    "smoke", analyze=_smoke_analyze, description="6 English factual questions (runner smoke test)"
)
def smoke(mitigation: str, seed: int) -> list[Sample]:
    """``mitigation != "none"`` adds a short answer-format system prompt; the seed is unused."""
    system = SMOKE_SYSTEM if mitigation != "none" else None
    return [
        Sample(
            id=f"smoke/{item_id}/{mitigation}",
            item_id=item_id,
            condition="en",
            variant="clean",
            request=Request(messages=[{"role": "user", "content": question}], system=system),
            meta={"gold": golds, "suite": "smoke", "mitigation": mitigation},
        )
        for item_id, question, golds in SMOKE_ITEMS
    ]
