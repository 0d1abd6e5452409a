"""Learning-rate sweep on validation, and the study grid that uses its result.

A sweep trains one seed of one method at each candidate learning rate and picks the rate with the
best *validation* score (the test split is never looked at). In the study, lora, flat_lora, full
fine-tuning and SAM on W each get their own sweep over the same candidates per family; SAM on A,B reuses
LoRA's rate (as the Flat-LoRA paper does). The sweep seed is outside the grid's seeds, so no grid run is
a sweep run. Each run is an ordinary runner record under `<sweep dir>/records/`, so a rerun reuses
every finished run of the data as it is now; `<sweep dir>/sweep.json` (written atomically) holds every
rate's validation curve, the chosen rate and the rule. This module needs no Prefect.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flatlora.bench import rundir
from flatlora.bench.config import METHODS, RunConfig, resolve_config
from flatlora.bench.records import atomic_write_json, now_iso, record_path

STUDY_PROFILE = "study"
SWEEP_SEED = 0  # grid seeds start at 1: no grid run is a sweep run
# Candidate rates per swept method. LoRA-style methods move little below 1e-4 in ~400 steps; full
# fine-tuning updates every weight and diverges well below LoRA's rates.
SWEEP_LRS: dict[str, tuple[float, ...]] = {
    "lora": (1e-4, 3e-4, 1e-3, 3e-3),
    "flat_lora": (1e-4, 3e-4, 1e-3, 3e-3),
    "full": (1e-5, 3e-5, 1e-4),
    "sam_w": (1e-4, 3e-4, 1e-3, 3e-3),
}
# Which sweep each method's learning rate comes from.
LR_SOURCE: dict[str, str] = {
    "lora": "lora",
    "flat_lora": "flat_lora",
    "sam_ab": "lora",
    "full": "full",
    "sam_w": "sam_w",
}
_MAIN, _BASE = tuple(range(1, 11)), tuple(range(1, 6))
STUDY_GRID: dict[str, tuple[int, ...]] = {
    "lora": _MAIN,
    "flat_lora": _MAIN,
    "full": _BASE,
    "sam_ab": _BASE,
    "sam_w": _BASE,
}
SWEEP_FILE = "sweep.json"
# a failed record worth reusing says something about the rate itself; others (a crash) train again
_LR_FAILURES = ("training diverged", "non-finite")

Runner = Callable[..., dict[str, Any]]


def rule_text(metric: str) -> str:
    return (
        f"highest validation {metric} at any epoch of one seed; ties: lower validation loss at that "
        "epoch, then the smaller rate; failed runs are not eligible; test metrics are not used"
    )


class SweepMissing(RuntimeError):
    """The study needs a sweep result that is not there (or no rate of it finished)."""


@dataclass
class SweepPoint:
    lr: float
    run_id: str
    config_hash: str
    status: str
    source: str  # "computed" | "disk"
    failure_reason: str | None = None
    best_epoch: int | None = None  # the epoch of `score` (max over epochs of the metric)
    score: float | None = None
    val_loss: float | None = None  # validation loss at that epoch
    val_history: list[dict[str, Any]] = field(default_factory=list)
    wall_time_s: float | None = None


@dataclass
class SweepResult:
    method: str
    profile: str
    dataset: str
    seed: int
    metric: str
    lrs: list[float]
    rule: str
    points: list[SweepPoint]
    chosen_lr: float | None
    overrides: dict[str, Any]
    finished_at: str
    # "highest" / "lowest" when the chosen rate is a candidate at the end of the range: the validation
    # optimum may lie outside it (said in the log and the report, never silently extended)
    edge: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SweepResult:
        pts = [SweepPoint(**p) for p in d.get("points", [])]
        return cls(**{**dict(d), "points": pts})


def parse_lrs(text: str) -> list[float]:
    """`1e-4,3e-4` -> [1e-4, 3e-4]; a bad or non-positive value raises naming it."""
    out: list[float] = []
    for raw in (t.strip() for t in text.split(",")):
        if not raw:
            continue
        try:
            v = float(raw)
        except ValueError:
            raise ValueError(
                f"learning rates must be comma-separated numbers, got {raw!r} in {text!r}"
            ) from None
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"learning rates must be > 0, got {raw!r}")
        out.append(v)
    if not out:
        raise ValueError(f"no learning rate in {text!r}")
    return sorted(set(out))


def rate_failure(rec: Mapping[str, Any]) -> bool:
    """A failed sweep record that says something about the rate itself (divergence): reused, not retrained."""
    return str(rec.get("failure_reason") or "").startswith(_LR_FAILURES)


def reusable_record(
    path: Path,
    chash: str,
    log: Callable[[str], None] | None = None,
    data: rundir.DataCheck | None = None,
) -> dict[str, Any] | None:
    """The record at `path` if it finished this exact config (ok, or failed because of the rate) on the
    data as it is now (`data`: see `rundir.DataCheck`). A file that is there but unreadable, incomplete
    or of another config is moved to `records/.corrupt/`; a record of other data is left in place."""
    return rundir.reusable_record(path, chash, accept_failed=rate_failure, log=log, data=data)


def headline_of(rec: Mapping[str, Any]) -> str:
    return str((rec.get("dataset_info") or {}).get("headline_metric") or "accuracy")


def point_from_record(lr: float, rec: Mapping[str, Any], source: str, metric: str) -> SweepPoint:
    hist = [dict(h) for h in rec.get("val_history") or []]
    pt = SweepPoint(
        lr=lr,
        run_id=str(rec.get("run_id")),
        config_hash=str(rec.get("config_hash")),
        status=str(rec.get("status")),
        source=source,
        failure_reason=rec.get("failure_reason"),
        val_history=hist,
        wall_time_s=(rec.get("cost") or {}).get("wall_time_s"),
    )
    scored = [h for h in hist if _finite(h.get(metric)) and _finite(h.get("loss"))]
    if rec.get("status") == "ok" and scored:
        best = max(scored, key=lambda h: (float(h[metric]), -float(h["loss"])))
        pt.best_epoch, pt.score, pt.val_loss = int(best["epoch"]), float(best[metric]), float(best["loss"])
    return pt


def select_lr(points: Sequence[SweepPoint]) -> float | None:
    """The rule of `rule_text`: best score, then lower validation loss, then the smaller rate."""
    ok = [p for p in points if p.status == "ok" and p.score is not None and p.val_loss is not None]
    if not ok:
        return None
    best = max(ok, key=lambda p: (p.score, -float(p.val_loss or 0.0), -p.lr))
    return best.lr


def sweep_configs(
    method: str, lrs: Sequence[float], profile: str, seed: int, dataset: str, overrides: Mapping[str, Any]
) -> list[RunConfig]:
    extra = {k: v for k, v in overrides.items() if k not in ("lr", "method", "seed", "dataset")}
    if extra.get("val_metrics") is False:
        raise ValueError("`val_metrics` must stay true in a sweep or study: they select on validation")
    return [
        resolve_config(profile, dataset=dataset, method=method, seed=seed, lr=float(lr), **extra)
        for lr in lrs
    ]


def run_sweep(
    method: str,
    lrs: Sequence[float],
    out: str | os.PathLike[str],
    *,
    profile: str = STUDY_PROFILE,
    seed: int = SWEEP_SEED,
    dataset: str = "fpb_50agree",
    data_dir: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    runner: Runner | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> SweepResult:
    """Train (or reuse) one run per rate, select on validation, merge the result into `out/sweep.json`.

    The file is rewritten after every run, so an interrupted sweep keeps what it finished.
    """
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}")
    if not lrs:
        raise ValueError("a sweep needs at least one learning rate")
    overrides = dict(overrides or {})
    if runner is None:
        from flatlora.bench.runner import run_one

        runner = run_one
    cfgs = sweep_configs(method, sorted(set(float(x) for x in lrs)), profile, seed, dataset, overrides)
    points: list[SweepPoint] = []
    metric = "accuracy"
    say = log or (lambda _m: None)
    data = rundir.DataCheck(data_dir)
    for cfg in cfgs:  # records of an earlier version of the data file: said once, before any training
        data.at(record_path(cfg, out))
    for line in data.summary():
        say(f"sweep {method}: {line}")
    for k, cfg in enumerate(cfgs, 1):
        say(f"sweep {method} {k}/{len(cfgs)}: lr {cfg.lr:g}")
        rec, source = rundir.train_or_reuse(
            cfg,
            out,
            runner,
            accept_failed=rate_failure,
            log=say,
            data=data,
            progress=progress,
            data_dir=data_dir,
        )
        if source == "disk":
            say(f"sweep {method} {k}/{len(cfgs)}: lr {cfg.lr:g} (finished record reused)")
        metric = headline_of(rec) if rec.get("dataset_info") else metric
        points.append(point_from_record(cfg.lr, rec, source, metric))
        result = _result(method, profile, dataset, seed, metric, cfgs, points, overrides)
        if source != "disk":  # a trained point is saved at once; a resume rewrites nothing it already has
            write_sweep(out, result)
    write_sweep(out, result)
    if result.edge is not None:
        say(
            f"sweep {method}: the chosen rate {result.chosen_lr:g} is the {result.edge} candidate; the "
            "validation optimum may lie beyond the range"
        )
    return result


def _result(
    method: str,
    profile: str,
    dataset: str,
    seed: int,
    metric: str,
    cfgs: Sequence[RunConfig],
    points: list[SweepPoint],
    overrides: Mapping[str, Any],
) -> SweepResult:
    done = len(points) == len(cfgs)
    chosen = select_lr(points) if done else None
    return SweepResult(
        method=method,
        profile=profile,
        dataset=dataset,
        seed=seed,
        metric=metric,
        lrs=[c.lr for c in cfgs],
        rule=rule_text(metric),
        points=list(points),
        chosen_lr=chosen,
        overrides={k: v for k, v in overrides.items() if k not in ("lr", "method", "seed", "dataset")},
        finished_at=now_iso(),
        edge=range_edge(chosen, [c.lr for c in cfgs]),
    )


def range_edge(chosen: float | None, lrs: Sequence[float]) -> str | None:
    """Which end of the candidate range `chosen` sits at, if any (None for a single candidate)."""
    if chosen is None or len(lrs) < 2:
        return None
    return "highest" if chosen == max(lrs) else "lowest" if chosen == min(lrs) else None


def write_sweep(out: str | os.PathLike[str], result: SweepResult) -> Path:
    """Merge `result` into `out/sweep.json` under `sweeps[method]` (atomic read-modify-write). A result
    that differs from the stored one only in when and how its points were obtained (`finished_at`, each
    point's `source`: a resume reads from disk what was computed) leaves the file as it is."""
    path = Path(out) / SWEEP_FILE
    data = load_sweep_file(out)
    new = result.to_dict()
    old = data["sweeps"].get(result.method)
    if old is not None and _content(old) == _content(new) and data.get("lr_source") == LR_SOURCE:
        return path
    data["sweeps"][result.method] = new
    data["lr_source"] = dict(LR_SOURCE)
    return atomic_write_json(path, data)


def _content(entry: Mapping[str, Any]) -> dict[str, Any]:
    points = [{k: v for k, v in p.items() if k != "source"} for p in entry.get("points", [])]
    return {**{k: v for k, v in entry.items() if k != "finished_at"}, "points": points}


def load_sweep_file(out: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(out) / SWEEP_FILE
    if not path.is_file():
        return {"sweeps": {}}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    data.setdefault("sweeps", {})
    return data


def matching_sweep(
    out: str | os.PathLike[str],
    method: str,
    lrs: Sequence[float],
    *,
    profile: str,
    seed: int,
    dataset: str,
    overrides: Mapping[str, Any],
) -> SweepResult | None:
    """The stored sweep of `method` if it covers exactly this plan and chose a rate, else None."""
    d = load_sweep_file(out)["sweeps"].get(method)
    if not d:
        return None
    res = SweepResult.from_dict(d)
    want = {k: v for k, v in overrides.items() if k not in ("lr", "method", "seed", "dataset")}
    same = (
        res.profile == profile
        and res.seed == seed
        and res.dataset == dataset
        and sorted(res.lrs) == sorted(float(x) for x in lrs)
        and json.dumps(res.overrides, sort_keys=True, default=str)
        == json.dumps(want, sort_keys=True, default=str)
    )
    return res if same and res.chosen_lr is not None else None


def chosen_lrs(out: str | os.PathLike[str], methods: Sequence[str]) -> dict[str, float]:
    """method -> learning rate from `out/sweep.json` via LR_SOURCE; SweepMissing names the command."""
    sweeps = load_sweep_file(out)["sweeps"]
    lrs: dict[str, float] = {}
    for m in methods:
        src = LR_SOURCE.get(m, m)
        got = sweeps.get(src) or {}
        if got.get("chosen_lr") is None:
            raise SweepMissing(
                f"no finished learning-rate sweep for {src!r} (needed by {m!r}) in {Path(out) / SWEEP_FILE}: "
                f"run `flatbench sweep --method {src} --out {out}` or `flatbench study`"
            )
        lrs[m] = float(got["chosen_lr"])
    return lrs


def reuse_sweep_records(
    sweep_dir: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    cfgs: Sequence[RunConfig],
    log: Callable[[str], None] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> int:
    """Copy the sweep's finished record of any grid config (same hash: same seed, rate, settings; the
    data as it is now) into the grid's records, so that run is not trained twice. Returns how many
    were copied."""
    n = 0
    data = rundir.DataCheck(data_dir)
    for cfg in cfgs:
        src, dst = record_path(cfg, sweep_dir), record_path(cfg, run_dir)
        if not src.is_file() or rundir.reusable_record(dst, cfg.config_hash(), log=log, data=data):
            continue
        rec = reusable_record(src, cfg.config_hash(), log=log, data=data)
        if rec is None or rec.get("status") != "ok":
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        n += 1
    return n


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


__all__ = [
    "LR_SOURCE",
    "STUDY_GRID",
    "STUDY_PROFILE",
    "SWEEP_LRS",
    "SWEEP_SEED",
    "SweepMissing",
    "SweepPoint",
    "SweepResult",
    "chosen_lrs",
    "matching_sweep",
    "parse_lrs",
    "range_edge",
    "rate_failure",
    "reuse_sweep_records",
    "run_sweep",
    "select_lr",
    "write_sweep",
]
