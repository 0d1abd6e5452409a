"""Offline provider: SmolLM2-135M-Instruct through transformers' chat template, on CPU.

Dynamic micro-batching: concurrent ``generate()`` calls are queued; one worker task per event loop
takes up to ``max_batch`` pending requests (waiting at most ``max_wait_ms`` for more) and runs ONE
batched generation for them in a thread (``asyncio.to_thread``), so the event loop stays responsive
and a lock still serializes model use. A 135M model at batch 1 is overhead/bandwidth-bound on CPU;
batching amortizes each weight read over many rows.

Decoding is an explicit KV-cache loop rather than ``model.generate`` because each row needs its own
stop (EOS or its own max_new_tokens) and its own RNG: a sampled request draws from a
``torch.Generator`` seeded from (provider seed, request digest), one draw per step, so its tokens
do not depend on run order or on which requests shared its batch. Greedy rows are argmax. Batched
and unbatched logits differ only by float noise from padding/kernel shapes (left padding, attention
mask and position ids make the maths identical), which can flip a greedy near-tie; see
benchmarks/local_llm_throughput.py for the measured rate. Finished rows are dropped from the batch
(and its KV cache) so they cost nothing afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llm_eval.pricing import Price
from llm_eval.types import Request, Response, Usage

__all__ = [
    "DECODER_VERSION",
    "DEFAULT_LOCAL_MODEL",
    "DecodedRow",
    "LocalProvider",
    "batched_decode",
    "decode_whole_chars",
]

log = logging.getLogger(__name__)

DEFAULT_LOCAL_MODEL = "SmolLM2-135M-Instruct"
# bump when the decoding procedure changes what a (request, seed) produces: it is part of the cache key
DECODER_VERSION = "kv-loop-v2-whole-chars"

# A UTF-8 character is at most 4 bytes, so a character cut at the token cap leaves at most 3 byte
# tokens of it behind.
_MAX_DANGLING = 3


def _broken_tail(text: str) -> bool:
    return bool(text) and (text[-1] == "\ufffd" or "\ud800" <= text[-1] <= "\udfff")


def decode_whole_chars(tok: Any, tokens: Sequence[int]) -> str:
    """Decode ``tokens`` without a character cut in half at the end.

    Byte-level tokenizers (SmolLM2's, GPT-2's) split Devanagari into byte tokens; a generation
    stopped at the token cap can end inside a character, which decodes to U+FFFD (or a lone
    surrogate). Such a trailing partial character is dropped: the last tokens are removed one at a
    time (at most 3, plus a trailing special token) until the text no longer ends broken; if it
    still does, the full decode is kept. Only the end is touched (a U+FFFD inside is kept).
    """
    full = tok.decode(list(tokens), skip_special_tokens=True)
    if not _broken_tail(full):
        return str(full)
    for k in range(1, min(_MAX_DANGLING + 1, len(tokens)) + 1):  # +1: an EOS token after the cut
        text = tok.decode(list(tokens[:-k]), skip_special_tokens=True)
        if not _broken_tail(text):
            return str(text)
    return str(full)


def _default_loader() -> tuple[Any, Any]:
    """SmolLM2 through the bench's loader: one converted fp32 cache shared with `flatbench sanity`."""
    from flatlora.bench.models import load_smollm2

    return load_smollm2()


@dataclass(frozen=True)
class DecodedRow:
    """One row's result: new token ids (EOS included when hit) and whether it stopped on EOS."""

    tokens: list[int]
    hit_eos: bool


