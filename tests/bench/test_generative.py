"""The generative track: scoring, templating and masking, validation, and `flatbench train` on tiny decoders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flatlora.bench import gen_scoring as S
from tests.bench.conftest import DATA_DIR

needs_gsm8k = pytest.mark.skipif(not (DATA_DIR / "gsm8k").is_dir(), reason="../shared/data/gsm8k not present")
PEFT_EXAMPLE = Path(__file__).parent / "data" / "peft_method_comparison_example.json"


# ---------------------------------------------------------------- scoring


@pytest.mark.parametrize(
    ("target", "gold"),
    [
        ("She makes 9 * 2 = $<<9*2=18>>18.\n#### 18", "18"),
        ("#### 1,000", "1000"),
        ("#### -3", "-3"),
        ("#### 0.50", "0.5"),
        ("#### $70", "70"),
        ("no marker 42", None),
    ],
)
def test_gsm8k_gold(target: str, gold: str | None) -> None:
    assert S.gsm8k_gold(target) == gold


@pytest.mark.parametrize(
    ("output", "number"),
    [
        ("3 + 4 = 7\n#### 7", "7"),  # GSM8K's own marker wins
        ("#### 5 then 9", "5"),
        ("so 12 eggs.\nAnswer: 18 dollars\nwhich is 2 more", "18"),  # an Answer: line beats the last number
        ("The answer is: 1,250.", "1250"),
        ("He has 3 apples and buys 4, so 7", "7"),  # the last number
        ("18.00", "18"),
        ("no digits here", None),
        ("Answer:\n42", "42"),  # a marker line without a number: the last number
    ],
)
def test_predicted_number(output: str, number: str | None) -> None:
    assert S.predicted_number(output) == number


@pytest.mark.parametrize(
    ("outputs", "targets", "fmt", "em"),
    [
        (["#### 18", "7", "x"], ["#### 18", "#### 8", "#### 1"], "gsm8k", 1 / 3),
        (["  Paris.\nmore", "paris"], ["Paris", "Paris"], "exact", 1 / 2),  # case kept, first line only
        (["The answer is: 18"], ["so... The answer is: 18"], "number", 1.0),
        ([], [], "gsm8k", 0.0),
    ],
)
def test_exact_match(outputs: list[str], targets: list[str], fmt: str, em: float) -> None:
    assert S.exact_match(outputs, targets, fmt) == pytest.approx(em)


def test_unknown_answer_format_is_named() -> None:
    with pytest.raises(ValueError, match="`answer_format` must be one of"):
        S.gold_answer("#### 1", "regex")


# ---------------------------------------------------------------- templates, truncation, masking


@pytest.fixture(scope="module")
def decoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from tests.tiny_models import save_tiny_decoder

    root = tmp_path_factory.mktemp("decoders")
    return {
        "llama_chat": str(save_tiny_decoder(root / "llama_chat", "llama", chat_template=True)),
        "gpt2": str(save_tiny_decoder(root / "gpt2", "gpt2")),
    }


@pytest.mark.parametrize(
    ("model", "prompt_text", "target_text"),
    [
        ("llama_chat", "<|user|>hi</s><|assistant|>", "42</s>"),  # the end-of-turn token is trained too
        ("gpt2", "hi\nAnswer:", " 42</s>"),  # PLAIN_TEMPLATE, then " {target}<eos>"
    ],
)
def test_template_and_loss_mask(
    decoders: dict[str, str], model: str, prompt_text: str, target_text: str
) -> None:
    from flatlora.bench.generative import collate, encode_pair, load_causal_lm

    _, tok = load_causal_lm(decoders[model])
    p, t = encode_pair(tok, "hi", "42")
    assert tok.decode(p) == prompt_text and tok.decode(t) == target_text
    b = collate([(p, t), (p[:3], t)], tok.pad_token_id)
    assert (b["labels"][0] != -100).sum() == len(t)  # loss on the target tokens only
    assert b["labels"][0, : len(p)].eq(-100).all() and b["labels"][0, len(p) : len(p) + len(t)].tolist() == t
    assert b["attention_mask"][1].sum() == 3 + len(t)  # right padding is masked and unlabelled


@pytest.mark.parametrize(
    ("n_prompt", "n_target", "max_len", "kept"),
    [
        (5, 5, 16, (5, 5, False)),
        (20, 5, 16, (11, 5, True)),
        (5, 40, 16, (5, 11, True)),
        (30, 30, 16, (8, 8, True)),
    ],
)
def test_fit_keeps_the_prompt_end_and_target_start(
    n_prompt: int, n_target: int, max_len: int, kept: tuple[int, int, bool]
) -> None:
    from flatlora.bench.generative import fit

    p, t, cut = fit(list(range(n_prompt)), list(range(100, 100 + n_target)), max_len)
    assert (len(p), len(t), cut) == kept
    assert p == list(range(n_prompt))[n_prompt - len(p) :] and t == list(range(100, 100 + len(t)))


# ---------------------------------------------------------------- data and validation


@needs_gsm8k
def test_gsm8k_validates_with_its_official_split() -> None:
    from flatlora.bench.gen_data import validate_generation

    rep, sp = validate_generation("gsm8k", DATA_DIR)
    assert rep.success and not rep.warnings, rep.summary()  # the card's checksums match the files
    assert sp is not None and (len(sp.train), len(sp.val), len(sp.test)) == (6725, 748, 1319)
    info = sp.info()
    assert (info["task"], info["answer_format"], info["prompt_column"]) == ("generation", "gsm8k", "question")
    assert sp.test["index"].min() == 7473  # test rows follow the 7,473 train rows


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _sums(n: int) -> list[dict[str, Any]]:
    return [{"prompt": f"What is {i} plus {i % 7}?", "target": str(i + i % 7)} for i in range(n)]


@pytest.mark.parametrize(
    ("rows", "args", "check", "message"),
    [
        (
            [{"prompt": "a b c", "answer": "1"}] * 3,
            {},
            "required_columns",
            "missing required target column 'target'",
        ),
        ([*_sums(20), {"prompt": "empty?", "target": ""}], {}, "column_value_lengths", None),
        (
            [{"question": r["prompt"], "answer": r["target"]} for r in _sums(20)],
            {"card": "gsm8k"},
            "target_has_answer(gsm8k)",
            "no `gsm8k` answer",
        ),
        ([*_sums(20), {"prompt": None, "target": "1"}], {}, "column_values_to_not_be_null(prompt)", None),
    ],
)
def test_bad_generative_files_fail_naming_the_problem(
    tmp_path: Path, rows: list[dict[str, Any]], args: dict[str, Any], check: str, message: str | None
) -> None:
    from flatlora.bench.gen_data import validate_generation

    path = _jsonl(tmp_path / "data.jsonl", rows)
    rep, sp = validate_generation(path, card=args.get("card", "generation"), raise_on_failure=False)
    assert not rep.success and sp is None
    hit = [c for c in rep.failures if c.name.startswith(check)]
    assert hit, rep.summary()
    if message:
        assert message in hit[0].message


def test_user_columns_and_split_column(tmp_path: Path) -> None:
    from flatlora.bench.gen_data import validate_generation

    rows = [
        {"q": r["prompt"], "a": r["target"], "split": "test" if i < 5 else "train"}
        for i, r in enumerate(_sums(30))
    ]
    rep, sp = validate_generation(
        _jsonl(tmp_path / "d.jsonl", rows), text_col="q", label_col="a", card="generation"
    )
    assert rep.success and sp is not None
    assert len(sp.test) == 5 and len(sp.val) == 3 and len(sp.train) == 22  # val: a seeded 10% of train


def test_classification_config_hashes_are_unchanged() -> None:
    """`max_new_tokens` unset leaves every classification run id (and its cache) as it was."""
    from flatlora.bench.config import RunConfig, resolve_config

    assert RunConfig().config_hash() == "98ab9c308e57229b2b15ae1aec6e17660024e12c2c328c00151353380f928d0f"
    assert (
        resolve_config("smoke", method="flat_lora", dataset="x.csv").config_hash()
        == "b06b53e9be18cbe363f668f59ea80c8557b15ecc0eb28207500ced685939d37d"  # smoke sized its probe down
    )
    assert RunConfig(max_new_tokens=8).config_hash() != RunConfig().config_hash()


def test_sam_w_is_refused_when_memory_is_short(
    decoders: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import psutil
    import torch

    from flatlora.bench.config import resolve_config
    from flatlora.bench.generative import build_causal, check_sam_memory

    model, _ = build_causal(
        resolve_config("smoke", method="sam_w", model=decoders["llama_chat"], dataset="gsm8k")
    )

    class Tiny:
        available = 1000

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tiny())
    with pytest.raises(ValueError, match=r"sam_w needs about .* MB beyond the model .* use sam_ab"):
        check_sam_memory(model, "sam_w", torch.device("cpu"))
    check_sam_memory(model, "sam_ab", torch.device("cpu"))  # SAM-AB's extra is the LoRA factors': no check


# ---------------------------------------------------------------- flatbench train


def _record(output: str) -> dict[str, Any]:
    """The record whose path `flatbench train` printed last."""
    import re

    return dict(json.loads(Path(re.findall(r"(/\S+/records/\S+\.json)", output)[-1]).read_text()))


def _train(args: list[str]) -> Any:
    from typer.testing import CliRunner

    from flows.cli import app

    return CliRunner().invoke(app, ["train", "--no-progress", *args])


SMALL = [
    "--profile",
    "smoke",
    "--set",
    "num_threads=1",
    "--set",
    "eval_batch_size=8",
    "--set",
    "batch_size=8",
]


def test_user_jsonl_trains_and_learns_with_lora_and_full(tmp_path: Path, decoders: dict[str, str]) -> None:
    """A user JSONL through `flatbench train`: LoRA lowers the held-out loss well below the untrained model's;
    full fine-tuning learns a constant answer to exact match 1.0 (the scoring sees the learned rule)."""
    from flatlora.bench.config import resolve_config
    from flatlora.bench.gen_data import prepare
    from flatlora.bench.generative import GenEvalSet, load_causal_lm

    rows = [{"prompt": f"Say seven, item {i}.", "target": "7"} for i in range(80)]
    path = _jsonl(tmp_path / "seven.jsonl", rows)
    common = [*SMALL, "--dataset", path, "--card", "generation", "--set", f"model={decoders['llama_chat']}"]
    common += ["--set", "max_new_tokens=4", "--set", "max_len=64", "--set", "epochs=3"]
    recs = {}
    for method, lr in (("lora", "3e-2"), ("full", "1e-2")):
        res = _train([*common, "--method", method, "--set", f"lr={lr}", "--out", str(tmp_path / "out")])
        assert res.exit_code == 0, res.output
        recs[method] = _record(res.output)
    cfg = resolve_config("smoke", dataset=path, card="generation", model=decoders["llama_chat"], max_len=64)
    sp = prepare(cfg)
    model, tok = load_causal_lm(decoders["llama_chat"])
    import torch

    untrained = GenEvalSet(tok, list(sp.test["text"]), list(sp.test["label"]), cfg, "exact").loss(
        model, torch.device("cpu"), "fp32", tok.pad_token_id
    )
    lora, full = recs["lora"], recs["full"]
    assert lora["status"] == "ok" and lora["test"]["loss"] < untrained - 0.25  # nats per target token
    assert lora["model_info"]["target_modules"] == ["q_proj", "v_proj"]
    assert lora["model_info"]["target_modules_source"] == "peft_default"
    assert full["test"]["exact_match"] == 1.0 and full["test"]["accuracy"] == 1.0
    assert {p["pred"] for p in full["predictions"]} == {"7"}
    assert (tmp_path / "out" / "peft_results" / f"{lora['run_id']}.json").is_file()


@needs_gsm8k
def test_gsm8k_subset_trains_with_flat_lora_on_gpt2(tmp_path: Path, decoders: dict[str, str]) -> None:
    args = [*SMALL, "--dataset", "gsm8k", "--method", "flat_lora", "--out", str(tmp_path)]
    args += ["--set", f"model={decoders['gpt2']}", "--set", "max_new_tokens=6", "--set", "max_len=96"]
    args += ["--set", "max_train_examples=16", "--set", "max_eval_examples=8", "--set", "max_test_examples=8"]
    res = _train(args)
    assert res.exit_code == 0, res.output
    rec = _record(res.output)
    assert rec["status"] == "ok" and rec["dataset_info"]["task"] == "generation"
    assert rec["model_info"]["target_modules"] == ["c_attn"] and rec["model_info"]["template"] == "plain"
    t = rec["test"]
    assert t["n"] == 8 and 0.0 <= t["exact_match"] <= 1.0 and t["loss"] > 0
    assert all(p["gold"].lstrip("-").replace(".", "").isdigit() for p in rec["predictions"])
    assert rec["flatness"]["scope"] == "lora_layers (merged W')"
    assert rec["dataset_info"]["max_new_tokens"] == 6


# ---------------------------------------------------------------- PEFT method-comparison layout


def _keys(d: Any, prefix: str = "") -> set[str]:
    """Dotted key paths of nested dicts (lists: the keys of their dict items, as `[]`)."""
    out: set[str] = set()
    if isinstance(d, dict):
        for k, v in d.items():
            out.add(prefix + k)
            out |= _keys(v, prefix + k + ".")
    elif isinstance(d, list):
        for v in d:
            out |= _keys(v, prefix + "[].")
    return out


def test_peft_layout_has_every_key_of_peft_results(tmp_path: Path, decoders: dict[str, str]) -> None:
    """Every key path of a PEFT results file (the committed example, from huggingface/peft
    method_comparison/MetaMathQA/results) exists in ours, except the per-eval timings PEFT measures per
    eval_steps and the hub-specific dataset names."""
    from flatlora.bench.peft_results import peft_results

    rows = [{"prompt": f"Say seven, item {i}.", "target": "7"} for i in range(40)]
    path = _jsonl(tmp_path / "seven.jsonl", rows)
    res = _train(
        [
            *SMALL,
            "--dataset",
            path,
            "--card",
            "generation",
            "--method",
            "flat_lora",
            "--out",
            str(tmp_path),
            "--set",
            f"model={decoders['llama_chat']}",
            "--set",
            "max_new_tokens=2",
            "--set",
            "max_len=48",
        ]
    )
    assert res.exit_code == 0, res.output
    rec = _record(res.output)
    ours = json.loads((tmp_path / "peft_results" / f"{rec['run_id']}.json").read_text())
    assert ours == json.loads(
        json.dumps(peft_results(rec, ours["meta_info"]["system_info"], ours["meta_info"]["pytorch_info"]))
    )
    ref = _keys(json.loads(PEFT_EXAMPLE.read_text()))
    not_measured = {
        "train time",
        "eval time",
        "tokens / sec",
        "mem allocated avg",
        "mem reserved avg",
        "elapsed time",
    }
    skip = {k for k in ref if k.split(".")[-1] in not_measured or k.startswith("meta_info.dataset_info.")}
    assert ref - skip - _keys(ours) == set()
    ti = ours["train_info"]
    assert ti["status"] == "success" and ti["num_trainable_params"] == rec["cost"]["trainable_params"]
    assert ti["metrics"][-1]["test accuracy"] == rec["test"]["exact_match"]
    assert ours["run_info"]["experiment_name"] == "flat_lora/llama_chat-rank8-s42"
    assert ours["run_info"]["train_config"]["flat_lora"]["sigma"] == rec["config"]["sigma"]
    assert ours["run_info"]["peft_config"]["target_modules"] is not None
