"""Bring your own data and model: inferred label sets, integer ids, sentence pairs, saved/hub datasets,
MCC and the headline metric, and encoders whose module names differ from BERT's."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from flatlora.bench import data as D
from flatlora.bench import runner
from flatlora.bench.config import resolve_config
from flatlora.bench.validation import ValidationFailed, validate_dataset

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]


def _rows(labels: list[Any], n_per: int = 12) -> list[tuple[str, Any]]:
    return [
        (f"{WORDS[i % 10]} item {j} of class {lab}", lab)
        for i, lab in enumerate(labels)
        for j in range(n_per)
    ]


def _csv(path: Path, header: tuple[str, ...], rows: list[tuple[Any, ...]], sep: str = ",") -> Path:
    path.write_text(
        sep.join(header) + "\n" + "".join(sep.join(map(str, r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def binary_strings(d: Path) -> tuple[Path, list[str]]:
    return _csv(d / "reviews.csv", ("review", "sentiment"), _rows(["positive", "negative"])), [
        "--text-col", "review", "--label-col", "sentiment",
    ]  # fmt: skip


def binary_ints(d: Path) -> tuple[Path, list[str]]:
    return _csv(d / "cola.tsv", ("sentence", "acceptable"), _rows([1, 0]), sep="\t"), [
        "--text-col", "sentence", "--label-col", "acceptable",
    ]  # fmt: skip


def binary_floats(d: Path) -> tuple[Path, list[str]]:
    """Class ids as pandas writes an integer column that once held NaN: 0.0 and 1.0."""
    import pandas as pd

    rows = _rows([1, 0])
    frame = pd.DataFrame({"sentence": [t for t, _ in rows], "acceptable": [float(y) for _, y in rows]})
    frame.to_csv(d / "cola.csv", index=False)
    return d / "cola.csv", ["--text-col", "sentence", "--label-col", "acceptable"]


def five_class(d: Path) -> tuple[Path, list[str]]:
    rows = _rows(["track_order", "refund", "greeting", "cancel", "book_flight"])
    p = d / "intents.jsonl"
    p.write_text("".join(json.dumps({"utterance": t, "intent": y}) + "\n" for t, y in rows), encoding="utf-8")
    return p, ["--text-col", "utterance", "--label-col", "intent"]


def sentence_pairs(d: Path) -> tuple[Path, list[str]]:
    rows = [(f"{WORDS[j % 10]} first {j}", f"{WORDS[(j * 3) % 10]} second {j}", j % 2) for j in range(30)]
    return _csv(d / "mrpc.csv", ("sentence1", "sentence2", "is_paraphrase"), rows), [
        "--text-col", "sentence1", "--text-pair-col", "sentence2", "--label-col", "is_paraphrase",
    ]  # fmt: skip


# (maker, label_names in class-id order, label_map, headline metric)
CASES = {
    "binary_strings": (binary_strings, ["negative", "positive"], {"negative": 0, "positive": 1}, "mcc"),
    "binary_ints": (binary_ints, ["0", "1"], {"0": 0, "1": 1}, "mcc"),
    "binary_floats": (binary_floats, ["0", "1"], {"0": 0, "1": 1}, "mcc"),
    "five_class": (
        five_class,
        ["book_flight", "cancel", "greeting", "refund", "track_order"],
        {"book_flight": 0, "cancel": 1, "greeting": 2, "refund": 3, "track_order": 4},
        "accuracy",
    ),
    "sentence_pairs": (sentence_pairs, ["0", "1"], {"0": 0, "1": 1}, "mcc"),
}


def _app() -> Any:
    import typer

    from flows import cli_train

    app = typer.Typer()
    cli_train.register(app)
    return app


@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_validate_and_train_accept_users_files(tmp_path: Path, tiny_bert: str, case: str) -> None:
    from typer.testing import CliRunner

    make, names, lmap, headline = CASES[case]
    path, cols = make(tmp_path)
    cli = CliRunner()
    res = cli.invoke(_app(), ["validate", str(path), *cols], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    sets = ["num_threads=1", f"model={tiny_bert}", "max_len=24", "batch_size=8"]
    args = ["train", "--dataset", str(path), *cols, "--profile", "smoke", "--method", "lora"]
    args += ["--out", str(tmp_path / "out"), "--no-progress", "--device", "cpu"]
    res = cli.invoke(_app(), args + [x for s in sets for x in ("--set", s)])
    assert res.exit_code == 0, res.output
    rec = json.loads(Path(res.stdout.strip().splitlines()[-1]).read_text())
    assert rec["status"] == "ok", rec["failure_reason"]
    info = rec["dataset_info"]
    assert (info["label_names"], info["label_map"], info["headline_metric"]) == (names, lmap, headline)
    assert set(rec["test"]) >= {"accuracy", "weighted_f1", "macro_f1", "mcc"}
    assert len(rec["test"]["confusion_matrix"]) == len(names)
    assert {p["gold"] for p in rec["predictions"]} <= set(names)
    if case == "sentence_pairs":
        from reports.texts import lookup_texts

        texts = lookup_texts([rec]).texts[rec["dataset"]]  # records carry no text: looked up in the file
        assert info["sentence_pairs"] and all("second" in texts[p["index"]] for p in rec["predictions"])


def test_pairs_are_tokenized_as_pairs(tiny_bert: str) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    ids = runner.encode(tok, ["the cat sat", "a dog"], 32, ["on the mat", "barked loudly at night"])
    b = runner.collate(ids, [0, 1], tok.pad_token_id)
    assert b["input_ids"][0].tolist().count(tok.sep_token_id) == 2  # [CLS] a [SEP] b [SEP]
    seg = b["token_type_ids"][0].tolist()
    n = int(b["attention_mask"][0].sum())
    first_sep = b["input_ids"][0].tolist().index(tok.sep_token_id)
    assert seg[: first_sep + 1] == [0] * (first_sep + 1) and seg[first_sep + 1 : n] == [1] * (
        n - first_sep - 1
    )
    single = runner.collate(runner.encode(tok, ["the cat sat"], 32), [0], tok.pad_token_id)
    assert "token_type_ids" not in single  # single texts: unchanged batches


def test_pair_duplicates_and_leakage_use_both_texts(tmp_path: Path) -> None:
    # the same first sentence with different second sentences is not a duplicate ...
    rows = [("shared premise", f"{WORDS[j % 10]} hypothesis {j}", j % 2) for j in range(30)]
    p = _csv(tmp_path / "nli.csv", ("premise", "hypothesis", "label"), rows)
    rep, _ = validate_dataset(str(p), text_col="premise", text_pair_col="hypothesis")
    assert rep.success, rep.summary()
    # ... an identical pair is; and an empty second text fails like an empty text
    q = _csv(
        tmp_path / "nli2.csv", ("premise", "hypothesis", "label"), [*rows, rows[0], ("ok premise", "", 1)]
    )
    with pytest.raises(ValidationFailed, match=r"duplicate texts in column 'premise, hypothesis'") as info:
        validate_dataset(str(q), text_col="premise", text_pair_col="hypothesis")
    assert "value_lengths_to_be_between(hypothesis)" in str(info.value)  # the user's column names
    with pytest.raises(
        ValidationFailed, match=r"missing required text pair column 'nope'.*with --text-pair-col"
    ):
        validate_dataset(str(p), text_col="premise", text_pair_col="nope")


@pytest.mark.parametrize(
    ("labels", "names"),
    [
        (["b", "a", "c", "a"], ["a", "b", "c"]),  # names: sorted
        (["10", "9", "-1", "9"], ["-1", "9", "10"]),  # integer ids: numeric order, not string order
        ([1, 0, 1], ["0", "1"]),  # JSON integers
        ([" pos ", "neg"], ["neg", "pos"]),  # whitespace is not part of a label
    ],
)
def test_label_inference_order(labels: list[Any], names: list[str]) -> None:
    got, lmap = D.resolve_labels(labels)
    assert got == names and lmap == {n: i for i, n in enumerate(names)}


def _jsonl(path: Path, rows: list[tuple[str, Any]]) -> Path:
    path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows), encoding="utf-8")
    return path


def _saved(path: Path, rows: list[tuple[str, Any]]) -> Path:
    hf = pytest.importorskip("datasets")
    hf.Dataset.from_dict({"text": [t for t, _ in rows], "label": [y for _, y in rows]}).save_to_disk(path)
    return path


# how a label column is written: (file maker, how an integer id is written, how a float-written one is)
LABEL_WRITERS: dict[str, tuple[Callable[[Path, list[tuple[str, Any]]], Path], Any, Any]] = {
    "csv as pandas writes floats": (
        lambda p, r: _csv(p.with_suffix(".csv"), ("text", "label"), r),
        str,
        float,
    ),
    "tsv with 1.00": (
        lambda p, r: _csv(p.with_suffix(".tsv"), ("text", "label"), r, sep="\t"),
        str,
        lambda y: f"{y}.00",
    ),
    "jsonl numbers": (lambda p, r: _jsonl(p.with_suffix(".jsonl"), r), int, float),
    "jsonl strings": (lambda p, r: _jsonl(p.with_suffix(".jsonl"), r), str, lambda y: f"{y}.0"),
    "saved dataset, float feature": (_saved, int, float),
}


@pytest.mark.parametrize("ids", [[0, 1, 2], [1, 2, 3, 4, 5], [-1, 1]])
@pytest.mark.parametrize("writer", sorted(LABEL_WRITERS))
def test_class_ids_written_as_floats_are_the_integers_they_are(
    tmp_path: Path, writer: str, ids: list[int]
) -> None:
    make, as_int, as_float = LABEL_WRITERS[writer]
    rows = [(f"{WORDS[j % 10]} row {y} {j}", y) for y in ids for j in range(10 + ids.index(y))]
    ints = make(tmp_path / "ints", [(t, as_int(y)) for t, y in rows])
    floats = make(tmp_path / "floats", [(t, as_float(y)) for t, y in rows])
    want, want_splits = validate_dataset(str(ints))
    rep, splits = validate_dataset(str(floats))
    assert rep.success, rep.summary()
    assert rep.labels == want.labels == {str(y): 10 + i for i, y in enumerate(ids)}  # `1`, not `1.0`
    assert splits is not None and want_splits is not None
    assert (splits.label_names, splits.label_map) == (want_splits.label_names, want_splits.label_map)
    for part in ("train", "val", "test"):  # the same rows, labelled alike, in every split
        got, ref = getattr(splits, part), getattr(want_splits, part)
        assert [str(y) for y in got["label"]] == [str(y) for y in ref["label"]]
        assert list(got["index"]) == list(ref["index"])
    assert any("written as floats" in n and "read as integers" in n for n in rep.notes)


@pytest.mark.parametrize(
    ("name", "labels", "outcome"),
    [
        # a number that is not whole is no class id: the column, an example, its rows and the fix
        ("half.csv", ["0.5", "1.0"], r"label column 'label' holds non-integer numbers \(e\.g\. \['0\.5'\]; "
         r"rows 1, 3, 5, \.\.\. \(9 more\).*round or bin.*--label-col"),
        ("half.jsonl", [2.5, 1.0], r"label column 'label' holds non-integer numbers \(e\.g\. \['2\.5'\]"),
        # a missing label in a column of ids (pandas reads the ids as floats) is a missing label, not `nan`
        ("ints_null.jsonl", [0, 1, None], r"column_values_to_not_be_null\(label\).*1 of 25 rows"),
        ("floats_null.jsonl", [0.0, 1.0, None], r"column_values_to_not_be_null\(label\).*1 of 25 rows"),
        ("floats_blank.csv", ["0.0", "1.0", ""], r"labels_not_empty\(label\): 1 empty or blank label"),
        # ids and names mixed stay an error, shown as written
        ("mixed.csv", ["1.0", "positive"], r"mixes numbers \['1\.0'\] and names \['positive'\]"),
        # booleans and names are names
        ("bools.jsonl", [True, False], {"False": 12, "True": 12}),
        ("bools.csv", ["True", "False"], {"False": 12, "True": 12}),
        ("versions.csv", ["v1.0", "v2.0"], {"v1.0": 12, "v2.0": 12}),
    ],
)  # fmt: skip
def test_label_values_other_than_whole_floats(
    tmp_path: Path, name: str, labels: list[Any], outcome: str | dict[str, int]
) -> None:
    rows = [(f"{WORDS[j % 10]} row {j}", labels[j % 2]) for j in range(24)]
    rows += [(f"one more row {k}", y) for k, y in enumerate(labels[2:])]
    path = tmp_path / name
    if name.endswith(".csv"):
        _csv(path, ("text", "label"), rows)
    else:
        _jsonl(path, rows)
    if isinstance(outcome, dict):
        rep, _ = validate_dataset(str(path))
        assert rep.success and rep.labels == outcome, rep.summary()
    else:
        with pytest.raises(ValidationFailed, match=outcome):
            validate_dataset(str(path))


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (["0.5", "1.5"], r"label column 'label' holds non-integer numbers \(e\.g\. \['0\.5', '1\.5'\]"),
        (["1", "positive"], r"mixes numbers \['1'\] and names \['positive'\]"),
    ],
)
def test_label_inference_rejects_ambiguous_labels(labels: list[str], match: str) -> None:
    with pytest.raises(D.DataError, match=match):
        D.resolve_labels(labels)


def test_card_fixes_names_order_and_headline(tmp_path: Path) -> None:
    card = tmp_path / "mycard.yaml"
    card.write_text(
        "name: mycard\nlabels: [positive, negative]\nheadline_metric: macro_f1\n", encoding="utf-8"
    )
    path, _ = binary_strings(tmp_path)
    d = D.load_labeled(str(path), text_col="review", label_col="sentiment", card=str(card))
    assert d.label_names == ["positive", "negative"] and d.headline_metric == "macro_f1"
    card.write_text("name: mycard\nheadline_metric: auc\n", encoding="utf-8")
    with pytest.raises(D.DataError, match=r"`headline_metric` must be one of .* got 'auc'"):
        D.load_labeled(str(path), text_col="review", label_col="sentiment", card=str(card))
    with pytest.raises(D.DataError, match=r"dataset card not found: .*nocard"):
        D.load_labeled(str(path), text_col="review", label_col="sentiment", card="nocard")


def test_a_card_whose_labels_yaml_reads_as_booleans_is_named(tmp_path: Path) -> None:
    """`labels: [no, yes]` is [False, True] to YAML: every row failed as an unknown label 'yes' or 'no'
    against an allowed set [False, True]."""
    rows = _rows(["yes", "no"])
    path = _csv(tmp_path / "answers.csv", ("text", "label"), rows)
    card = tmp_path / "yesno.yaml"
    card.write_text("name: yesno\nlabels: [no, yes]\n", encoding="utf-8")
    with pytest.raises(
        D.DataError, match=r"`labels` must be a list of names or class ids, got \[False, True\]"
    ):
        D.load_labeled(str(path), card=str(card))
    card.write_text("name: yesno\nlabels: ['no', 'yes']\n", encoding="utf-8")
    assert D.load_labeled(str(path), card=str(card)).label_names == ["no", "yes"]


def test_save_to_disk_folder_with_classlabel_and_splits(tmp_path: Path) -> None:
    hf = pytest.importorskip("datasets")
    feats = hf.Features(
        {"sentence": hf.Value("string"), "label": hf.ClassLabel(names=["unacceptable", "acceptable"])}
    )

    def part(n: int, start: int) -> Any:
        return hf.Dataset.from_dict(
            {
                "sentence": [f"{WORDS[i % 10]} sentence {start + i}" for i in range(n)],
                "label": [i % 2 for i in range(n)],
            },
            features=feats,
        )

    hf.DatasetDict({"train": part(30, 0), "validation": part(8, 100), "test": part(10, 200)}).save_to_disk(
        tmp_path / "cola_hf"
    )
    rep, splits = validate_dataset(str(tmp_path / "cola_hf"), text_col="sentence")
    assert rep.success, rep.summary()
    assert splits is not None and (len(splits.train), len(splits.val), len(splits.test)) == (30, 8, 10)
    assert splits.label_names == ["unacceptable", "acceptable"]  # the feature's order, not sorted
    assert splits.label_map == {"0": 0, "1": 1} and splits.headline_metric == "mcc"
    assert set(splits.train["label"]) == {"unacceptable", "acceptable"}


@pytest.mark.parametrize(
    "counts",
    [
        {"1": 14, "2": 12, "3": 16, "4": 11, "5": 13},  # star ratings: ids that do not start at 0
        {"1": 15, "5": 12, "10": 17},  # sparse ids
        {"-1": 13, "1": 16},
        {"0": 12, "1": 15, "2": 18},
    ],
)
def test_validate_counts_integer_labels_by_their_value(tmp_path: Path, counts: dict[str, int]) -> None:
    rows = [(f"{WORDS[j % 10]} row {lab} {j}", lab) for lab, n in counts.items() for j in range(n)]
    rep, _ = validate_dataset(str(_csv(tmp_path / "ratings.csv", ("text", "label"), rows)))
    assert rep.success, rep.summary()
    assert rep.labels == counts  # numeric order, each with its own rows


def test_classlabel_names_that_are_digits_keep_their_counts(tmp_path: Path) -> None:
    hf = pytest.importorskip("datasets")
    feats = hf.Features({"text": hf.Value("string"), "label": hf.ClassLabel(names=["1", "2", "3"])})
    ids = [0] * 10 + [1] * 12 + [2] * 14
    texts = [f"{WORDS[i % 10]} review {i}" for i in range(len(ids))]
    hf.Dataset.from_dict({"text": texts, "label": ids}, features=feats).save_to_disk(tmp_path / "stars")
    rep, _ = validate_dataset(str(tmp_path / "stars"))
    assert rep.labels == {"1": 10, "2": 12, "3": 14}


def test_hub_id_offline_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(D.DataError, match=r"could not load dataset 'nyu-mll/glue:cola'"):
        D.load_labeled("nyu-mll/glue:cola", text_col="sentence")


def test_mcc_against_reference_values() -> None:
    # binary: tp=3 fn=1 fp=2 tn=4 -> (3*4 - 2*1) / sqrt(5*4*5*6)
    gold = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    pred = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]
    m = runner.classification_metrics(gold, pred, ["n", "p"])
    assert m["mcc"] == pytest.approx(10 / math.sqrt(600))
    assert runner.classification_metrics([0, 1, 0, 1], [1, 1, 1, 1], ["n", "p"])["mcc"] == 0.0  # constant
    # multiclass, and the numpy path (used without sklearn) agrees with sklearn on every metric
    g3, p3 = [0, 0, 1, 1, 2, 2, 2, 1], [0, 1, 1, 1, 2, 0, 2, 2]
    for g, p, names in ((gold, pred, ["n", "p"]), (g3, p3, ["a", "b", "c"])):
        ref, alt = runner.classification_metrics(g, p, names), runner._metrics_numpy(g, p, names)
        assert alt["confusion_matrix"] == ref["confusion_matrix"]
        for k in ("accuracy", "weighted_f1", "macro_f1", "mcc"):
            assert alt[k] == pytest.approx(ref[k], abs=1e-12), k


@pytest.mark.parametrize(
    ("kind", "method", "targets"),
    [
        ("distilbert", "flat_lora", ["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"]),
        ("modernbert", "lora", ["Wqkv", "Wo", "Wi"]),
        ("deberta-v2", "full", ["query_proj", "value_proj"]),
    ],
)
def test_other_encoders_train_through_the_runner(
    tmp_path: Path, kind: str, method: str, targets: list[str]
) -> None:
    from tests.bench.tiny_encoders import save_tiny_encoder

    model = str(save_tiny_encoder(tmp_path / kind, kind))
    path, _ = binary_strings(tmp_path)
    cfg = resolve_config(
        "smoke", dataset=str(path), text_col="review", label_col="sentiment", model=model, method=method,
        num_threads=1, max_len=24, batch_size=8, device="cpu",
    )  # fmt: skip
    seen: dict[str, Any] = {}
    real_build = runner.build_model

    def spy(c: Any, names: list[str]) -> Any:
        seen["model"], tok = real_build(c, names)
        return seen["model"], tok

    mp = pytest.MonkeyPatch()
    mp.setattr(runner, "build_model", spy)
    try:
        rec = runner.run_one(cfg, tmp_path / "out", progress=False)
    finally:
        mp.undo()
    assert rec["status"] == "ok", rec["failure_reason"]
    mi = rec["model_info"]
    assert mi["model_type"] == kind and mi["target_modules"] == targets
    assert mi["target_modules_source"] == ("peft_default" if kind == "deberta-v2" else "encoder_linears")
    wrapped = {n.rsplit(".", 1)[-1] for n, m in seen["model"].named_modules() if hasattr(m, "lora_A")}
    if method == "full":
        assert not wrapped and rec["flatness"]["scope"] == "target_modules (dense)"
    else:
        assert wrapped == set(targets)  # every target wrapped; the classifier head is not
    assert math.isfinite(rec["flatness"]["base_loss"])


@pytest.mark.parametrize(
    ("kind", "method", "targets"),
    [("gpt2", "flat_lora", ["c_attn"]), ("llama", "lora", ["q_proj", "v_proj"])],
)
def test_decoder_classifiers_without_a_pad_token_train_through_the_runner(
    tmp_path: Path, kind: str, method: str, targets: list[str]
) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tests.tiny_models import save_tiny_decoder

    lm = save_tiny_decoder(tmp_path / "lm", kind)
    model = AutoModelForSequenceClassification.from_pretrained(lm, num_labels=2)
    model.config.pad_token_id = None  # as GPT-2's checkpoint: no pad token in the config or tokenizer
    tok = AutoTokenizer.from_pretrained(lm)
    tok.pad_token = None
    model.save_pretrained(tmp_path / kind)
    tok.save_pretrained(tmp_path / kind)
    path, _ = binary_strings(tmp_path)
    cfg = resolve_config(
        "smoke", dataset=str(path), text_col="review", label_col="sentiment", model=str(tmp_path / kind),
        method=method, num_threads=1, max_len=24, batch_size=8, device="cpu",
    )  # fmt: skip
    rec = runner.run_one(cfg, tmp_path / "out", progress=False)
    assert rec["status"] == "ok", rec["failure_reason"]
    assert rec["model_info"]["target_modules"] == targets  # PEFT's default: GPT-2's is a Conv1D
    assert rec["model_info"]["target_modules_source"] == "peft_default"
    assert math.isfinite(rec["flatness"]["base_loss"])


def test_explicit_target_modules_that_do_not_exist_are_a_clear_error(tmp_path: Path, tiny_bert: str) -> None:
    from flatlora.bench.models import load_classifier, resolve_target_modules

    model, _ = load_classifier(tiny_bert, 2, ["a", "b"])
    assert resolve_target_modules(model, ("query", "value")) == (["query", "value"], "config")
    with pytest.raises(ValueError, match=r"`target_modules` \['q_proj'\] match no module of this model"):
        resolve_target_modules(model, ("q_proj",))


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (
            "{tmp}/no_such_model",
            r"`model` '.*no_such_model' does not exist: pass a folder written by save_pretrained",
        ),
        ("{tmp}/reviews.csv", r"`model` '.*reviews.csv' is a file, not a folder"),
        ("{tmp}", r"`model` '.*' is a folder without config.json"),
        ("./no_such_model", r"`model` './no_such_model' does not exist"),
        (
            "{tmp}/no_tokenizer",
            r"`model` '.*no_tokenizer' has no tokenizer files .*tokenizer.save_pretrained",
        ),
    ],
)
def test_a_model_path_that_is_no_checkpoint_is_one_line_before_anything_runs(
    tmp_path: Path, model: str, match: str
) -> None:
    from typer.testing import CliRunner

    from flatlora.bench.models import check_model, load_classifier
    from tests.bench.tiny_encoders import save_tiny_encoder

    path, cols = binary_strings(tmp_path)
    model = model.format(tmp=tmp_path)
    if model.endswith("no_tokenizer"):  # the model saved, its tokenizer forgotten
        save_tiny_encoder(tmp_path / "no_tokenizer", "distilbert")
        for f in (tmp_path / "no_tokenizer").iterdir():
            if f.name != "config.json" and not f.name.endswith(".safetensors"):
                f.unlink()
    with pytest.raises(ValueError, match=match):
        load_classifier(model, 2, ["negative", "positive"])
    args = ["train", "--dataset", str(path), *cols, "--profile", "smoke", "--set", f"model={model}"]
    res = CliRunner().invoke(_app(), [*args, "--out", str(tmp_path / "out")], env={"COLUMNS": "200"})
    assert res.exit_code == 2 and "config error: `model`" in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()  # nothing validated or written
    check_model("minilm")
    check_model("owner/name")  # a hub id: the hub answers for it


def test_max_len_beyond_the_models_positions_is_one_line_before_training(tmp_path: Path) -> None:
    import transformers as T

    from flatlora.bench.models import max_positions
    from tests.bench.tiny_encoders import save_tiny_encoder
    from tests.tiny_models import save_tiny_decoder

    model = str(save_tiny_encoder(tmp_path / "distilbert", "distilbert"))  # 128 positions
    cfg = resolve_config("smoke", model=model, max_len=256, device="cpu")
    with pytest.raises(ValueError, match=r"`max_len` 256 is more than model .* takes \(128 token positions\): "
                       r"--set max_len=128 or less"):  # fmt: skip
        runner.build_model(cfg, ["a", "b"])
    roberta = T.RobertaForSequenceClassification(
        T.RobertaConfig(vocab_size=99, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=514, pad_token_id=1)
    )  # fmt: skip
    assert max_positions(roberta) == 512  # positions start after the padding index
    gpt2 = T.AutoModelForSequenceClassification.from_pretrained(save_tiny_decoder(tmp_path / "g", "gpt2"))
    llama = T.AutoModelForSequenceClassification.from_pretrained(save_tiny_decoder(tmp_path / "l", "llama"))
    assert (max_positions(gpt2), max_positions(llama)) == (512, None)  # rotary positions: no table


def test_device_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    if not torch.cuda.is_available():
        assert runner.resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match=r"`device` 'cuda:1': CUDA is not available"):
            runner.resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert runner.resolve_device("auto") == torch.device("cuda", 0)  # resolved here, where the run executes
    with pytest.raises(ValueError, match=r"only 1 CUDA device\(s\) visible"):
        runner.resolve_device("cuda:3")


def test_benchmark_cli_rejects_a_bad_device_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer
    from typer.testing import CliRunner

    from flows import cli_bench

    app = typer.Typer()
    cli_bench.register(app)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["benchmark", "--device", "gpu0", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "`device` must be auto | cpu | cuda | cuda:N, got 'gpu0'" in res.output
    assert not (tmp_path / "run").exists()  # nothing written, no flow started
    # a precision one of the methods cannot take: the grid started, and only its SAM runs errored
    args = ["benchmark", "--method", "lora", "--method", "sam_w", "--precision", "fp16"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run")], env={"COLUMNS": "300"})
    assert res.exit_code == 2 and "`precision` 'fp16' is not supported with sam_w" in res.output
    assert not (tmp_path / "run").exists()


def test_train_cli_takes_a_card(tmp_path: Path, tiny_bert: str) -> None:
    from typer.testing import CliRunner

    card = tmp_path / "sentiment2.yaml"
    card.write_text(
        "name: sentiment2\nlabels: [positive, negative]\nheadline_metric: accuracy\n", encoding="utf-8"
    )
    path, cols = binary_strings(tmp_path)
    args = [
        "train",
        "--dataset",
        str(path),
        *cols,
        "--card",
        str(card),
        "--profile",
        "smoke",
        "--no-progress",
    ]
    args += ["--out", str(tmp_path / "o"), "--set", f"model={tiny_bert}", "--set", "num_threads=1"]
    res = CliRunner().invoke(_app(), args)
    assert res.exit_code == 0, res.output
    info = json.loads(Path(res.stdout.strip().splitlines()[-1]).read_text())["dataset_info"]
    assert info["card"] == str(card) and info["label_names"] == ["positive", "negative"]
    assert info["headline_metric"] == "accuracy"


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_cpu(
    tmp_path: Path, tiny_bert: str, precision: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scalers: list[Any] = []
    real = torch.amp.GradScaler

    def counting(*a: Any, **k: Any) -> Any:
        scalers.append(real(*a, **k))
        return scalers[-1]

    monkeypatch.setattr(torch.amp, "GradScaler", counting)
    path, _ = binary_strings(tmp_path)
    kw: dict[str, Any] = {
        "text_col": "review",
        "label_col": "sentiment",
        "model": tiny_bert,
        "num_threads": 1,
    }
    cfg = resolve_config("smoke", dataset=str(path), method="lora", precision=precision, device="cpu", **kw)
    rec = runner.run_one(cfg, tmp_path / "o", progress=False)
    assert rec["status"] == "ok" and rec["provenance"]["hardware"]["precision"] == precision
    assert len(scalers) == (1 if precision == "fp16" else 0)  # a GradScaler only for fp16
    with pytest.raises(ValueError, match=r"`precision` 'fp16' is not supported with sam_w"):
        runner.run_one(
            resolve_config("smoke", dataset=str(path), method="sam_w", precision="fp16", **kw), tmp_path
        )


# ---------------------------------------------------------------- files made elsewhere


def _split_rows(
    splits: dict[str, str], labels: tuple[str, ...] = ("positive", "negative"), n_per: int = 6
) -> list[tuple[str, str, str]]:
    """(text, label, split) rows: `n_per` of each label in each split, the split written as `splits` says
    (train/val/test -> the file's spelling)."""
    return [
        (f"{WORDS[j % 10]} {part} row {j} of {lab}", lab, spelled)
        for part, spelled in splits.items()
        for lab in labels
        for j in range(n_per)
    ]


@pytest.mark.parametrize(
    ("header", "spellings"),
    [
        ("split", {"train": "train", "val": "val", "test": "test"}),
        ("Split", {"train": "Train", "val": "Validation", "test": "Test"}),  # a spreadsheet's export
        ("SPLIT", {"train": "TRAINING", "val": "dev", "test": "testing"}),
        ("split", {"train": " train ", "val": "Valid", "test": "TEST"}),
    ],
)
def test_a_split_column_is_read_in_any_case_and_its_common_spellings(
    tmp_path: Path, header: str, spellings: dict[str, str]
) -> None:
    rows = _split_rows(spellings)
    p = _csv(tmp_path / "reviews.csv", ("review", "sentiment", header), rows)
    rep, splits = validate_dataset(str(p), text_col="review", label_col="sentiment")
    assert rep.success and splits is not None, rep.render()
    assert {k: len(getattr(splits, k)) for k in ("train", "val", "test")} == {
        "train": 12,
        "val": 12,
        "test": 12,
    }
    assert all("train row" in t for t in splits.train["text"])  # the file's split, not a seeded one
    assert all("test row" in t for t in splits.test["text"])


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("holdout", r"'holdout' in rows 7, 8, 9 and 3 more"),
        ("", r"blank in rows 7, 8, 9 and 3 more"),
    ],
)
def test_split_values_that_name_no_split_fail_naming_them_and_their_rows(
    tmp_path: Path, value: str, said: str
) -> None:
    """A row whose split is unknown or blank belonged to no split and was left out without a word."""
    rows = _split_rows({"train": "train", "val": "val", "test": "test"})
    rows[6:12] = [(t, lab, value) for t, lab, _ in rows[6:12]]
    p = _csv(tmp_path / "reviews.csv", ("review", "sentiment", "split"), rows)
    rep, splits = validate_dataset(str(p), text_col="review", label_col="sentiment", raise_on_failure=False)
    assert not rep.success and splits is None
    [fail] = rep.failures
    assert fail.name == "split_values"
    assert re.search(r"split column 'split' of reviews\.csv: 6 rows name no split \(" + said, fail.message)
    assert "write each row's split as train, val or test" in fail.message


