"""What a run would send and cost, computed without sending anything (``--dry-run``).

Counts are exact: samples that resume would skip (an answer on disk made by the same request) and
cache hits are read locally and excluded. Tokens are estimates: input tokens from the prompt text
(about 4 characters per token for ASCII, 1 token per other character, which errs high for
Devanagari, plus a small per-message overhead), output tokens as the upper bound ``max_tokens``
(the local provider's cap where lower). Cost is therefore an upper bound for the output part and
an estimate for the input part, and unknown when the model has no price.

Judge and grader requests are planned from the samples themselves (their answers do not exist
yet): one request per sample they would grade, each assumed to carry a full-length answer. With
``--scorer auto`` the grader sees only the samples the rules leave unresolved, which is not known
before the answers exist: the plan counts the expected share :data:`EXPECTED_UNRESOLVED` (the rule
scorer's unresolved share measured on the frozen adversarial table, ``benchmarks/scoring_rates.py``;
adversarial replies, so it errs high) and gives the bound for all of them beside it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_eval.cache import ResponseCache, request_key
from llm_eval.grader import grade_request
from llm_eval.judge import judge_request
from llm_eval.pricing import BATCH_DISCOUNT, Price
from llm_eval.records import RESPONSES_FILE, load_records
from llm_eval.runner import provider_price, same_request
from llm_eval.types import Provider, Request, Sample

__all__ = ["EXPECTED_UNRESOLVED", "Plan", "PlanPart", "estimate_tokens", "plan_run", "render_plan"]

_MESSAGE_OVERHEAD = 4
# rule scorer, scoring_frozen.jsonl: 29 of 120 plain replies and 7 of 120 final-line replies unresolved
EXPECTED_UNRESOLVED = {"plain": 29 / 120, "final-line": 7 / 120}


def estimate_tokens(text: str | None) -> int:
    """Rough token count: ceil(ASCII chars / 4) + one per non-ASCII character."""
    if not text:
        return 0
    ascii_n = sum(1 for c in text if ord(c) < 128)
    return math.ceil(ascii_n / 4) + (len(text) - ascii_n)


def _request_tokens(req: Request) -> int:
    n = estimate_tokens(req.system) + (_MESSAGE_OVERHEAD if req.system else 0)
    return n + sum(estimate_tokens(m["content"]) + _MESSAGE_OVERHEAD for m in req.messages)


def _out_cap(provider: Provider, req: Request) -> int:
    cap = getattr(provider, "max_new_tokens", None)
    return min(req.max_tokens, int(cap)) if isinstance(cap, int) else req.max_tokens


@dataclass
class PlanPart:
    """One kind of request of the run: the answers, the fluency judge or the model grader."""

    role: str
    provider: str
    model: str
    requests: int
    input_tokens: int
    output_tokens_max: int
    price_known: bool
    cost_usd_max: float | None
    skipped_done: int = 0
    cached: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Plan:
    n_samples: int
    parts: list[PlanPart] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(p.requests for p in self.parts)

    @property
    def cost_usd_max(self) -> float | None:
        costs = [p.cost_usd_max for p in self.parts if p.requests]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_samples": self.n_samples,
            "requests": self.requests,
            "cost_usd_max": self.cost_usd_max,
            "cost_known": self.cost_usd_max is not None,
            "parts": [p.to_dict() for p in self.parts],
        }


def _part(
    role: str,
    provider: Provider,
    requests: Sequence[Request],
    skipped: int = 0,
    cached: int = 0,
    batch: bool = False,
) -> PlanPart:
    tin = sum(_request_tokens(r) for r in requests)
    tout = sum(_out_cap(provider, r) for r in requests)
    price = provider_price(provider)
    known = isinstance(price, Price)
    cost = None
    if isinstance(price, Price):
        cost = (tin * price.input_per_mtok + tout * price.output_per_mtok) / 1e6
        cost *= BATCH_DISCOUNT if batch else 1.0
    elif price is True:  # the provider prices its own responses: nothing to estimate from
        known = False
    return PlanPart(
        role=role,
        provider=provider.name,
        model=provider.model,
        requests=len(requests),
        input_tokens=tin,
        output_tokens_max=tout,
        price_known=known,
        cost_usd_max=round(cost, 6) if cost is not None else None,
        skipped_done=skipped,
        cached=cached,
    )


def plan_run(
    samples: Sequence[Sample],
    provider: Provider,
    out_dir: str | Path,
    *,
    cache: str | Path | None = None,
    use_cache: bool = True,
    refresh: bool = False,
    judge_provider: Provider | None = None,
    judge_suites: Collection[str] | None = None,
    grader_provider: Provider | None = None,
    batch: bool = False,
    grade_unresolved_only: bool = False,
) -> Plan:
    """The requests this run would send (nothing is sent; the cache is only read). With
    ``grade_unresolved_only`` (``--scorer auto``) the grader part is the expected number of
    unresolved samples (:data:`EXPECTED_UNRESOLVED` of the answers, by answer format)."""
    path = Path(out_dir) / RESPONSES_FILE
    existing = {r.sample_id: r for r in load_records(path)} if path.exists() else {}
    todo: list[Sample] = []
    skipped = 0
    for s in samples:
        r = existing.get(s.id)
        if r is not None and r.ok and same_request(r, s.request, provider):
            skipped += 1
        else:
            todo.append(s)
    cached = 0
    if use_cache and not refresh and todo:
        with ResponseCache(cache) as c:
            hits = c.get_many([request_key(provider, s.request) for s in todo])
        send = [s for s in todo if request_key(provider, s.request) not in hits]
        cached = len(todo) - len(send)
    else:
        send = todo
    plan = Plan(n_samples=len(samples))
    role = "answers (batch)" if batch else "answers"
    plan.parts.append(_part(role, provider, [s.request for s in send], skipped, cached, batch))

    def placeholder(s: Sample) -> str:
        return "x" * (4 * _out_cap(provider, s.request))  # a full-length ASCII answer

    if judge_provider is not None:
        judged = [s for s in samples if judge_suites is None or s.meta.get("suite") in judge_suites]
        reqs = [
            judge_request(
                s.request.messages[-1]["content"], placeholder(s), str(s.meta.get("expected_language", "en"))
            )
            for s in judged
        ]
        plan.parts.append(_part("fluency judge (up to)", judge_provider, reqs))
    if grader_provider is not None:
        graded = [s for s in samples if s.meta.get("gold")]
        reqs = [
            grade_request(
                str(s.meta.get("clean_question") or s.request.messages[-1]["content"]),
                [str(g) for g in s.meta["gold"]],
                placeholder(s),
            )
            for s in graded
        ]
        if not grade_unresolved_only:
            plan.parts.append(_part("model grader (up to)", grader_provider, reqs))
            return plan
        formats = sorted({str(s.meta.get("answer_format") or "plain") for s in graded})
        share = max((EXPECTED_UNRESOLVED[f] for f in formats), default=0.0)
        expected = reqs[: math.ceil(len(reqs) * share)]
        part = _part("model grader, unresolved only (expected)", grader_provider, expected)
        bound = _part("", grader_provider, reqs)
        part.note = (
            f"expected share {100 * share:.0f}% ({', '.join(formats)} answers) of "
            f"{len(reqs)} answers; all {len(reqs)}: cost <= {_usd(bound.cost_usd_max)}"
        )
        plan.parts.append(part)
    return plan


def _usd(x: float | None) -> str:
    return "unknown (no price)" if x is None else f"${x:.4f}"


def render_plan(plan: Plan, price_help: str = "") -> str:
    """The console text of a dry run."""
    lines = [f"dry run: {plan.n_samples} samples, {plan.requests} requests would be sent (none were)"]
    for p in plan.parts:
        extra = f", resumed {p.skipped_done}, cached {p.cached}" if p.role.startswith("answers") else ""
        lines.append(
            f"  {p.role}: {p.requests} requests to {p.provider}:{p.model}{extra}; "
            f"~{p.input_tokens} input tokens (estimate), <= {p.output_tokens_max} output tokens; "
            f"cost <= {_usd(p.cost_usd_max)}" + (f" ({p.note})" if p.note else "")
        )
    total = plan.cost_usd_max
    lines.append(f"  total cost <= {_usd(total)} (input estimated, output at max_tokens)")
    if total is None and price_help:
        lines.append(f"  {price_help}")
    return "\n".join(lines)
