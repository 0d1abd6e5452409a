"""Two `llm-eval` commands at once pay for each answer once: over one response cache (each sample is
claimed by the process that sends it; the other waits for the answer) and into one output folder (the
second waits for the first, then resumes and sends nothing).

Two real processes against the local Messages-API stub, which counts every request it receives.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llm_eval.records import load_records
from tests.flows.conftest import REPO
from tests.llm_eval.conftest import FAKE_KEY

N = 16


def _start(stub: Any, out: Path, cache: Path) -> subprocess.Popen[str]:
    cmd = [
        sys.executable, "-m", "flows.cli", "llm-eval", "noisy", "--limit", str(N), "--provider", "anthropic",
        "--base-url", stub.base_url, "--out", str(out), "--concurrency", "2", "--scorer", "rule",
        "--no-progress",
    ]  # fmt: skip
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": FAKE_KEY,
        "PYTHONPATH": str(REPO),
        "FLATBENCH_LLM_CACHE": str(cache),
    }
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.mark.parametrize(
    "same_out",
    [
        pytest.param(False, id="one-cache-two-folders"),
        # the second command waits for the whole first one: ~30 s on 2 shared cores
        pytest.param(True, id="one-folder", marks=pytest.mark.slow),
    ],
)
def test_two_evaluations_at_once_request_each_sample_once(
    tmp_path: Path, make_stub: Any, same_out: bool
) -> None:
    stub = make_stub(latency_s=1.0)  # 16 samples, 2 at a time: each command alone needs about 8 s
    cache = tmp_path / "cache.sqlite"
    outs = [tmp_path / "a", tmp_path / ("a" if same_out else "b")]
    procs = [_start(stub, out, cache) for out in outs]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert stub.n_messages == N, logs  # each sample requested once, by one of the two
    for out in set(outs):
        recs = load_records(out)
        assert len(recs) == N and all(r.ok for r in recs)
    if same_out:
        assert any("is being written by another llm-eval" in log for log in logs), logs
