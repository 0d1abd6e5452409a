"""Thin Prefect tasks around llm_eval: build samples, run them, analyse, publish the report.

Policy lives in the decorators. Running is retried (the runner resumes: answered samples are never
requested again); deterministic failures are not: bad suite/provider/config, a missing API key, an
endpoint that cannot be reached at all (the CLI stops at the first such failure too).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact

from llm_eval.records import load_records
from llm_eval.runner import EndpointUnreachable
from llm_eval.types import Provider, ProviderError, Sample

KEY_HINT = (
    "set ANTHROPIC_API_KEY in the environment of the pool's workers "
    "(ANTHROPIC_API_KEY=... flatbench worker --pool cpu-pool), or keep the key in a Prefect Secret block "
    "(Secret(value=...).save('anthropic-key'), from prefect.blocks.system) and pass the parameter "
    "api_key_block=anthropic-key (or set FLATBENCH_API_KEY_BLOCK for the workers)"
)


class MissingApiKey(ValueError):
    """The flow run has no Anthropic API key; the message says the two ways a deployment accepts one."""


def require_api_key(block: str | None) -> None:
    """Stop at once, before any sample is built or sent, when no key can be found."""
    from tasks.api_key import resolve_api_key

    try:
        key = resolve_api_key(block)
    except ValueError as exc:  # Secret.load: no block of that name
        raise MissingApiKey(f"api_key_block={block!r}: {exc}; {KEY_HINT}") from None
    if not key:
        where = (
            f"ANTHROPIC_API_KEY is unset and the Secret block {block!r} is empty"
            if block
            else ("ANTHROPIC_API_KEY is unset where this flow run runs and no api_key_block was given")
        )
        raise MissingApiKey(f"no Anthropic API key: {where}; {KEY_HINT}")


def _deterministic(exc: BaseException) -> bool:
    if isinstance(exc, EndpointUnreachable):  # nothing answered at all: a retry meets the same closed port
        return True
    if isinstance(exc, ProviderError):
        return not exc.retryable
    return isinstance(exc, ValueError | TypeError | KeyError | ImportError | FileNotFoundError)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """retry_condition_fn: retry network/server blips, not configuration errors."""
    try:
        state.result()
    except BaseException as exc:
        return not _deterministic(exc)
    return False


def make_llm_provider(
    provider: str,
    model: str | None,
    base_url: str | None,
    *,
    seed: int = 0,
    max_new_tokens: int = 128,
    api_key_block: str | None = None,
    prices: str | None = None,
) -> Provider:
    """The same provider settings the CLI uses (API key from env or a Prefect Secret block)."""
    from llm_eval.pricing import load_prices
    from llm_eval.providers import make_provider
    from tasks.api_key import resolve_api_key

    kw: dict[str, Any] = {}
    if provider == "anthropic":
        kw = {"api_key": resolve_api_key(api_key_block), "prices": load_prices(prices)}
    elif provider == "local":
        kw = {"max_new_tokens": max_new_tokens, "seed": seed}
    return make_provider(provider, model=model, base_url=base_url, **kw)


@task(name="llm-build-samples", task_run_name="build {suite} ({mitigation})")
def build_samples_task(
    suite: str, mitigation: str, seed: int, limit: int | None = None, answer_format: str = "plain"
) -> list[Sample]:
    from llm_eval.suites import apply_answer_format, get_suite

    samples = apply_answer_format(get_suite(suite)(mitigation, seed), answer_format)
    return samples[:limit] if limit else samples


@task(name="llm-run-samples", retries=2, retry_delay_seconds=10, retry_condition_fn=retry_transient)
def run_samples_task(
    samples: list[Sample],
    provider: str,
    model: str | None,
    base_url: str | None,
    out: str,
    *,
    seed: int = 0,
    concurrency: int = 8,
    cost_limit: float | None = None,
    max_new_tokens: int = 128,
    use_cache: bool = True,
    api_key_block: str | None = None,
    resume: str = "rerun",
    prices: str | None = None,
) -> str:
    """Responses go to out/responses.jsonl and this try's counters to out/run_stats.json, as from the
    CLI; returns ``out``. A retry resumes where the last try stopped.

    Fails (after the records are written) when every request of the run failed."""
    from llm_eval.records import write_run_stats
    from llm_eval.runner import RunStats, run_samples, summarize

    prov = make_llm_provider(
        provider,
        model,
        base_url,
        seed=seed,
        max_new_tokens=max_new_tokens,
        api_key_block=api_key_block,
        prices=prices,
    )
    stats = RunStats()
    records = run_samples(
        samples,
        prov,
        out,
        concurrency=concurrency,
        cost_limit=cost_limit,
        use_cache=use_cache,
        progress=False,
        stats=stats,
        resume=resume,
    )
    write_run_stats(Path(out), stats.to_dict(), summarize(samples, records))
    if stats.all_failed:
        first = next((r.error for r in records if r.error), "")
        raise RuntimeError(f"all {stats.failed} requests failed; first error: {first}")
    return out


@task(name="llm-grade", retries=1, retry_condition_fn=retry_transient)
def grade_task(
    out: str,
    sample_ids: list[str],
    *,
    provider: str = "local",
    model: str | None = None,
    base_url: str | None = None,
    concurrency: int = 8,
    cost_limit: float | None = None,
    api_key_block: str | None = None,
    prices: str | None = None,
    only_unresolved: bool = False,
) -> dict[str, int]:
    """``--scorer model`` / ``auto``: grade this run's answers (auto: those the rules leave
    unresolved; requests in out/grader/); returns verdict counts."""
    from llm_eval.grader import grade_records

    wanted = set(sample_ids)
    records = [r for r in load_records(Path(out)) if r.sample_id in wanted]
    gp = make_llm_provider(provider, model, base_url, api_key_block=api_key_block, prices=prices)
    return grade_records(
        records,
        gp,
        out,
        {"concurrency": concurrency, "cost_limit": cost_limit},
        only_unresolved=only_unresolved,
    )


@task(name="llm-analyze", retries=1, retry_condition_fn=retry_transient)
def analyze_task(
    out: str,
    sample_ids: list[str],
    *,
    judge: str = "heuristic",
    provider: str = "local",
    model: str | None = None,
    base_url: str | None = None,
    concurrency: int = 8,
    provenance: dict[str, Any] | None = None,
    api_key_block: str | None = None,
    judge_suites: list[str] | None = None,
    prices: str | None = None,
) -> dict[str, Any]:
    """summary.json + report.md from this run's records (only the given sample ids)."""
    from llm_eval.analysis import analyze

    wanted = set(sample_ids)
    records = [r for r in load_records(Path(out)) if r.sample_id in wanted]
    jp = (
        make_llm_provider(provider, model, base_url, api_key_block=api_key_block, prices=prices)
        if judge == "provider"
        else None
    )
    return analyze(
        records,
        out,
        judge=judge,
        judge_provider=jp,
        run_kwargs={"concurrency": concurrency},
        provenance=provenance,
        judge_suites=judge_suites,
    )


def artifact_key(out: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    slug = re.sub(r"[^a-z0-9-]+", "-", Path(out).name.lower()).strip("-") or "run"
    return f"llm-robustness-{slug}"[:100]


@task(name="llm-publish-report")
def publish_report_task(report_path: str) -> str:
    """The report.md written to disk, unchanged, as the flow run's markdown artifact."""
    text = Path(report_path).read_text(encoding="utf-8")
    key = artifact_key(str(Path(report_path).parent))
    create_markdown_artifact(markdown=text, key=key, description=f"LLM robustness report ({report_path})")
    return key
