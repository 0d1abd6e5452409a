"""What a record keeps: request hash, stop reason, cache-token usage, unknown cost; strict judge and
grader formats; the local provider's whole-character decoding; resume at the library level."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from llm_eval.cache import request_key
from llm_eval.grader import parse_verdict
from llm_eval.judge import parse_score, resolve_judge
from llm_eval.pricing import Price, PriceTable, UnpricedModelError
from llm_eval.providers.local import decode_whole_chars
from llm_eval.records import RESPONSES_FILE, load_records
from llm_eval.runner import ResumeMismatchError, RunStats, run_samples
from llm_eval.types import Record, Request, Sample, Usage
from tests.llm_eval.conftest import make_samples

# -- judge and grader formats ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("Score: 4", 4),
        ("SCORE: 2", 2),
        ("  score: 5\n", 5),
        ("**Score:** 3", 3),
        ("Score: 4/5", 4),
        ("Score: 1.", 1),
        ("4", 4),
        ('{"score": 4}', 4),
        ('```json\n{"score": 2}\n```', 2),
        # free text is never guessed
        ("Rating out of 5: 4", None),
        ("On a 1-5 scale, this is a 4.", None),
        ("I'd give it 3/5.", None),
        ("Score: 4\nThe response is fluent but long.", None),
        ("Score: 4 or 5", None),
        ("Score: 9", None),
        ("Score: 0", None),
        ('{"score": 7}', None),
        ('{"score": 4, "reason": "ok"}', None),
        ('{"score": true}', None),
        ("", None),
        (None, None),
    ],
)
def test_judge_reply_is_parsed_strictly(reply: str | None, score: int | None) -> None:
    assert parse_score(reply) == score


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("CORRECT", "correct"),
        ("incorrect", "incorrect"),
        ("**Unsure.**", "unsure"),
        ('{"verdict": "INCORRECT"}', "incorrect"),
        ("The answer is correct.", "unparseable"),
        ("CORRECT - it says Paris", "unparseable"),
        ("Correct or incorrect", "unparseable"),
        ("Paris", "unparseable"),
        ("", "unparseable"),
        (None, "unparseable"),
    ],
)
def test_grader_reply_is_parsed_strictly(reply: str | None, verdict: str) -> None:
    assert parse_verdict(reply) == verdict


@pytest.mark.parametrize(
    ("choice", "provider", "suites", "expected"),
    [
        ("auto", "anthropic", ["multilingual"], ("provider", ("multilingual",))),
        ("auto", "anthropic", ["noisy"], ("heuristic", None)),
        ("auto", "anthropic", ["multilingual", "noisy"], ("provider", ("multilingual",))),
        ("auto", "local", ["multilingual"], ("heuristic", None)),
        ("provider", "anthropic", ["noisy"], ("provider", None)),
        ("heuristic", "anthropic", ["multilingual"], ("heuristic", None)),
    ],
)
def test_judge_policy(choice: str, provider: str, suites: list[str], expected: tuple[Any, Any]) -> None:
    assert resolve_judge(choice, provider, suites) == expected


def test_judge_policy_rejects_unknown() -> None:
    with pytest.raises(ValueError, match=r"`judge` must be one of auto\|provider\|heuristic, got 'gpt'"):
        resolve_judge("gpt", "anthropic", [])


# -- local decoding ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def byte_tok() -> Any:
    """A byte-level BPE without merges: every UTF-8 byte is its own token (Devanagari: 3 per char)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab["<|im_end|>"] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>")


TEXT = "नई दिल्ली 🙂 ok"


def test_decoding_at_any_cap_never_ends_in_a_broken_character(byte_tok: Any) -> None:
    ids = byte_tok.encode(TEXT, add_special_tokens=False)
    assert len(ids) == len(TEXT.encode())  # really one token per byte
    assert "\ufffd" in byte_tok.decode(ids[:2])  # what a plain decode does at a cut
    for k in range(1, len(ids) + 1):
        text = decode_whole_chars(byte_tok, ids[:k])
        assert "\ufffd" not in text and TEXT.startswith(text)
        # at most the one cut character is dropped
        assert len(TEXT.encode()[:k]) - len(text.encode()) <= 3
    eos = byte_tok.eos_token_id
    assert decode_whole_chars(byte_tok, [*ids[:4], eos]) == "न"  # a cut before EOS too


def test_only_the_tail_is_touched(byte_tok: Any) -> None:
    ids = byte_tok.encode("a \ufffd b", add_special_tokens=False)  # a U+FFFD the model wrote
    assert decode_whole_chars(byte_tok, ids) == "a \ufffd b"
    assert decode_whole_chars(byte_tok, []) == ""


