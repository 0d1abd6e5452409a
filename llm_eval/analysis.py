"""Records -> scored samples -> summary -> summary.json + report.md: the suites' analysis hook.

Each step is its own module: :mod:`llm_eval.scored` scores every record, :mod:`llm_eval.summary`
computes the statistics, taxonomy and failure cases (its docstring states the conventions), and
:mod:`llm_eval.report` formats and renders report.md. Here: the optional model judge's fluency
scores and :func:`analyze`, which runs the steps and writes both files.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from flatlora.bench.atomic import atomic_write_text
from llm_eval.judge import judge_info, judge_samples, parse_score
from llm_eval.report import render_report
from llm_eval.scored import SUITE_ORDER
from llm_eval.summary import build_summary, headline
from llm_eval.types import Provider, Record

__all__ = ["analyze"]


def _model_fluency(
    records: Sequence[Record],
    provider: Provider,
    out_dir: Path,
    run_kwargs: dict[str, Any] | None,
    judge_suites: Collection[str] | None = None,
    counts: dict[str, int] | None = None,
) -> dict[str, int | None]:
    """Fluency from a model judge: its requests run through run_samples into out_dir/judge/.

    Only records of ``judge_suites`` (default: every suite) are judged; ``counts`` receives how many
    replies were unparseable (not in the constrained format) and how many judge requests failed."""
    from llm_eval.runner import run_samples

    suites = SUITE_ORDER if judge_suites is None else tuple(judge_suites)
    robust = [r for r in records if r.meta.get("suite") in SUITE_ORDER and r.meta.get("suite") in suites]
    expected = {r.sample_id: str(r.meta.get("expected_language", "en")) for r in robust}
    samples = judge_samples(robust, expected)
    kw = {"progress": False, **(run_kwargs or {})}
    judged = run_samples(samples, provider, out_dir / "judge", **kw)
    by_id = {j.meta.get("judged_sample_id"): j for j in judged}
    scores: dict[str, int | None] = {}
    for r in robust:
        if r.error is not None:
            continue
        if not (r.response_text or "").strip():
            scores[r.sample_id] = 1  # rubric: empty -> 1, no request needed
            continue
        j = by_id.get(r.sample_id)
        scores[r.sample_id] = parse_score(j.response_text) if j is not None and j.error is None else None
        if counts is not None and scores[r.sample_id] is None:
            key = "n_unparseable" if j is not None and j.error is None else "n_failed"
            counts[key] = counts.get(key, 0) + 1
    return scores


def analyze(
    records: list[Record],
    out_dir: str | Path,
    *,
    judge: str = "heuristic",
    judge_provider: Provider | None = None,
    run_kwargs: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    write: bool = True,
    judge_suites: Collection[str] | None = None,
) -> dict[str, Any]:
    """The suites' analysis hook: writes summary.json and report.md, returns headline accuracies.

    ``judge_suites`` limits the model judge to those suites (the CLI's default: the suites whose
    report uses fluency); records of the other suites get no fluency score."""
    if judge not in ("heuristic", "provider"):
        raise ValueError(f"`judge` must be heuristic|provider, got {judge!r}")
    if judge == "provider" and judge_provider is None:
        raise ValueError("`judge_provider` is required when judge='provider'")
    out = Path(out_dir)
    jcounts: dict[str, int] = {"n_unparseable": 0, "n_failed": 0}
    fluency = (
        _model_fluency(records, judge_provider, out, run_kwargs, judge_suites, jcounts)  # type: ignore[arg-type]
        if judge == "provider"
        else None
    )
    jinfo = judge_info(judge, judge_provider)
    if fluency is not None:
        jinfo["n_scored"] = sum(v is not None for v in fluency.values())
        jinfo["n_unparsed_or_failed"] = sum(v is None for v in fluency.values())
        jinfo.update(jcounts)
        if judge_suites is not None:
            jinfo["suites"] = sorted(judge_suites)
    summary = build_summary(records, fluency=fluency, judge=jinfo, provenance=provenance)
    if write:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(out / "report.md", render_report(summary))
    return headline(summary)
