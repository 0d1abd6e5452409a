"""The suite's two engines: plain Python (the default) and great-expectations give the same checks,
verdicts, counts, messages and example rows, on shipped data, user files and malformed files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from flatlora.bench import checks, validation
from flatlora.bench.checks import ENGINE_ENV
from flatlora.bench.validation import ValidationReport, validate_dataset
from tests.bench.conftest import DATA_DIR, needs_data
from tests.bench.test_validation import BAD_FILES, ROWS, csv_text

ROOT = Path(__file__).resolve().parents[2]


def _pairs(d: Path) -> Path:
    rows = [(f"premise {i % 7}", f"hypothesis number {i}", "yes" if i % 2 else "no") for i in range(40)]
    rows += [rows[3], ("ok premise", "", "no")]  # a duplicated pair and an empty second text
    p = d / "nli.csv"
    pd.DataFrame(rows, columns=["premise", "hypothesis", "entails"]).to_csv(p, index=False)
    return p


def _good(d: Path) -> Path:
    p = d / "reviews.csv"
    p.write_text(csv_text(ROWS, header="review,stars"), encoding="utf-8")
    return p


USER_FILES: list[tuple[str, Callable[[Path], Path], dict[str, Any]]] = [
    ("user_csv", _good, {"text_col": "review", "label_col": "stars"}),
    (
        "sentence_pairs",
        _pairs,
        {"text_col": "premise", "text_pair_col": "hypothesis", "label_col": "entails"},
    ),
] + [
    (name, make, {})
    for name, make, _ in BAD_FILES
    if name
    in (
        "unknown_label",
        "empty_texts",
        "duplicated_rows",
        "control_chars",
        "null_text_jsonl",
        "text_too_long",
        "numeric_labels",
        "train_test_overlap",
    )
]


def _key(rep: ValidationReport) -> list[tuple[Any, ...]]:
    return [
        (c.name, c.scope, c.severity, c.success, c.unexpected_count, c.element_count, c.message, examples)
        for c in rep.checks
        if (examples := json.dumps(c.examples, default=str))
    ]


def _both(monkeypatch: pytest.MonkeyPatch, fn: Callable[[], ValidationReport]) -> list[ValidationReport]:
    reps = []
    for engine in ("great_expectations", "python"):
        monkeypatch.setenv(ENGINE_ENV, engine)
        reps.append(fn())
    ge, plain = reps
    suite = [i for i, c in enumerate(plain.checks) if c.engine != "flatbench"]
    assert suite, "no suite checks ran"
    assert {ge.checks[i].engine for i in suite} == {"great_expectations"}
    assert {plain.checks[i].engine for i in suite} == {"python"}
    return reps


@pytest.mark.parametrize(("make", "kw"), [pytest.param(m, kw, id=i) for i, m, kw in USER_FILES])
def test_user_files_get_the_same_verdicts_from_both_engines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Callable[[Path], Path], kw: dict[str, Any]
) -> None:
    path = make(tmp_path)
    ge, plain = _both(monkeypatch, lambda: validate_dataset(str(path), raise_on_failure=False, **kw)[0])
    assert _key(plain) == _key(ge)
    assert plain.success == ge.success and plain.summary() == ge.summary()


@needs_data
@pytest.mark.parametrize("name", ["fpb_50agree", "fpb_allagree"])
def test_phrasebank_gets_the_same_verdicts_from_both_engines(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ge, plain = _both(monkeypatch, lambda: validate_dataset(name, data_dir=DATA_DIR)[0])
    assert _key(plain) == _key(ge) and len(plain.checks) == 50


@pytest.mark.skipif(not (DATA_DIR / "gsm8k").is_dir(), reason="../shared/data/gsm8k not present")
def test_generation_data_gets_the_same_verdicts_from_both_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    from flatlora.bench.gen_data import validate_generation

    ge, plain = _both(monkeypatch, lambda: validate_generation("gsm8k", DATA_DIR)[0])
    assert _key(plain) == _key(ge)


def test_the_sanity_suite_and_its_regexes_get_the_same_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    ge, plain = _both(monkeypatch, validation.validate_sanity)
    assert _key(plain) == _key(ge) and plain.success
    spec = validation.suite_spec(validation.load_card("sanity"))
    bad = pd.DataFrame(
        {
            "prompt": ["repeat: cat", "repeat: Dog", None, "say: cow"],
            "target": ["cat cat", "dog cat", "x x", "cow cow"],
            "split": ["train", "test", "train", "dev"],
        }
    )
    results = []
    for engine in ("great_expectations", "python"):
        monkeypatch.setenv(ENGINE_ENV, engine)
        results.append(ValidationReport("bad", "sanity", checks=checks.run_ge(bad, spec, "all")))
    assert _key(results[1]) == _key(results[0]) and not results[1].success
    failed = {c.name: c.unexpected_count for c in results[1].failures}
    assert failed == {
        "column_values_to_not_be_null(prompt)": 1,
        "column_values_to_be_in_set(split)": 1,
        "column_values_to_match_regex(prompt)": 2,
        "column_values_to_match_regex(target)": 1,
    }


def test_a_suite_the_plain_engine_cannot_run_goes_to_great_expectations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    spec = [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "n", "min_value": 0}}]
    [check] = checks.run_ge(pd.DataFrame({"n": [1, -2, 3]}), spec, "all")
    assert check.engine == "great_expectations" and not check.success and check.unexpected_count == 1


def test_the_engine_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    assert checks.suite_engine() == "python"
    monkeypatch.setenv(ENGINE_ENV, "GE")
    assert checks.suite_engine() == "great_expectations"
    monkeypatch.setenv(ENGINE_ENV, "pandas")
    with pytest.raises(
        ValueError, match=r"FLATBENCH_VALIDATION_ENGINE must be one of python, great_expectations"
    ):
        checks.suite_engine()


def test_the_default_engine_never_imports_great_expectations(tmp_path: Path) -> None:
    p = _good(tmp_path)
    code = (
        "import sys\n"
        "from flatlora.bench.validation import validate_dataset\n"
        f"rep, _ = validate_dataset({str(p)!r}, text_col='review', label_col='stars')\n"
        "assert rep.success, rep.summary()\n"
        "print(sorted(m for m in sys.modules if m.startswith('great_expectations')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != ENGINE_ENV} | {"PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_cli_validate_engine_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from flows import cli_train

    monkeypatch.delenv(ENGINE_ENV, raising=False)
    app = typer.Typer()
    cli_train.register(app)
    p = _good(tmp_path)
    args = ["validate", str(p), "--text-col", "review", "--label-col", "stars"]
    for engine, want in ((None, "python"), ("great-expectations", "great_expectations")):
        out = tmp_path / f"{want}.json"
        res = CliRunner().invoke(app, [*args, "--json", str(out), *(["--engine", engine] if engine else [])])
        assert res.exit_code == 0, res.output
        engines = {c["engine"] for c in json.loads(out.read_text())["checks"]} - {"flatbench"}
        assert engines == {want}
        assert ENGINE_ENV not in os.environ  # the command's setting ends with it
    res = CliRunner().invoke(app, [*args, "--engine", "pandas"])
    assert res.exit_code == 2 and "unknown engine 'pandas'" in res.output


def test_an_engine_chosen_for_a_block_leaves_the_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENGINE_ENV, "python")
    with checks.using_engine("great_expectations"):
        assert checks.suite_engine() == "great_expectations"
        assert os.environ[ENGINE_ENV] == "python"  # another thread of the process still sees this
        with checks.using_engine(None):  # None: the setting as it was
            assert checks.suite_engine() == "great_expectations"
    assert checks.suite_engine() == "python"
    with (
        pytest.raises(ValueError, match="must be one of python, great_expectations, got 'pandas'"),
        checks.using_engine("pandas"),
    ):
        pass
