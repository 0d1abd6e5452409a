"""False-accept and false-reject rates of the rule scorer on hand-labelled response tables.

Each table (JSONL under tests/llm_eval/data/) holds realistic responses to the suites' items with the
outcome a human grader gives them. False accept = scored correct but labelled wrong/unsure, over
the cases labelled wrong/unsure; false reject = labelled correct but not scored correct, over the
cases labelled correct. The development table is the one the rules were written against; the two
held-out tables were each written after the rules were done, without looking back at them (the
first one's two errors were then fixed, so only the second is still unseen by the rules).

    python benchmarks/scoring_rates.py [--show-errors] [TABLE.jsonl ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llm_eval.items import load_scoring_cases
from llm_eval.scoring import Outcome, score_answer

DATA = Path(__file__).resolve().parent.parent / "tests" / "llm_eval" / "data"
DEFAULT = [DATA / "scoring_cases.jsonl", DATA / "scoring_heldout.jsonl", DATA / "scoring_heldout2.jsonl"]


def rates(path: Path, show: bool) -> dict[str, float | int]:
    cases = load_scoring_cases(path)
    pos = [c for c in cases if c["expected"] == "correct"]
    neg = [c for c in cases if c["expected"] != "correct"]
    fa, fr = [], []
    for c in cases:
        got = score_answer(c["response"], c["answers"], answer_type=c["answer_type"], question=c["question"])
        if c["expected"] == "correct" and got.outcome is not Outcome.CORRECT:
            fr.append((c, got))
        elif c["expected"] != "correct" and got.outcome is Outcome.CORRECT:
            fa.append((c, got))
    if show:
        for label, errs in (("false accept", fa), ("false reject", fr)):
            for c, got in errs:
                print(
                    f"  {label}: {c['id']} {c['item']}/{c['cond']} {c['response']!r} -> {got.outcome} ({got.reason})"
                )
    return {"n": len(cases), "n_correct": len(pos), "n_not_correct": len(neg), "false_accept": len(fa),
            "false_reject": len(fr), "fa_rate": len(fa) / len(neg) if neg else 0.0,
            "fr_rate": len(fr) / len(pos) if pos else 0.0}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="*", type=Path, default=[p for p in DEFAULT if p.exists()])
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args()
    for path in args.tables:
        r = rates(path, args.show_errors)
        print(
            f"{path.name}: n={r['n']} (labelled correct {r['n_correct']}, wrong/unsure {r['n_not_correct']}); "
            f"false accept {r['false_accept']}/{r['n_not_correct']} = {r['fa_rate']:.1%}; "
            f"false reject {r['false_reject']}/{r['n_correct']} = {r['fr_rate']:.1%}"
        )


if __name__ == "__main__":
    main()
