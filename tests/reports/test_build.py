"""build_report / `flatbench report RUN_DIR`: everything regenerated from records on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from reports.build import build_report
from tests.reports.factory import make_grid


@pytest.fixture(autouse=True)
def _fewer_two_way_resamples(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two-way bootstrap's interval is not what these tests check: 199 resamples keep them quick."""
    monkeypatch.setattr("reports.twoway.N_RESAMPLES", 199)


def _write_run(run: Path) -> list[dict]:
    recs = make_grid(methods=("lora", "flat_lora"), seeds=(42, 43), failed=(("flat_lora", 43),))
    (run / "records").mkdir(parents=True)
    for r in recs:
        (run / "records" / f"{r['run_id']}.json").write_text(json.dumps(r))
    (run / "manifest.json").write_text(json.dumps({"run_id": "my-run", "title": "T"}))
    (run / "validation.json").write_text(
        json.dumps(
            {"fpb_50agree": {"success": True, "n_checks": 1, "n_failed": 0, "n_warnings": 0, "checks": []}}
        )
    )
    return recs


def test_build_report_writes_report_summary_and_figures(tmp_path: Path) -> None:
    _write_run(tmp_path)
    path = build_report(tmp_path)
    assert path == tmp_path / "report.md"
    text = path.read_text()
    assert text.startswith("# T\n") and "`my-run`" in text
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_records"] == 4 and summary["n_ok"] == 3
    assert summary["validation"]["fpb_50agree"]["success"] is True
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == [
        "fpb_50agree_confusion.png",
        "fpb_50agree_flatness.png",
        "fpb_50agree_primary.png",
        "fpb_50agree_train_loss.png",
        "fpb_50agree_val.png",
    ]
    for name in pngs:
        assert f"]({name})" in text
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob("*.tmp*"))  # atomic writes left no temp files


def test_report_is_regenerated_from_records(tmp_path: Path) -> None:
    recs = _write_run(tmp_path)
    first = build_report(tmp_path).read_text()
    assert build_report(tmp_path).read_text() == first  # deterministic
    r = next(r for r in recs if r["status"] == "ok" and r["method"] == "lora")
    r["test"]["accuracy"] = 0.123456
    (tmp_path / "records" / f"{r['run_id']}.json").write_text(json.dumps(r))
    assert build_report(tmp_path).read_text() != first


def test_cli_report(tmp_path: Path) -> None:
    _write_run(tmp_path)
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report.md").is_file()
    bad = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert bad.exit_code != 0
    assert "no records directory" in bad.output


def test_build_report_without_records_raises(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    with pytest.raises(FileNotFoundError, match="no run records"):
        build_report(tmp_path)


def test_rebuild_from_summary_json_alone(tmp_path: Path) -> None:
    _write_run(tmp_path)
    first = build_report(tmp_path).read_text()
    import shutil

    shutil.rmtree(tmp_path / "records")
    for p in tmp_path.glob("*.png"):
        p.unlink()
    res = CliRunner().invoke(app, ["report", str(tmp_path)], env={"COLUMNS": "400"})
    assert res.exit_code == 2 and "--from-summary" in res.output
    res = CliRunner().invoke(app, ["report", str(tmp_path), "--from-summary"])
    assert res.exit_code == 0, res.output
    again = (tmp_path / "report.md").read_text()
    assert "re-rendered from the run's `summary.json`" in again and "re-rendered" not in first
    assert again.split("## Verdict", 1)[1] == first.split("## Verdict", 1)[1]
    assert len(list(tmp_path.glob("*.png"))) == 5
