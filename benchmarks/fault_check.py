"""Inject the faults of the fault suite once each and print what happened, with figures.

    PYTHONPATH=$PWD python benchmarks/fault_check.py [--json FILE]

Benchmark faults use the flow with the test suite's stand-in runner (tests/flows/fake_runner.py: a
synthetic record, no training), so they measure the pipeline, not training; LLM faults use the local
Messages API stub. Every figure is measured here; nothing is assumed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FAKE = "tests.flows.fake_runner:run_one"
KEY = "sk-ant-fault-check-0123456789"


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def bench_corrupt(tmp: Path) -> dict[str, Any]:
    from flows.benchmark import benchmark

    log, out = tmp / "calls.jsonl", tmp / "run"
    os.environ["FAKE_RUNNER_LOG"] = str(log)
    kw: dict[str, Any] = {"profile": "smoke", "methods": ["lora", "flat_lora"], "seeds": [42, 43], "out": str(out),
          "runner": FAKE, "publish": False}  # fmt: skip
    benchmark(**kw)
    recs = sorted((out / "records").glob("*.json"))
    raw = recs[0].read_bytes()
    recs[0].write_bytes(raw[: len(raw) // 2])
    recs[1].write_bytes(os.urandom(4096))
    recs[2].write_text(json.dumps({k: v for k, v in json.loads(recs[2].read_text()).items() if k != "test"}))
    recs[3].unlink()
    before = _calls(log)
    t0 = time.perf_counter()
    res = benchmark(**kw)
    return {
        "fault": "records truncated / random bytes / no `test` / deleted, Prefect cache holding all 4",
        "rerun_trained": _calls(log) - before,
        "n_cached": res["n_cached"],
        "n_errors": res["n_errors"],
        "moved_to_corrupt": sorted(p.name for p in (out / "records" / ".corrupt").iterdir()),
        "records_after": len(list((out / "records").glob("*.json"))),
        "rerun_s": round(time.perf_counter() - t0, 1),
    }


def bench_readonly(tmp: Path) -> dict[str, Any]:
    """`flatbench benchmark --out DIR` with DIR/records on a read-only bind mount (root ignores modes)."""
    out = tmp / "ro"
    (out / "records").mkdir(parents=True)
    rec = str(out / "records")
    ok = subprocess.run(["mount", "--bind", rec, rec]).returncode == 0 and (
        subprocess.run(["mount", "-o", "remount,ro,bind", rec]).returncode == 0
    )
    if not ok:
        return {"fault": "read-only records/", "skipped": "cannot mount here"}
    try:
        t0 = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-m", "flows.cli", "benchmark", "--profile", "smoke", "--out", str(out)],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        return {
            "fault": "read-only records/ (flatbench benchmark --profile smoke --out DIR)",
            "rc": p.returncode,
            "stderr": p.stderr.strip(),
            "wall_s": round(time.perf_counter() - t0, 1),
        }
    finally:
        subprocess.run(["umount", rec])


def llm_empty(tmp: Path) -> dict[str, Any]:
    from llm_eval.testing.stub_server import StubServer

    with StubServer(api_key=KEY, faults={"empty": 0.2}, seed=1) as stub:
        env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "PYTHONPATH": str(REPO),
               "FLATBENCH_LLM_CACHE": str(tmp / "cache.sqlite")}  # fmt: skip
        cmd = [sys.executable, "-m", "flows.cli", "llm-eval", "noisy", "--provider", "anthropic", "--base-url",
               stub.base_url, "--limit", "30", "--no-progress", "--judge", "heuristic"]  # fmt: skip
        p = subprocess.run(
            [*cmd, "--out", str(tmp / "e1")], cwd=REPO, env=env, capture_output=True, text=True
        )
        first = stub.n_messages
        p2 = subprocess.run(
            [*cmd, "--out", str(tmp / "e2")], cwd=REPO, env=env, capture_output=True, text=True
        )
        line = next((ln.strip() for ln in p.stdout.splitlines() if "answered" in ln), p.stdout[-300:])
        line2 = next((ln.strip() for ln in p2.stdout.splitlines() if "answered" in ln), p2.stdout[-300:])
        return {
            "fault": "20% of replies are content: [] with end_turn (noisy --limit 30)",
            "console": line,
            "requests": first,
            "empty_faults_served": stub.stats().get("fault:empty"),
            "fresh_out_same_cache_console": line2,
            "fresh_out_requests": stub.n_messages - first,
        }


def llm_sigint(tmp: Path) -> dict[str, Any]:
    from llm_eval.records import load_records
    from llm_eval.testing.stub_server import StubServer

    with StubServer(api_key=KEY, latency_s=1.5) as stub:
        env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "PYTHONPATH": str(REPO),
               "FLATBENCH_LLM_CACHE": str(tmp / "cache2.sqlite")}  # fmt: skip
        out = tmp / "sig"
        cmd = [sys.executable, "-m", "flows.cli", "llm-eval", "noisy", "--provider", "anthropic", "--base-url",
               stub.base_url, "--limit", "60", "--concurrency", "4", "--no-progress", "--out", str(out)]  # fmt: skip
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        path = out / "responses.jsonl"
        while not (path.exists() and len(path.read_text().splitlines()) >= 8):
            if proc.poll() is not None:
                return {
                    "fault": "SIGINT mid-run",
                    "error": "the run ended before 8 answers",
                    "rc": proc.returncode,
                }
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        t0 = time.perf_counter()
        so, se = proc.communicate()
        exit_s = time.perf_counter() - t0
        kept, sent = len(load_records(path)), stub.n_messages
        p2 = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        return {
            "fault": "SIGINT mid-run (noisy --limit 60, concurrency 4, 1.5 s per request)",
            "rc": proc.returncode,
            "printed": (so + se).strip().splitlines()[-1:],
            "exit_after_sigint_s": round(exit_s, 1),
            "kept": kept,
            "requests_before_sigint_exit": sent,
            "rerun_rc": p2.returncode,
            "requests_total_for_60_samples": stub.n_messages,
        }


def analysis_200kb(tmp: Path) -> dict[str, Any]:
    words = " ".join(f"word{i % 997} is plain text" for i in range(10_000))
    q = f"What is the capital of France? {words}"
    items = tmp / "items"
    items.mkdir()
    row = {"id": "big", "domain": "geography", "question": q, "answers": ["Paris"],
           "entities": ["France", "capital"], "answer_type": "entity"}  # fmt: skip
    (items / "noisy.jsonl").write_text(json.dumps(row) + "\n")
    os.environ["FLATBENCH_LLM_ITEMS_DIR"] = str(items)
    from llm_eval.analysis import analyze
    from llm_eval.suites import get_suite
    from llm_eval.types import Record, Usage

    samples = get_suite("noisy")("none", 0)
    recs = [
        Record(
            sample_id=s.id,
            item_id=s.item_id,
            condition=s.condition,
            variant=s.variant,
            provider="stub",
            model="m",
            params={},
            system=s.request.system,
            messages=[dict(m) for m in s.request.messages],
            response_text="Paris",
            usage=Usage(1, 1),
            meta=dict(s.meta),
            stop_reason="end_turn",
        )
        for s in samples
    ]
    import reports.stats  # noqa: F401  (scipy import time is not the analysis)

    t0 = time.perf_counter()
    analyze(recs, tmp / "big_out")
    del os.environ["FLATBENCH_LLM_ITEMS_DIR"]
    return {
        "fault": f"a {len(q):,}-code-point question, {len(samples)} records (clean + 14 noisy variants)",
        "analysis_s": round(time.perf_counter() - t0, 2),
        "report_written": (tmp / "big_out" / "report.md").is_file(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    checks = {"bench_corrupt": bench_corrupt, "bench_readonly": bench_readonly, "llm_empty": llm_empty,
              "llm_sigint": llm_sigint, "analysis_200kb": analysis_200kb}  # fmt: skip
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        for name, fn in checks.items():
            if args.only and name not in args.only.split(","):
                continue
            sub = Path(d) / name
            sub.mkdir()
            out[name] = fn(sub)
            print(name, json.dumps(out[name], indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
