"""The committed study folder (text-free records) looks its example texts up in the data dir; without the
data the report still builds, says so, and keeps every number; other data under the same name is not
used. (tests/reports/test_study_fixture.py rebuilds the same folder to its committed files.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reports.build import build_report

FIXTURES = Path(__file__).parent / "fixtures"
RUN, DATA = FIXTURES / "study_small", FIXTURES / "study_small_data"


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    dst = tmp_path / "study_small"
    shutil.copytree(RUN, dst)
    return dst


def test_records_carry_no_sentence_texts() -> None:
    data = (DATA / "tiny.csv").read_text(encoding="utf-8").splitlines()[1:]
    texts = [ln.rsplit(",", 1)[0] for ln in data]
    for rec in (RUN / "records").glob("*.json"):
        raw = rec.read_text(encoding="utf-8")
        assert not any(t in raw for t in texts), rec.name
        assert rec.stat().st_size < 20_000  # small enough to commit


def test_texts_come_from_the_data_dir() -> None:
    committed = (RUN / "report.md").read_text(encoding="utf-8")
    lines = (DATA / "tiny.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert "example texts not shown" not in committed
    assert any(ln.rsplit(",", 1)[0] in committed for ln in lines)


def test_without_the_data_the_report_builds_with_a_note_and_the_same_numbers(
    copy: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FLATBENCH_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "no_data"
    empty.mkdir()
    build_report(copy, data_dir=empty)
    text = (copy / "report.md").read_text(encoding="utf-8")
    assert "example texts not shown: 'tiny.csv' was not found as trained on" in text
    # the records predate stored label counts: without the data their collapse check cannot be made
    assert "Full FT not computable; LoRA not computable; Flat-LoRA not computable." in text
    committed = (RUN / "report.md").read_text(encoding="utf-8")
    assert "not computable" not in committed
    text, committed = _without_collapses(text), _without_collapses(committed)
    assert text.split("#### Error analysis")[0] == committed.split("#### Error analysis")[0]
    assert text.split("#### Cost")[1] == committed.split("#### Cost")[1]


def _without_collapses(report: str) -> str:
    """The report less what needs the data's label counts: the collapse line and section."""
    lines = [ln for ln in report.splitlines() if not ln.startswith("- Collapsed runs")]
    text = "\n".join(lines)
    head, _, rest = text.partition("#### Collapsed runs")
    return head + ("#### Training curves" + rest.split("#### Training curves", 1)[1] if rest else "")


def test_other_data_under_the_same_name_is_not_used(copy: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    lines = (DATA / "tiny.csv").read_text(encoding="utf-8").splitlines()
    (other / "tiny.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n", encoding="utf-8")
    build_report(copy, plots=False, data_dir=other)
    assert "differs from the records'" in (copy / "report.md").read_text(encoding="utf-8")
