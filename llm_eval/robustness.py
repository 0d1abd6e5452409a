"""The study's Part B stress tests as registered suites: "multilingual", "noisy" and "all".

A suite is items x conditions (or perturbations) x mitigations -> Samples; every suite's analysis
hook is :func:`llm_eval.analysis.analyze` (scoring, statistics and the report). Sample ids are
``f"{item_id}|{condition}|{variant}|{mitigation}"``; ``item_id`` pairs every variant with its clean
twin, and mitigation "both" runs "none" and "pin" on the SAME items (a paired before/after).
The mitigation prompts are verbatim from the study (../shared/STUDY.md, Part B).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llm_eval.items import MULTILINGUAL_CONDITIONS, load_multilingual, load_noisy
from llm_eval.perturb import KINDS, LEVELS, RATES, PerturbResult, perturb_with_stats
from llm_eval.suites import register_suite
from llm_eval.types import Record, Request, Sample

__all__ = [
    "LANGUAGE_PIN_PROMPT",
    "NOISE_PROMPT",
    "TARGET_LANGUAGE",
    "all_suites",
    "mitigations",
    "multilingual",
    "noisy",
]

# Study B1, verbatim; {target_language} is filled per condition from TARGET_LANGUAGE.
LANGUAGE_PIN_PROMPT = (
    "You must respond ONLY in {target_language}. If unsure about any term, respond with 'UNSURE' "
    "rather than switching languages. Maintain the exact language/dialect requested."
)
# Study B2, verbatim.
NOISE_PROMPT = (
    "IMPORTANT: The input may contain typos, unusual spacing, Unicode variants, or emoji. Mentally "
    "normalize these issues and focus on the semantic intent of the question. Ignore decorative "
    "elements. Provide ONLY the direct answer in standard format."
)
TARGET_LANGUAGE = {
    "en": "English",
    "hi": "Hindi (Devanagari script)",
    "hinglish": "Hinglish (romanized Hindi written in Latin script)",
    "cs": "code-switched Hindi-English (Hinglish), mixing Hindi and English as the question does",
}


def mitigations(mitigation: str) -> tuple[str, ...]:
    """ "both" = before and after on the same items."""
    return ("none", "pin") if mitigation == "both" else (mitigation,)


def _sample(
    item_id: str, cond: str, variant: str, mit: str, text: str, system: str | None, meta: dict[str, Any]
) -> Sample:
    return Sample(
        id=f"{item_id}|{cond}|{variant}|{mit}",
        item_id=item_id,
        condition=cond,
        variant=variant,
        request=Request(messages=[{"role": "user", "content": text}], system=system),
        meta={**meta, "mitigation": mit},
    )


def _analyze(records: list[Record], out_dir: Path, **kw: Any) -> dict[str, Any]:
    from llm_eval.analysis import analyze  # lazy: scipy/jinja only when a run is analysed

    return analyze(records, out_dir, **kw)


@register_suite(
    "multilingual", analyze=_analyze, description="B1: en / hi / hinglish / code-switch, language pinning"
)
def multilingual(mitigation: str, seed: int) -> list[Sample]:
    """Every item in all four conditions; "pin" adds the language-pinning system prompt."""
    items = load_multilingual()
    return [
        _sample(
            it.id,
            cond,
            "clean",
            mit,
            it.question[cond],
            LANGUAGE_PIN_PROMPT.format(target_language=TARGET_LANGUAGE[cond]) if mit == "pin" else None,
            {
                "suite": "multilingual",
                "gold": list(it.answers),
                "answer_type": it.answer_type,
                "answer_class": it.answer_class,
                "expected_language": it.expected_language[cond],
                "item_set_sha256": items.sha256,
            },
        )
        for it in items.items  # item-major: `--limit N` keeps whole items (all cells, both mitigations)
        for mit in mitigations(mitigation)
        for cond in MULTILINGUAL_CONDITIONS
    ]


@register_suite(
    "noisy",
    analyze=_analyze,
    description="B2: typos / spacing / confusables / fullwidth / zero_width / emoji / mixed, light+heavy",
)
def noisy(mitigation: str, seed: int) -> list[Sample]:
    """Clean twin + each noise kind at each level (seeded by (seed, item id)); gold never perturbed."""
    items = load_noisy()
    variants = [("clean", "clean")] + [(k, lv) for k in KINDS for lv in LEVELS]
    out = []
    for it in items.items:
        drawn = {
            (kind, level): PerturbResult(it.question, attempts=0)
            if kind == "clean"
            else perturb_with_stats(it.question, kind, level, seed=seed, item_id=it.id)
            for kind, level in variants
        }
        for mit in mitigations(mitigation):
            for (kind, level), res in drawn.items():
                meta = {
                    "suite": "noisy",
                    "gold": list(it.answers),
                    "answer_type": it.answer_type,
                    "answer_class": it.answer_class,
                    "entities": list(it.entities),
                    "clean_question": it.question,
                    "expected_language": "en",
                    "seed": seed,
                    "rate": RATES.get(kind, {}).get(level),
                    "perturb_attempts": res.attempts,  # draws until the variant differed from the clean text
                    "item_set_sha256": items.sha256,
                }
                system = NOISE_PROMPT if mit == "pin" else None
                out.append(_sample(it.id, kind, level, mit, res.text, system, meta))
    return out


@register_suite("all", analyze=_analyze, description="multilingual + noisy")
def all_suites(mitigation: str, seed: int) -> list[Sample]:
    return multilingual(mitigation, seed) + noisy(mitigation, seed)
