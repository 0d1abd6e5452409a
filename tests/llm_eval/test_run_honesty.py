"""`flatbench llm-eval` against the stub: honest cache keys, resume that notices edited requests,
unpriced models that keep their answers, all-failed runs that fail, and a dry run that sends nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llm_eval import suites
from llm_eval.records import load_records
from tests.llm_eval.conftest import FAKE_KEY
from tests.llm_eval.test_runner_cli import _app

UNPRICED = "acme-frontier-9"  # no entry, no prefix and no family in the price table


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)


def _run(stub: Any, out: Path, *extra: str, suite: str = "smoke") -> Any:
    args = ["llm-eval", suite, "--provider", "anthropic", "--base-url", stub.base_url, "--out", str(out),
            "--timeout", "2", "--no-progress", *extra]  # fmt: skip
    return CliRunner().invoke(_app(), args)


def _text(res: Any) -> str:
    return " ".join(res.output.split())


# -- cache keys ----------------------------------------------------------------------------------


def test_another_endpoint_is_not_answered_from_the_cache(
    tmp_path: Path, make_stub: Any, key_env: None
) -> None:
    a, b = make_stub(), make_stub()
    assert _run(a, tmp_path / "a").exit_code == 0 and a.n_messages == 6
    res = _run(b, tmp_path / "b")  # same command, same cache, another --base-url
    assert res.exit_code == 0, res.output
    assert b.n_messages == 6 and "cached 0" in res.output
    again = _run(a, tmp_path / "a2")  # the first endpoint is still cached
    assert again.exit_code == 0 and a.n_messages == 6 and "cached 6" in again.output


def test_send_temperature_is_part_of_the_key(tmp_path: Path, make_stub: Any, key_env: None) -> None:
    stub = make_stub(reject_sampling_params=False)  # a proxy / older API version that accepts it
    assert _run(stub, tmp_path / "a").exit_code == 0 and stub.n_messages == 6
    res = _run(stub, tmp_path / "b", "--send-temperature")
    assert res.exit_code == 0, res.output
    assert stub.n_messages == 12 and "cached 0" in res.output
    recs = load_records(tmp_path / "b")
    assert all(r.params["temperature"] == 0.2 for r in recs)
    assert {r.request_hash for r in recs}.isdisjoint({r.request_hash for r in load_records(tmp_path / "a")})
    assert _run(stub, tmp_path / "c", "--send-temperature").exit_code == 0 and stub.n_messages == 12


# -- resume ----------------------------------------------------------------------------------------


def _edit_question(monkeypatch: pytest.MonkeyPatch, index: int, text: str) -> str:
    items = list(suites.SMOKE_ITEMS)
    item_id, _, gold = items[index]
    items[index] = (item_id, text, gold)
    monkeypatch.setattr(suites, "SMOKE_ITEMS", items)
    return f"smoke/{item_id}/none"


def test_resume_reruns_and_counts_an_edited_prompt(
    tmp_path: Path, make_stub: Any, key_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub = make_stub()
    out = tmp_path / "o"
    assert _run(stub, out).exit_code == 0 and stub.n_messages == 6
    sid = _edit_question(monkeypatch, 1, "What is the capital of Japan, in one word please?")
    res = _run(stub, out)
    assert res.exit_code == 0, res.output
    assert stub.n_messages == 7  # only the edited sample is requested again
    assert "re-ran 1 existing answers made by a different request" in _text(res) and sid in res.output
    assert "resumed 5" in res.output
    stats = json.loads((out / "run_stats.json").read_text())["this_run"]
    assert stats["resume_mismatched"] == 1 and stats["resume_mismatch_ids"] == [sid]
    rec = {r.sample_id: r for r in load_records(out)}[sid]
    assert rec.messages[0]["content"] == "What is the capital of Japan, in one word please?"
    assert len((out / "responses.jsonl").read_text().splitlines()) == 6  # superseded, not duplicated
    old = [json.loads(x) for x in (out / "responses.superseded.jsonl").read_text().splitlines()]
    assert [(d["sample_id"], d["response_text"]) for d in old] == [(sid, "Tokyo")]  # the paid answer is kept


def test_resume_strict_refuses_and_names_the_mismatches(
    tmp_path: Path, make_stub: Any, key_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub = make_stub()
    out = tmp_path / "o"
    assert _run(stub, out).exit_code == 0
    before = (out / "responses.jsonl").read_text()
    sid_a = _edit_question(monkeypatch, 0, "Capital of France?")
    sid_b = _edit_question(monkeypatch, 4, "Which planet is red?")
    res = _run(stub, out, "--resume", "strict")
    assert res.exit_code == 2
    text = _text(res)
    assert "2 of 6 existing answers" in text and sid_a in text and sid_b in text
    assert stub.n_messages == 6 and (out / "responses.jsonl").read_text() == before


def test_resume_mismatch_for_another_endpoint(tmp_path: Path, make_stub: Any, key_env: None) -> None:
    a, b = make_stub(), make_stub()
    out = tmp_path / "o"
    assert _run(a, out).exit_code == 0
    res = _run(b, out, "--resume", "strict")
    assert res.exit_code == 2 and "6 of 6 existing answers" in _text(res) and b.n_messages == 0


# -- prices ----------------------------------------------------------------------------------------


def test_unpriced_model_keeps_every_answer_with_unknown_cost(
    tmp_path: Path, make_stub: Any, key_env: None
) -> None:
    stub = make_stub()
    out = tmp_path / "o"
    res = _run(stub, out, "--model", UNPRICED)
    assert res.exit_code == 0, res.output
    text = _text(res)
    assert f"no price for the model '{UNPRICED}'" in text and "--prices FILE" in text
    assert "answered 6 errors 0" in text and "cost unknown (no price)" in text
    recs = load_records(out)
    assert len(recs) == 6 and all(r.ok and r.cost_usd is None for r in recs)
    assert all(r.response_text for r in recs)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"] == 1.0
    assert summary["cost_usd"] is None and summary["cost_known"] is False
    assert summary["cost_unknown_answers"] == 6
    # a rerun pays nothing again: the answers are resumed
    again = _run(stub, out, "--model", UNPRICED)
    assert again.exit_code == 0 and stub.n_messages == 6 and "resumed 6" in again.output


def test_cost_limit_without_a_price_refuses_to_start(tmp_path: Path, make_stub: Any, key_env: None) -> None:
    stub = make_stub()
    res = _run(stub, tmp_path / "o", "--model", UNPRICED, "--cost-limit", "1")
    assert res.exit_code == 2
    text = _text(res)
    assert "--cost-limit needs a price" in text and UNPRICED in text and "--prices FILE" in text
    assert '"input": 3.0, "output": 15.0' in text  # the file format, ready to copy
    assert stub.stats()["total"] == 0
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({UNPRICED: {"input": 2.0, "output": 8.0}}))
    ok = _run(stub, tmp_path / "o", "--model", UNPRICED, "--cost-limit", "1", "--prices", str(prices))
    assert ok.exit_code == 0, ok.output
    recs = load_records(tmp_path / "o")
    assert all(
        r.cost_usd == pytest.approx((2 * r.usage.input_tokens + 8 * r.usage.output_tokens) / 1e6)
        for r in recs
    )


# -- failures --------------------------------------------------------------------------------------


def test_a_run_where_every_request_failed_exits_non_zero(
    tmp_path: Path, make_stub: Any, key_env: None
) -> None:
    # every request: a 400 whose message quotes the request's key (a refused key stops at the first)
    stub = make_stub(script=["echo_auth"] * 6)
    res = _run(stub, tmp_path / "o", "--concurrency", "1")
    assert res.exit_code == 1
    assert "all 6 requests of this run failed" in _text(res) and "bad request" in res.output.lower()
    recs = load_records(tmp_path / "o")
    assert len(recs) == 6 and not any(r.ok for r in recs)  # the errors are recorded
    assert FAKE_KEY not in res.output


def test_some_failures_still_exit_zero(tmp_path: Path, make_stub: Any, key_env: None) -> None:
    stub = make_stub(script=["ok", "echo_auth"])  # one non-retryable 400
    res = _run(stub, tmp_path / "o", "--concurrency", "1")
    assert res.exit_code == 0, res.output
    assert "answered 5 errors 1" in _text(res)


# -- dry run ---------------------------------------------------------------------------------------


def test_dry_run_sends_nothing_and_counts_requests(tmp_path: Path, make_stub: Any, key_env: None) -> None:
    stub = make_stub()
    res = _run(stub, tmp_path / "o", "--dry-run")
    assert res.exit_code == 0, res.output
    text = _text(res)
    assert "6 requests would be sent (none were)" in text and "answers: 6 requests" in text
    assert "<= 3072 output tokens" in text  # 6 x max_tokens 512: an upper bound
    assert "total cost <= $" in text
    assert stub.stats()["total"] == 0 and not (tmp_path / "o" / "responses.jsonl").exists()
    # after a real run, the dry run sees the resumable answers
    assert _run(stub, tmp_path / "o").exit_code == 0
    n = stub.n_messages
    again = _run(stub, tmp_path / "o", "--dry-run")
    assert "0 requests would be sent" in _text(again) and "resumed 6" in again.output and stub.n_messages == n


def test_dry_run_counts_judge_and_grader(tmp_path: Path, make_stub: Any, key_env: None) -> None:
    stub = make_stub()
    ml = _run(stub, tmp_path / "ml", "--limit", "8", "--dry-run", "--scorer", "rule", suite="multilingual")
    assert "16 requests would be sent" in _text(ml) and "fluency judge (up to): 8 requests" in _text(ml)
    noisy = _run(stub, tmp_path / "n", "--limit", "11", "--dry-run", "--scorer", "rule", suite="noisy")
    assert "11 requests would be sent" in _text(noisy) and "fluency judge" not in noisy.output
    # auto (the default for an API): the expected unresolved share, 29/120 of 11 -> 3, and the bound
    auto = _run(stub, tmp_path / "n", "--limit", "11", "--dry-run", suite="noisy")
    assert "14 requests would be sent" in _text(auto), auto.output
    assert "model grader, unresolved only (expected): 3 requests" in _text(auto)
    assert "expected share 24% (plain answers) of 11 answers; all 11: cost <= $" in _text(auto)
    # the grader is unmeasured: the dry run says its verdicts will not count, before anything is paid
    assert "grader: its verdicts are kept but not counted (the grader is unmeasured)" in _text(auto)
    assert "--count-unmeasured-grader" in _text(auto)
    opt_in = _run(
        stub, tmp_path / "n", "--limit", "11", "--dry-run", "--count-unmeasured-grader", suite="noisy"
    )
    assert "kept but not counted" not in _text(opt_in)
    graded = _run(stub, tmp_path / "n", "--limit", "11", "--dry-run", "--scorer", "model", suite="noisy")
    assert "22 requests would be sent" in _text(graded) and "model grader (up to): 11 requests" in _text(
        graded
    )
    opted = _run(stub, tmp_path / "n", "--limit", "11", "--dry-run", "--judge", "provider", "--scorer", "rule",
                 suite="noisy")  # fmt: skip
    assert "22 requests would be sent" in _text(opted)
    unpriced = _run(stub, tmp_path / "u", "--dry-run", "--model", UNPRICED)
    assert "total cost <= unknown (no price)" in _text(unpriced)
    assert stub.stats()["total"] == 0


# -- judge policy ----------------------------------------------------------------------------------


def test_fluency_judge_only_where_the_report_uses_fluency(
    tmp_path: Path, make_stub: Any, key_env: None
) -> None:
    stub = make_stub()
    res = _run(stub, tmp_path / "n", "--limit", "11", suite="noisy")
    assert res.exit_code == 0, res.output
    assert stub.n_messages == 11 and not (tmp_path / "n" / "judge").exists()
    res = _run(stub, tmp_path / "m", "--limit", "4", suite="multilingual")
    assert res.exit_code == 0, res.output
    assert stub.n_messages == 11 + 4 + 4  # answers + one judge request each
    judge = json.loads((tmp_path / "m" / "summary.json").read_text())["provenance"]["judge"]
    # the stub echoes the judge prompt instead of "Score: N": counted unparseable, never guessed
    assert judge["n_unparseable"] == 4 and judge["n_scored"] == 0


# -- model grader ----------------------------------------------------------------------------------


def test_model_grader_stores_verdicts_and_resumes(tmp_path: Path, make_stub: Any, key_env: None) -> None:
    from llm_eval.testing.stub_server import DEFAULT_ANSWERS

    answers = {"reply with exactly one word: correct": "CORRECT", **DEFAULT_ANSWERS}
    stub = make_stub(answers=answers)
    out = tmp_path / "o"
    res = _run(stub, out, "--scorer", "model")
    assert res.exit_code == 0, res.output
    assert stub.n_messages == 12 and "correct 6" in res.output
    recs = load_records(out)
    assert all(
        r.model_grade
        == {"verdict": "correct", "model": "claude-sonnet-5-5", "raw": "CORRECT", "provider": "anthropic"}
        for r in recs
    )
    assert len(load_records(out / "grader")) == 6
    again = _run(stub, out, "--scorer", "model")
    assert again.exit_code == 0 and stub.n_messages == 12  # answers and grades both resumed


def test_unknown_cost_reaches_the_robustness_summary_and_report(
    tmp_path: Path, make_stub: Any, key_env: None
) -> None:
    stub = make_stub()
    out = tmp_path / "o"
    res = _run(stub, out, "--model", UNPRICED, "--limit", "4", "--judge", "heuristic", suite="multilingual")
    assert res.exit_code == 0, res.output
    prov = json.loads((out / "summary.json").read_text())["provenance"]
    assert prov["cost_usd"] is None and prov["cost_known"] is False and prov["cost_unknown_answers"] == 4
    assert "/ unknown (no price) |" in (out / "report.md").read_text()


def test_all_requests_failed_beside_cache_hits_exits_non_zero_but_reports(
    tmp_path: Path, make_stub: Any, key_env: None
) -> None:
    stub = make_stub()
    assert _run(stub, tmp_path / "a", "--limit", "3").exit_code == 0
    stub.config.script.extend(["echo_auth"] * 3)  # the three requests of the next run fail (400)
    res = _run(stub, tmp_path / "b")
    assert res.exit_code == 1, res.output
    assert "cached 3" in res.output and "all 3 requests of this run failed" in _text(res)
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["n_correct"] == 3  # still analysed


def test_dry_run_needs_no_api_key(tmp_path: Path, make_stub: Any) -> None:
    stub = make_stub()
    res = _run(stub, tmp_path / "o", "--dry-run")
    assert res.exit_code == 0, res.output
    assert "6 requests would be sent" in _text(res) and stub.stats()["total"] == 0


@pytest.mark.prefect_server
def test_flow_model_grader_against_stub(tmp_path: Path, make_stub: Any, key_env: None) -> None:
    import os

    if not os.environ.get("PREFECT_API_URL"):
        pytest.skip("PREFECT_API_URL not set (needs the shared Prefect server)")
    from flows.llm_robustness import llm_robustness
    from llm_eval.testing.stub_server import DEFAULT_ANSWERS

    stub = make_stub(answers={"reply with exactly one word: correct": "INCORRECT", **DEFAULT_ANSWERS})
    res = llm_robustness(suite="noisy", provider="anthropic", base_url=stub.base_url, mitigation="none",
                         limit=3, out=str(tmp_path / "flow"), judge="auto", scorer="model", publish=False)  # fmt: skip
    recs = load_records(Path(res["out"]))
    assert len(recs) == 3 and all(r.model_grade and r.model_grade["verdict"] == "incorrect" for r in recs)
    assert stub.n_messages == 6  # 3 answers + 3 grades, no fluency judge for noisy


def test_one_cost_limit_covers_answers_and_grader(tmp_path: Path, make_stub: Any, key_env: None) -> None:
    stub = make_stub()
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"claude-sonnet": {"input": 1e5, "output": 0}}))  # $0.1 per input token
    res = _run(stub, tmp_path / "o", "--prices", str(prices), "--cost-limit", "8", "--concurrency", "1",
               "--scorer", "model")  # fmt: skip
    assert res.exit_code == 0, res.output
    answers = load_records(tmp_path / "o")
    spent = sum(r.cost_usd or 0.0 for r in answers)
    assert len(answers) == 6 and spent < 8  # the answers fit in the limit
    # a grading prompt (~100 words, ~$10) costs more than the ~$2 left: one is sent, then the limit holds
    assert len(load_records(tmp_path / "o" / "grader")) == 1 and stub.n_messages == 7
