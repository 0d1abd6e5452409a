"""The sanity flow (deployment ``sanity``, CPU pool): wraps ``flatlora.bench.sanity.run_sanity``, the honest
exact-match check that training actually teaches SmolLM2 the toy "repeat" task (the study's Q3 harness
reported accuracy 1.0 for a model that only echoed its input)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows.choices import PositiveInt, SanityMethod
from reports.markdown import md_escape


@task(name="sanity-run", retries=1, retry_condition_fn=lambda t, r, s: False)  # deterministic: never retried
def sanity_task(
    out: str | None, methods: list[str], epochs: int | None, max_test: int | None
) -> dict[str, Any]:
    from flatlora.bench.sanity import SanityConfig, run_sanity

    kw: dict[str, Any] = {"methods": tuple(methods)}
    if epochs is not None:
        kw["epochs"] = epochs
    if max_test is not None:
        kw["max_test"] = max_test
    res = run_sanity(out=out, cfg=SanityConfig(**kw), progress=False)
    return {**res.to_dict(), "summary": res.summary()}


@flow(name="sanity", log_prints=True)
def sanity(
    out: str | None = "runs/sanity",
    methods: list[SanityMethod] | None = None,
    epochs: PositiveInt | None = None,
    max_test: PositiveInt | None = None,
) -> dict[str, Any]:
    res = sanity_task(out, list(methods or ["lora", "flat_lora"]), epochs, max_test)
    rows = [f"| {md_escape(m)} | {r['exact_match']:.3f} | {r['n_test']} |" for m, r in res["methods"].items()]
    create_markdown_artifact(
        key="sanity",
        markdown="\n".join(
            [
                f"**{md_escape(res['summary'])}**",
                "",
                "| Method | Exact match | n |",
                "|---|---|---|",
                f"| baseline | {res['baseline']['exact_match']:.3f} | {res['baseline']['n_test']} |",
                *rows,
            ]
        ),
    )
    print(res["summary"])
    return res
