"""The committed non-degenerate study folder (tests/reports/fixtures/make_study_small.py) rebuilds, through
`flatbench report`, to its committed summary.json (every number to 1e-9, every other value exactly) and
report.md."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.reports.factory import json_differences

FIXTURES = Path(__file__).parent / "fixtures"
RUN, DATA = FIXTURES / "study_small", FIXTURES / "study_small_data"


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("rebuild") / "study_small"
    shutil.copytree(RUN, dst)
    (dst / "summary.json").unlink()
    (dst / "report.md").unlink()
    res = CliRunner().invoke(app, ["report", str(dst), "--data-dir", str(DATA)])
    assert res.exit_code == 0, res.output
    return dst


def test_every_number_of_summary_json_is_rebuilt(rebuilt: Path) -> None:
    committed = json.loads((RUN / "summary.json").read_text(encoding="utf-8"))
    again = json.loads((rebuilt / "summary.json").read_text(encoding="utf-8"))
    assert json_differences(committed, again) == []


def test_report_md_is_rebuilt(rebuilt: Path) -> None:
    assert (rebuilt / "report.md").read_text(encoding="utf-8") == (RUN / "report.md").read_text(
        encoding="utf-8"
    )


def test_the_fixture_is_not_degenerate() -> None:
    s = json.loads((RUN / "summary.json").read_text(encoding="utf-8"))
    ds = s["datasets"][0]
    for m in ds["methods"]:
        assert len(set(m["per_seed"]["accuracy"].values())) == 4, m["method"]  # scores vary over seeds
    p = ds["primary"]
    for key in ("estimate", "ci_low", "ci_high", "pvalue", "ci90_low", "tost_pvalue", "sd", "mde"):
        assert isinstance(p[key], float) and math.isfinite(p[key]) and p[key] != 0, key
    assert p["bootstrap"]["low"] < p["estimate"] < p["bootstrap"]["high"]
    assert all(math.isfinite(c["paired"]["statistic"]) for c in ds["comparisons"])
    assert all(math.isfinite(x["p_holm"]) for x in ds["secondary"])


def test_the_comparison_catches_a_changed_number() -> None:
    s = json.loads((RUN / "summary.json").read_text(encoding="utf-8"))
    t = json.loads(json.dumps(s))
    t["datasets"][0]["primary"]["ci_low"] += 2e-9
    assert json_differences(s, t) == [
        f"$.datasets[0].primary.ci_low: {s['datasets'][0]['primary']['ci_low']!r} != "
        f"{t['datasets'][0]['primary']['ci_low']!r}"
    ]
