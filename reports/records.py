"""Which run records a report may use: read, checked against each other and against the expected grid.

A run dir's ``records/`` is the truth, but it is not trusted blindly:

* a file that cannot be read, decoded or parsed, or lacks a record's fields, is skipped and named
  (:class:`Unreadable`); ``flatbench report`` exits non-zero with the list;
* two records of one (dataset, method, seed) with the same config are one run (kept once); with different
  configs, or one method at two learning rates, the folder is refused (:class:`RecordConflict`) unless
  the caller says which rate to use (``lr={"lora": 3e-4}``);
* records of one dataset trained on different data (``dataset_info.checksum``) are refused;
* a study's sweep runs live in ``sweep/records`` and are never read; a grid record that is one of the
  sweep's runs (its config hash is in ``sweep/sweep.json``) is refused;
* the expected grid (``manifest.json``: datasets × methods × seeds, or per-method seeds; for a study folder
  without one, its design (``design.json``, the first design without one) and its ``power.json``) is
  compared with what was found, so a missing run is reported as missing, never as "3 of 3".
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flatlora.bench.design import DESIGN_FILE, DESIGN_V1, load_design
from flatlora.bench.study import POWER_FILE

__all__ = [
    "GridStatus",
    "LoadedRecords",
    "RecordConflict",
    "Unreadable",
    "check_records",
    "expected_grid",
    "grid_status",
    "read_records",
]

REQUIRED = ("run_id", "dataset", "method", "seed", "status")
PLAN_FILE = "PLAN.md"


class RecordConflict(ValueError):
    """The records cannot be pooled without a choice the report will not make on its own."""


@dataclass
class Unreadable:
    path: str  # relative to the run dir
    reason: str


@dataclass
class LoadedRecords:
    records: list[dict[str, Any]]
    unreadable: list[Unreadable] = field(default_factory=list)
    paths: dict[int, str] = field(default_factory=dict)  # id(record) -> relative path


@dataclass
class GridStatus:
    """The expected grid against the records found; ``expected`` is None when no grid is declared."""

    expected: int | None
    found: int  # distinct (dataset, method, seed) with a record
    ok: int
    failed: int
    missing: list[str] = field(default_factory=list)  # "dataset/method/seed N"
    unreadable: list[Unreadable] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)  # found but not in the expected grid
    duplicates: int = 0  # identical re-runs kept once
    source: str = "none"  # "manifest" | "study plan" | "none"

    def line(self) -> str:
        """One sentence: "4 expected, 3 found (3 ok), 1 missing: ...; 1 unreadable: records/x.json"."""
        head = f"{self.expected} expected, " if self.expected is not None else "no expected grid declared; "
        parts = [f"{head}{self.found} found ({self.ok} ok, {self.failed} failed)"]
        if self.missing:
            parts.append(f"{len(self.missing)} missing: {_few(self.missing)}")
        if self.unreadable:
            parts.append(
                f"{len(self.unreadable)} unreadable: "
                + _few([f"{u.path} ({u.reason})" for u in self.unreadable])
            )
        if self.outside:
            parts.append(f"{len(self.outside)} outside the expected grid: {_few(self.outside)}")
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate record(s) of one run kept once")
        return "; ".join(parts)


def _few(items: Sequence[str], k: int = 6) -> str:
    return ", ".join(items[:k]) + (f" and {len(items) - k} more" if len(items) > k else "")


# ------------------------------------------------------------------------------------------------ read
def _problem(rec: Any) -> str | None:
    if not isinstance(rec, dict):
        return f"not a record (a JSON {type(rec).__name__})"
    missing = [k for k in REQUIRED if k not in rec]
    if missing:
        return f"missing {', '.join(missing)}"
    seed = rec["seed"]
    if isinstance(seed, bool) or not (
        isinstance(seed, int) or (isinstance(seed, str) and seed.strip().lstrip("+-").isdigit())
    ):
        return f"seed {seed!r} is not an integer"
    for key in ("dataset", "method"):
        if not isinstance(rec[key], str) or not rec[key]:
            return f"{key} {rec[key]!r} is not a name"
    if rec["status"] == "ok":
        test = rec.get("test")
        if not isinstance(test, dict) or not isinstance(test.get("accuracy"), int | float):
            return "status ok but no test metrics"
        if (why := _flatness_problem(rec.get("flatness"))) is not None:
            return why
    return None


def _flatness_problem(fl: Any) -> str | None:
    """What a record's `flatness` lacks for the report (None: nothing; a record without a probe has none):
    one base loss and a mean increase per sigma."""
    if not fl:
        return None
    if not isinstance(fl, dict):
        return f"`flatness` is {type(fl).__name__}, not an object"
    sigmas, inc = fl.get("sigmas"), fl.get("mean_increase")
    if not isinstance(sigmas, list) or not sigmas:
        return "`flatness` has no `sigmas`"
    if not isinstance(inc, list) or len(inc) != len(sigmas):
        return f"`flatness.mean_increase` does not hold one value per sigma ({len(sigmas)} sigmas)"
    if not all(isinstance(x, int | float) for x in [*inc, fl.get("base_loss")]):
        return "`flatness` holds a value that is not a number (`base_loss`, `mean_increase`)"
    return None


def read_records(run_dir: str | os.PathLike[str]) -> LoadedRecords:
    """Every readable record in ``run_dir/records`` (file-name order); the rest named with the reason."""
    run = Path(run_dir)
    rec_dir = run / "records"
    out = LoadedRecords([])
    for p in sorted(rec_dir.glob("*.json")):
        rel = str(p.relative_to(run))
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            out.unreadable.append(Unreadable(rel, f"not UTF-8 text at byte {exc.start}"))
            continue
        except json.JSONDecodeError as exc:
            out.unreadable.append(Unreadable(rel, f"invalid JSON at line {exc.lineno} column {exc.colno}"))
            continue
        except OSError as exc:
            out.unreadable.append(Unreadable(rel, f"cannot be read: {exc.strerror or exc}"))
            continue
        why = _problem(rec)
        if why:
            out.unreadable.append(Unreadable(rel, why))
            continue
        out.paths[id(rec)] = rel
        out.records.append(rec)
    return out


# ---------------------------------------------------------------------------------------------- checks
def _lr(rec: Mapping[str, Any]) -> float | None:
    v = (rec.get("config") or {}).get("lr")
    return float(v) if isinstance(v, int | float) else None


def _same_lr(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9)


def _config_key(rec: Mapping[str, Any]) -> str:
    if rec.get("config_hash"):
        return str(rec["config_hash"])
    cfg = {k: v for k, v in (rec.get("config") or {}).items() if k != "num_threads"}
    return json.dumps(cfg, sort_keys=True, default=str)


def _differing(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    ca, cb = a.get("config") or {}, b.get("config") or {}
    keys = sorted(k for k in set(ca) | set(cb) if k != "num_threads" and ca.get(k) != cb.get(k))
    return keys


def check_records(
    loaded: LoadedRecords,
    *,
    lr: Mapping[str, float] | None = None,
    sweep: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The records one report may pool, and how many identical duplicates were dropped.

    Raises :class:`RecordConflict` (one line, naming files) for mixed data, two configs of one run, one
    method at two learning rates (unless ``lr`` picks one), or a sweep run in the grid.
    """
    recs = loaded.records
    name = loaded.paths.get
    lr = dict(lr or {})

    sweep_hashes = {
        str(p.get("config_hash"))
        for res in ((sweep or {}).get("sweeps") or {}).values()
        for p in (res.get("points") or [])
        if p.get("config_hash")
    }
    for r in recs:
        if r.get("config_hash") and str(r["config_hash"]) in sweep_hashes:
            raise RecordConflict(
                f"{name(id(r))} is a run of the learning-rate sweep (its config hash is in sweep/sweep.json); "
                "sweep runs are never pooled into the grid: remove it from records/"
            )

    by_ds: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in recs:
        by_ds[str(r["dataset"])][str((r.get("dataset_info") or {}).get("checksum") or "")].append(r)
    for ds, groups in by_ds.items():
        known = {k: v for k, v in groups.items() if k}
        if len(known) > 1:
            desc = "; ".join(
                f"{k[:12]} in {len(v)} record(s), e.g. {name(id(v[0]))}" for k, v in sorted(known.items())
            )
            raise RecordConflict(
                f"records of {ds} were trained on {len(known)} different data files (checksums {desc}); "
                "rerun the command that trained them: the runs of another version of the file train again "
                "and their old records move to records/.stale/"
            )

    for method, want in lr.items():
        if not any(str(r["method"]) == method for r in recs):
            raise RecordConflict(f"--lr names {method}, which has no records")
        if not any(str(r["method"]) == method and _same_lr(_lr(r), want) for r in recs):
            have = sorted({x for r in recs if str(r["method"]) == method and (x := _lr(r)) is not None})
            raise RecordConflict(
                f"no {method} records at lr {want:g} (its records use {', '.join(f'{x:g}' for x in have)})"
            )
    kept = [r for r in recs if str(r["method"]) not in lr or _same_lr(_lr(r), lr[str(r["method"])])]

    rates: dict[tuple[str, str], dict[float | None, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in kept:
        rates[(str(r["dataset"]), str(r["method"]))][_lr(r)].append(r)
    for (ds, method), by_rate in sorted(rates.items()):
        if len(by_rate) > 1:
            desc = ", ".join(
                f"{x:g} ({len(v)} record(s))" if x is not None else f"unknown ({len(v)})"
                for x, v in sorted(by_rate.items(), key=lambda kv: (kv[0] is None, kv[0] or 0.0))
            )
            best = max(by_rate.items(), key=lambda kv: len(kv[1]))[0]
            hint = f" e.g. --lr {method}={best:g}" if best is not None else ""
            raise RecordConflict(
                f"{ds}: {method} has records at {len(by_rate)} learning rates: {desc}; "
                f"say which to use ({hint.strip() or '--lr METHOD=RATE'}) or remove the others"
            )

    cells: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in kept:
        cells[(str(r["dataset"]), str(r["method"]), int(r["seed"]))].append(r)
    out: list[dict[str, Any]] = []
    dropped = 0
    for (ds, method, seed), rs in sorted(cells.items()):
        configs = {_config_key(r): r for r in rs}
        if len(configs) > 1:
            a, b = list(configs.values())[:2]
            diff = _differing(a, b) or ["config_hash"]
            raise RecordConflict(
                f"{ds}/{method}/seed {seed} has {len(configs)} different configs "
                f"({name(id(a))} and {name(id(b))} differ in {', '.join(diff[:4])}); a report pools one "
                "config per run: move the records of the other config out of records/ (train each config "
                "into its own --out)"
            )
        # one config: reruns of one run; keep the ok one that finished last
        keep = max(
            rs,
            key=lambda r: (
                r.get("status") == "ok",
                str((r.get("provenance") or {}).get("finished_at") or ""),
            ),
        )
        dropped += len(rs) - 1
        out.append(keep)
    return out, dropped


# ------------------------------------------------------------------------------------------------ grid
def expected_grid(
    run_dir: str | os.PathLike[str], datasets: Sequence[str]
) -> tuple[set[tuple[str, str, int]], str]:
    """(dataset, method, seed) cells the run dir promises, and where that came from.

    ``manifest.json``: its datasets × (``method_seeds`` or methods × seeds). A study folder (``PLAN.md`` or
    ``design.json``) without a manifest: its design's grid, primary methods at the n of ``power.json`` (the
    pilot's size until it exists), secondary methods at their fixed seeds, for each dataset found.
    """
    run = Path(run_dir)
    manifest = _json(run / "manifest.json") or {}
    if manifest.get("method_seeds") or (manifest.get("methods") and manifest.get("seeds")):
        grid = manifest.get("method_seeds") or {m: manifest["seeds"] for m in manifest["methods"]}
        names = [str(d) for d in manifest.get("datasets") or datasets]
        return {(d, str(m), int(s)) for d in names for m, ss in grid.items() for s in ss}, "manifest"
    if (run / PLAN_FILE).is_file() or (run / DESIGN_FILE).is_file():
        design = load_design(run) or DESIGN_V1
        power = _json(run / POWER_FILE) or {}
        n = int(power.get("n") or design.pilot_seeds)
        plan = {m: design.grid_seeds(n) for m in design.primary}
        plan |= {m: design.grid_seeds(design.secondary_seeds) for m in design.secondary}
        return {(d, m, s) for d in datasets for m, ss in plan.items() for s in ss}, "study plan"
    return set(), "none"


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _aliases(rec: Mapping[str, Any]) -> set[str]:
    """Names a record's dataset may have in a manifest: as recorded, as configured, the file's name."""
    names = {str(rec.get("dataset")), str((rec.get("config") or {}).get("dataset") or rec.get("dataset"))}
    return names | {Path(n).name for n in names}


def grid_status(
    run_dir: str | os.PathLike[str],
    records: Sequence[Mapping[str, Any]],
    unreadable: Sequence[Unreadable] = (),
    duplicates: int = 0,
) -> GridStatus:
    datasets = sorted({str(r["dataset"]) for r in records})
    expected, source = expected_grid(run_dir, datasets)
    found: dict[tuple[str, str, int], Mapping[str, Any]] = {}
    for r in records:
        key = (str(r["dataset"]), str(r["method"]), int(r["seed"]))
        for alias in _aliases(r):  # match the manifest's spelling of the dataset
            if (alias, key[1], key[2]) in expected:
                key = (alias, key[1], key[2])
                break
        found[key] = r
    ok = sum(r.get("status") == "ok" for r in found.values())

    def label(c: tuple[str, str, int]) -> str:
        return f"{c[0]}/{c[1]}/seed {c[2]}"

    return GridStatus(
        expected=len(expected) if source != "none" else None,
        found=len(found),
        ok=ok,
        failed=len(found) - ok,
        missing=[label(c) for c in sorted(expected - set(found))],
        unreadable=list(unreadable),
        outside=[label(c) for c in sorted(set(found) - expected)] if source != "none" else [],
        duplicates=duplicates,
        source=source,
    )
