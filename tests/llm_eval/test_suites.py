"""Item files, suite registry and the `flatbench llm-eval` CLI end to end against the API stub."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from llm_eval.items import ItemSchemaError, load_multilingual, load_noisy
from llm_eval.robustness import LANGUAGE_PIN_PROMPT, NOISE_PROMPT, TARGET_LANGUAGE
from llm_eval.suites import get_suite

STUDY = Path(__file__).resolve().parents[3] / "shared" / "STUDY.md"
FAKE_KEY = "sk-ant-FAKE-flatbench-SECRET-0123456789abcdef"  # as in conftest


def test_item_files_meet_the_issue() -> None:
    ml, nz = load_multilingual(), load_noisy()
    assert len(ml) >= 40 and len(nz) >= 50
    assert re.fullmatch(r"[0-9a-f]{64}", ml.sha256) and ml.provenance()["n_items"] == len(ml)
    assert any(re.search("[\u0900-\u097f]", a) for it in ml.items for a in it.answers)  # both scripts


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("{not json", r"multi\.jsonl:1: invalid JSON"),
        ('{"id": "a", "topic": "t"}', r":1: `question` must be an object"),
        ('{"id": "a", "topic": "t", "question": {"en": "q", "hi": "q", "hinglish": "q"}}', r"missing field `question.cs`"),
        ('{"id": "a", "topic": "t", "question": {"en":"q","hi":"q","hinglish":"q","cs":"q"}, '
         '"expected_language": {"en":"en","hi":"hi","hinglish":"hinglish","cs":"fr"}}', r"`expected_language.cs` must be one of"),
        ('{"id": "a", "topic": "t", "question": {"en":"q","hi":"q","hinglish":"q","cs":"q"}, '
         '"expected_language": {"en":"en","hi":"hi","hinglish":"hinglish","cs":"cs"}, "answers": [], "answer_type": "entity"}',
         r"`answers` must be a list with >= 1 strings, got \[\]"),
        ('{"id": "a", "topic": "t", "question": {"en":"q","hi":"q","hinglish":"q","cs":"q"}, '
         '"expected_language": {"en":"en","hi":"hi","hinglish":"hinglish","cs":"cs"}, "answers": ["x"], "answer_type": "date"}',
         r"`answer_type` must be one of entity\|number\|year\|yesno\|short_text, got 'date'"),
    ],
)  # fmt: skip
def test_multilingual_schema_errors_name_file_line_field(tmp_path: Path, line: str, match: str) -> None:
    p = tmp_path / "multi.jsonl"
    p.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ItemSchemaError, match=match):
        load_multilingual(p)


def test_item_files_from_other_editors(tmp_path: Path) -> None:
    """A byte-order mark is no content; a wrongly typed `answer_class` or a broken class file is one
    line naming file, line and field, not a traceback."""
    row = {"id": "n1", "domain": "geo", "question": "Capital of France?", "answers": ["Paris"],
           "entities": ["France"], "answer_type": "entity"}  # fmt: skip
    p = tmp_path / "noisy.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps(row).encode() + b"\n")
    assert [it.id for it in load_noisy(p).items] == ["n1"]
    p.write_text(json.dumps({**row, "answer_class": ["gas"]}) + "\n", encoding="utf-8")
    (tmp_path / "answer_classes.json").write_text('{"gas": ["oxygen", "nitrogen"]}', encoding="utf-8")
    with pytest.raises(
        ItemSchemaError, match=r"noisy\.jsonl:1: `answer_class` must be one of gas, got \['gas'\]"
    ):
        load_noisy(p)
    (tmp_path / "b").mkdir()
    p = tmp_path / "b" / "noisy.jsonl"
    p.write_text(json.dumps({**row, "answer_class": "gas"}) + "\n", encoding="utf-8")
    (tmp_path / "b" / "answer_classes.json").write_text('{"gas": ["oxygen",]}', encoding="utf-8")
    with pytest.raises(ItemSchemaError, match=r"answer_classes\.json:1: invalid JSON"):
        load_noisy(p)


@pytest.mark.parametrize(
    ("answers", "match"),
    [
        (
            ["Paris"],
            r"noisy\.jsonl:1: `answers` of a yesno item .* lead with no yes- or no-word: \['Paris'\]",
        ),
        (["yes", "nahi"], r"they mix yes and no"),
        (["No, it is not", "नहीं", "ji nahi"], None),
    ],
)
def test_yesno_items_lead_with_one_answer(tmp_path: Path, answers: list[str], match: str | None) -> None:
    row = {"id": "n1", "domain": "sci", "question": "Is the Sun a planet?", "answers": answers,
           "entities": ["Sun"], "answer_type": "yesno"}  # fmt: skip
    p = tmp_path / "noisy.jsonl"
    p.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    if match is None:
        assert load_noisy(p).items[0].answers == tuple(answers)
    else:
        with pytest.raises(ItemSchemaError, match=match):
            load_noisy(p)


def test_noisy_schema_duplicate_ids_and_hash(tmp_path: Path) -> None:
    row = {"id": "n1", "domain": "geo", "question": "Capital of France?", "answers": ["Paris"],
           "entities": ["France"], "answer_type": "entity"}  # fmt: skip
    p = tmp_path / "noisy.jsonl"
    p.write_text(json.dumps(row) + "\n\n" + json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(ItemSchemaError, match=r"noisy\.jsonl:3: duplicate `id` 'n1' \(first on line 1\)"):
        load_noisy(p)
    p.write_text(json.dumps(row) + "\n", encoding="utf-8")
    import hashlib

    assert load_noisy(p).sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
    with pytest.raises(FileNotFoundError, match="item file not found"):
        load_noisy(tmp_path / "missing.jsonl")


def test_mitigation_prompts_are_verbatim_from_the_study() -> None:
    if not STUDY.exists():
        pytest.skip("../shared/STUDY.md not present")
    text = " ".join(STUDY.read_text(encoding="utf-8").split())
    assert LANGUAGE_PIN_PROMPT in text
    assert NOISE_PROMPT in text


@pytest.mark.parametrize(("suite", "per_item"), [("multilingual", 4), ("noisy", 1 + 7 * 2)])
def test_suite_shapes_and_mitigations(suite: str, per_item: int) -> None:
    n_items = len(load_multilingual() if suite == "multilingual" else load_noisy())
    none = get_suite(suite)("none", 0)
    both = get_suite(suite)("both", 0)
    assert len(none) == n_items * per_item and len(both) == 2 * len(none)
    assert all(s.request.system is None for s in none)
    before = [s for s in both if s.meta["mitigation"] == "none"]
    pin = [s for s in both if s.meta["mitigation"] == "pin"]
    assert [s.request.messages for s in before] == [s.request.messages for s in pin]  # same items
    assert [s.id for s in before] == [s.id for s in none]
    per_item = len(both) // n_items  # item-major order: a --limit keeps whole items, both mitigations
    assert {s.item_id for s in both[:per_item]} == {both[0].item_id}
    assert all(s.request.temperature == 0.2 and s.request.max_tokens == 512 for s in pin)  # study decoding
    if suite == "multilingual":
        s = next(x for x in pin if x.condition == "hi")
        assert s.request.system == LANGUAGE_PIN_PROMPT.format(target_language=TARGET_LANGUAGE["hi"])
        assert s.meta["expected_language"] == "hi"
    else:
        assert all(s.request.system == NOISE_PROMPT for s in pin)


def test_all_suite_and_ids() -> None:
    samples = get_suite("all")("pin", 0)
    assert len(samples) == len(get_suite("multilingual")("pin", 0)) + len(get_suite("noisy")("pin", 0))
    assert samples[0].id == f"{samples[0].item_id}|en|clean|pin"
    with pytest.raises(ValueError, match="`mitigation` must be one of"):
        get_suite("noisy")("always", 0)


def _cli(args: list[str]) -> Any:
    from typer.testing import CliRunner

    from flows.cli import app

    return CliRunner().invoke(app, args, catch_exceptions=False)


def test_cli_against_stub(tmp_path: Path, make_stub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`flatbench llm-eval multilingual --provider anthropic --base-url <stub> --limit 4` -> 3 files."""
    stub = make_stub()
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    out = tmp_path / "run"
    res = _cli(["llm-eval", "multilingual", "--provider", "anthropic", "--base-url", stub.base_url,
                "--limit", "4", "--out", str(out), "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    lines = (out / "responses.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    cells = summary["suites"]["multilingual"]["cells"]
    assert sum(c["n"] for c in cells) == 4 and summary["provenance"]["providers"] == ["anthropic"]
    en = next(c for c in cells if c["condition"] == "en")
    assert en["n_correct"] == 1  # the stub answers "New Delhi" to the capital of India
    assert summary["provenance"]["judge"]["kind"] == "provider"  # auto -> provider for anthropic
    assert (out / "judge" / "responses.jsonl").exists()
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## B1. Multilingual and code-switch" in report and "| English (L1) | 100.0% |" in report
    assert FAKE_KEY not in report + "".join(lines)
    n_before = stub.n_messages
    # rerun: nothing is requested again (resume), the heuristic judge makes no requests either
    res = _cli(["llm-eval", "multilingual", "--provider", "anthropic", "--base-url", stub.base_url,
                "--limit", "4", "--out", str(out), "--no-progress", "--judge", "heuristic"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert stub.n_messages == n_before
    assert json.loads((out / "summary.json").read_text())["provenance"]["judge"]["name"] == "heuristic-v1"


def test_cli_rejects_bad_judge(tmp_path: Path) -> None:
    res = _cli(["llm-eval", "noisy", "--judge", "gpt", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "judge" in res.output


@pytest.mark.prefect_server
def test_flow_against_stub(tmp_path: Path, make_stub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.environ.get("PREFECT_API_URL"):
        pytest.skip("PREFECT_API_URL not set (needs the shared Prefect server)")
    from flows.llm_robustness import llm_robustness

    stub = make_stub()
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    res = llm_robustness(suite="noisy", provider="anthropic", base_url=stub.base_url, mitigation="both",
                         limit=6, out=str(tmp_path / "flow"), judge="heuristic")  # fmt: skip
    assert Path(res["report"]).exists() and Path(res["summary"]).exists()
    assert res["artifact"].startswith("llm-robustness-")
    summary = json.loads(Path(res["summary"]).read_text())
    assert sum(c["n_total"] for c in summary["suites"]["noisy"]["cells"]) == 6