# -- anthropic replies: nothing received is lost -------------------------------------------------


def _message(**kw: Any) -> Any:
    base = {
        "content": [SimpleNamespace(type="text", text="Paris")],
        "usage": SimpleNamespace(
            input_tokens=10, output_tokens=2, cache_creation_input_tokens=100, cache_read_input_tokens=1000
        ),
        "stop_reason": "end_turn",
        "model": "claude-haiku-4-5-20251001",
        "id": "msg_1",
    }
    return SimpleNamespace(**{**base, **kw})


def _anthropic(**kw: Any) -> Any:
    from llm_eval.providers.anthropic import AnthropicProvider

    return AnthropicProvider("claude-haiku-4-5", api_key="k", base_url="http://127.0.0.1:1", **kw)


REQ = Request(messages=[{"role": "user", "content": "capital of France?"}])


def test_reply_keeps_cache_tokens_and_prices_them() -> None:
    resp = _anthropic()._to_response(_message(), REQ)
    assert resp.usage == Usage(10, 2, 100, 1000)
    # haiku 4.5: $1 in, $5 out; cache writes 1.25x, cache reads 0.1x the input price
    assert resp.cost_usd == pytest.approx((10 * 1 + 2 * 5 + 100 * 1.25 + 1000 * 0.1) / 1e6)
    assert resp.stop_reason == "end_turn"


class _BrokenPrices(PriceTable):
    def cost(self, model: str, usage: Usage, *, batch: bool = False) -> float | None:
        raise RuntimeError("price service down")


@pytest.mark.parametrize(
    ("message", "prices", "text", "cost_is_none"),
    [
        (_message(usage=None), None, "Paris", True),  # usage missing: cost unknown, never $0
        (_message(usage=SimpleNamespace(input_tokens="x", output_tokens=None)), None, "Paris", True),
        (_message(), _BrokenPrices(), "Paris", True),  # pricing raised
        (_message(model="acme-9"), PriceTable({}), "Paris", True),  # no price at all
        (_message(content=[], stop_reason="refusal"), None, "", False),  # an empty answer is an answer
        (_message(content=[SimpleNamespace(type="thinking", thinking="...")]), None, "", False),
    ],
)
def test_a_received_answer_is_never_an_error(
    message: Any, prices: PriceTable | None, text: str, cost_is_none: bool
) -> None:
    resp = _anthropic(prices=prices)._to_response(message, REQ)
    assert resp.text == text and (resp.cost_usd is None) == cost_is_none


def test_request_identity_covers_endpoint_version_and_sent_params() -> None:
    a = _anthropic()
    keys = {
        request_key(a, REQ),
        request_key(_anthropic(send_temperature=True), REQ),
        request_key(
            __import__("llm_eval.providers.anthropic", fromlist=["x"]).AnthropicProvider(
                "claude-haiku-4-5", api_key="k", base_url="http://127.0.0.1:2"
            ),
            REQ,
        ),
        request_key(a, Request(messages=REQ.messages, system="be brief")),
        request_key(a, Request(messages=REQ.messages, max_tokens=64)),
    }
    assert len(keys) == 5
    # the trailing slash of a base URL is the same endpoint; the API version is in the identity
    b = __import__("llm_eval.providers.anthropic", fromlist=["x"]).AnthropicProvider(
        "claude-haiku-4-5", api_key="k", base_url="http://127.0.0.1:1/"
    )
    assert request_key(b, REQ) == request_key(a, REQ)
    assert a.request_identity(REQ)["api_version"]
    # an unsent temperature is not part of the body (it cannot change the answer)
    assert "temperature" not in a.request_identity(Request(messages=REQ.messages, temperature=1.0))["body"]
    assert request_key(a, Request(messages=REQ.messages, temperature=1.0)) == request_key(a, REQ)


def test_price_table_unknown_is_none_not_zero() -> None:
    t = PriceTable({"m": Price(1.0, 2.0)})
    assert t.find("acme") is None and t.cost("acme", Usage(10, 10)) is None
    assert t.cost("m-2025", Usage(1_000_000, 0)) == pytest.approx(1.0)


# -- records and resume at the library level ---------------------------------------------------