@pytest.mark.parametrize(
    ("missing_from", "severity", "why"),
    [
        ("train", "error", "the model never trains on it, so each of its val and test rows is scored wrong"),
        ("val", "warning", "the validation score that picks the best epoch never counts it"),
        ("test", "warning", "the test never measures it"),
    ],
)
def test_a_class_that_a_declared_split_lacks_is_named_with_the_split(
    tmp_path: Path, missing_from: str, severity: str, why: str
) -> None:
    """A label whose rows are all in val and test passed validation, and no step trained on it."""
    rows = _split_rows({"train": "train", "val": "val", "test": "test"})
    rows += [
        (f"a mixed {s} review {j}", "mixed", s)
        for s in ("train", "val", "test")
        if s != missing_from
        for j in range(6)
    ]
    p = _csv(tmp_path / "reviews.csv", ("review", "sentiment", "split"), rows)
    rep, _ = validate_dataset(str(p), text_col="review", label_col="sentiment", raise_on_failure=False)
    [flagged] = [c for c in rep.checks if not c.success]
    assert (flagged.name, flagged.scope, flagged.severity) == (
        "classes_in_split(label)",
        missing_from,
        severity,
    )
    assert rep.success is (severity == "warning")
    assert f"the {missing_from} split has no rows of class 'mixed': {why}" in flagged.message
    assert f"classes_in_split(sentiment) [{missing_from}]: the {missing_from} split" in rep.render(width=400)


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ({"review": ["great", "phone"], "sentiment": "positive"}, r"text column 'review' holds lists"),
        ({"review": {"title": "great"}, "sentiment": "positive"}, r"text column 'review' holds objects"),
        (
            {"review": "great phone", "sentiment": ["positive", "gift"]},
            r"label column 'sentiment' holds lists",
        ),
    ],
)
def test_json_arrays_and_objects_in_a_column_fail_naming_their_rows(
    tmp_path: Path, row: dict[str, Any], said: str
) -> None:
    """A list as a text crashed validation with a traceback; a list of labels in every row would have
    become classes named by their brackets."""
    rows = [{"review": t, "sentiment": lab} for t, lab in _rows(["positive", "negative"])]
    rows.insert(2, row)
    if isinstance(row["sentiment"], list):  # every row multi-label: no mix of types to catch it
        rows = [{**r, "sentiment": [r["sentiment"]]} for r in rows]
    p = tmp_path / "reviews.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    rep, _ = validate_dataset(str(p), text_col="review", label_col="sentiment", raise_on_failure=False)
    [fail] = rep.failures
    assert fail.name == "value_types"
    assert re.search(said + r", not single values, in \d+ rows? \(\d", fail.message), fail.message


