"""False-accept, false-reject and unresolved rates of the rule scorer on hand-labelled reply tables.

Each table (JSONL) holds replies to the suites' items (or to a question the row carries itself)
with the label a careful reader gives them (correct, or wrong / unsure). The scorer's verdict is
three-way: correct, wrong or unresolved. Per language group:

- false accept = labelled not correct but scored correct, over the labelled-not-correct replies the
  scorer resolved;
- false reject = labelled correct but scored wrong / unsure, over the labelled-correct replies it
  resolved;
- unresolved = replies scored unresolved, over all replies (neither rate hides them).

``datasets/llm_eval/labelled_replies.jsonl`` is the held-out table of reply styles (long reasoning
ending in a bold answer, marked answers in lists, right answers with extra true context, number
words, Indic digits, units, thousands separators, transliterated names, worked calculations,
hedges, near misses; English, Hindi, Hinglish and code-switched, half right in each group):
written and committed before the rules that extract marked answers and weigh the reply's focus,
and never used to tune them. Its plain replies are checked against the targets (unresolved <=
15%, false accepts <= 2%, false rejects <= 2% in every group). ``scoring_frozen.jsonl`` is the
earlier frozen adversarial table; its replies also carry the ``Answer: ...`` line a
``--answer-format final-line`` reply would end with (``final_line``; null where the reply ignored
the instruction), so its rates are given for the plain replies ("rule") and for those
("final-line"). ``scoring_styles_dev.jsonl`` is the development table the extraction rules were
written against; the other tables were used while writing earlier rules.

    python benchmarks/scoring_rates.py [--show-errors] [TABLE.jsonl ...]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_eval.items import ITEMS_DIR, load_scoring_cases
from llm_eval.scoring import Outcome, score_answer

DATA = Path(__file__).resolve().parent.parent / "tests" / "llm_eval" / "data"
HELD_OUT = ITEMS_DIR / "labelled_replies.jsonl"
DEFAULT = [HELD_OUT] + [DATA / n for n in ("scoring_frozen.jsonl", "scoring_styles_dev.jsonl", "scoring_cases.jsonl",
                                           "scoring_heldout.jsonl", "scoring_heldout2.jsonl")]  # fmt: skip
# targets for plain replies on the held-out table, in every language group
TARGETS = {"unresolved": 0.15, "false accept": 0.02, "false reject": 0.02}
GROUPS = {"en": "English", "clean": "English", "hi": "Hindi", "hinglish": "Hinglish", "cs": "code-switched"}


@dataclass
class Rates:
    n: int = 0
    n_pos: int = 0  # labelled correct
    n_neg: int = 0  # labelled wrong / unsure
    false_accept: int = 0
    false_reject: int = 0
    unresolved: int = 0
    unresolved_pos: int = 0
    unresolved_neg: int = 0

    @property
    def fa_rate(self) -> float:
        d = self.n_neg - self.unresolved_neg
        return self.false_accept / d if d else 0.0

    @property
    def fr_rate(self) -> float:
        d = self.n_pos - self.unresolved_pos
        return self.false_reject / d if d else 0.0

    @property
    def unresolved_rate(self) -> float:
        return self.unresolved / self.n if self.n else 0.0

    def row(self, label: str) -> str:
        return (
            f"| {label} | {self.n} | {self.false_accept}/{self.n_neg - self.unresolved_neg} = {self.fa_rate:.1%} "
            f"| {self.false_reject}/{self.n_pos - self.unresolved_pos} = {self.fr_rate:.1%} "
            f"| {self.unresolved}/{self.n} = {self.unresolved_rate:.1%} |"
        )


def reply(case: dict[str, Any], fmt: str) -> str:
    """The reply as scored: the plain reply, or (final-line) the reply ending in its Answer line."""
    line = case.get("final_line")
    return case["response"] + "\n\n" + line if fmt == "final-line" and line else case["response"]


def rates(cases: list[dict[str, Any]], fmt: str, show: bool = False) -> dict[str, Rates]:
    """Per language group (and "all"): the counts behind the three rates."""
    out: dict[str, Rates] = defaultdict(Rates)
    for c in cases:
        got = score_answer(reply(c, fmt), c["answers"], answer_type=c["answer_type"], question=c["question"],
                           answer_class=c.get("answer_class"), answer_format=fmt)  # fmt: skip
        pos = c["expected"] == "correct"
        for key in (GROUPS.get(c["cond"], c["cond"]), "all"):
            r = out[key]
            r.n += 1
            r.n_pos += pos
            r.n_neg += not pos
            if got.outcome is Outcome.UNRESOLVED:
                r.unresolved += 1
                r.unresolved_pos += pos
                r.unresolved_neg += not pos
            elif pos and got.outcome is not Outcome.CORRECT:
                r.false_reject += 1
            elif not pos and got.outcome is Outcome.CORRECT:
                r.false_accept += 1
        bad = got.outcome is Outcome.CORRECT if not pos else got.outcome in (Outcome.WRONG, Outcome.UNSURE)
        if show and bad:
            label = "false accept" if not pos else "false reject"
            print(f"  {fmt} {label}: {c['id']} {c['item']}/{c['cond']} {reply(c, fmt)!r} -> {got.reason}")
    return dict(out)


def table(path: Path, show: bool = False) -> str:
    cases = load_scoring_cases(path)
    fmts = ["plain", "final-line"] if any("final_line" in c for c in cases) else ["plain"]
    lines = [f"{path.name} ({len(cases)} replies, {sum(c['expected'] == 'correct' for c in cases)} labelled correct)",
             "| group | n | false accept (of resolved wrong) | false reject (of resolved right) | unresolved |",
             "|---|---|---|---|---|"]  # fmt: skip
    for fmt in fmts:
        by = rates(cases, fmt, show)
        order = [g for g in ("English", "Hindi", "Hinglish", "code-switched") if g in by] + ["all"]
        name = "rule" if fmt == "plain" else "final-line"
        lines += [by[g].row(f"{name}: {g}") for g in order]
        if path.resolve() == HELD_OUT.resolve() and fmt == "plain":
            lines += ["", *targets(by, order)]
    return "\n".join(lines)


def targets(by: dict[str, Rates], order: list[str]) -> list[str]:
    """One line per group: the three rates against :data:`TARGETS`."""
    out = []
    for g in order:
        r = by[g]
        got = {"unresolved": r.unresolved_rate, "false accept": r.fa_rate, "false reject": r.fr_rate}
        misses = [f"{k} {v:.1%} > {TARGETS[k]:.0%}" for k, v in got.items() if v > TARGETS[k]]
        out.append(f"target {g}: " + ("met" if not misses else "NOT met (" + "; ".join(misses) + ")"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("tables", nargs="*", type=Path, default=[p for p in DEFAULT if p.exists()])
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args()
    for path in args.tables:
        print(table(path, args.show_errors))
        print()


if __name__ == "__main__":
    main()
