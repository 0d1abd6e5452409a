"""Local provider throughput: SmolLM2-135M on CPU, unbatched (max_batch=1) vs micro-batched.

Times N real requests (short factual questions, greedy) submitted concurrently to two
LocalProviders that share one loaded model: ``max_batch=1`` (one request per forward, the old
behaviour) and ``max_batch=B`` (dynamic micro-batching). Prints requests/s, generated tokens/s and
the speed-up, plus how often the batched greedy answer equals the unbatched one (they can differ
only through float noise from padding / batch shapes flipping a near-tie). Figures, not a test;
on a shared machine the absolute numbers move, the ratio is the useful part.

    python benchmarks/local_llm_throughput.py [--n 32] [--max-new-tokens 64] [--max-batch 16]
                                              [--threads T] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from llm_eval.providers.local import LocalProvider, _default_loader
from llm_eval.types import Request, Response

QUESTIONS = [
    "What is the capital of France?",
    "What is the capital of Japan?",
    "Who wrote Romeo and Juliet?",
    "What is the largest planet in the solar system?",
    "How many continents are there?",
    "What is the boiling point of water in Celsius?",
    "What gas do plants absorb from the air?",
    "Who painted the Mona Lisa?",
    "What is the chemical symbol for gold?",
    "What is the longest river in Africa?",
    "How many legs does a spider have?",
    "What is the square root of 81?",
    "Which ocean is the largest?",
    "What language is spoken in Brazil?",
    "What is the freezing point of water in Fahrenheit?",
    "Who was the first person to walk on the Moon?",
    "What is the hardest natural substance?",
    "What is the capital of Canada?",
    "How many days are there in a leap year?",
    "What planet is known as the Red Planet?",
    "What is the main ingredient of guacamole?",
    "Who developed the theory of relativity?",
    "What is the smallest prime number?",
    "What is the currency of the United Kingdom?",
    "In which country are the pyramids of Giza?",
    "What is H2O commonly called?",
    "How many sides does a hexagon have?",
    "What is the tallest mountain on Earth?",
    "What is the capital of Australia?",
    "Which organ pumps blood through the body?",
    "What is the fastest land animal?",
    "What year did World War II end?",
]


def requests(n: int, max_new_tokens: int) -> list[Request]:
    qs = [QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" ({i})") for i in range(n)]
    return [
        Request(messages=[{"role": "user", "content": q}], temperature=0.0, max_tokens=max_new_tokens)
        for q in qs
    ]


async def _run_all(provider: LocalProvider, reqs: list[Request]) -> list[Response]:
    return list(await asyncio.gather(*(provider.generate(r) for r in reqs)))


def timed(provider: LocalProvider, reqs: list[Request]) -> tuple[float, list[Response]]:
    t0 = time.perf_counter()
    out = asyncio.run(_run_all(provider, reqs))
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--max-batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    loaded = _default_loader()
    kw: dict[str, Any] = {"max_new_tokens": args.max_new_tokens, "loader": lambda: loaded}
    if args.threads is not None:
        kw["threads"] = args.threads
    reqs = requests(args.n, args.max_new_tokens)
    single = LocalProvider(max_batch=1, **kw)
    batched = LocalProvider(max_batch=args.max_batch, **kw)
    timed(single, reqs[:1])  # warm-up: first forward allocates / picks kernels
    single.batch_sizes.clear()

    t1, r1 = timed(single, reqs)
    tb, rb = timed(batched, reqs)
    tok1 = sum(r.usage.output_tokens for r in r1)
    tokb = sum(r.usage.output_tokens for r in rb)
    same = [a.text == b.text for a, b in zip(r1, rb, strict=True)]
    diffs = [
        {"prompt": q.messages[0]["content"], "unbatched": a.text, "batched": b.text}
        for q, a, b, s in zip(reqs, r1, rb, same, strict=True)
        if not s
    ]
    result: dict[str, Any] = {
        "n": args.n,
        "max_new_tokens": args.max_new_tokens,
        "max_batch": args.max_batch,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "unbatched": {"wall_s": t1, "req_per_s": args.n / t1, "tok_per_s": tok1 / t1, "tokens": tok1},
        "batched": {
            "wall_s": tb,
            "req_per_s": args.n / tb,
            "tok_per_s": tokb / tb,
            "tokens": tokb,
            "batch_sizes": batched.batch_sizes,
        },
        "speedup": t1 / tb,
        "greedy_equal": sum(same),
        "greedy_equal_rate": sum(same) / args.n,
        "differences": diffs,
    }
    print(
        f"n={args.n} max_new_tokens={args.max_new_tokens} threads={result['threads']}\n"
        f"unbatched (max_batch=1): {t1:7.1f} s  {args.n / t1:6.2f} req/s  {tok1 / t1:7.1f} tok/s\n"
        f"batched (max_batch={args.max_batch}): {tb:7.1f} s  {args.n / tb:6.2f} req/s  {tokb / tb:7.1f} tok/s"
        f"  batches={batched.batch_sizes}\n"
        f"speed-up x{t1 / tb:.2f}; greedy batched == unbatched: {sum(same)}/{args.n}"
    )
    for d in diffs:
        print(f"  differs: {d['prompt']!r}\n    1: {d['unbatched']!r}\n    B: {d['batched']!r}")
    if args.json is not None:
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        with tmp.open("w") as f:
            json.dump(result, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, args.json)
    return result


if __name__ == "__main__":
    main()