def test_a_stray_quote_that_swallows_rows_of_a_tsv_fails_naming_its_lines(tmp_path: Path) -> None:
    """A headline that opens with a quote it never closes ran on over the next rows until some later
    quote: those rows became one text, and the file passed validation with 5 rows fewer."""
    rows = _rows(["positive", "negative"])
    lines = [f"{t}\t{lab}" for t, lab in rows]
    lines[3] = '"Stray quote in a headline\tnegative'
    lines[8] = 'A closing" quote of another row\tpositive'
    p = tmp_path / "headlines.tsv"
    p.write_text("review\tsentiment\n" + "\n".join(lines) + "\n", encoding="utf-8")
    rep, _ = validate_dataset(str(p), text_col="review", label_col="sentiment", raise_on_failure=False)
    [fail] = rep.failures
    assert fail.name == "format"
    assert fail.message.startswith(
        "headlines.tsv: a double quote opens a field on line 5 and runs over 5 lines that are rows of their "
        "own, up to line 10: they would become one text of data row 4 and be lost as rows. Remove the stray "
        "quote on line 5"
    ), fail.message


def test_texts_quoted_over_several_lines_are_read_as_they_are(tmp_path: Path) -> None:
    """A review with line breaks, one of its lines holding as many commas as the file has columns - 1."""
    import pandas as pd

    rows = _rows(["positive", "negative"])
    rows[2] = ("Line one\nGreat phone, bad battery\r\nthird line", "positive")
    pd.DataFrame(rows, columns=["review", "sentiment"]).to_csv(tmp_path / "reviews.csv", index=False)
    rep, splits = validate_dataset(str(tmp_path / "reviews.csv"), text_col="review", label_col="sentiment")
    assert rep.success and splits is not None
    texts = [*splits.train["text"], *splits.val["text"], *splits.test["text"]]
    assert len(texts) == len(rows) and "Line one\nGreat phone, bad battery\r\nthird line" in texts


