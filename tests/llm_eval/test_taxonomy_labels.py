"""The error taxonomy never contradicts the reply: labels for wrong replies only, read after answer
extraction, and never "the gold is absent" when its value occurs in any script."""

from __future__ import annotations

import pytest

from llm_eval.items import load_multilingual
from llm_eval.langid import detect
from llm_eval.scored import score_records
from llm_eval.taxonomy import classify_multilingual
from llm_eval.types import Record, Usage

ML = load_multilingual().by_id()


def rec(item: str, cond: str, text: str) -> Record:
    it = ML[item]
    return Record(
        sample_id=f"{item}|{cond}|clean|none", item_id=item, condition=cond, variant="clean",
        provider="fake", model="fake-1", params={}, system=None,
        messages=[{"role": "user", "content": it.question[cond]}], response_text=text, usage=Usage(1, 1),
        meta={"suite": "multilingual", "mitigation": "none", "gold": list(it.answers),
              "answer_type": it.answer_type, "answer_class": it.answer_class,
              "expected_language": it.expected_language[cond]},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("item", "cond", "reply"),
    [
        ("ml-019", "hi", "मकड़ी के ૮ पैर होते हैं।"),  # Gujarati digit 8
        ("ml-037", "hi", "एक दिन में २४ घंटे होते हैं, यानी १,४४० मिनट।"),  # other unit beside the gold
        (
            "ml-003",
            "en",
            "The capital of Australia is Canberra. Many people guess Sydney because it is bigger.",
        ),
        ("ml-001", "hi", "New Delhi is the capital."),  # right, but not in Hindi
    ],
)
def test_right_replies_get_no_label(item: str, cond: str, reply: str) -> None:
    (s,) = score_records([rec(item, cond, reply)])
    assert s.correct and not s.failed and s.category is None, (s.outcome, s.category, s.reason)


def test_gold_in_another_script_is_never_called_absent() -> None:
    it = ML["ml-019"]
    text = "मकड़ी के ८ नहीं, ६ पैर होते हैं।"  # wrong: answers 6, names 8 negated
    category, reason = classify_multilingual(text, it.answers, "hi", detect(text), answer_type="number")
    assert category == "wrong fact" and "names the gold" in reason
    (s,) = score_records([rec("ml-019", "hi", text)])
    assert s.failed and "absent" not in s.reason and "no gold" not in s.reason


def test_near_miss_is_read_in_the_marked_answer_not_its_context() -> None:
    text = "Canberra hosts Parliament House, but the largest city is Sydney.\n\n**Answer: Sydney**"
    (s,) = score_records([rec("ml-003", "en", text)])
    assert s.failed and s.category == "wrong fact", (s.category, s.reason)
    near = "Delhi is the capital; the national government sits there.\n\nAnswer: Delhi"
    (s,) = score_records([rec("ml-001", "en", near)])
    assert s.category == "literal translation/terminology drift" and "delhi" in s.reason
