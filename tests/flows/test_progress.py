"""GridProgress: run k of N, counts by source, ETA from the runs that trained."""

from __future__ import annotations

from flows.progress import GridProgress, fmt_eta


def test_counts_and_eta_from_trained_runs_only() -> None:
    lines: list[str] = []
    p = GridProgress(total=5, log=lines.append)
    p.finish("ds/lora/s42", "cached", 0.1)
    assert p.eta_s() is None and "ETA after the first trained run" in lines[-1]
    p.finish("ds/lora/s43", "computed", 120.0)
    p.finish("ds/lora/s44", "computed", 60.0)
    # 2 runs left x mean 90 s of the trained runs (the cached one does not count)
    assert p.eta_s() == 180.0
    assert lines[-1] == (
        "run 3/5 ds/lora/s44: computed in 1.0 min | finished 3/5: trained 2, cached 1, from disk 0; ETA 3.0 min"
    )
    p.finish("ds/full/s42", "disk", 0.0)
    p.finish("ds/full/s43", "error", 3.0)
    assert lines[-1].endswith("finished 5/5: trained 2, cached 1, from disk 1, errors 1")


def test_sequential_start_and_clock() -> None:
    t = iter([0.0, 30.0])
    lines: list[str] = []
    p = GridProgress(total=2, log=lines.append, clock=lambda: next(t))
    p.start(1, "ds/lora/s42")
    assert (
        lines[-1]
        == "run 1/2 ds/lora/s42: starting (finished 0/2: trained 0, cached 0, from disk 0; ETA after the first trained run)"
    )
    p.finish("ds/lora/s42", "computed")
    assert p.trained_s == [30.0] and "ETA 30 s" in lines[-1]


def test_concurrent_grid_eta_is_throughput() -> None:
    lines: list[str] = []
    p = GridProgress(total=4, log=lines.append, show_duration=False)
    p.finish("a", "remote", 100.0)  # seconds since the previous finish
    p.finish("b", "remote", 20.0)
    assert (
        p.eta_s() == 120.0
        and lines[-1] == "run 2/4 b: remote | finished 2/4: trained 2, cached 0, from disk 0; ETA 2.0 min"
    )
    assert fmt_eta(7200) == "ETA 2.0 h"
