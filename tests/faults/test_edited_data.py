"""A data file edited after its runs were trained: those runs train again, said once per dataset; records
of the file as it is stay reusable (the committed study resumes without training anything).

The edit is the one the README suggests when validation finds a stray label: fix a label in the file and
rerun the same command.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from flatlora.bench.config import RunConfig, resolve_config
from flatlora.bench.data import FPB_SHA256, FPB_SHIPPED
from flatlora.bench.records import atomic_write_json, record_path, run_id
from flatlora.bench.rundir import DataCheck, data_checksum, train_or_reuse
from tests.flows.conftest import REPO
from tests.reports.factory import make_record

STUDY = REPO / "reports" / "examples" / "study_fpb50"
FPB_FILE = "financial_phrasebank/Sentences_50Agree.txt"


def _data_dir(root: Path) -> Path:
    """A data dir holding the Financial PhraseBank 50agree file, byte for byte as shipped."""
    path = root / FPB_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.decompress(FPB_SHIPPED["50agree"].read_bytes()))
    return root


def _fix_a_label(data_dir: Path) -> None:
    """Change the label of the first neutral sentence to positive (a 'fixed' label)."""
    path = data_dir / FPB_FILE
    raw = path.read_bytes()
    i = raw.index(b"@neutral")
    path.write_bytes(raw[:i] + b"@positive" + raw[i + len(b"@neutral") :])


def _runner(calls: list[int]) -> Any:
    """Records the data checksum the real runner would record, like the real runner."""

    def run(cfg: RunConfig, out_dir: Any, data_dir: Any = None, **_: Any) -> dict[str, Any]:
        calls.append(cfg.seed)
        rec = make_record(cfg.dataset_slug(), cfg.method, cfg.seed, profile=cfg.profile)
        rec.update(run_id=run_id(cfg), config=cfg.to_dict(), config_hash=cfg.config_hash())
        rec["dataset_info"] = {**rec["dataset_info"], "checksum": data_checksum(cfg.to_dict(), data_dir)}
        atomic_write_json(record_path(cfg, out_dir), rec)
        return rec

    return run


def test_an_edited_data_file_retrains_its_runs_and_keeps_the_old_records(tmp_path: Path) -> None:
    data_dir = _data_dir(tmp_path / "data")
    out = tmp_path / "run"
    cfgs = [resolve_config("smoke", method="lora", seed=s) for s in (1, 2, 3)]
    calls: list[int] = []
    for cfg in cfgs:
        assert train_or_reuse(cfg, out, _runner(calls), data_dir=data_dir)[1] == "computed"
    old = {c.seed: json.loads(record_path(c, out).read_text()) for c in cfgs}
    assert {r["dataset_info"]["checksum"] for r in old.values()} == {FPB_SHA256["50agree"]}

    # the same file: every run is reused
    assert [train_or_reuse(c, out, _runner(calls), data_dir=data_dir)[1] for c in cfgs] == ["disk"] * 3
    assert calls == [1, 2, 3]

    _fix_a_label(data_dir)
    data = DataCheck(data_dir)
    for cfg in cfgs:
        data.at(record_path(cfg, out))
    now = data_checksum(cfgs[0].to_dict(), data_dir)
    assert now is not None and now != FPB_SHA256["50agree"]
    (line,) = data.summary()
    assert line.startswith("fpb_50agree: data changed since the records: 3 runs retrain")
    assert FPB_SHA256["50agree"][:12] in line and now[:12] in line

    sources = [train_or_reuse(c, out, _runner(calls), data_dir=data_dir, data=data)[1] for c in cfgs]
    assert sources == ["computed"] * 3 and calls == [1, 2, 3, 1, 2, 3]
    for cfg in cfgs:  # the new records name the new file; the old ones are kept, byte for byte
        path = record_path(cfg, out)
        assert json.loads(path.read_text())["dataset_info"]["checksum"] == now
        assert json.loads((path.parent / ".stale" / path.name).read_text()) == old[cfg.seed]
    # and the new records are reused
    assert [train_or_reuse(c, out, _runner(calls), data_dir=data_dir)[1] for c in cfgs] == ["disk"] * 3
    assert len(calls) == 6


def test_an_edited_data_file_retrains_the_sweep(tmp_path: Path) -> None:
    from flatlora.bench.sweep import run_sweep

    data_dir = _data_dir(tmp_path / "data")
    calls: list[int] = []
    kw: dict[str, Any] = {"profile": "smoke", "data_dir": data_dir, "progress": False}
    run_sweep("lora", [1e-3, 3e-3], tmp_path / "sweep", runner=_runner(calls), **kw)
    run_sweep("lora", [1e-3, 3e-3], tmp_path / "sweep", runner=_runner(calls), **kw)
    assert len(calls) == 2
    _fix_a_label(data_dir)
    logs: list[str] = []
    res = run_sweep("lora", [1e-3, 3e-3], tmp_path / "sweep", runner=_runner(calls), log=logs.append, **kw)
    assert len(calls) == 4 and [p.source for p in res.points] == ["computed", "computed"]
    assert sum("data changed since the records: 2 runs retrain" in m for m in logs) == 1
    assert len(list((tmp_path / "sweep" / "records" / ".stale").glob("*.json"))) == 2


def test_the_committed_study_resumes_without_training_anything(tmp_path: Path) -> None:
    """Every record of reports/examples/study_fpb50 keeps its config hash and run id, and the study's own
    reuse path finds the whole study done: no run of it trains again."""
    from flatlora.bench.study import StudySpec, next_stage

    recs = sorted((STUDY / "records").glob("*.json")) + sorted((STUDY / "sweep" / "records").glob("*.json"))
    assert len(recs) == 90
    for path in recs:
        rec = json.loads(path.read_text())
        cfg = RunConfig(**rec["config"])
        assert cfg.config_hash() == rec["config_hash"] and run_id(cfg) == path.stem
        assert rec["dataset_info"]["checksum"] == FPB_SHA256["50agree"]
    out = tmp_path / "study"
    shutil.copytree(STUDY, out)
    data = DataCheck()
    assert next_stage(StudySpec(out), data) is None  # done: nothing left to train
    assert data.changed == {}
    assert not (out / "records" / ".stale").exists()


def test_a_committed_record_is_reused_and_an_edited_file_retrains_it(tmp_path: Path) -> None:
    src = STUDY / "records" / "fpb_50agree__lora__s28__d1de8c6f.json"
    rec = json.loads(src.read_text())
    cfg = RunConfig(**rec["config"])
    out = tmp_path / "study"
    (out / "records").mkdir(parents=True)
    shutil.copy(src, out / "records" / src.name)
    calls: list[int] = []
    data_dir = _data_dir(tmp_path / "data")
    assert train_or_reuse(cfg, out, _runner(calls), data_dir=data_dir) == (rec, "disk")
    assert train_or_reuse(cfg, out, _runner(calls), data_dir=None) == (rec, "disk")  # the shipped copy
    _fix_a_label(data_dir)
    assert train_or_reuse(cfg, out, _runner(calls), data_dir=data_dir)[1] == "computed"
    assert calls == [28] and (out / "records" / ".stale" / src.name).read_bytes() == src.read_bytes()


@pytest.mark.slow  # two benchmark flows on the Prefect server: ~1 min on 2 shared cores
def test_benchmark_retrains_the_runs_of_an_edited_file_and_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.benchmark import benchmark
    from tests.flows.conftest import FAKE_RUNNER

    data_dir = _data_dir(tmp_path / "data")
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    grid = {"profile": "smoke", "methods": ["lora", "flat_lora"], "seeds": [42, 43], "runner": FAKE_RUNNER,
            "out": str(tmp_path / "run"), "data_dir": str(data_dir), "publish": False}  # fmt: skip
    assert benchmark(**grid)["n_computed"] == 4
    again = benchmark(**grid)
    assert (again["n_computed"], again["n_cached"] + again["n_disk"]) == (0, 4)
    _fix_a_label(data_dir)
    third = benchmark(**grid)
    assert (third["n_computed"], third["n_errors"]) == (4, 0)
    (said,) = third["data_changed"]  # also logged, before the grid
    assert said.startswith("fpb_50agree: data changed since the records: 4 runs retrain (trained on ")
    assert again["data_changed"] == []
    assert len(log.read_text().splitlines()) == 8
    assert len(list((tmp_path / "run" / "records" / ".stale").glob("*.json"))) == 4
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert FPB_SHA256["50agree"] not in json.dumps(summary.get("dataset_checksums", summary))
