"""Validation: PhraseBank passes; a table of malformed files each fails with its clear error, nothing trained."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from flatlora.bench import runner
from flatlora.bench.config import resolve_config
from flatlora.bench.validation import ValidationFailed, validate_dataset
from tests.bench.conftest import DATA_DIR, needs_data

LABELS = ["negative", "neutral", "positive"]


def good_rows(n_per_class: int = 10) -> list[tuple[str, str]]:
    return [(f"{lab} sentence number {i} about earnings", lab) for lab in LABELS for i in range(n_per_class)]


def csv_text(rows: list[tuple[str, str]], sep: str = ",", header: str = "text,label") -> str:
    return header.replace(",", sep) + "\n" + "".join(f"{t}{sep}{lab}\n" for t, lab in rows)


def _w(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
        return p

    return make


ROWS = good_rows()
SPLIT_ROWS = "text,label,split\n" + "".join(
    f"{t},{lab},{['train', 'train', 'train', 'val', 'test'][i % 5]}\n" for i, (t, lab) in enumerate(ROWS)
)
BAD_FILES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("empty_file", _w("empty.csv", ""), r"file is empty"),
    ("header_only", _w("header.csv", "text,label\n"), r"header but no data rows"),
    (
        "wrong_delimiter",
        _w("semi.csv", csv_text(ROWS, sep=";")),
        r"looks semicolon-separated \(2 columns: text, label\): pass --delimiter ';'",
    ),
    (
        "tabs_in_a_csv",
        _w(
            "tabs.csv",
            "text\tlabel\tsource\n"
            + "".join(
                f"{t}\t{lab}\tweb\n" for t, lab in [*ROWS, ("prices, costs, and fees rose", "neutral")]
            ),
        ),
        r"tabs.csv is not valid CSV \(Expected 1 fields in line 32, saw 3\); it looks tab-separated "
        r"\(3 columns: text, label, source\): pass --delimiter tab \(or name the file .tsv\)$",
    ),
    (
        "missing_label_column",
        _w("nolabel.csv", csv_text(ROWS, header="text,sentiment")),
        r"missing required label column 'label' \(found columns: \['text', 'sentiment'\]\); name yours "
        r"with --label-col",
    ),
    (
        "unknown_label",
        _w("unk.csv", csv_text([*ROWS, ("shares soared today", "bullish")])),
        r"unknown labels.*'bullish'",
    ),
    (
        "empty_texts",
        _w("emptytext.csv", csv_text([*ROWS, ("", "neutral"), ("", "positive")])),
        r"text length outside \[2, 5000\] \(empty text\?\); 2 of 32 rows",
    ),
    (
        "whitespace_only_text",
        _w("ws.csv", csv_text([*ROWS, ("    ", "neutral")])),
        r"empty text\?\); 1 of 31",
    ),
    (
        "all_one_class",
        _w("one.csv", csv_text([(f"sentence {i} here", "neutral") for i in range(20)])),
        r"all rows have one class",
    ),
    (
        "duplicated_rows",
        _w("dup.csv", csv_text(ROWS + ROWS[:4])),
        r"duplicate texts in column 'text'; 8 of 34",
    ),
    (
        "train_test_overlap",
        _w("overlap.csv", SPLIT_ROWS + f"{ROWS[0][0]},{ROWS[0][1]},test\n"),
        r"exact texts shared between splits",
    ),
    (
        "invalid_utf8",
        _w("bad.csv", csv_text(ROWS).encode() + b"caf\xe9 au lait,neutral\n"),
        r"invalid UTF-8 in bad.csv at byte \d+ \(line 32\)",
    ),
    (
        "one_mb_line",
        _w("big.csv", csv_text([*ROWS, ("x" * 1_048_576, "neutral")])),
        r"line 32 of big.csv is 1048584 bytes long \(limit 100000\)",
    ),
    (
        "numeric_labels",
        _w("num.csv", csv_text([(t, str(LABELS.index(lab))) for t, lab in ROWS])),
        r"label column holds numbers but the card declares names",
    ),
    ("utf16_bom", _w("u16.csv", csv_text(ROWS).encode("utf-16")), r"UTF-16 encoded"),
    (
        "mixed_label_types",
        _w(
            "mixed.jsonl",
            "".join(
                json.dumps({"text": t, "label": (lab if i % 2 else LABELS.index(lab))}) + "\n"
                for i, (t, lab) in enumerate(ROWS)
            ),
        ),
        r"label column 'label' mixes value types",
    ),
    ("nul_bytes", _w("nul.csv", csv_text(ROWS) + "bad\x00row,neutral\n"), r"NUL byte in nul.csv at line 32"),
    (
        "invalid_json_line",
        _w("broken.jsonl", '{"text": "ok fine", "label": "neutral"}\n{"text": "oops"\n'),
        r"line 2 of broken.jsonl is not valid JSON",
    ),
    (
        "null_text_jsonl",
        _w(
            "null.jsonl",
            "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in ROWS)
            + json.dumps({"text": None, "label": "neutral"})
            + "\n",
        ),
        r"column_values_to_not_be_null\(text\).*1 of 31",
    ),
    (
        "control_chars",
        _w("ctrl.csv", csv_text([*ROWS, ("bell \x07 in text", "neutral")])),
        r"undecodable text \(control characters or U\+FFFD\)",
    ),
    (
        "replacement_char",
        _w("fffd.csv", csv_text([*ROWS, ("caf\ufffd au lait", "neutral")])),
        r"undecodable text",
    ),
    (
        "too_few_per_class",
        _w("few.csv", csv_text(ROWS[:12] + ROWS[20:30])),
        r"classes with fewer than 5 rows",
    ),
    ("unsupported_extension", _w("data.xlsx", "whatever"), r"unsupported file type '.xlsx'"),
    ("text_too_long", _w("long.csv", csv_text([*ROWS, ("y" * 6000, "neutral")])), r"text length outside"),
    (
        "empty_label",
        _w("emptylabel.csv", csv_text([*ROWS, ("a sentence with no label", "")])),
        r"labels_not_empty\(label\): 1 empty or blank label in rows 31 \(1 = the first data row\)",
    ),
    (
        "six_empty_labels",
        _w(
            "sixempty.csv",
            csv_text(ROWS[:12] + [(f"unlabelled sentence {i}", "") for i in range(6)] + ROWS[12:]),
        ),
        r"6 empty or blank labels in rows 13, 14, 15, 16, 17, \.\.\. \(1 more\)",
    ),
    (
        "blank_label",
        _w("blanklabel.csv", csv_text([*ROWS[:3], ("a sentence labelled with spaces", "   "), *ROWS[3:]])),
        r"1 empty or blank label in rows 4 ",
    ),
    (
        "text_column_as_labels",
        _w("swapped.csv", "label,text\n" + "".join(f"{t},{lab}\n" for t, lab in good_rows(15))),
        r"45 distinct labels in 45 rows: is it the label column\?",
    ),
]


# cases that need a card fixing the label set (without one, labels are inferred from the data) or making
# duplicates an error (without one, they are reported and dropped before splitting)
FIXED_CARD_CASES = {"unknown_label", "numeric_labels", "duplicated_rows"}
SENTIMENT_CARD = """name: sentiment3
labels: [negative, neutral, positive]
text_length: {min: 2, max: 5000}
min_per_class: 5
duplicates: error
"""


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> None:
        raise AssertionError("training started on invalid data")

    monkeypatch.setattr(runner, "build_model", boom)


@pytest.mark.parametrize(
    ("make", "match", "fixed_card"),
    [pytest.param(m, r, i in FIXED_CARD_CASES, id=i) for i, m, r in BAD_FILES],
)
def test_bad_input_is_rejected_before_training(
    tmp_path: Path, make: Callable[[Path], Path], match: str, fixed_card: bool, no_training: None
) -> None:
    path = make(tmp_path)
    card = None
    if fixed_card:
        card = str(tmp_path / "sentiment3.yaml")
        Path(card).write_text(SENTIMENT_CARD, encoding="utf-8")
    cfg = resolve_config("smoke", dataset=str(path), method="lora", seed=0, card=card)
    with pytest.raises(ValidationFailed, match=match) as info:
        runner.run_one(cfg, tmp_path / "out", progress=False)
    assert not info.value.report.success and info.value.report.failures
    assert not (tmp_path / "out" / "records").exists()  # nothing trained, nothing recorded


def test_bad_input_table_is_big_enough() -> None:
    assert len(BAD_FILES) >= 12


def test_good_user_file_passes_and_utf8_bom_is_accepted(tmp_path: Path) -> None:
    p = tmp_path / "good.tsv"
    p.write_bytes(b"\xef\xbb\xbf" + csv_text(ROWS, sep="\t").encode())
    rep, splits = validate_dataset(str(p))
    assert rep.success, rep.summary()
    assert splits is not None and len(splits.train) + len(splits.val) + len(splits.test) == 30
    q = tmp_path / "cols.jsonl"
    q.write_text("".join(json.dumps({"sentence": t, "y": lab}) + "\n" for t, lab in ROWS), encoding="utf-8")
    rep2, _ = validate_dataset(str(q), text_col="sentence", label_col="y")
    assert rep2.success


def test_a_rare_inferred_label_is_a_warning_naming_it_its_rows_and_the_fix(tmp_path: Path) -> None:
    """294 binary rows plus 5 labelled `meh`: training would silently make it a third class."""
    rows = [(f"review {i} of the product", "pos" if i % 2 else "neg") for i in range(294)]
    for k, at in enumerate((10, 50, 90, 130, 170)):
        rows.insert(at, (f"an odd review {k}", "meh"))
    rep, splits = validate_dataset(str(_w("meh.csv", csv_text(rows))(tmp_path)), raise_on_failure=False)
    assert rep.success and splits is not None  # a warning, not a failure: a rare class can be real
    [warn] = [c for c in rep.warnings if c.name == "no_rare_inferred_class(label)"]
    assert re.search(
        r"'meh': 5 rows \(1\.7%; rows 11, 51, 91, \.\.\. \(2 more\)\) vs 'neg' 147, 'pos' 147", warn.message
    ), warn.message
    assert "name the labels in a card" in warn.message
    assert warn.message in rep.summary()


@pytest.mark.parametrize(
    ("counts", "rare"),
    [
        ({"a": 147, "b": 147, "c": 5}, True),  # the stray label
        ({"a": 1000, "b": 900, "c": 15}, False),  # 15 rows of a distinct label: a rare class can be real
        ({"aa": 1000, "bb": 900, "c?": 15}, True),  # 15 rows, under 2%, written unlike every other label
        ({"a": 8, "b": 9, "c": 12}, False),  # a small file: every class is small
        ({"a": 100, "b": 30}, False),  # imbalanced, but not far rarer
        ({"a": 400, "b": 9, "c": 300}, True),  # under 10 rows while the others have 5x that
    ],
)
def test_rare_class_rule(counts: dict[str, int], rare: bool) -> None:
    import pandas as pd

    from flatlora.bench.validation import _rare_class_check

    raw = [lab for lab, n in counts.items() for _ in range(n)]
    res = _rare_class_check(raw, set(), pd.Series(raw).value_counts(), "label")
    assert (not res.success) is rare and res.severity == "warning"


def test_swapped_text_and_label_columns_fail_in_a_screenful(tmp_path: Path) -> None:
    rows = good_rows(40)  # 120 distinct texts
    path = tmp_path / "swapped.csv"
    path.write_text(csv_text(rows), encoding="utf-8")
    rep, _ = validate_dataset(str(path), text_col="label", label_col="text", raise_on_failure=False)
    out = rep.render()
    assert "label_column_looks_categorical(text)" in out  # the check that says what is wrong is seen
    assert "and 110 more (120 classes in all)" in out and "rows): " in out and ", and 110 more" in out
    assert len(out.splitlines()) < 40, out


def test_user_file_duplicates_are_reported_and_dropped_by_default(tmp_path: Path) -> None:
    conflicting = [(ROWS[5][0], "positive" if ROWS[5][1] != "positive" else "negative")]
    rep, splits = validate_dataset(str(_w("dup.csv", csv_text(ROWS + ROWS[:3] + conflicting))(tmp_path)))
    assert rep.success, rep.summary()
    dup = [c for c in rep.warnings if c.name.startswith("column_values_to_be_unique")]
    assert len(dup) == 1 and dup[0].unexpected_count == 8  # 3 texts twice, 1 text with two labels
    assert splits is not None and splits.n_dropped_duplicates == 5  # 3 extra copies + both conflicting rows
    assert len(splits.train) + len(splits.val) + len(splits.test) == len(ROWS) - 1


@needs_data
def test_phrasebank_passes_and_reports_duplicates() -> None:
    rep, splits = validate_dataset("fpb_50agree", data_dir=DATA_DIR)
    assert rep.success
    dup = [c for c in rep.warnings if c.name.startswith("column_values_to_be_unique")]
    assert len(dup) == 1 and dup[0].scope == "all" and dup[0].unexpected_count == 16  # 8 extra copies
    assert splits is not None and splits.n_dropped_duplicates == 10  # 8 copies + 2 conflicting texts
    d = rep.to_dict()
    assert d["success"] and d["n_failed"] == 0 and d["n_warnings"] == 1
    assert any(c["name"] == "no_text_leakage_across_splits" and c["success"] for c in d["checks"])
    assert rep.table().row_count == len(rep.checks)


def test_cli_validate_exit_codes(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from flows import cli_train

    app = typer.Typer()
    cli_train.register(app)
    bad = _w("one.csv", csv_text([(f"sentence {i} here", "neutral") for i in range(20)]))(tmp_path)
    res = CliRunner().invoke(app, ["validate", str(bad)], env={"COLUMNS": "200"})
    assert res.exit_code == 1
    assert "all rows have one class" in res.output
    dup = _w("dup.csv", csv_text(ROWS + ROWS[:2]))(tmp_path)  # default card: duplicates warn, then drop
    res = CliRunner().invoke(app, ["validate", str(dup)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "duplicate texts in column 'text'" in res.output
    good = _w("good.csv", csv_text(ROWS))(tmp_path)
    res = CliRunner().invoke(app, ["validate", str(good), "--json", str(tmp_path / "rep.json")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "rep.json").read_text())["success"] is True


GE_CASES = ["empty_texts", "whitespace_only_text", "duplicated_rows", "control_chars", "null_text_jsonl"]


@pytest.mark.parametrize(
    ("make", "match"), [pytest.param(m, r, id=i) for i, m, r in BAD_FILES if i in GE_CASES]
)
def test_plain_python_suite_matches_great_expectations(
    tmp_path: Path, make: Callable[[Path], Path], match: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without great-expectations (a bare GPU machine) the same suite gives the same verdicts and messages."""
    from flatlora.bench import checks

    path = make(tmp_path)
    monkeypatch.setenv(checks.ENGINE_ENV, "great_expectations")
    ge, _ = validate_dataset(str(path), raise_on_failure=False)
    monkeypatch.setattr(checks, "ge_available", lambda: False)
    plain, _ = validate_dataset(str(path), raise_on_failure=False)
    assert [c.engine for c in plain.checks if c.engine != "flatbench"] == ["python"] * sum(
        c.engine != "flatbench" for c in plain.checks
    )
    key = lambda r: [(c.name, c.scope, c.success, c.unexpected_count, c.element_count) for c in r.checks]  # noqa: E731
    assert key(plain) == key(ge)
    assert re.search(match, plain.summary()) and re.search(match, ge.summary())
    good, _ = validate_dataset(str(_w("good.csv", csv_text(ROWS))(tmp_path)), raise_on_failure=False)
    assert good.success