def test_a_decoder_reads_a_sentence_pair_with_a_separator_between_its_texts(tmp_path: Path) -> None:
    """GPT-2-style tokenizers join a pair with nothing between: `Who won?The Broncos won.`, and the
    model could not tell where the question ends. Its eos token now marks the boundary."""
    from transformers import AutoTokenizer

    from flatlora.bench.lengths import token_lengths
    from flatlora.bench.models import minilm_path, separated_pairs
    from tests.tiny_models import save_tiny_decoder

    lm = save_tiny_decoder(tmp_path / "lm", "gpt2")
    dec = AutoTokenizer.from_pretrained(lm)
    [row] = runner.encode(dec, ["Who won?"], 64, separated_pairs(dec, ["The Broncos won."]))
    first = dec("Who won?")["input_ids"]
    assert row[: len(first)] == first and row[len(first)] == dec.eos_token_id  # the boundary
    assert dec.decode(row[len(first) + 1 :]) == "The Broncos won."
    assert token_lengths(dec, ["Who won?"], ["The Broncos won."]) == [len(row)]  # as the runner encodes
    bert = AutoTokenizer.from_pretrained(minilm_path())
    assert separated_pairs(bert, ["The Broncos won."]) == ["The Broncos won."]  # its own [SEP]

    path, _ = sentence_pairs(tmp_path)
    cfg = resolve_config(
        "smoke", dataset=str(path), text_col="sentence1", text_pair_col="sentence2", label_col="is_paraphrase",
        model=str(lm), method="lora", num_threads=1, max_len=24, batch_size=8, device="cpu",
    )  # fmt: skip
    rec = runner.run_one(cfg, tmp_path / "out", progress=False)
    assert rec["status"] == "ok", rec["failure_reason"]
    assert rec["model_info"]["pair_separator"] == "</s>"


