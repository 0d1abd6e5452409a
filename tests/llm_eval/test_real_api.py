"""One real Messages API call; runs only where a real ANTHROPIC_API_KEY is set (never in CI)."""

from __future__ import annotations

import asyncio
import os

import pytest

from llm_eval.providers import make_provider
from llm_eval.types import Request

pytestmark = [
    pytest.mark.api,
    pytest.mark.skipif(not os.environ.get("ANTHROPIC_API_KEY"), reason="needs a real ANTHROPIC_API_KEY"),
]


def test_real_claude_answers_a_factual_question() -> None:
    provider = make_provider("anthropic")
    req = Request(
        messages=[{"role": "user", "content": "What is the capital of France? One word."}], max_tokens=16
    )
    resp = asyncio.run(provider.generate(req))
    assert "paris" in resp.text.lower()
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