def test_every_record_has_hash_and_stop_reason(tmp_path: Path, make_stub: Any, make_provider: Any) -> None:
    stub = make_stub(cache_read_input_tokens=7)
    p = make_provider(stub)
    samples = make_samples(3)
    samples.append(
        Sample(
            "long",
            "long",
            "en",
            "clean",
            Request(messages=[{"role": "user", "content": "a b c d e"}], max_tokens=2),
        )
    )
    recs = run_samples(samples, p, tmp_path, progress=False, use_cache=False)
    by_id = {r.sample_id: r for r in recs}
    assert all(r.request_hash == request_key(p, s.request) for r, s in zip(recs, samples, strict=True))
    assert {by_id[s.id].stop_reason for s in samples[:3]} == {"end_turn"}
    assert by_id["long"].stop_reason == "max_tokens"  # the stub cut the echo at max_tokens words
    line = json.loads((tmp_path / RESPONSES_FILE).read_text().splitlines()[0])
    assert line["stop_reason"] and line["request_hash"] and line["usage"]["cache_read_input_tokens"] == 7


def test_runner_refuses_a_cost_limit_it_cannot_check(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    stub = make_stub()
    p = make_provider(stub, model="acme-9")
    with pytest.raises(UnpricedModelError, match=r"no price for model 'acme-9'.*--prices FILE"):
        run_samples(make_samples(2), p, tmp_path, progress=False, cost_limit=5.0)
    assert stub.stats()["total"] == 0
    stats = RunStats()
    recs = run_samples(make_samples(2), p, tmp_path, progress=False, stats=stats)
    assert all(r.ok and r.cost_usd is None for r in recs)
    assert not stats.price_known and stats.cost_unknown == 2 and not stats.cost_known


def _edited(samples: list[Sample], i: int) -> list[Sample]:
    s = samples[i]
    new = Sample(
        s.id, s.item_id, s.condition, s.variant, Request(messages=[{"role": "user", "content": "edited"}])
    )
    return [*samples[:i], new, *samples[i + 1 :]]


def test_library_resume_mismatch_rerun_strict_and_stale_answers(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    stub = make_stub()
    p = make_provider(stub)
    samples = make_samples(4)
    run_samples(samples, p, tmp_path, progress=False, use_cache=False)
    edited = _edited(samples, 2)
    with pytest.raises(ResumeMismatchError, match=r"1 of 4 existing answers .*: q/2\."):
        run_samples(edited, p, tmp_path, progress=False, use_cache=False, resume="strict")
    assert stub.n_messages == 4
    with pytest.raises(ValueError, match=r"`resume` must be one of rerun\|strict, got 'x'"):
        run_samples(edited, p, tmp_path, progress=False, resume="x")
    stats = RunStats()
    recs = run_samples(edited, p, tmp_path, progress=False, use_cache=False, stats=stats)
    assert stub.n_messages == 5 and stats.resume_mismatched == 1 and stats.skipped_done == 3
    assert {r.sample_id: r.response_text for r in recs}["q/2"] == "Echo: edited"


def test_stale_answer_is_not_returned_when_its_rerun_fails(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    p = make_provider(make_stub())
    samples = make_samples(2)
    run_samples(samples, p, tmp_path, progress=False, use_cache=False)
    p_bad = make_provider(make_stub(script=["echo_auth"] * 2))  # another endpoint, failing every request
    recs = run_samples(samples, p_bad, tmp_path, progress=False, use_cache=False)
    assert all(not r.ok for r in recs)  # the old endpoint's answers are not this request's answers
    assert all(not r.ok for r in load_records(tmp_path))
    kept = (tmp_path / "responses.superseded.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["response_text"] for x in kept) == [
        "Echo: question number 0",
        "Echo: question number 1",
    ]


def test_legacy_record_without_hash_counts_as_mismatch(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    stub = make_stub()
    p = make_provider(stub)
    s = make_samples(1)[0]
    legacy = Record(s.id, s.item_id, "en", "clean", "anthropic", p.model, {}, None, s.request.messages, "old")
    (tmp_path / RESPONSES_FILE).write_text(legacy.to_json() + "\n")
    stats = RunStats()
    recs = run_samples([s], p, tmp_path, progress=False, use_cache=False, stats=stats)
    assert stats.resume_mismatched == 1 and recs[0].response_text == "Echo: question number 0"


def test_a_record_whose_stored_prompt_differs_is_rerun(
    tmp_path: Path, make_stub: Any, make_provider: Any
) -> None:
    stub = make_stub()
    p = make_provider(stub)
    samples = make_samples(2)
    run_samples(samples, p, tmp_path, progress=False, use_cache=False)
    path = tmp_path / RESPONSES_FILE
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    lines[0]["messages"] = [{"role": "user", "content": "something else"}]  # hash left as it was
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    stats = RunStats()
    run_samples(samples, p, tmp_path, progress=False, use_cache=False, stats=stats)
    assert stats.resume_mismatched == 1 and stub.n_messages == 3