def test_a_missing_column_lists_the_files_columns_as_they_are(tmp_path: Path) -> None:
    """The file's own `text` column read back as the name passed to --text-col: "missing required text
    column 'Sentence' (found columns: ['Sentence', 'label'])"."""
    p = _csv(tmp_path / "reviews.csv", ("text", "label"), _rows(["positive", "negative"]))
    rep, _ = validate_dataset(str(p), text_col="Sentence", raise_on_failure=False)
    shown = " ".join(rep.render(width=400).split())
    assert "missing required text column 'Sentence' (found columns: ['text', 'label'])" in shown
    assert "missing required text column 'Sentence' (found columns: ['text', 'label'])" in rep.summary()
    rep, _ = validate_dataset(str(p), text_col="Text", raise_on_failure=False)
    assert (
        "missing required text column 'Text' (did you mean 'text'? names are case-sensitive)"
        in rep.render(width=400)
    )


def test_a_header_typed_with_spaces_after_its_commas_is_read(tmp_path: Path) -> None:
    rows = _rows(["positive", "negative"])
    p = tmp_path / "reviews.csv"
    p.write_text("review, sentiment\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    rep, splits = validate_dataset(str(p), text_col="review", label_col="sentiment")
    assert rep.success and splits is not None and rep.labels == {"negative": 12, "positive": 12}


def test_one_column_for_two_roles_is_named_as_such(tmp_path: Path) -> None:
    path, _ = sentence_pairs(tmp_path)
    rep, _ = validate_dataset(
        str(path), text_col="sentence1", text_pair_col="sentence1", label_col="is_paraphrase",
        raise_on_failure=False,
    )  # fmt: skip
    [fail] = rep.failures
    assert fail.message.startswith("--text-col and --text-pair-col both name column 'sentence1'")


def test_sentence_pairs_on_a_model_of_one_segment_get_no_segment_ids(tmp_path: Path) -> None:
    """RoBERTa's segment table has one row; a BERT tokenizer saved with it wrote 1s on each pair's second
    text, and the first batch failed with "IndexError: index out of range in self"."""
    from tests.bench.tiny_encoders import save_tiny_encoder

    model = str(save_tiny_encoder(tmp_path / "roberta", "roberta"))
    path, _ = sentence_pairs(tmp_path)
    cfg = resolve_config(
        "smoke", dataset=str(path), text_col="sentence1", text_pair_col="sentence2", label_col="is_paraphrase",
        model=model, method="lora", num_threads=1, max_len=24, batch_size=8, device="cpu",
    )  # fmt: skip
    rec = runner.run_one(cfg, tmp_path / "out", progress=False)
    assert rec["status"] == "ok", rec["failure_reason"]
    assert rec["model_info"]["model_type"] == "roberta"
    _, tok = runner.build_model(cfg, ["0", "1"])
    [row] = runner.encode(tok, ["Who won?"], 24, ["The Broncos won."])
    assert row.token_type_ids is None  # type: ignore[attr-defined]