@pytest.mark.parametrize(("delimiter", "sep"), [(";", ";"), ("tab", "\t"), ("|", "|")])
def test_delimiter_option_reads_the_file(tmp_path: Path, delimiter: str, sep: str) -> None:
    p = _w("odd.csv", csv_text(ROWS, sep=sep))(tmp_path)
    rep, splits = validate_dataset(str(p), delimiter=delimiter)
    assert rep.success and splits is not None
    cfg = resolve_config("smoke", dataset=str(p), delimiter=delimiter)
    assert cfg.delimiter == sep and cfg.config_hash() != resolve_config("smoke", dataset=str(p)).config_hash()


def test_validate_output_fits_80_columns_in_the_users_names(tmp_path: Path) -> None:
    """Failures first, then warnings, wrapped at word boundaries; the user's column names, never
    the internal text/label; the rest behind --verbose."""
    import typer
    from typer.testing import CliRunner

    from flows import cli_train

    app = typer.Typer()
    cli_train.register(app)
    rows = [
        (f"review {i} of the kettle, {'fine' if i % 2 else 'awful'}", "pos" if i % 2 else "neg")
        for i in range(60)
    ]
    rows += [
        ("a long review " + "word " * 80, "pos"),
        ("no label on this one", ""),
        ("an odd one out", "meh"),
    ]
    p = tmp_path / "reviews.csv"
    p.write_text(
        "review,sentiment\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows + rows[:2]), encoding="utf-8"
    )
    args = ["validate", str(p), "--text-col", "review", "--label-col", "sentiment", "--profile", "smoke"]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert max(len(ln) for ln in lines) <= 80, lines
    tags = [ln[:5].strip() for ln in lines if ln[:5].strip() in ("FAIL", "warn", "ok", "info")]
    assert tags[0] == "FAIL" and tags.index("warn") > tags.index("FAIL") and tags[-1] == "ok"
    text = " ".join(ln.strip() for ln in lines)
    assert "labels_not_empty(sentiment): 1 empty or blank label in rows 62" in text
    assert "(review)" in text and "(text)" not in text and "(label)" not in text and "'text'" not in text
    assert text.count("labels_not_empty") == 1  # said once, not in a table and again in a summary
    verbose = CliRunner().invoke(app, [*args, "--verbose"], env={"COLUMNS": "80"})
    assert len(verbose.output.splitlines()) > len(lines)
    assert max(len(ln) for ln in verbose.output.splitlines()) <= 80
    assert "ok    column_values_to_not_be_null(review)" in verbose.output


