"""Statistics wiring against known values, taxonomy rules, judge parsing and the model-judge path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scipy import stats as st

from llm_eval.judge import heuristic_fluency, parse_score
from llm_eval.langid import detect
from llm_eval.report import render_report
from llm_eval.scored import score_records
from llm_eval.summary import build_summary
from llm_eval.taxonomy import classify_multilingual, classify_noisy
from llm_eval.types import Record, Request, Response, Usage

GOLD = ["Paris", "पेरिस"]


def rec(item: str, cond: str, text: str | None, *, mit: str = "none", suite: str = "multilingual",
        error: str | None = None, variant: str = "clean", **meta: Any) -> Record:  # fmt: skip
    return Record(
        sample_id=f"{item}|{cond}|{variant}|{mit}", item_id=item, condition=cond, variant=variant,
        provider="fake", model="fake-1", params={"temperature": 0.2, "max_tokens": 512}, system=None,
        messages=[{"role": "user", "content": f"q {item}"}], response_text=None if error else text,
        usage=Usage(5, 3), error=error,
        meta={"suite": suite, "mitigation": mit, "gold": GOLD, "expected_language": "en",
              "item_set_sha256": "abc", **meta},
    )  # fmt: skip


def cell(summary: dict, suite: str, cond: str, mit: str = "none", variant: str = "clean") -> dict:
    return next(
        c for c in summary["suites"][suite]["cells"]
        if (c["condition"], c["variant"], c["mitigation"]) == (cond, variant, mit)
    )  # fmt: skip


def known_run() -> list[Record]:
    """20 items. en: 15/20 right. hi: both right 0-6, only en right 7-14 (8), only hi right 15-16 (2),
    UNSURE on 17. hinglish/cs: same as en. Plus one provider error in en."""
    out = []
    for i in range(20):
        it = f"i{i:02d}"
        en_ok = i < 15
        hi_ok = i < 7 or i in (15, 16)
        out.append(rec(it, "en", "Paris" if en_ok else "London"))
        out.append(rec(it, "hi", "UNSURE" if i == 17 else ("Paris" if hi_ok else "London")))
        out.append(rec(it, "hinglish", "Paris" if en_ok else "London"))
        out.append(rec(it, "cs", "Paris" if en_ok else "London"))
        # mitigation: en after pinning fixes 6 of the 5 wrong + ... (b=5, c=0 on items 15-19)
        out.append(rec(it, "en", "Paris", mit="pin"))
    out.append(rec("i20", "en", None, error="HTTP 500: server error"))
    return out


def test_wilson_ci_known_value() -> None:
    s = build_summary(known_run())
    c = cell(s, "multilingual", "en")
    assert (c["n_total"], c["n_errors"], c["n"], c["n_correct"]) == (21, 1, 20, 15)
    # Wilson 95% for 15/20, hand-computed: (0.75 + z²/40 ± z·sqrt(0.75·0.25/20 + z²/1600)) / (1 + z²/20)
    assert c["ci_low"] == pytest.approx(0.5313, abs=5e-4)
    assert c["ci_high"] == pytest.approx(0.8881, abs=5e-4)
    assert c["accuracy"] == 0.75


def test_unsure_counted_separately() -> None:
    c = cell(build_summary(known_run()), "multilingual", "hi")
    assert (c["n"], c["n_correct"], c["n_unsure"], c["n_wrong"]) == (20, 9, 1, 10)
    assert c["selective_accuracy"] == pytest.approx(9 / 19)


def test_mcnemar_and_paired_diff_known_table() -> None:
    s = build_summary(known_run())
    comps = {r["target"]: r for r in s["suites"]["multilingual"]["comparisons"]}
    hi = comps["Hindi, Devanagari (L2)"]
    assert hi["n_pairs"] == 20  # the errored en item has no hi twin -> not paired
    assert (hi["mcnemar_b"], hi["mcnemar_c"]) == (2, 8)
    assert hi["p"] == pytest.approx(112 / 1024)  # 2 * P(X <= 2), X ~ Bin(10, 1/2)
    assert hi["diff"] == pytest.approx(-0.30)
    lo, up = hi["diff_ci"]
    assert lo < -0.30 < up and lo >= -1 and up <= 1
    # Holm over the three condition comparisons: [0.109, 1, 1] -> [0.328, 1, 1]
    assert hi["p_holm"] == pytest.approx(3 * 112 / 1024)
    assert comps["Code-switch (CS)"]["p_holm"] == 1.0


def test_before_after_mitigation() -> None:
    rows = build_summary(known_run())["suites"]["multilingual"]["mitigation"]
    en = next(r for r in rows if r["condition"] == "en")
    assert (en["mcnemar_b"], en["mcnemar_c"], en["n_pairs"]) == (5, 0, 20)
    assert en["p"] == pytest.approx(2 / 32)  # 2 * 0.5**5
    assert en["acc_base"] == 0.75 and en["acc_target"] == 1.0


def test_fluency_wilcoxon_matches_scipy() -> None:
    records = known_run()
    flu = {r.sample_id: (5 if r.condition == "en" else 2 + int(r.item_id[1:]) % 3) for r in records}
    s = build_summary(records, fluency=flu)
    hi = next(r for r in s["suites"]["multilingual"]["comparisons"] if r["condition"] == "hi")
    x = [2 + i % 3 for i in range(20)]
    assert hi["fluency_p"] == pytest.approx(st.wilcoxon(x, [5] * 20).pvalue)
    assert cell(s, "multilingual", "en")["fluency_mean"] == 5.0


def test_noisy_cells_and_taxonomy() -> None:
    recs = []
    for i in range(6):
        it = f"n{i}"
        kw = {"suite": "noisy", "entities": ["France"]}
        recs.append(rec(it, "clean", "Paris", **kw))
        r = rec(it, "typos", "Berlin", variant="heavy", **kw)
        r.messages = [{"role": "user", "content": "Waht is teh captial of Frnace?"}]
        recs.append(r)
    s = build_summary(recs)
    assert cell(s, "noisy", "typos", variant="heavy")["accuracy"] == 0.0
    comp = s["suites"]["noisy"]["comparisons"][0]
    assert (comp["mcnemar_c"], comp["p"]) == (6, pytest.approx(2 / 64))
    tax = {c["category"]: c for c in s["suites"]["noisy"]["taxonomy"]["none"]["categories"]}
    assert tax["entity misrecognition"]["count"] == 6 and tax["entity misrecognition"]["pct"] == 100.0
    fc = s["suites"]["noisy"]["failure_cases"]
    assert len(fc) == 3 and fc[0]["diagnosis"].startswith("entity misrecognition")
    assert fc[0]["gold"] == GOLD and fc[0]["prediction"] == "Berlin"


def test_summary_is_json_safe_and_has_provenance() -> None:
    import json

    s = build_summary([rec("a", "en", "Paris")])  # one cell: no comparisons, no NaN in the JSON
    json.dumps(s, allow_nan=False)
    p = s["provenance"]
    assert (
        p["providers"] == ["fake"]
        and p["models"] == ["fake-1"]
        and p["item_sets"] == {"multilingual": ["abc"]}
    )
    assert p["decoding"] == [{"max_tokens": 512, "temperature": 0.2}] and p["judge"]["name"] == "heuristic-v1"


@pytest.mark.parametrize(
    ("response", "expected", "category"),
    [
        ("UNSURE", "hi", "refusal/UNSURE"),
        ("", "hi", "format"),
        ("The capital of France is Berlin, a city in Germany.", "hi", "script issue"),
        ("फ्रांस की राजधानी बर्लिन है", "hinglish", "script issue"),
        ("The capital of France is definitely Berlin, I think.", "cs", "unintended language shift"),
        ("Paris Hilton", "en", "wrong fact"),  # no: 'paris' is a gold word -> near miss
        ("Berlin", "en", "wrong fact"),
    ],
)
def test_multilingual_taxonomy_rules(response: str, expected: str, category: str) -> None:
    gold = ["Paris", "पेरिस"] if response != "Paris Hilton" else ["Paris France"]
    got, _ = classify_multilingual(response, gold, expected, detect(response))
    want = "literal translation/terminology drift" if response == "Paris Hilton" else category
    assert got == want


def test_delhi_is_a_near_miss() -> None:
    got, reason = classify_multilingual("Delhi", ["New Delhi", "नई दिल्ली"], "en", detect("Delhi"))
    assert got == "literal translation/terminology drift" and "delhi" in reason


@pytest.mark.parametrize(
    ("response", "prompt", "category"),
    [
        ("", "What is the capital of France?", "incomplete/parse failure"),
        ("Could you clarify the question?", "Waht is teh capital?", "incomplete/parse failure"),
        ("Ｂｅｒｌｉｎ", "What is the capital of France?", "encoding issue"),
        ("Bеrlin", "What is the capital of France?", "encoding issue"),  # Cyrillic е
        ("🔥 Berlin", "🔥 What is the capital of France?", "emoji interference"),
        ("That emoji means fire.", "🔥 What is the capital of France?", "emoji interference"),
        ("Berlin", "What is the capital of Frаnce?", "entity misrecognition"),  # Cyrillic а in prompt
        ("Berlin", "What is the capital of France?", "semantic drift"),
        ("I don't know.", "What is the capital of France?", "refusal/UNSURE"),
    ],
)
def test_noisy_taxonomy_rules(response: str, prompt: str, category: str) -> None:
    assert classify_noisy(response, ["Paris"], ["France"], prompt)[0] == category


@pytest.mark.parametrize(
    ("reply", "score"),
    [("Score: 4", 4), ("score=2", 2), ("**Score:** 5", 5), ("I'd give it 3/5.", None), ("Great!", None),
     ("Score: 9", None), ("", None), (None, None)],
)  # fmt: skip
def test_parse_score(reply: str | None, score: int | None) -> None:
    assert parse_score(reply) == score


def test_heuristic_fluency() -> None:
    assert heuristic_fluency("The capital of France is Paris.", "en") == 5
    assert heuristic_fluency("The capital of France is Paris, a lovely city.", "hi") == 2
    assert heuristic_fluency("", "en") == 1
    assert heuristic_fluency("Paris is is Paris is is " * 10, "en") == 3


class ScoreProvider:
    """A fake judge: answers 'Score: 4' to every request."""

    name = "fake-judge"
    model = "fj-1"

    def __init__(self) -> None:
        self.requests: list[Request] = []

    async def generate(self, request: Request) -> Response:
        self.requests.append(request)
        return Response(text="Score: 4", usage=Usage(10, 2), model=self.model)

    def should_retry(self, exc: BaseException) -> bool:
        return False


def test_model_judge_runs_through_run_samples(tmp_path: Path) -> None:
    from llm_eval.analysis import analyze

    records = [rec("a", "en", "Paris"), rec("b", "en", ""), rec("c", "en", None, error="boom")]
    judge = ScoreProvider()
    analyze(records, tmp_path, judge="provider", judge_provider=judge, run_kwargs={"use_cache": False})
    assert len(judge.requests) == 1  # empty responses get 1 without a request; errors are skipped
    assert (tmp_path / "judge" / "responses.jsonl").exists()
    assert judge.requests[0].system and "Score: N" in judge.requests[0].system
    scored = {s.record.sample_id: s.fluency for s in score_records(records, {"a|en|clean|none": 4})}
    assert scored["a|en|clean|none"] == 4
    import json

    summ = json.loads((tmp_path / "summary.json").read_text())
    assert summ["provenance"]["judge"]["name"] == "fake-judge:fj-1"
    assert cell(summ, "multilingual", "en")["fluency_mean"] == 2.5  # (4 + 1) / 2


def test_analyze_rejects_bad_judge(tmp_path: Path) -> None:
    from llm_eval.analysis import analyze

    with pytest.raises(ValueError, match="`judge` must be heuristic\\|provider, got 'gpt'"):
        analyze([], tmp_path, judge="gpt")
    with pytest.raises(ValueError, match="`judge_provider` is required"):
        analyze([], tmp_path, judge="provider")


def test_truncation_uses_the_provider_cap_and_ranks_below_encoding() -> None:
    r = rec("t", "clean", "Paris is is Paris", suite="noisy", variant="clean")
    r.params = {"max_tokens": 512, "max_new_tokens": 8}
    r.usage = Usage(5, 8)
    r.meta["gold"] = ["Lyon"]
    (s,) = score_records([r])
    assert s.truncated and s.category == "incomplete/parse failure" and "truncated" in s.reason
    assert classify_noisy("The ｉ｢｢｢", ["Paris"], ["France"], "capital of France?", truncated=True)[0] == (
        "encoding issue"
    )


def test_provenance_decoding_collapses_per_request_seeds() -> None:
    """A local provider records a derived seed per request: the report lists the settings once."""
    from dataclasses import replace

    records = [
        replace(
            rec(f"m{i}", "en", "New Delhi"), params={"temperature": 0.2, "max_tokens": 512, "seed": 1000 + i}
        )
        for i in range(5)
    ]
    decoding = build_summary(records, judge="heuristic")["provenance"]["decoding"]
    assert decoding == [{"max_tokens": 512, "seed": "per request", "temperature": 0.2}]


def test_stop_reason_decides_truncation_and_legacy_records_fall_back() -> None:
    capped = rec("a", "en", "Paris is the", variant="clean")
    capped.stop_reason = "max_tokens"  # type: ignore[attr-defined]
    done = rec("b", "en", "Paris.")
    done.stop_reason = "end_turn"  # type: ignore[attr-defined]
    done.usage = Usage(5, 512)  # at the cap, but the provider says it ended: not truncated
    legacy = rec("c", "en", "Paris")
    legacy.usage = Usage(5, 512)  # no stop reason: output tokens >= max_tokens -> truncated
    by_id = {s.record.item_id: s.truncated for s in score_records([capped, done, legacy])}
    assert by_id == {"a": True, "b": False, "c": True}
    c = cell(build_summary([capped, done, legacy]), "multilingual", "en")
    assert c["n_truncated"] == 2 and c["truncated_share"] == pytest.approx(2 / 3) and c["n_stop_reason"] == 2


def test_levenshtein_known_values() -> None:
    from llm_eval.scored import levenshtein

    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3 and levenshtein("same", "same") == 0
    assert levenshtein("Paris", "Pa\u200bris") == 1  # an invisible character is one code point


def test_noisy_cells_count_changed_variants_from_the_recorded_prompts() -> None:
    clean_q = "What is the capital of France?"
    rows = []
    for i, prompt in enumerate([clean_q, "What is teh capital of France?", "Whta is the capital of Frnace?"]):
        r = rec(f"n{i}", "typos", "Paris", suite="noisy", variant="light", clean_question=clean_q)
        r.messages = [{"role": "user", "content": prompt}]
        rows.append(r)
    rows.append(rec("n0", "clean", "Paris", suite="noisy", clean_question=clean_q))
    c = cell(build_summary(rows), "noisy", "typos", variant="light")
    assert (c["n_variants"], c["n_changed"]) == (3, 2)
    assert c["mean_edit_distance"] == pytest.approx((0 + 2 + 4) / 3)
    report = render_report(build_summary(rows))
    assert "| typos / light | 3 | 0/3 (0%) | 100.0% – 100.0% | 2/3 | 2.0 | 0/3 (0%) |" in report


def test_rule_vs_model_grader_agreement() -> None:
    from sklearn.metrics import cohen_kappa_score

    texts = ["Paris", "Paris", "Paris", "London", "London", "London", "Paris", "London"]
    verdicts = [
        "correct",
        "correct",
        "incorrect",
        "incorrect",
        "incorrect",
        "correct",
        "unsure",
        "unparseable",
    ]
    rows = []
    for i, (t, v) in enumerate(zip(texts, verdicts, strict=True)):
        r = rec(f"g{i}", "en", t)
        r.model_grade = {"verdict": v, "model": "grader-1", "raw": v}  # type: ignore[attr-defined]
        rows.append(r)
    ga = build_summary(rows)["suites"]["multilingual"]["grader_agreement"]
    assert (ga["n_graded"], ga["n_compared"], ga["n_unsure"], ga["n_unparseable"]) == (8, 6, 1, 1)
    assert ga["agreement"] == pytest.approx(4 / 6)
    rule, model = [True, True, True, False, False, False], [True, True, False, False, False, True]
    assert ga["kappa"] == pytest.approx(cohen_kappa_score(rule, model))
    report = render_report(build_summary(rows))
    assert "Rule scorer vs model grader" in report and "grader-1" in report
    assert build_summary([rec("x", "en", "Paris")])["suites"]["multilingual"]["grader_agreement"] is None


@pytest.mark.parametrize(
    ("mits", "claim", "absent"),
    [
        (("none",), "Mitigation: none (`--mitigation none`", "Mitigation: noise-robustness prompt"),
        (("pin",), "noise-robustness prompt only", "### Before / after"),
        (("none", "pin"), "noise-robustness prompt, before/after", "Mitigation: none"),
    ],
)
def test_report_names_the_mitigation_actually_used(mits: tuple[str, ...], claim: str, absent: str) -> None:
    rows = [rec("n1", "clean", "Paris", suite="noisy", mit=m) for m in mits]
    report = render_report(build_summary(rows))
    assert claim in report and absent not in report


def test_analysis_reads_the_asserted_answer() -> None:
    """The analysis passes the question and answer type: lists, negations and distractor numbers fail."""
    rows = [
        rec("a", "en", "It could be Lyon, Marseille or Paris."),
        rec("b", "en", "Lyon, not Paris."),
        rec("c", "en", "Paris, not Lyon."),
    ]
    legs = rec("d", "en", "Spiders have 8 eyes and 6 legs.", answer_type="number")
    legs.meta["gold"] = ["8", "eight"]
    legs.messages = [{"role": "user", "content": "How many legs does a spider have?"}]
    got = {s.record.item_id: s.correct for s in score_records([*rows, legs])}
    assert got == {"a": False, "b": False, "c": True, "d": False}
