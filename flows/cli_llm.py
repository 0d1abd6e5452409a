"""`flatbench llm-eval SUITE`: run a suite through a provider, write DIR/responses.jsonl, print a summary.

The library (llm_eval) never imports Prefect; the only Prefect use here is resolving the API
key from a Secret block when asked to (``--api-key-block``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_OUT_ROOT = Path("runs") / "llm_eval"


def resolve_api_key(block: str | None) -> str | None:
    """ANTHROPIC_API_KEY wins; otherwise read the named Prefect Secret block (flows-side only)."""
    key = os.environ.get("ANTHROPIC_API_KEY")
    if key or not block:
        return key
    from prefect.blocks.system import Secret

    secret: Any = Secret.load(block)  # sync call from this (sync) CLI context
    value: Any = secret.get()
    return str(value) if value else None


def llm_eval(
    suite: Annotated[str, typer.Argument(help="Suite name: multilingual | noisy | all | smoke.")],
    provider: Annotated[str, typer.Option(help="anthropic | local")] = "local",
    model: Annotated[str | None, typer.Option(help="Model id; default depends on the provider.")] = None,
    mitigation: Annotated[str, typer.Option(help="none | pin | both")] = "none",
    out: Annotated[
        Path | None, typer.Option(help="Output dir (default runs/llm_eval/SUITE_PROVIDER_MITIGATION).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="API base URL (also ANTHROPIC_BASE_URL).", envvar="ANTHROPIC_BASE_URL")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Max concurrent requests (adaptive below it).")] = 8,
    batch: Annotated[bool, typer.Option(help="Use the Message Batches API (half price).")] = False,
    cost_limit: Annotated[
        float | None, typer.Option(min=0.0, help="Stop sending requests once this many USD are spent.")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the response cache.")
    ] = False,
    refresh: Annotated[bool, typer.Option(help="Ignore cached responses but store the new ones.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N samples.")] = None,
    seed: Annotated[int, typer.Option(help="Suite/perturbation seed (and local sampling seed).")] = 0,
    prices: Annotated[
        Path | None, typer.Option(help="JSON/YAML price table {model: {input, output}} in $/MTok.")
    ] = None,
    max_new_tokens: Annotated[
        int, typer.Option(min=1, help="Local provider: cap on generated tokens.")
    ] = 128,
    timeout: Annotated[float, typer.Option(min=0.1, help="Anthropic: per-request timeout (s).")] = 60.0,
    max_retries: Annotated[int, typer.Option(min=0, help="Anthropic SDK retries per attempt.")] = 4,
    max_attempts: Annotated[
        int, typer.Option(min=1, help="Runner attempts per sample (timeouts, malformed).")
    ] = 3,
    api_key_block: Annotated[
        str | None,
        typer.Option(
            help="Prefect Secret block holding the key, if ANTHROPIC_API_KEY is unset.",
            envvar="FLATBENCH_API_KEY_BLOCK",
        ),
    ] = None,
    send_temperature: Annotated[
        bool,
        typer.Option(help="Send `temperature` (rejected by API version 2026-10-21; for proxies/older APIs)."),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    judge: Annotated[
        str,
        typer.Option(
            help="Fluency judge for multilingual|noisy|all: provider (same provider, --judge-model or the "
            "eval model), heuristic (heuristic-v1, no requests), auto (heuristic for local, else provider)."
        ),
    ] = "auto",
    judge_model: Annotated[
        str | None, typer.Option(help="Model for --judge provider (default: --model).")
    ] = None,
) -> None:
    """Run an LLM stress-test suite; records go to DIR/responses.jsonl (resumable)."""
    from rich.console import Console

    from llm_eval.pricing import load_prices
    from llm_eval.providers import make_provider
    from llm_eval.runner import RunStats, run_samples, summarize
    from llm_eval.suites import get_suite
    from llm_eval.types import ProviderError

    console = Console()
    from flows.cli_common import check_choice
    from llm_eval.providers import PROVIDERS
    from llm_eval.suites import SUITES

    check_choice(provider, PROVIDERS, "provider")
    try:
        s = get_suite(suite)  # loads the suite plugins, so SUITES below is complete
    except KeyError:
        check_choice(suite, sorted(SUITES), "suite")
        raise
    if mitigation not in ("none", "pin", "both"):
        raise typer.BadParameter(
            f"`mitigation` must be one of none|pin|both, got {mitigation!r}", param_hint="--mitigation"
        )
    if judge not in ("auto", "heuristic", "provider"):
        raise typer.BadParameter(
            f"`judge` must be one of auto|heuristic|provider, got {judge!r}", param_hint="--judge"
        )
    if batch and provider != "anthropic":
        raise typer.BadParameter(
            f"`--batch` needs --provider anthropic, got {provider!r}", param_hint="--batch"
        )
    samples = s(mitigation, seed)
    if limit is not None:
        samples = samples[:limit]

    kw: dict[str, Any] = {}
    if provider == "anthropic":
        kw = {
            "api_key": resolve_api_key(api_key_block),
            "timeout_s": timeout,
            "max_retries": max_retries,
            "prices": load_prices(prices),
            "send_temperature": send_temperature,
        }
    elif provider == "local":
        kw = {"max_new_tokens": max_new_tokens, "seed": seed}
    try:
        prov = make_provider(provider, model=model, base_url=base_url, **kw)
    except (ProviderError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--provider") from None

    out_dir = out or DEFAULT_OUT_ROOT / f"{suite}_{provider}_{mitigation}"
    stats = RunStats()
    records = run_samples(
        samples,
        prov,
        out_dir,
        concurrency=concurrency,
        cost_limit=cost_limit,
        use_cache=not no_cache,
        refresh=refresh,
        batch=batch,
        progress=progress,
        max_attempts=max_attempts,
        stats=stats,
    )
    summ = summarize(samples, records)
    console.print(
        f"[bold]{suite}[/] {prov.name}:{prov.model} -> {out_dir / 'responses.jsonl'}\n"
        f"  answered {summ['answered']}  errors {summ['errors']}  not-run {summ['not_run']}"
        f"  (cached {summ['cached']}, resumed {stats.skipped_done})\n"
        f"  tokens in {summ['input_tokens']} out {summ['output_tokens']}  cost ${summ['cost_usd']:.4f}"
        f" (this run ${stats.cost_usd:.4f})"
    )
    if stats.cost_limit_hit:
        console.print(
            f"  cost limit ${cost_limit} reached: {summ['not_run']} samples not run; rerun to resume."
        )
    if s.analyze is not None:
        akw: dict[str, Any] = {}
        if suite in ("multilingual", "noisy", "all"):  # issue 6 suites: fluency judge options
            use_provider = judge == "provider" or (judge == "auto" and provider != "local")
            akw["judge"] = "provider" if use_provider else "heuristic"
            if use_provider:
                # a fresh client: the eval provider's async client belonged to the run's event loop
                akw["judge_provider"] = make_provider(
                    provider, model=judge_model or prov.model, base_url=base_url, **kw
                )
                akw["run_kwargs"] = {"concurrency": concurrency, "use_cache": not no_cache, "refresh": refresh,
                                     "max_attempts": max_attempts, "cost_limit": cost_limit}  # fmt: skip
            akw["provenance"] = {"suite": suite, "mitigation": mitigation, "seed": seed, "limit": limit}
        result = s.analyze(records, Path(out_dir), **akw)
        if suite in ("multilingual", "noisy", "all"):
            console.print(
                f"  summary -> {Path(out_dir) / 'summary.json'}, report -> {Path(out_dir) / 'report.md'}"
            )
        if isinstance(result, dict):
            headline = {k: v for k, v in result.items() if isinstance(v, int | float | str) or v is None}
            console.print(
                "  "
                + "  ".join(
                    f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in headline.items()
                )
            )


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the top-level app."""
    app.command("llm-eval")(llm_eval)