def test_train_prints_the_failed_validation_once_and_trains_nothing(
    tmp_path: Path, no_training: None
) -> None:
    import typer
    from typer.testing import CliRunner

    from flows import cli_train

    app = typer.Typer()
    cli_train.register(app)
    p = _w("six.csv", csv_text(ROWS + [(f"unlabelled {i}", "") for i in range(6)]))(tmp_path)
    res = CliRunner().invoke(
        app, ["train", "--dataset", str(p), "--profile", "smoke", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 1, res.output
    assert res.output.count("6 empty or blank labels") == 1
    assert "KeyError" not in res.output and not (tmp_path / "o").exists()


def test_runs_validating_at_once_in_one_process_see_their_own_data(tmp_path: Path) -> None:
    """`--parallel` runs validate in threads of one process; each must be checked against its own file."""
    from concurrent.futures import ThreadPoolExecutor

    files = [
        (str(_w("a.csv", csv_text(good_rows(30)))(tmp_path)), "text", "label"),
        (str(_w("b.csv", csv_text(good_rows(40), header="sentence,y"))(tmp_path)), "sentence", "y"),
    ]

    def check(i: int) -> tuple[bool, int]:
        path, text_col, label_col = files[i % 2]
        rep, splits = validate_dataset(path, text_col=text_col, label_col=label_col, raise_on_failure=False)
        assert splits is not None
        return rep.success, len(splits.train) + len(splits.val) + len(splits.test)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(check, range(12)))
    assert results == [(True, 90), (True, 120)] * 6


def test_a_run_in_its_own_process_raises_the_validation_failure_with_its_report(tmp_path: Path) -> None:
    p = _w("six.csv", csv_text(ROWS + [(f"unlabelled {i}", "") for i in range(6)]))(tmp_path)
    cfg = resolve_config("smoke", dataset=str(p), method="lora", seed=0)
    with pytest.raises(ValidationFailed, match="6 empty or blank labels") as info:
        runner.run_one_isolated(cfg, tmp_path / "out")
    assert not info.value.report.success and info.value.report.failures
    assert not (tmp_path / "out" / "records").exists()


def test_validate_json_is_strict_json_when_a_row_lacks_its_text(tmp_path: Path) -> None:
    """A JSONL line without the text key reads as NaN; shown as an example it made `--json` stop with
    "Out of range float values are not JSON compliant" and a traceback."""
    import typer
    from typer.testing import CliRunner

    from flows import cli_train

    app = typer.Typer()
    cli_train.register(app)
    lines = [json.dumps({"text": t, "label": lab}) for t, lab in ROWS] + [json.dumps({"label": "neutral"})]
    data = _w("gap.jsonl", "\n".join(lines) + "\n")(tmp_path)
    res = CliRunner().invoke(app, ["validate", str(data), "--json", str(tmp_path / "rep.json")])
    assert res.exit_code == 1, res.output  # the null text fails validation, and is written down
    rep = json.loads((tmp_path / "rep.json").read_text(encoding="utf-8"), parse_constant=pytest.fail)
    [null] = [
        c for c in rep["checks"] if c["name"] == "column_values_to_not_be_null(text)" and c["scope"] == "all"
    ]
    assert null["examples"] == [{"row": len(ROWS), "value": None}]
