"""The LLM robustness flow: build samples -> run them -> analyse -> publish report.md as an artifact.

Deployed as ``llm-robustness`` (prefect.yaml, entrypoint flows/llm_robustness.py:llm_robustness).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.choices import (
    AnswerFormat,
    Judge,
    Mitigation,
    PositiveFloat,
    PositiveInt,
    Provider,
    ResumeMode,
    Scorer,
    Suite,
)
from flows.worker_exit import adopt_output, orphan_note, orphaned
from llm_eval.grader import resolve_scorer
from llm_eval.grader_check import load_check
from llm_eval.grader_policy import policy_provenance
from llm_eval.judge import resolve_judge
from tasks.llm import (
    analyze_task,
    build_samples_task,
    grade_task,
    publish_report_task,
    require_api_key,
    run_samples_task,
)


@flow(name="llm-robustness", log_prints=True)
def llm_robustness(
    suite: Suite = "all",
    provider: Provider = "local",
    model: str | None = None,
    mitigation: Mitigation = "both",
    out: str | None = None,
    seed: int = 0,
    limit: PositiveInt | None = None,
    judge: Judge = "auto",
    base_url: str | None = None,
    concurrency: PositiveInt = 8,
    cost_limit: PositiveFloat | None = None,
    max_new_tokens: PositiveInt = 128,
    publish: bool = True,
    resume: ResumeMode = "rerun",
    prices: str | None = None,
    scorer: Scorer = "auto",
    grader_model: str | None = None,
    answer_format: AnswerFormat = "plain",
    api_key_block: str | None = None,
    grader_check: str | None = None,
    count_unmeasured_grader: bool = False,
) -> dict[str, Any]:
    """Returns {out, summary, report, artifact, headline}. judge "auto": a model judge (same provider)
    only for the suites whose report uses fluency (multilingual), none for local; "provider": all.
    scorer "auto": a grader model for the samples the rules leave unresolved (none for local); its
    verdicts count only when `grader_check` (a `flatbench llm-grader-check` result) measured that
    grader, or with `count_unmeasured_grader`, as with `flatbench llm-eval`.
    The Anthropic key: ANTHROPIC_API_KEY where the flow runs, else the Prefect Secret block named by
    `api_key_block` (or FLATBENCH_API_KEY_BLOCK); checked before anything runs."""
    scorer = resolve_scorer(scorer, provider)
    measured = load_check(grader_check) if grader_check else None  # a bad check stops the flow here
    log = get_run_logger()
    out_dir = str(Path(out or Path("runs") / "llm_eval" / f"{suite}_{provider}_{mitigation}").resolve())
    adopt_output(Path(out_dir) / f"flow-run-{flow_run.get_id()}.log")
    api_key_block = api_key_block or os.environ.get("FLATBENCH_API_KEY_BLOCK") or None
    if provider == "anthropic":
        require_api_key(api_key_block)  # a missing key stops the flow here, not after retries
    samples = build_samples_task(suite, mitigation, seed, limit, answer_format)
    run_samples_task(
        samples,
        provider,
        model,
        base_url,
        out_dir,
        seed=seed,
        concurrency=concurrency,
        cost_limit=cost_limit,
        max_new_tokens=max_new_tokens,
        resume=resume,
        prices=prices,
        api_key_block=api_key_block,
    )
    if scorer in ("model", "auto"):
        grade_task(
            out_dir,
            [s.id for s in samples],
            provider=provider,
            model=grader_model or model,
            base_url=base_url,
            concurrency=concurrency,
            cost_limit=cost_limit,
            prices=prices,
            only_unresolved=scorer == "auto",
            api_key_block=api_key_block,
        )
    use_judge, judge_suites = resolve_judge(
        judge, provider, sorted({str(s.meta.get("suite")) for s in samples})
    )
    headline = analyze_task(
        out_dir,
        [s.id for s in samples],
        judge=use_judge,
        judge_suites=list(judge_suites) if judge_suites is not None else None,
        provider=provider,
        model=model,
        base_url=base_url,
        concurrency=concurrency,
        prices=prices,
        api_key_block=api_key_block,
        provenance={
            "suite": suite,
            "mitigation": mitigation,
            "seed": seed,
            "limit": limit,
            "scorer": scorer,
            "answer_format": answer_format,
            "orchestrator": "prefect flow llm-robustness",
            **policy_provenance(measured, count_unmeasured_grader),
        },
    )
    report = str(Path(out_dir) / "report.md")
    key = publish_report_task(report) if publish else None
    if (lost := orphaned()) is not None:
        log.warning(orphan_note(lost))
    log.info("llm-robustness %s: %s", suite, headline)
    return {
        "out": out_dir,
        "summary": str(Path(out_dir) / "summary.json"),
        "report": report,
        "artifact": key,
        "headline": headline,
    }


if __name__ == "__main__":
    llm_robustness()