def _cache_kwarg(model: Any) -> str:
    """transformers 5.x renamed ``past_key_values`` to ``cache`` (old name deprecated)."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def batched_decode(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: Sequence[int],
    temperatures: Sequence[float],
    generators: Sequence[Any | None],
    eos_ids: set[int] | frozenset[int],
    pad_id: int,
) -> list[DecodedRow]:
    """Left-padded batched decoding with a KV cache; per-row stop and per-row RNG.

    Row i stops after emitting a token in ``eos_ids`` or after ``max_new_tokens[i]`` tokens.
    ``temperatures[i] == 0`` -> argmax; else one draw from softmax(logits / T) with
    ``generators[i]`` per step, so the row's random stream is its own. Finished rows are removed
    from the batch and the cache. Call under ``torch.inference_mode()``.
    """
    import torch

    b = len(prompts)
    if not (len(max_new_tokens) == len(temperatures) == len(generators) == b):
        raise ValueError("`max_new_tokens`, `temperatures` and `generators` need one entry per prompt")
    if b == 0:
        return []
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token, got an empty prompt")
    for t, g in zip(temperatures, generators, strict=True):
        if t > 0 and g is None:
            raise ValueError(f"a sampled row (temperature {t}) needs a generator, got None")
    cache_kw = _cache_kwarg(model)
    t_max = max(len(p) for p in prompts)
    input_ids = torch.full((b, t_max), pad_id, dtype=torch.long)  # (b, t_max), left padded
    mask = torch.zeros((b, t_max), dtype=torch.long)  # (b, t_max), 1 = real token
    for i, p in enumerate(prompts):
        input_ids[i, t_max - len(p) :] = torch.tensor(list(p), dtype=torch.long)
        mask[i, t_max - len(p) :] = 1
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)  # (b, t_max): real tokens at 0..len-1
    next_pos = mask.sum(-1)  # (b,): position of each row's next token

    rows = list(range(b))  # batch row j -> original row rows[j]
    out: list[list[int]] = [[] for _ in range(b)]
    hit_eos = [False] * b
    cache: Any = None
    step_ids = input_ids
    for _ in range(max(max_new_tokens)):
        kwargs: dict[str, Any] = {cache_kw: cache} if cache is not None else {}
        res = model(
            input_ids=step_ids,
            attention_mask=mask,
            position_ids=position_ids,
            use_cache=True,
            logits_to_keep=1,
            **kwargs,
        )
        cache = getattr(res, "cache", None)
        if cache is None:  # transformers < 5.x name
            cache = res.past_key_values
        logits = res.logits[:, -1, :].float()  # (b_active, vocab)
        toks = logits.argmax(-1)  # (b_active,)
        for j, r in enumerate(rows):
            if temperatures[r] > 0:
                probs = torch.softmax(logits[j] / temperatures[r], dim=-1)  # (vocab,)
                toks[j] = torch.multinomial(probs, 1, generator=generators[r])[0]
        keep: list[int] = []
        for j, r in enumerate(rows):
            tok = int(toks[j])
            out[r].append(tok)
            if tok in eos_ids:
                hit_eos[r] = True
            elif len(out[r]) < max_new_tokens[r]:
                keep.append(j)
        if not keep:
            break
        if len(keep) < len(rows):
            idx = torch.tensor(keep, dtype=torch.long)
            cache.batch_select_indices(idx)
            mask, toks, next_pos = mask[idx], toks[idx], next_pos[idx]
            rows = [rows[j] for j in keep]
        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)  # (b_active, t + 1)
        step_ids = toks.view(-1, 1)  # (b_active, 1)
        position_ids = next_pos.view(-1, 1)  # (b_active, 1)
        next_pos = next_pos + 1
    return [DecodedRow(out[i], hit_eos[i]) for i in range(b)]


@dataclass
class _Prepared:
    ids: list[int]
    n_new: int
    seed: int


_Pending = tuple[Request, "asyncio.Future[Response]"]


class _Batcher:
    """Per-event-loop queue + worker task (futures and tasks belong to one loop)."""

    def __init__(self) -> None:
        self.pending: list[_Pending] = []
        self.full = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class LocalProvider:
    name = "local"

    def __init__(
        self,
        model: str | None = None,
        *,
        max_new_tokens: int = 128,
        seed: int = 0,
        loader: Any = None,
        threads: int | None = None,
        max_batch: int = 16,
        max_wait_ms: float = 5.0,
    ) -> None:
        if max_new_tokens < 1:
            raise ValueError(f"`max_new_tokens` must be >= 1, got {max_new_tokens}")
        if max_batch < 1:
            raise ValueError(f"`max_batch` must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"`max_wait_ms` must be >= 0, got {max_wait_ms}")
        self.model = model or DEFAULT_LOCAL_MODEL
        self.max_new_tokens = max_new_tokens
        self.seed = seed
        self.threads = threads
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self._loader = loader or (_default_loader if self.model == DEFAULT_LOCAL_MODEL else self._load_path)
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher] = (
            weakref.WeakKeyDictionary()
        )
        # rows per batched generation, in order (observability; tests count batches with it)
        self.batch_sizes: list[int] = []
        # the token cap, seed and decoder change the answer, so they are part of the cache key;
        # max_batch is not (it changes an answer only through float noise)
        self.cache_extra: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "seed": seed,
            "decoder": DECODER_VERSION,
        }

    def __repr__(self) -> str:
        return (
            f"LocalProvider(model={self.model!r}, max_new_tokens={self.max_new_tokens}, "
            f"seed={self.seed}, max_batch={self.max_batch})"
        )

    def request_identity(self, request: Request) -> dict[str, Any]:
        """What decides the answer: model, prompt, effective token cap, sampling, seed, decoder."""
        return {
            "model": self.model,
            "system": request.system,
            "messages": request.messages,
            "temperature": request.temperature,
            "max_new_tokens": min(request.max_tokens, self.max_new_tokens),
            "seed": self.seed,
            "decoder": DECODER_VERSION,
        }

    def price(self) -> Price:
        return Price(0.0, 0.0)  # runs on this machine

    def _load_path(self) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        return AutoModelForCausalLM.from_pretrained(self.model), AutoTokenizer.from_pretrained(self.model)

    def _get(self) -> tuple[Any, Any]:
        if self._loaded is None:
            model, tok = self._loader()
            model.eval()
            self._loaded = (model, tok)
        return self._loaded

    def request_seed(self, request: Request) -> int:
        """Seed from (base seed, request content): independent of run order (HELM-style)."""
        h = hashlib.sha256(f"{self.seed}:{request.digest()}".encode()).hexdigest()
        return int(h[:15], 16)

    # -- synchronous core ------------------------------------------------------------------------
    def _prepare(self, tok: Any, request: Request) -> _Prepared:
        msgs = ([{"role": "system", "content": request.system}] if request.system else []) + [
            dict(m) for m in request.messages
        ]
        enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        ids = [int(x) for x in enc["input_ids"][0]]  # (t,)
        return _Prepared(ids, min(request.max_tokens, self.max_new_tokens), self.request_seed(request))

    @staticmethod
    def _eos_ids(model: Any, tok: Any) -> frozenset[int]:
        ids: set[int] = set()
        gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        for e in (gen_eos if isinstance(gen_eos, list) else [gen_eos]) + [tok.eos_token_id]:
            if e is not None:
                ids.add(int(e))
        return frozenset(ids)

    def generate_many_sync(self, requests: Sequence[Request]) -> list[Response | Exception]:
        """Answer ``requests`` with ONE batched generation (blocking); one result per request.

        A request that fails to tokenize gets its exception; if the batched forward fails, each
        request is retried alone so one bad request cannot fail its batch-mates.
        """
        import torch

        with self._lock:
            if self.threads is not None:
                torch.set_num_threads(self.threads)
            model, tok = self._get()
            results: list[Response | Exception] = [RuntimeError("not generated")] * len(requests)
            prepared: list[tuple[int, _Prepared]] = []
            for i, req in enumerate(requests):
                try:
                    prepared.append((i, self._prepare(tok, req)))
                except Exception as exc:
                    results[i] = exc
            if not prepared:
                return results
            try:
                rows = self._decode(model, tok, [requests[i] for i, _ in prepared], [p for _, p in prepared])
            except Exception:
                if len(prepared) == 1:
                    raise
                log.warning("batched generation of %d requests failed; retrying one by one", len(prepared))
                for i, p in prepared:
                    try:
                        results[i] = self._decode(model, tok, [requests[i]], [p])[0]
                    except Exception as exc:
                        results[i] = exc
                return results
            for (i, _), resp in zip(prepared, rows, strict=True):
                results[i] = resp
            return results

    def _decode(
        self, model: Any, tok: Any, requests: list[Request], prepared: list[_Prepared]
    ) -> list[Response]:
        import torch

        greedy = [r.temperature == 0.0 for r in requests]
        gens = [
            None if g else torch.Generator().manual_seed(p.seed)
            for g, p in zip(greedy, prepared, strict=True)
        ]
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.inference_mode():
            rows = batched_decode(
                model,
                [p.ids for p in prepared],
                max_new_tokens=[p.n_new for p in prepared],
                temperatures=[r.temperature for r in requests],
                generators=gens,
                eos_ids=self._eos_ids(model, tok),
                pad_id=int(pad),
            )
        self.batch_sizes.append(len(requests))
        out: list[Response] = []
        for req, p, row, g in zip(requests, prepared, rows, greedy, strict=True):
            out.append(
                Response(
                    text=decode_whole_chars(tok, row.tokens).strip(),
                    usage=Usage(len(p.ids), len(row.tokens)),
                    model=self.model,
                    stop_reason="end_turn" if row.hit_eos else "max_tokens",
                    cost_usd=0.0,
                    params={
                        "temperature": req.temperature,
                        "max_tokens": req.max_tokens,
                        "max_new_tokens": p.n_new,
                        "do_sample": not g,
                        "seed": None if g else p.seed,
                        "max_batch": self.max_batch,
                    },
                )
            )
        return out

    # -- async front: dynamic micro-batching -----------------------------------------------------
    async def generate(self, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        b = self._batchers.get(loop)
        if b is None:
            b = self._batchers[loop] = _Batcher()
        fut: asyncio.Future[Response] = loop.create_future()
        b.pending.append((request, fut))
        if len(b.pending) >= self.max_batch:
            b.full.set()
        if b.task is None or b.task.done():
            b.task = loop.create_task(self._drain(b))
        return await fut

    async def _drain(self, b: _Batcher) -> None:
        """Worker: while requests are queued, run them in batches of <= max_batch, one at a time."""
        while b.pending:
            if len(b.pending) < self.max_batch and self.max_wait_ms > 0:
                b.full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(b.full.wait(), self.max_wait_ms / 1000)
            chunk, b.pending = b.pending[: self.max_batch], b.pending[self.max_batch :]
            chunk = [(r, f) for r, f in chunk if not f.done()]  # skip callers that gave up
            if not chunk:
                continue
            try:
                results = await asyncio.to_thread(self.generate_many_sync, [r for r, _ in chunk])
            except asyncio.CancelledError:
                for _, f in chunk:
                    f.cancel()
                raise
            except Exception as exc:
                for _, f in chunk:
                    if not f.done():
                        f.set_exception(exc)
                continue
            for (_, f), res in zip(chunk, results, strict=True):
                if f.done():
                    continue
                if isinstance(res, Exception):
                    f.set_exception(res)
                else:
                    f.set_result(res)

    def should_retry(self, exc: BaseException) -> bool:
        return False  # local failures are deterministic; retrying would repeat them
