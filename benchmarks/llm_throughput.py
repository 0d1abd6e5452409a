"""Runner throughput against the Messages API stub (figures, not a timed test).

400 requests at concurrency 32 against a stub answering in 200 ms: ideal wall time is
400 * 0.2 / 32 = 2.5 s; target ratio <= 1.3. Then the same samples again from the cache:
target 0 requests in < 2 s. The stub runs in its own process (``--inprocess`` to share ours),
so its event loop does not compete with the client's for the GIL.

    python benchmarks/llm_throughput.py [--json FILE] [--n 400] [--concurrency 32] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llm_eval.providers.anthropic import AnthropicProvider
from llm_eval.runner import RunStats, run_samples
from llm_eval.testing.stub_server import StubServer
from llm_eval.types import Request, Sample

KEY = "bench-key-not-a-secret"


@contextlib.contextmanager
def stub_process(latency: float) -> Iterator[str]:
    cmd = [
        sys.executable,
        "-m",
        "llm_eval.testing.stub_server",
        "--port",
        "0",
        "--latency",
        str(latency),
        "--api-key",
        KEY,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"stub did not start: {line!r}")
        yield line.strip().rsplit(" ", 1)[-1]
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def stub_thread(latency: float) -> Iterator[str]:
    with StubServer(api_key=KEY, latency_s=latency) as stub:
        yield stub.base_url


def stub_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/_stub/stats", timeout=10) as r:
        return dict(json.load(r))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--inprocess", action="store_true", help="run the stub in a thread of this process")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)

    samples = [
        Sample(
            id=f"bench/{i}",
            item_id=str(i),
            condition="en",
            variant="clean",
            request=Request(messages=[{"role": "user", "content": f"benchmark question {i}"}], max_tokens=32),
        )
        for i in range(args.n)
    ]
    ideal = args.n * args.latency / args.concurrency
    if ideal <= 0:
        ap.error(f"`--latency` and `--n` must be > 0, got {args.latency}, {args.n}")
    # The SDK is imported lazily by the provider; its one-off import (seconds on a busy machine)
    # is a start-up cost, not throughput, so it happens before the clock starts.
    import anthropic  # noqa: F401

    with (
        tempfile.TemporaryDirectory() as tmp,
        (stub_thread if args.inprocess else stub_process)(args.latency) as url,
    ):
        cache = Path(tmp) / "cache.sqlite"
        provider = AnthropicProvider(api_key=KEY, base_url=url, timeout_s=30.0, max_retries=2)
        s1 = RunStats()
        stub0 = stub_stats(url)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        recs = run_samples(samples, provider, Path(tmp) / "run1", concurrency=args.concurrency, cache=cache,
                           progress=False, stats=s1)  # fmt: skip
        wall = time.perf_counter() - t0
        client_cpu = time.process_time() - cpu0
        stub1 = stub_stats(url)
        sent1 = stub1["messages"]
        t0 = time.perf_counter()
        recs2 = run_samples(samples, provider, Path(tmp) / "run2", concurrency=args.concurrency, cache=cache,
                            progress=False)  # fmt: skip
        wall_cached = time.perf_counter() - t0
        sent2 = stub_stats(url)["messages"] - sent1
    result = {
        "n": args.n,
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "stub": "thread" if args.inprocess else "process",
        "answered": sum(r.ok for r in recs),
        "errors": sum(not r.ok for r in recs),
        "requests_sent": sent1,
        "wall_s": round(wall, 3),
        "ideal_s": round(ideal, 3),
        "ratio": round(wall / ideal, 3),
        "ratio_target": 1.3,
        "cached_rerun_requests": sent2,
        "cached_rerun_answered": sum(r.ok and r.cached for r in recs2),
        "cached_rerun_wall_s": round(wall_cached, 3),
        "cached_rerun_target_s": 2.0,
        "client_cpu_s": round(client_cpu, 3),
        "stub_cpu_s": round(stub1["process_cpu_s"] - stub0["process_cpu_s"], 3)
        if not args.inprocess
        else None,
        "stub_peak_in_flight": stub1["peak_in_flight"],
        "limiter": s1.extra.get("limiter"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus (shared)",
        "python": platform.python_version(),
    }
    print(
        f"{args.n} requests @ concurrency {args.concurrency}, stub latency {args.latency}s ({result['stub']})\n"
        f"  wall {wall:.2f}s  ideal {ideal:.2f}s  ratio {wall / ideal:.2f} (target <= 1.3)"
        f"  answered {result['answered']} errors {result['errors']}\n"
        f"  cpu: client {client_cpu:.2f}s, stub {result['stub_cpu_s']}s; peak in flight {stub1['peak_in_flight']}\n"
        f"  cached rerun: {sent2} requests (target 0) in {wall_cached:.2f}s (target < 2 s)"
    )
    if args.json is not None:
        tmpf = args.json.with_name(args.json.name + ".tmp")
        tmpf.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(tmpf, args.json)
    return result


if __name__ == "__main__":
    main()
