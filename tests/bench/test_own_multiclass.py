"""A user's own multi-class data, end to end, on a TREC-like six-class question set (columns
`question,category,split`, train and test rows only): label spellings that cannot drift, a rare class
that is real, a validation split carved from train, other encodings, mixed separators, profiles that
say what they leave out, and a console that says what happened."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from flatlora.bench import runner
from flatlora.bench.config import resolve_config, unknown_field_message
from flatlora.bench.validation import ValidationFailed, validate_dataset
from tests.bench import trec_like as T

COLS = {"text_col": "question", "label_col": "category"}
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def rows() -> list[tuple[str, str]]:
    return T.questions(1500)


def _app() -> Any:
    import typer

    from flows import cli_bench, cli_train

    app = typer.Typer()
    cli_train.register(app)
    cli_bench.register(app)
    return app


def _text(output: str) -> str:
    return " ".join(output.split())


# ---------------------------------------------------------------- 1. label spellings


@pytest.mark.parametrize(
    ("label", "variant", "how"),
    [
        ("DESC", "desc", "case"),
        ("DESC", "\uff24\uff25\uff33\uff23", "Unicode form"),  # full-width letters
        ("HUMAN BEING", "HUMAN  BEING", "spacing"),  # two spaces inside (around a label is stripped)
        ("HUMAN BEING", "Human\u00a0being", "case"),  # and a no-break space, which NFKC makes a space
    ],
)
def test_labels_that_differ_only_in_spelling_fail_naming_both_and_their_rows(
    tmp_path: Path, rows: list[tuple[str, str]], label: str, variant: str, how: str
) -> None:
    renamed = [(q, label if c == label.split()[0][:3] else c) for q, c in rows]  # HUM -> HUMAN BEING
    spelled = [(q, variant if c == label and i % 25 == 0 else c) for i, (q, c) in enumerate(renamed)]
    n_var = sum(c == variant for _, c in spelled)
    n_label = sum(c == label for _, c in spelled)
    p = T.write(tmp_path / "questions.csv", spelled)
    with pytest.raises(ValidationFailed) as info:
        validate_dataset(str(p), val_from_train=0.1, **COLS)
    [fail] = [c for c in info.value.report.failures if c.name.startswith("label_spellings_distinct")]
    assert f"{label!r} ({n_label} rows) and {variant!r} ({n_var} rows: " in fail.message, fail.message
    assert f"differ only in {how}:" in fail.message and "--merge-label-spellings" in fail.message

    rep, splits = validate_dataset(str(p), val_from_train=0.1, merge_label_spellings=True, **COLS)
    assert rep.success and splits is not None
    assert len(splits.label_names) == 6 and variant not in splits.label_names
    assert rep.labels[label] == n_label + n_var
    assert any(f"{variant!r} -> {label!r}" in n for n in rep.notes)
    cfg = resolve_config("smoke", dataset=str(p), merge_label_spellings=True)
    assert cfg.config_hash() != resolve_config("smoke", dataset=str(p)).config_hash()


def test_validate_always_prints_the_inferred_label_set_with_counts(
    tmp_path: Path, rows: list[tuple[str, str]]
) -> None:
    from typer.testing import CliRunner

    p = T.write(tmp_path / "questions.csv", rows)
    res = CliRunner().invoke(
        _app(), ["validate", str(p), *T.COLS, "--val-from-train", "0.1"], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 0, res.output
    counts = {c: sum(1 for _, x in rows if x == c) for c in T.SHARES}
    shown = ", ".join(f"'{c}' {counts[c]:,}" for c in sorted(counts))
    assert f"info 6 labels (inferred from the data, in class-id order; rows): {shown}" in _text(res.output)


# ---------------------------------------------------------------- 2. the rare-label heuristic


def test_a_rare_but_real_class_is_not_called_stray_and_a_near_spelling_is(
    tmp_path: Path, rows: list[tuple[str, str]]
) -> None:
    p = T.write(tmp_path / "questions.csv", rows)
    rep, _ = validate_dataset(str(p), val_from_train=0.1, **COLS)
    share = rep.labels["ABBR"] / sum(rep.labels.values())
    assert share < 0.02  # under the old 2% rule: it was a warning, for a real class
    assert rep.success and not rep.warnings, rep.render()

    typo = [*rows, *[(f"What does RADAR {i} stand for ?", "ABRR") for i in range(5)]]
    rep, _ = validate_dataset(str(T.write(tmp_path / "typo.csv", typo)), val_from_train=0.1, **COLS)
    [warn] = [c for c in rep.warnings if c.name.startswith("no_rare_inferred_class")]
    assert "'ABRR': 5 rows" in warn.message
    assert f"a near spelling of 'ABBR' ({rep.labels['ABBR']} rows)" in warn.message
    assert "'ABBR':" not in warn.message  # the real class is still not named as stray


@pytest.mark.parametrize(
    ("counts", "rare"),
    [
        ({"pos": 300, "neg": 300, "n/a": 12}, True),  # rare and written unlike every other label
        ({"World": 300, "Sports": 300, "Business": 300, "Sci/Tech": 300}, False),  # unlike, but common
        ({"entailment": 500, "not_entailment": 480}, False),  # near spellings, both common
        ({"positive": 500, "negative": 480, "positve": 40}, True),  # a near spelling, whatever its count
        ({"HUM": 1223, "NUM": 896, "LOC": 835}, False),  # one letter apart, but both common
        ({"male": 500, "female": 90}, False),  # two edits apart: distinct words
        ({"10002": 400, "10003": 20}, False),  # class ids are not spellings
        # intents of a 30-class task: a word formed from another (RE + PLAY) is not a slip of the keys
        ({"IN:PLAY_MUSIC": 80, "IN:REPLAY_MUSIC": 12, "IN:GET_WEATHER": 221}, False),
        ({"IN:LOCK_DOOR": 80, "IN:UNLOCK_DOOR": 12, "IN:GET_WEATHER": 221}, False),
        ({"neutral_sentiment": 500, "nuetral_sentimet": 30}, True),  # two slips in a long label
    ],
)
def test_stray_label_rule_on_other_label_sets(counts: dict[str, int], rare: bool) -> None:
    import pandas as pd

    from flatlora.bench.validation import _rare_class_check

    raw = [lab for lab, n in counts.items() for _ in range(n)]
    res = _rare_class_check(raw, set(), pd.Series(raw).value_counts(), "label")
    assert (not res.success) is rare, res.message


def test_a_stray_label_among_many_classes_is_named_beside_the_most_frequent_ten() -> None:
    """With 40 classes the warning listed all 39 others, one screenful for one stray label."""
    import pandas as pd

    from flatlora.bench.validation import _rare_class_check

    counts = {f"intent_{chr(97 + i // 26)}{chr(97 + i % 26)}": 100 + i for i in range(40)} | {"n/a": 3}
    raw = [lab for lab, n in counts.items() for _ in range(n)]
    res = _rare_class_check(raw, set(), pd.Series(raw).value_counts(), "label")
    assert "'n/a': 3 rows" in res.message
    top = sorted(counts, key=lambda c: -counts[c])[:10]  # the 10 most frequent: 139 rows down to 130
    shown = ", ".join(f"{c!r} {counts[c]}" for c in top)
    assert f"vs {shown} and 30 more: too few rows to learn or test" in res.message
    assert "'intent_aa'" not in res.message


# ---------------------------------------------------------------- 3. profiles that say what they do


@pytest.mark.parametrize(
    "key", ["train_size", "n_train", "max_train", "num_train", "max_train_samples", "train_samples"]
)
def test_set_suggests_max_train_examples_for_its_synonyms(key: str) -> None:
    msg = unknown_field_message(key)
    assert "`max_train_examples`" in msg, msg
    assert "batch_size" not in msg and "epochs" not in msg


def test_help_states_each_profiles_row_caps() -> None:
    from typer.testing import CliRunner

    from flatlora.bench.config import PROFILE_OVERRIDES, RunConfig

    for command in ("train", "benchmark"):
        res = CliRunner().invoke(_app(), [command, "--help"], env={"COLUMNS": "300", "TERM": "dumb"})
        text = _text(re.sub(r"[│╭╮╰╯─]", " ", res.output))
        for name in PROFILE_OVERRIDES:
            o = RunConfig(**{**PROFILE_OVERRIDES[name], "profile": name})
            said = re.search(rf"\b{re.escape(name)} \(([^)]*)\)", text)
            assert said, (name, text)
            rows = [o.max_train_examples, o.max_eval_examples, o.max_test_examples]
            if any(rows):
                want = " / ".join(str(r) if r else "all" for r in rows)
                assert f"at most {want} rows" in said.group(1), (name, said.group(1))
            else:
                assert "all rows" in said.group(1), (name, said.group(1))
            assert f"{o.epochs} epoch" in said.group(1) and f"max_len {o.max_len}" in said.group(1)


def test_readme_profile_table_states_each_profiles_caps() -> None:
    from flatlora.bench.config import PROFILE_OVERRIDES

    text = README.read_text(encoding="utf-8").split("## Profiles", 1)[1].split("\n## ", 1)[0]
    for name, o in PROFILE_OVERRIDES.items():
        row = next((ln for ln in text.splitlines() if ln.startswith(f"| `{name}`")), None)
        assert row is not None, name
        cells = [c.strip() for c in row.split("|")]
        want = " / ".join(
            f"{o[k]:,}" if o.get(k) else "all"
            for k in ("max_train_examples", "max_eval_examples", "max_test_examples")
        )
        assert want in cells, (name, cells)


# ---------------------------------------------------------------- 4. a run that learned nothing


def _record(acc: float, profile: str = "smoke") -> dict[str, Any]:
    gold = ["ENTY"] * 6 + ["HUM"] * 3 + ["ABBR"]
    pred = ["ENTY"] * round(acc * 10) + ["NUM"] * (10 - round(acc * 10))
    return {
        "run_id": "questions__lora__s42__00000000",
        "status": "ok",
        "profile": profile,
        "best_epoch": 1,
        "cost": {"wall_time_s": 3.0},
        "test": {"accuracy": acc, "weighted_f1": 0.1, "mcc": 0.0},
        "predictions": [
            {"index": i, "gold": g, "pred": p} for i, (g, p) in enumerate(zip(gold, pred, strict=True))
        ],
    }


def test_a_run_at_or_below_the_majority_class_prints_a_warning_not_ok() -> None:
    from flatlora.bench.runline import run_line

    below = run_line(_record(0.1), "r.json")
    assert ": ok" not in below and "WARNING" in below
    assert "at or below always answering the majority class 'ENTY' (acc 0.6000)" in below
    assert "--profile quick" in below  # smoke: says which profile learns
    assert "WARNING" in run_line(_record(0.6, profile="quick"), "r.json")  # exactly the majority: nothing
    above = run_line(_record(0.8), "r.json")
    assert ": ok  test acc 0.8000" in above and "WARNING" not in above


def test_the_majority_class_comes_from_the_records_test_label_counts() -> None:
    from flatlora.bench.runline import run_line

    rec = _record(0.7, profile="quick")  # above the predictions' majority (0.6) ...
    rec["dataset_info"] = {"label_counts": {"test": {"ABBR": 1, "ENTY": 1, "HUM": 8}}}  # ... not HUM's 0.8
    line = run_line(rec, "r.json")
    assert "WARNING" in line and "majority class 'HUM' (acc 0.8000)" in line, line


@pytest.mark.parametrize(
    ("reasons", "said"),
    [
        (["loss"], "its training loss ended at 1.400 (predicting the label prior: 1.500)"),
        (["validation"], "its validation score 0.3000 is at or below the majority class's 0.4000"),
    ],
)
def test_a_run_the_collapse_rule_flags_prints_a_warning_not_ok(reasons: list[str], said: str) -> None:
    """Above the test majority, but the collapse rule stored in the record (the one studies count)
    fired: not `ok` either."""
    from flatlora.bench.collapse import assess
    from flatlora.bench.runline import run_line

    rec = _record(0.8, profile="quick")
    loss = 1.4 if "loss" in reasons else 0.2
    val, val_majority = (0.3, 0.4) if "validation" in reasons else (0.9, 0.4)
    # train prior 6/3/1 of 10 rows: entropy 0.898 nats; the stored numbers below are what assess gives
    c = assess([loss] * 20, {"ENTY": 6, "HUM": 3, "ABBR": 1}, val, val_majority).to_dict()
    assert c["collapsed"] and c["reasons"] == reasons
    c["prior_entropy"] = 1.5  # as a record of a larger label set would store it
    rec["collapse"] = c
    line = run_line(rec, "r.json")
    assert ": ok" not in line and "WARNING  test acc 0.8000" in line, line
    assert f"collapsed: {said}" in line, line
    rec["collapse"] = assess([0.2] * 20, {"ENTY": 6, "HUM": 3, "ABBR": 1}, 0.9, 0.4).to_dict()
    assert ": ok  test acc 0.8000" in run_line(rec, "r.json")


@pytest.mark.parametrize(
    ("acc", "tail_loss", "reasons", "verdict"),
    [
        # above the majority on test and validation, loss below the prior's entropy: under-trained
        (0.8, 1.2, ["loss"], "may not have trained fully"),
        # loss at the prior's entropy: it learned nothing, whatever the test accuracy says
        (0.8, 1.6, ["loss"], "nothing usable was learned"),
        # at the test majority (0.6)
        (0.6, 1.2, ["loss"], "nothing usable was learned"),
        # the validation part fired too
        (0.8, 1.2, ["loss", "validation"], "nothing usable was learned"),
    ],
)
def test_the_warning_says_nothing_was_learned_only_when_something_shows_it(
    acc: float, tail_loss: float, reasons: list[str], verdict: str
) -> None:
    from flatlora.bench.runline import run_line

    rec = _record(acc, profile="quick")
    rec["collapse"] = {
        "collapsed": True,
        "reasons": reasons,
        "tail_loss": tail_loss,
        "tail_steps": 10,
        "prior_entropy": 1.5,
        "val_score": 0.3 if "validation" in reasons else 0.9,
        "val_majority": 0.4,
    }
    line = run_line(rec, "r.json")
    assert "WARNING" in line and verdict in line, line
    other = {"may not have trained fully", "nothing usable was learned"} - {verdict}
    assert not any(o in line for o in other), line


def test_readme_first_run_on_your_own_data_uses_a_profile_that_learns() -> None:
    byod = README.read_text(encoding="utf-8").split("## Bring your own data", 1)[1].split("\n## ", 1)[0]
    first_train = next(ln for ln in byod.splitlines() if ln.startswith("flatbench train"))
    assert "--profile smoke" not in first_train, first_train
    assert "smoke" in byod and "learns" in byod


@pytest.mark.parametrize(("n_rows", "cap"), [(68, 64), (70, 4), (300, 128)])
def test_a_row_cap_near_a_splits_size_subsamples_six_classes(n_rows: int, cap: int) -> None:
    """smoke's 64 validation rows of a six-class split of 68: too few rows are left out to stratify
    both parts, which sklearn refuses; the cap still takes its rows, seeded."""
    import pandas as pd

    from flatlora.bench.data import subsample

    labels = [list(T.SHARES)[i % 6] for i in range(n_rows)]
    df = pd.DataFrame({"index": range(n_rows), "text": [f"q{i}" for i in range(n_rows)], "label": labels})
    a, b = subsample(df, cap, seed=0), subsample(df, cap, seed=0)
    assert len(a) == cap and list(a["index"]) == list(b["index"])
    assert list(a["index"]) == sorted(a["index"])
    if min(cap, n_rows - cap) >= 6:  # stratified where it can be: every class keeps its share
        assert a["label"].value_counts().min() >= cap // 6


def test_val_from_train_leaves_a_train_split_too_small_to_stratify(tmp_path: Path) -> None:
    rows = [(f"question number {i} ?", list(T.SHARES)[i // 2 % 6]) for i in range(60)]
    p = T.write(tmp_path / "few.csv", rows, test_every=2)  # 30 train rows, five per class
    rep, splits = validate_dataset(str(p), val_from_train=0.9, raise_on_failure=False, **COLS)
    assert any("not stratified" in n for n in rep.notes), rep.notes  # carved, without sklearn's error
    assert "validation carved from train: 27 of 30 train rows" in " ".join(rep.notes)
    # 3 train rows left: too few to hold six classes, so the classes it lacks fail by name
    [fail] = rep.failures
    assert fail.name == "classes_in_split(label)" and fail.scope == "train" and splits is None
    assert re.search(
        r"the train split has no rows of classes ('\w+', ){3}'\w+': the model never", fail.message
    )


# ---------------------------------------------------------------- 6. a validation split, leakage


def test_a_train_test_file_gets_a_validation_split_carved_from_train(
    tmp_path: Path, rows: list[tuple[str, str]]
) -> None:
    p = T.write(tmp_path / "questions.csv", rows)
    with pytest.raises(ValidationFailed, match=r"--val-from-train 0\.1 \(stratified by label, seeded"):
        validate_dataset(str(p), **COLS)
    rep, a = validate_dataset(str(p), val_from_train=0.1, split_seed=3, **COLS)
    _, b = validate_dataset(str(p), val_from_train=0.1, split_seed=3, **COLS)
    _, c = validate_dataset(str(p), val_from_train=0.1, split_seed=4, **COLS)
    assert a is not None and b is not None and c is not None
    n_train = sum(1 for i in range(len(rows)) if i % 5 != 4)
    assert len(a.train) + len(a.val) == n_train and len(a.test) == len(rows) - n_train
    assert abs(len(a.val) - 0.1 * n_train) <= 1
    assert list(a.val["index"]) == list(b.val["index"]) != list(c.val["index"])  # seeded
    assert not set(a.val["index"]) & set(a.train["index"])
    for lab, n in a.train["label"].value_counts().items():  # stratified
        assert abs(int((a.val["label"] == lab).sum()) - n * len(a.val) / len(a.train)) <= 1.5
    assert rep.split_sizes == {"train": len(a.train), "val": len(a.val), "test": len(a.test)}
    assert any("validation carved from train" in n for n in rep.notes)
    cfg = resolve_config("smoke", dataset=str(p), val_from_train=0.1, **COLS)
    assert cfg.data_options()["val_from_train"] == 0.1


def test_val_from_train_without_a_split_column_is_a_clear_error(
    tmp_path: Path, rows: list[tuple[str, str]]
) -> None:
    p = tmp_path / "nosplit.csv"
    p.write_text("question,category\n" + "".join(f"{q},{c}\n" for q, c in rows), encoding="utf-8")
    rep, _ = validate_dataset(str(p), val_from_train=0.1, raise_on_failure=False, **COLS)
    assert not rep.success and "has no `split` column" in rep.summary()


def test_leakage_names_the_rows_and_the_whole_text(tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    long_q = "Which of the many rivers that cross the country of Peru is the longest one of them all ?"
    leaky = [(long_q, "LOC"), *rows[:200], (long_q, "LOC")]  # data rows 1 and 202
    p = T.write(tmp_path / "leak.csv", leaky, test_every=202)  # row 202 is the 202nd: `test`
    rep, _ = validate_dataset(str(p), val_from_train=0.1, raise_on_failure=False, **COLS)
    [leak] = [c for c in rep.failures if c.name == "no_text_leakage_across_splits"]
    text = rep.summary()
    assert f"train row 1 and test row 202: {long_q!r}" in text, text
    assert leak.examples[0] == {"rows": {"train": [1], "test": [202]}, "text": long_q}
    assert leak.element_count == len(leaky)  # the texts it compared: each split's distinct texts


# ---------------------------------------------------------------- 7. encodings, mixed separators


RUSSIAN = [
    "Кто изобрёл телескоп",
    "Где находится Перу",
    "Сколько кошек живёт в Непале",
    "Почему пчёлы роятся",
]


def _western(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(q.replace(" 's", "\u2019s").replace("Define", "D\u00e9finir"), c) for q, c in rows]


@pytest.mark.parametrize(
    ("encoding", "make", "guess"),
    [
        ("cp1252", _western, "cp1252"),
        ("latin-1", lambda r: [(q.replace("Define", "D\u00e9finir"), c) for q, c in r], "cp1252"),
        ("cp1251", lambda r: [(f"{RUSSIAN[i % 4]} {i} ?", c) for i, (_, c) in enumerate(r)], "cp1251"),
    ],
)
def test_bytes_that_are_not_utf8_name_a_likely_encoding_and_the_option_reads_them(
    tmp_path: Path, rows: list[tuple[str, str]], encoding: str, make: Any, guess: str
) -> None:
    text_rows = make(rows)
    p = T.write(tmp_path / "questions.csv", text_rows, encoding=encoding)
    rep, _ = validate_dataset(str(p), val_from_train=0.1, raise_on_failure=False, **COLS)
    [fail] = rep.failures
    assert fail.name == "encoding"
    assert f"pass --encoding {guess}" in fail.message, fail.message
    rep, splits = validate_dataset(str(p), val_from_train=0.1, encoding=guess, **COLS)
    assert rep.success and splits is not None
    got = {*splits.train["text"], *splits.val["text"], *splits.test["text"]}
    assert got == {q for q, _ in text_rows}


def test_encoding_option_on_the_cli_and_in_the_config(tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    from typer.testing import CliRunner

    p = T.write(tmp_path / "questions.csv", _western(rows), encoding="cp1252")
    args = ["validate", str(p), *T.COLS, "--val-from-train", "0.1"]
    res = CliRunner().invoke(_app(), args, env={"COLUMNS": "200"})
    assert res.exit_code == 1 and "pass --encoding cp1252" in _text(res.output)
    res = CliRunner().invoke(_app(), [*args, "--encoding", "cp1252"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    a = resolve_config("smoke", encoding="Windows-1252")
    assert (
        a.encoding == "cp1252" and a.config_hash() == resolve_config("smoke", encoding="cp1252").config_hash()
    )
    assert a.config_hash() != resolve_config("smoke").config_hash()
    with pytest.raises(ValueError, match="`encoding` must be a Python codec name"):
        resolve_config("smoke", encoding="klingon-8")


def test_tab_separated_rows_inside_a_csv_are_named_with_their_lines(
    tmp_path: Path, rows: list[tuple[str, str]]
) -> None:
    p = T.write(tmp_path / "questions.csv", rows)
    lines = p.read_text(encoding="utf-8").splitlines()
    lines[400:420] = [ln.replace(",", "\t") for ln in lines[400:420]]  # file lines 401-420
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rep, _ = validate_dataset(str(p), val_from_train=0.1, raise_on_failure=False, **COLS)
    [fail] = rep.failures
    assert fail.name == "mixed_delimiters"
    assert "20 rows are tab-separated (lines 401, 402, 403, 404, 405, ... (15 more))" in fail.message
    assert f"the other {len(rows) - 20} rows are comma-separated" in fail.message


# ---------------------------------------------------------------- 8. the console


def test_train_says_what_it_read_caps_and_learned_without_bar_frames_when_not_a_terminal(
    tmp_path: Path, rows: list[tuple[str, str]], tiny_bert: str
) -> None:
    from typer.testing import CliRunner

    p = T.write(tmp_path / "questions.csv", rows)
    args = ["train", "--dataset", str(p), *T.COLS, "--val-from-train", "0.1", "--profile", "smoke"]
    args += ["--out", str(tmp_path / "out"), "--device", "cpu"]
    sets = ["num_threads=1", f"model={tiny_bert}", "max_len=24"]
    res = CliRunner().invoke(_app(), args + [x for s in sets for x in ("--set", s)])  # progress on
    assert res.exit_code == 0, res.output
    out = res.output
    assert "\r" not in out and "it/s" not in out  # not a terminal: no bars, no frames
    n_train = len(rows) - len(rows) // 5
    n_train -= round(0.1 * n_train + 0.5)
    flat = _text(out)
    assert "6 labels (inferred from the data" in flat
    assert re.search(r"note profile smoke runs on part of the data: train 128 of [\d,]+ rows", flat), flat
    assert re.search(r"questions__lora__s42__\w+: (ok|WARNING) +test acc", out), out
    rec = json.loads(Path(res.stdout.strip().splitlines()[-1]).read_text())
    assert rec["dataset_info"]["n_train"] == 128 and rec["config"]["val_from_train"] == 0.1


def test_no_progress_keeps_each_runs_result_line(
    tmp_path: Path, rows: list[tuple[str, str]], tiny_bert: str, capfd: pytest.CaptureFixture[str]
) -> None:
    p = T.write(tmp_path / "questions.csv", rows)
    cfg = resolve_config(
        "smoke", dataset=str(p), method="lora", seed=1, model=tiny_bert, max_len=24, num_threads=1,
        device="cpu", val_from_train=0.1, **COLS,
    )  # fmt: skip
    rec = runner.run_one(cfg, tmp_path / "out", progress=False)
    err = capfd.readouterr().err
    assert f"{rec['run_id']}: " in err and "test acc" in err
    assert "it/s" not in err and "%|" not in err


def test_benchmark_shows_validation_warnings_and_caps_before_the_grid(
    tmp_path: Path, rows: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import flows.benchmark

    seen: dict[str, Any] = {}

    def fake_flow(**kw: Any) -> dict[str, Any]:
        seen.update(kw)
        return {"report": str(tmp_path / "report.md"), "runs": [], "n_errors": 0}

    monkeypatch.setattr(flows.benchmark, "benchmark", fake_flow)
    typo = [*rows, *[(f"What does RADAR {i} stand for ?", "ABRR") for i in range(5)]]
    p = T.write(tmp_path / "questions.csv", typo)
    args = [
        "benchmark",
        "--dataset",
        str(p),
        *T.COLS,
        "--val-from-train",
        "0.1",
        "--out",
        str(tmp_path / "r"),
    ]
    res = CliRunner().invoke(_app(), args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    flat = _text(res.output)
    assert "warn no_rare_inferred_class(category)" in flat and "a near spelling of 'ABBR'" in flat
    assert "note profile quick runs on part of the data: train 640 of" in flat
    assert seen["progress"] is False  # not a terminal: no bars
    assert seen["overrides"]["val_from_train"] == 0.1


def test_checks_of_one_split_name_rows_as_the_data_numbers_them(
    tmp_path: Path, rows: list[tuple[str, str]]
) -> None:
    """A duplicate inside the train split is named by its data rows (as leakage and labels are), not by
    its place among the train rows."""
    dup = [*rows[:300], rows[2]]  # data rows 3 and 301, both `train`
    p = T.write(tmp_path / "dup.csv", dup)
    rep, _ = validate_dataset(str(p), raise_on_failure=False, **COLS)  # no val rows: fails, checks all
    [warn] = [
        c for c in rep.warnings if c.name.startswith("column_values_to_be_unique") and c.scope == "train"
    ]
    assert f"row 3: {rows[2][0]!r}, row 301: {rows[2][0]!r}" in rep.summary(), rep.summary()
    assert [x["row"] for x in warn.examples] == [2, 300]


def test_many_classes_of_few_rows_are_split_without_stratifying_and_said(tmp_path: Path) -> None:
    """30 classes of 5 rows: the 15 validation rows cannot hold every class, so sklearn's stratified split
    refused ("The test_size = 15 should be greater or equal to the number of classes = 30") and the
    file could not be used at all."""
    rows = [(f"example {i} of intent {c}", f"intent_{c:02d}") for c in range(30) for i in range(5)]
    path = tmp_path / "intents.csv"  # no split column: flatbench splits it 70/10/20
    path.write_text("question,category\n" + "".join(f"{q},{c}\n" for q, c in rows), encoding="utf-8")
    rep, splits = validate_dataset(str(path), **COLS)
    assert rep.success and splits is not None, rep.render()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (105, 15, 30)
    assert "the val split is not stratified by label: 150 rows of 30 classes are too few" in " ".join(
        rep.notes
    )
    assert sorted(splits.test["label"]) == sorted(f"intent_{c:02d}" for c in range(30))  # test: stratified
    [warn] = rep.warnings
    assert warn.name == "classes_in_split(label)" and warn.scope == "val"
