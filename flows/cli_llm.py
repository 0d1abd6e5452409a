"""`flatbench llm-eval SUITE`: run a suite through a provider, write DIR/responses.jsonl, print a summary.

The library (llm_eval) never imports Prefect; the only Prefect use here is resolving the API
key from a Secret block when asked to (``--api-key-block``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from tasks.api_key import resolve_api_key

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_OUT_ROOT = Path("runs") / "llm_eval"


def llm_eval(
    ctx: typer.Context,
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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the request count, estimated tokens and cost (answers, judge, grader); send nothing.",
        ),
    ] = False,
    resume: Annotated[
        str,
        typer.Option(
            help="Existing answers in --out made by a different request (edited prompt, other endpoint, "
            "model or parameters): rerun (re-run and count them) | strict (refuse to start)."
        ),
    ] = "rerun",
    scorer: Annotated[
        str,
        typer.Option(
            help="auto (default: rules first, a grader model for the samples the rules leave unresolved; "
            "for --provider local the same as rule) | rule (no grader; unresolved samples are counted "
            "apart) | model (a grading request for every answered sample; the report shows the agreement). "
            "The grader's verdicts decide unresolved samples only once it is measured (--grader-check) "
            "or with --count-unmeasured-grader; else they are kept and shown as a sensitivity."
        ),
    ] = "auto",
    grader_model: Annotated[
        str | None, typer.Option(help="Model for --scorer auto|model (default: --model).")
    ] = None,
    answer_format: Annotated[
        str,
        typer.Option(
            help="plain (the study's prompts, default) | final-line (one identical instruction in every "
            "condition: end with a line 'Answer: ...'; the scorer reads that line first)."
        ),
    ] = "plain",
    grader_check: Annotated[
        Path | None,
        typer.Option(
            help="grader_check.json (or its folder) from `flatbench llm-grader-check`: when it measured this "
            "run's grader (same provider and model), the grader's verdicts decide unresolved samples and "
            "the report shows its measured error rates; otherwise they are not counted."
        ),
    ] = None,
    count_unmeasured_grader: Annotated[
        bool,
        typer.Option(
            "--count-unmeasured-grader",
            help="Count the grader's verdicts even though no --grader-check measured it; recorded in the "
            "summary and stated in the report (its error rates, and so their effect, are unknown).",
        ),
    ] = False,
) -> None:
    """Run an LLM stress-test suite; records go to DIR/responses.jsonl (resumable)."""
    from rich.console import Console
    from rich.markup import escape

    from flows.cli_common import check_choice, check_out_dir
    from flows.shutdown import set_kept
    from llm_eval.grader import SCORERS, grade_records, resolve_scorer
    from llm_eval.grader_policy import policy_provenance
    from llm_eval.judge import JUDGE_CHOICES, resolve_judge
    from llm_eval.plan import plan_run, render_plan
    from llm_eval.pricing import PRICE_FILE_HELP, UnpricedModelError, load_prices
    from llm_eval.providers import PROVIDERS, make_provider
    from llm_eval.providers.anthropic import validate_base_url
    from llm_eval.records import load_records, write_run_stats
    from llm_eval.runner import (
        RESUME_MODES,
        EndpointUnreachable,
        Interrupted,
        ResumeMismatchError,
        RunStats,
        output_lock,
        provider_price,
        run_samples,
        summarize,
    )
    from llm_eval.suites import ANSWER_FORMATS, SUITES, apply_answer_format, get_suite
    from llm_eval.types import ProviderError

    console = Console(soft_wrap=True)  # long lines (paths, errors) stay whole in logs
    check_out_dir(out)
    check_choice(provider, PROVIDERS, "provider")
    try:
        s = get_suite(suite)  # loads the suite plugins, so SUITES below is complete
    except KeyError:
        check_choice(suite, sorted(SUITES), "suite")
        raise
    check_choice(mitigation, ("none", "pin", "both"), "mitigation")
    check_choice(judge, JUDGE_CHOICES, "judge")
    check_choice(resume, RESUME_MODES, "resume mode")
    check_choice(scorer, SCORERS, "scorer")
    check_choice(answer_format, ANSWER_FORMATS, "answer format")
    measured: dict[str, Any] | None = None
    if grader_check is not None:
        from llm_eval.grader_check import load_check

        try:
            measured = load_check(grader_check)
        except (FileNotFoundError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--grader-check") from None
    if provider == "anthropic" and base_url:
        try:
            validate_base_url(base_url)
        except ValueError as exc:
            raise typer.BadParameter(
                str(exc).replace("`base_url`", "`--base-url`"), param_hint="--base-url"
            ) from None
    scorer = resolve_scorer(scorer, provider)
    if batch and provider != "anthropic":
        raise typer.BadParameter(
            f"`--batch` needs --provider anthropic, got {provider!r}", param_hint="--batch"
        )
    samples = apply_answer_format(s(mitigation, seed), answer_format)
    if limit is not None:
        samples = samples[:limit]

    kw: dict[str, Any] = {}
    if provider == "anthropic":
        kw = {
            # a dry run sends nothing, so it needs no key
            "api_key": resolve_api_key(api_key_block) or ("unused-by-dry-run" if dry_run else None),
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
    robustness = suite in ("multilingual", "noisy", "all")
    judge_kind, judge_suites = resolve_judge(
        judge, provider, sorted({str(x.meta.get("suite", suite)) for x in samples})
    )

    def fresh(model_id: str | None) -> Any:
        # a fresh client per use: an async client belongs to the event loop of the run that made it
        return make_provider(provider, model=model_id or prov.model, base_url=base_url, **kw)

    judge_prov = fresh(judge_model) if robustness and judge_kind == "provider" else None
    # auto grades what the rules leave unresolved, which only the robustness suites' analysis reads
    graded = scorer == "model" or (scorer == "auto" and robustness)
    grader_prov = fresh(grader_model) if graded else None

    # prices are looked up before the first request
    for role, pv in (("model", prov), ("judge", judge_prov), ("grader", grader_prov)):
        if pv is None or provider_price(pv) is not None:
            continue
        help_text = PRICE_FILE_HELP.replace("MODEL", pv.model)
        if cost_limit is not None and not dry_run:
            _error(console, f"--cost-limit needs a price, and the {role} {pv.model!r} has none: {help_text}")
            raise typer.Exit(2)
        console.print(
            "[yellow]warning:[/]",
            escape(f"no price for the {role} {pv.model!r}: its cost is recorded as unknown; {help_text}"),
        )

    if dry_run:
        plan = plan_run(
            samples,
            prov,
            out_dir,
            use_cache=not no_cache,
            refresh=refresh,
            judge_provider=judge_prov,
            judge_suites=judge_suites,
            grader_provider=grader_prov,
            batch=batch,
            grade_unresolved_only=scorer == "auto",
        )
        console.print(
            f"[bold]{suite}[/] {prov.name}:{prov.model} (mitigation {mitigation}, judge {judge_kind}, "
            f"scorer {scorer}, answer format {answer_format})"
        )
        console.print(render_plan(plan, PRICE_FILE_HELP.replace("MODEL", prov.model)), markup=False)
        if grader_prov is not None and (
            note := _uncounted_grader_note(grader_prov, scorer, measured, count_unmeasured_grader)
        ):
            console.print(f"grader: {note}", markup=False, highlight=False)
        return

    set_kept(f"Answers received are kept in {out_dir / 'responses.jsonl'}; rerun the same command to resume.")
    # one writer per output folder: a second command into it waits, then sends only what is missing
    ctx.with_resource(output_lock(out_dir, say=lambda msg: console.print(msg, markup=False, highlight=False)))
    run_kwargs: dict[str, Any] = {"concurrency": concurrency, "use_cache": not no_cache, "refresh": refresh,
                                  "max_attempts": max_attempts, "cost_limit": cost_limit}  # fmt: skip
    stats = RunStats()
    try:
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
            resume=resume,
        )
    except (ResumeMismatchError, UnpricedModelError) as exc:
        _error(console, str(exc))
        raise typer.Exit(2) from None
    except EndpointUnreachable as exc:
        _error(console, f"{exc} (answers already received are kept in {out_dir / 'responses.jsonl'})")
        raise typer.Exit(1) from None
    except Interrupted as exc:  # what arrived is on disk and in the cache; say so, exit as the signal does
        write_run_stats(Path(out_dir), stats.to_dict(), summarize(samples, load_records(Path(out_dir))))
        console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(exc.exit_code) from None
    summ = summarize(samples, records)
    unknown_why = "no price" if provider_price(prov) is None else "replies without token usage"
    cost = f"unknown ({unknown_why})" if summ["cost_usd"] is None else f"${summ['cost_usd']:.4f}"
    this_run = f"${stats.cost_usd:.4f}" + ("" if stats.cost_known else f" + {stats.cost_unknown} unpriced")
    # errors a rerun may not meet (rate limits outlasting the retries): never counted as wrong answers
    retryable = f" ({summ['retryable']} retryable: rerun to retry)" if summ["retryable"] else ""
    waited = f", waited for another run's {stats.waited_for_other}" if stats.waited_for_other else ""
    console.print(
        f"[bold]{suite}[/] {prov.name}:{prov.model} -> {out_dir / 'responses.jsonl'}\n"
        f"  answered {summ['answered']}  errors {summ['errors']}{retryable}  empty {summ['empty']}"
        f"  not-run {summ['not_run']}"
        f"  (cached {summ['cached']}, resumed {stats.skipped_done}{waited})\n"
        f"  requests sent {stats.requests} (retries included)\n"
        f"  tokens in {summ['input_tokens']} out {summ['output_tokens']}  cost {cost}"
        f" (this run {this_run})",
        highlight=False,
    )
    if stats.resume_mismatched:
        ids = ", ".join(stats.resume_mismatch_ids[:5]) + (", ..." if stats.resume_mismatched > 5 else "")
        console.print(
            f"  re-ran {stats.resume_mismatched} existing answers made by a different request: {ids}",
            markup=False,
        )
    if stats.cost_limit_hit and stats.cost_unknown:
        console.print(
            f"  cost limit ${cost_limit} cannot be kept: {stats.cost_unknown} answers came without token "
            f"usage, so their cost is unknown; {summ['not_run']} samples not run. Rerun without "
            "--cost-limit to send them anyway.",
            markup=False,
        )
    elif stats.cost_limit_hit:
        console.print(
            f"  cost limit ${cost_limit} reached: {summ['not_run']} samples not run; rerun to resume."
        )
    write_run_stats(Path(out_dir), stats.to_dict(), summ)
    if stats.all_failed:
        first = next((r.error for r in records if r.error), "")
        _error(console, f"all {stats.failed} requests of this run failed; first error: {first}")
        if not any(r.ok for r in records):
            raise typer.Exit(1)  # nothing to grade or analyse

    spent = stats.cost_usd

    def remaining() -> dict[str, Any]:
        # one --cost-limit for the whole command: the grader and judge get what the answers left
        left = None if cost_limit is None else max(0.0, cost_limit - spent)
        return {**run_kwargs, "cost_limit": left}

    if grader_prov is not None:
        gstats = RunStats()
        try:
            counts = grade_records(
                records,
                grader_prov,
                Path(out_dir),
                {**remaining(), "stats": gstats},
                only_unresolved=scorer == "auto",
            )
        except EndpointUnreachable as exc:
            _error(console, f"model grader: {exc}")
            raise typer.Exit(1) from None
        spent += gstats.cost_usd
        console.print(
            f"  model grader {grader_prov.name}:{grader_prov.model} (scorer {scorer}): "
            + "  ".join(f"{k} {v}" for k, v in counts.items()),
            markup=False,
        )
        if note := _uncounted_grader_note(grader_prov, scorer, measured, count_unmeasured_grader):
            console.print(f"  {note}", markup=False, highlight=False)
    if s.analyze is not None:
        akw: dict[str, Any] = {}
        if robustness:
            akw["judge"] = judge_kind
            if judge_prov is not None:
                akw["judge_provider"] = judge_prov
                akw["judge_suites"] = judge_suites
                akw["run_kwargs"] = remaining()
            akw["provenance"] = {
                "suite": suite,
                "mitigation": mitigation,
                "seed": seed,
                "limit": limit,
                "scorer": scorer,
                "answer_format": answer_format,
                "cost_usd": summ["cost_usd"],
                "cost_known": summ["cost_known"],
                "cost_unknown_answers": summ["cost_unknown_answers"],
                **policy_provenance(measured, count_unmeasured_grader),
            }
        result = s.analyze(records, Path(out_dir), **akw)
        if suite in ("multilingual", "noisy", "all"):
            console.print(
                f"  summary -> {Path(out_dir) / 'summary.json'}, report -> {Path(out_dir) / 'report.md'}"
            )
        if isinstance(result, dict):
            headline = {k: v for k, v in result.items() if isinstance(v, int | float | str) or v is None}
            console.print(  # keys like "suite:cell[none]" are text, not rich markup
                "  "
                + "  ".join(
                    f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in headline.items()
                ),
                markup=False,
            )
    if stats.all_failed:
        raise typer.Exit(1)


def llm_grader_check(
    provider: Annotated[str, typer.Option(help="anthropic | local")] = "anthropic",
    model: Annotated[
        str | None, typer.Option(help="The grader's model id; default depends on the provider.")
    ] = None,
    table: Annotated[
        Path | None,
        typer.Option(help="Labelled replies (JSONL; default datasets/llm_eval/labelled_replies.jsonl)."),
    ] = None,
    second_model: Annotated[
        str | None, typer.Option(help="A second grader (same provider); the report adds Cohen's kappa.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output dir (default runs/llm_eval/grader_check_PROVIDER_MODEL).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="API base URL (also ANTHROPIC_BASE_URL).", envvar="ANTHROPIC_BASE_URL")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Max concurrent requests.")] = 8,
    cost_limit: Annotated[
        float | None, typer.Option(min=0.0, help="Stop sending requests once this many USD are spent.")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the response cache.")
    ] = False,
    prices: Annotated[
        Path | None, typer.Option(help="JSON/YAML price table {model: {input, output}} in $/MTok.")
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Anthropic: per-request timeout (s).")] = 60.0,
    max_retries: Annotated[int, typer.Option(min=0, help="Anthropic SDK retries per attempt.")] = 4,
    api_key_block: Annotated[
        str | None,
        typer.Option(
            help="Prefect Secret block holding the key, if ANTHROPIC_API_KEY is unset.",
            envvar="FLATBENCH_API_KEY_BLOCK",
        ),
    ] = None,
) -> None:
    """Measure the model grader on labelled replies: false accepts and false rejects (95% CIs) per
    language group; writes DIR/grader_check.json (pass it to `llm-eval --grader-check`)."""
    from rich.console import Console

    from flows.cli_common import check_choice, check_out_dir
    from llm_eval.grader_check import render_check, run_grader_check
    from llm_eval.pricing import load_prices
    from llm_eval.providers import PROVIDERS, make_provider
    from llm_eval.providers.anthropic import validate_base_url
    from llm_eval.runner import EndpointUnreachable
    from llm_eval.types import ProviderError

    console = Console(soft_wrap=True)
    check_out_dir(out)
    check_choice(provider, PROVIDERS, "provider")
    if table is not None and not table.is_file():
        raise typer.BadParameter(
            f"no such file: {table}; give a JSONL table of labelled replies", param_hint="--table"
        )
    if provider == "anthropic" and base_url:
        try:
            validate_base_url(base_url)
        except ValueError as exc:
            raise typer.BadParameter(
                str(exc).replace("`base_url`", "`--base-url`"), param_hint="--base-url"
            ) from None
    kw: dict[str, Any] = {}
    if provider == "anthropic":
        kw = {"api_key": resolve_api_key(api_key_block), "timeout_s": timeout, "max_retries": max_retries,
              "prices": load_prices(prices)}  # fmt: skip
    try:
        first = make_provider(provider, model=model, base_url=base_url, **kw)
        second = (
            make_provider(provider, model=second_model, base_url=base_url, **kw) if second_model else None
        )
    except (ProviderError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--provider") from None
    out_dir = out or DEFAULT_OUT_ROOT / f"grader_check_{provider}_{first.model}".replace("/", "_")
    run_kwargs = {"concurrency": concurrency, "use_cache": not no_cache, "cost_limit": cost_limit}
    try:
        check = run_grader_check(first, out_dir, table=table, second=second, run_kwargs=run_kwargs)
    except EndpointUnreachable as exc:
        _error(console, str(exc))
        raise typer.Exit(1) from None
    console.print(render_check(check), markup=False, highlight=False)
    console.print(f"-> {Path(out_dir) / 'grader_check.json'}", markup=False, highlight=False)
    if check.verdicts.get("failed", 0) == check.overall.n:
        _error(console, "every grading request failed: nothing was measured")
        raise typer.Exit(1)
    if not check.measured:
        counts = ", ".join(f"{k} {v}" for k, v in check.verdicts.items())
        _error(
            console,
            f"no labelled reply got a CORRECT or INCORRECT verdict ({counts}): nothing was measured; the "
            f"grader must reply with one word, CORRECT, INCORRECT or UNSURE (its replies: {out_dir})",
        )
        raise typer.Exit(1)


def _uncounted_grader_note(
    grader: Any, scorer: str, check: dict[str, Any] | None, count_unmeasured: bool
) -> str | None:
    """Why the grader's verdicts will be kept but not counted, and how to count them, by the policy's own
    reason (the one the summary and report state); None when they count."""
    from llm_eval.grader_policy import COUNTED_REASONS, GraderPolicy, policy_provenance

    grader_id = f"{grader.name}:{grader.model}"
    policy = GraderPolicy.from_provenance({"scorer": scorer, **policy_provenance(check, count_unmeasured)})
    reason = policy.reason(grader_id)
    if reason in COUNTED_REASONS:
        return None
    if reason == "rule-scorer":
        return "its verdicts are kept but not counted (the scorer is `rule`): pass --scorer auto or model"
    why = {
        "measured-nothing": f"the grader check given got no CORRECT or INCORRECT verdict from {grader_id}",
        "other-grader": f"the grader check given measured {', '.join(policy.measured) or 'nothing'}, "
        f"not {grader_id}",
        "unmeasured": "the grader is unmeasured",
    }[reason]
    return (
        f"its verdicts are kept but not counted ({why}): run `flatbench llm-grader-check "
        f"--provider {grader.name} --model {grader.model}` and pass --grader-check, "
        "or pass --count-unmeasured-grader"
    )


def _error(console: Any, message: str) -> None:
    from rich.markup import escape

    console.print("[red]error:[/]", escape(message), highlight=False)


def says_what_was_kept(fn: F) -> F:
    """A signal while the grader or the judge sends requests ends the command like one during the answers:
    one line saying what was kept, and the signal's exit code (130 for Ctrl-C), not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt as exc:
            from llm_eval.runner import Interrupted

            if not isinstance(exc, Interrupted):
                raise
            typer.echo(str(exc))
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the top-level app."""
    from flows.cli_common import friendly_errors

    app.command("llm-eval")(friendly_errors(says_what_was_kept(llm_eval)))
    app.command("llm-grader-check")(friendly_errors(llm_grader_check))
