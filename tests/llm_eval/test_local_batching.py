"""LocalProvider dynamic micro-batching on a tiny random Llama + word-level tokenizer (fast, no files).

Batched decoding must give each request what it would get alone: same greedy tokens (fp32, tiny
model: exact here), same sampled tokens whatever its batch-mates, its own max_new_tokens and EOS
stop; and concurrent generate() calls must really share forward passes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import torch

from llm_eval.providers.local import LocalProvider, batched_decode
from llm_eval.runner import run_samples
from llm_eval.types import Request, Response
from tests.llm_eval.conftest import make_samples

N_WORDS = 57
SPECIAL = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>", "user", "assistant", "system"]
EOS_ID = 3


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    """(LlamaForCausalLM with 2 layers / hidden 32, PreTrainedTokenizerFast over 64 words)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = SPECIAL + [f"w{i}" for i in range(N_WORDS)]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
    )
    tok.chat_template = (
        "{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
        "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}"
    )
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(words),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        initializer_range=0.5,  # peaked logits: greedy has no near-ties for float noise to flip
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=EOS_ID,
    )
    model = LlamaForCausalLM(cfg).eval()
    return model, tok


def provider(tiny: tuple[Any, Any], **kw: Any) -> LocalProvider:
    return LocalProvider("tiny-llama", loader=lambda: tiny, **kw)


def gen(p: LocalProvider, reqs: list[Request]) -> list[Response]:
    """One batched generation; every request must have succeeded."""
    out = p.generate_many_sync(reqs)
    assert all(isinstance(r, Response) for r in out), out
    return [r for r in out if isinstance(r, Response)]


def req(i: int, n_words: int, **kw: Any) -> Request:
    text = " ".join(f"w{(i * 7 + j) % N_WORDS}" for j in range(n_words))
    return Request(messages=[{"role": "user", "content": text}], **kw)


def prompts(tok: Any, reqs: list[Request]) -> list[list[int]]:
    return [
        [
            int(x)
            for x in tok.apply_chat_template(r.messages, add_generation_prompt=True, return_dict=True)[
                "input_ids"
            ]
        ]
        for r in reqs
    ]


GREEDY = [req(i, 1 + 3 * i, temperature=0.0, max_tokens=12) for i in range(8)]  # prompt lengths 6..27


def test_batched_greedy_equals_unbatched(tiny: tuple[Any, Any]) -> None:
    p = provider(tiny, max_batch=8)
    alone = [gen(p, [r])[0] for r in GREEDY]
    together = gen(p, GREEDY)
    assert p.batch_sizes == [1] * 8 + [8]
    assert [a.text for a in alone] == [b.text for b in together]
    assert [a.usage for a in alone] == [b.usage for b in together]
    assert [a.stop_reason for a in alone] == [b.stop_reason for b in together]
    # token level, under left padding of up to 21 positions, with rows finishing at different steps
    model, tok = tiny
    ids = prompts(tok, GREEDY)
    assert len({len(x) for x in ids}) == 8
    kw: dict[str, Any] = {"eos_ids": {EOS_ID}, "pad_id": 1}
    one = [
        batched_decode(model, [x], max_new_tokens=[12], temperatures=[0.0], generators=[None], **kw)[0]
        for x in ids
    ]
    with torch.inference_mode():
        many = batched_decode(
            model, ids, max_new_tokens=[12] * 8, temperatures=[0.0] * 8, generators=[None] * 8, **kw
        )
    assert [r.tokens for r in one] == [r.tokens for r in many]
    assert {len(r.tokens) for r in many} != {12}  # some rows stopped early on EOS: exercises row dropping


def test_sampling_is_per_request_and_independent_of_batch(tiny: tuple[Any, Any]) -> None:
    p = provider(tiny, max_batch=16, seed=7)
    sampled = [req(i, 2 + i, temperature=1.0, max_tokens=10) for i in range(6)]
    target = sampled[0]
    alone = gen(p, [target])[0]
    mates_a = gen(p, [target, *sampled[1:3], *GREEDY[:2]])[0]
    mates_b = gen(p, [*sampled[3:], *GREEDY[4:], target])[-1]
    twice = gen(p, [target, target])
    for r in (mates_a, mates_b, *twice):
        assert r.text == alone.text and r.usage == alone.usage
    assert alone.params is not None and alone.params["seed"] == p.request_seed(target)
    assert alone.params["do_sample"] is True and alone.params["max_batch"] == 16
    # a different provider seed changes the draws (not the greedy argmax) for at least one request
    other = gen(provider(tiny, max_batch=16, seed=8), sampled)
    mine = gen(p, sampled)
    assert [a.text for a in mine] != [b.text for b in other]


