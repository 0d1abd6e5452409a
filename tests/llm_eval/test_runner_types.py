"""Types round-trip through JSON; the suite registry accepts plug-ins; pricing is overridable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_eval.pricing import Price, PriceTable, load_prices
from llm_eval.suites import SUITES, Suite, get_suite, register_suite, substring_accuracy
from llm_eval.types import Provider, Record, Request, Response, Sample, Usage


def test_record_and_sample_json_roundtrip() -> None:
    req = Request(messages=[{"role": "user", "content": "नमस्ते"}], system="s", temperature=0.0, max_tokens=8)
    s = Sample(id="a/1", item_id="a", condition="hi", variant="clean", request=req, meta={"gold": ["x"]})
    assert Sample.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    r = Record(
        sample_id="a/1",
        item_id="a",
        condition="hi",
        variant="clean",
        provider="p",
        model="m",
        params=req.params,
        system="s",
        messages=req.messages,
        response_text="x",
        usage=Usage(3, 1),
        cost_usd=0.5,
        latency_s=0.1,
        attempts=1,
        meta={"gold": ["x"]},
    )
    back = Record.from_dict(json.loads(r.to_json()))
    assert back == r and back.ok
    resp = Response(text="t", usage=Usage(1, 2), params={"max_new_tokens": 8})
    assert Response.from_dict(json.loads(json.dumps(resp.to_dict()))) == resp


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"messages": []}, "`messages` must not be empty"),
        ({"messages": [{"role": "system", "content": "x"}]}, "role user|assistant"),
        (
            {"messages": [{"role": "user", "content": "x"}], "temperature": -0.1},
            r"`temperature` must be in \[0, 2\], got -0.1",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
            "`max_tokens` must be >= 1, got 0",
        ),
    ],
)
def test_request_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Request(**kwargs)


def test_providers_satisfy_protocol() -> None:
    from llm_eval.providers.anthropic import AnthropicProvider
    from llm_eval.providers.local import LocalProvider

    assert isinstance(LocalProvider(), Provider)
    assert isinstance(AnthropicProvider(api_key="k"), Provider)


def test_smoke_suite_and_registry_plugin(tmp_path: Path) -> None:
    smoke = get_suite("smoke")
    samples = smoke("none", 0)
    assert len(samples) == 6 and all(s.request.system is None for s in samples)
    assert all(s.request.system for s in smoke("pin", 0))
    with pytest.raises(ValueError, match="`mitigation` must be one of"):
        smoke("bogus", 0)

    @register_suite("_test_plugin", description="plug-in")
    def plugin(mitigation: str, seed: int) -> list[Sample]:
        return samples[:2]

    try:
        assert isinstance(SUITES["_test_plugin"], Suite) and len(get_suite("_test_plugin")("none", 1)) == 2
        with pytest.raises(ValueError, match="already registered"):
            register_suite("_test_plugin")(lambda m, s: [])
    finally:
        SUITES.pop("_test_plugin")
    with pytest.raises(KeyError, match="unknown suite"):
        get_suite("no-such-suite")


def test_substring_accuracy_excludes_errors() -> None:
    def rec(text: str | None, err: str | None) -> Record:
        return Record("i", "i", "c", "v", "p", "m", {}, None, [], text, error=err, meta={"gold": ["Paris"]})

    acc = substring_accuracy([rec("It is paris.", None), rec("Lyon", None), rec(None, "boom")])
    assert acc == {"n_answered": 2, "n_errors": 1, "n_correct": 1, "accuracy": 0.5}


def test_pricing_lookup_and_overrides(tmp_path: Path) -> None:
    t = PriceTable()
    assert t.lookup("claude-sonnet-4-5-20250929") == Price(3.0, 15.0)  # longest prefix
    assert t.lookup("claude-haiku-9") == Price(1.0, 5.0)  # family fallback
    assert t.cost("claude-haiku-4-5", Usage(1_000_000, 1_000_000)) == pytest.approx(6.0)
    assert t.cost("claude-haiku-4-5", Usage(1_000_000, 0), batch=True) == pytest.approx(0.5)
    with pytest.raises(KeyError, match="no price for model 'gpt-x'"):
        t.lookup("gpt-x")
    f = tmp_path / "p.yaml"
    f.write_text("claude-sonnet-5-5: {input: 2.0, output: 10.0}\n")
    assert load_prices(f).lookup("claude-sonnet-5-5") == Price(2.0, 10.0)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"m": {"input": 1}}))
    with pytest.raises(ValueError, match="price for 'm'"):
        load_prices(bad)
    with pytest.raises(ValueError, match="`input_per_mtok` must be >= 0, got -1"):
        Price(-1, 0)