def test_per_row_max_new_tokens_and_eos(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    ids = prompts(tok, GREEDY[:5])
    n = len(ids)
    with torch.inference_mode():
        ref = batched_decode(
            model,
            ids,
            max_new_tokens=[16] * n,
            temperatures=[0.0] * n,
            generators=[None] * n,
            eos_ids=set(),
            pad_id=1,
        )
    assert all(len(r.tokens) == 16 and not r.hit_eos for r in ref)
    stop = ref[0].tokens[3]  # a token row 0 emits at step 3: declare it EOS
    caps = [16, 2, 5, 9, 1]
    with torch.inference_mode():
        got = batched_decode(
            model,
            ids,
            max_new_tokens=caps,
            temperatures=[0.0] * n,
            generators=[None] * n,
            eos_ids={stop},
            pad_id=1,
        )
    for r, g, cap in zip(ref, got, caps, strict=True):
        cut = r.tokens.index(stop) + 1 if stop in r.tokens else len(r.tokens)
        assert g.tokens == r.tokens[: min(cut, cap)]
        assert g.hit_eos == (cut <= cap and stop in r.tokens)
    assert got[0].hit_eos and len(got[0].tokens) <= 4 and len(got[4].tokens) == 1
    # through the provider: the request's max_tokens caps the row, the provider's cap applies too
    p = provider(tiny, max_new_tokens=6, max_batch=8)
    reqs = [req(i, 4, temperature=0.0, max_tokens=m) for i, m in enumerate([1, 3, 50])]
    res = gen(p, reqs)
    assert [(r.params or {})["max_new_tokens"] for r in res] == [1, 3, 6]
    for resp, cap in zip(res, [1, 3, 6], strict=True):
        assert 1 <= resp.usage.output_tokens <= cap
        assert resp.stop_reason in ("max_tokens", "end_turn")
        if resp.usage.output_tokens < cap:
            assert resp.stop_reason == "end_turn"


async def test_concurrent_generate_is_batched(tiny: tuple[Any, Any]) -> None:
    p = provider(tiny, max_batch=4)
    reqs = [*GREEDY, *GREEDY[:2]]  # 10 requests
    results = await asyncio.gather(*(p.generate(r) for r in reqs))
    assert p.batch_sizes == [4, 4, 2]
    ref = provider(tiny, max_batch=1)
    assert [r.text for r in results] == [(await ref.generate(r)).text for r in reqs]
    assert ref.batch_sizes == [1] * 10  # sequential awaits never wait for company
    assert results[0].params is not None and results[0].params["max_batch"] == 4


def test_runner_concurrency_feeds_batches(tiny: tuple[Any, Any], tmp_path: Path) -> None:
    """Through run_samples: concurrent samples share forwards, and each answer is its solo answer."""
    p = provider(tiny, max_batch=8, max_new_tokens=4)
    samples = make_samples(16)  # temperature 0.2: sampled rows
    recs = run_samples(samples, p, tmp_path, concurrency=16, progress=False, use_cache=False)
    assert all(r.error is None for r in recs) and sum(p.batch_sizes) == 16
    assert len(p.batch_sizes) <= 4 and max(p.batch_sizes) == 8
    solo = provider(tiny, max_batch=1, max_new_tokens=4)
    by_id = {r.sample_id: r.response_text for r in recs}
    assert [by_id[s.id] for s in samples] == [r.text for r in gen(solo, [s.request for s in samples])]
    assert all(r.params["max_batch"] == 8 for r in recs)


async def test_a_failing_request_does_not_fail_its_batch(
    tiny: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    p = provider(tiny, max_batch=8)
    bad = req(99, 3, temperature=0.0, max_tokens=4)
    real = p._prepare

    def prepare(tok: Any, request: Request) -> Any:
        if request == bad:
            raise ValueError("cannot template this one")
        return real(tok, request)

    monkeypatch.setattr(p, "_prepare", prepare)
    out = await asyncio.gather(*(p.generate(r) for r in [GREEDY[0], bad, GREEDY[1]]), return_exceptions=True)
    assert isinstance(out[1], ValueError) and "cannot template" in str(out[1])
    assert not isinstance(out[0], BaseException) and not isinstance(out[2], BaseException)
    assert p.batch_sizes == [2]


def test_rejects_bad_batch_settings() -> None:
    with pytest.raises(ValueError, match="`max_batch` must be >= 1, got 0"):
        LocalProvider(max_batch=0)
    with pytest.raises(ValueError, match="`max_wait_ms` must be >= 0, got -1"):
        LocalProvider(max_wait_ms=-1)
