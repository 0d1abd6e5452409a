"""Measuring the model grader before its verdicts count: false accepts and false rejects on a
frozen table of replies a careful reader labelled.

The grader (:mod:`llm_eval.grader`) decides the samples the rules leave unresolved. Its own errors
go straight into the accuracies, so they are measured here, the way the rules are measured by
``benchmarks/scoring_rates.py``: every reply of the table (``datasets/llm_eval/labelled_replies.jsonl``
by default) is sent to the grader with its question and reference answers, exactly as an
evaluation run sends it, and the verdicts are compared with the labels, per language group:

- false accept = graded CORRECT, over the replies labelled wrong or unsure that got a verdict;
- false reject = graded INCORRECT, over the replies labelled correct that got a verdict;
- unscored = UNSURE, unparseable (anything but the constrained one-word format) or a failed
  request: never counted as incorrect, and reported beside the rates.

Rates carry exact (Clopper-Pearson) 95% intervals. With a second grader, Cohen's kappa between the
two is computed on the replies both graded CORRECT or INCORRECT.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from flatlora.bench.atomic import atomic_write_text
from llm_eval.grader import grade_request, parse_verdict
from llm_eval.items import ITEMS_DIR, load_scoring_cases
from llm_eval.types import Provider, Record, Sample

__all__ = [
    "CHECK_FILE",
    "DEFAULT_TABLE",
    "GROUP_NAMES",
    "GraderCheck",
    "GroupRates",
    "check_samples",
    "load_check",
    "measure",
    "measured_graders",
    "render_check",
    "run_grader_check",
]

DEFAULT_TABLE = ITEMS_DIR / "labelled_replies.jsonl"
CHECK_FILE = "grader_check.json"
GROUP_NAMES = {
    "en": "English",
    "clean": "English",
    "hi": "Hindi",
    "hinglish": "Hinglish",
    "cs": "code-switched",
}
_ORDER = ("English", "Hindi", "Hinglish", "code-switched")


def _interval(k: int, n: int) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, alpha=0.05, method="beta")
    return float(lo), float(hi)


@dataclass(frozen=True)
class GroupRates:
    """One language group's counts and the grader's error rates on it."""

    group: str
    n: int  # replies
    n_pos: int  # labelled correct
    n_neg: int  # labelled wrong or unsure
    false_accept: int  # labelled not correct, graded CORRECT
    false_reject: int  # labelled correct, graded INCORRECT
    unscored_pos: int  # labelled correct, no verdict (UNSURE, unparseable, failed)
    unscored_neg: int

    @property
    def scored_neg(self) -> int:
        return self.n_neg - self.unscored_neg

    @property
    def scored_pos(self) -> int:
        return self.n_pos - self.unscored_pos

    @property
    def scored(self) -> int:
        """Replies that got a CORRECT or INCORRECT verdict: the rates' denominators together."""
        return self.scored_pos + self.scored_neg

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GroupRates:
        """The counts of a :meth:`to_dict` (its rates are derived from them again); a missing count is 0."""
        counts = {f.name: int(d.get(f.name) or 0) for f in fields(cls) if f.name != "group"}
        return cls(group=str(d.get("group") or ""), **counts)

    @property
    def fa_rate(self) -> float | None:
        return self.false_accept / self.scored_neg if self.scored_neg else None

    @property
    def fr_rate(self) -> float | None:
        return self.false_reject / self.scored_pos if self.scored_pos else None

    @property
    def fa_ci(self) -> tuple[float | None, float | None]:
        return _interval(self.false_accept, self.scored_neg)

    @property
    def fr_ci(self) -> tuple[float | None, float | None]:
        return _interval(self.false_reject, self.scored_pos)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "fa_rate": self.fa_rate,
            "fa_ci": list(self.fa_ci),
            "fr_rate": self.fr_rate,
            "fr_ci": list(self.fr_ci),
        }


@dataclass(frozen=True)
class GraderCheck:
    """The measured error rates of one grader (and its agreement with a second one, if any)."""

    grader: str  # provider:model
    table: str
    table_sha256: str
    groups: tuple[GroupRates, ...]  # per language group, then "all"
    verdicts: Mapping[str, int]  # correct / incorrect / unsure / unparseable / failed
    second_grader: str | None = None
    kappa: float | None = None
    n_kappa: int = 0  # replies both graders graded CORRECT or INCORRECT
    second_groups: tuple[GroupRates, ...] = field(default_factory=tuple)

    @property
    def overall(self) -> GroupRates:
        return next(g for g in self.groups if g.group == "all")

    @property
    def measured(self) -> bool:
        """Some labelled reply got a CORRECT or INCORRECT verdict: without one, no rate was measured."""
        return self.overall.scored > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "grader_check",
            "grader": self.grader,
            "table": self.table,
            "table_sha256": self.table_sha256,
            "groups": [g.to_dict() for g in self.groups],
            "verdicts": dict(self.verdicts),
            "second_grader": self.second_grader,
            "kappa": self.kappa,
            "n_kappa": self.n_kappa,
            "second_groups": [g.to_dict() for g in self.second_groups],
        }


def check_samples(cases: Sequence[Mapping[str, Any]]) -> list[Sample]:
    """One grading request per labelled reply, built exactly as an evaluation run builds it."""
    return [
        Sample(
            id=f"check|{c['id']}",
            item_id=str(c["item"]),
            condition=str(c["cond"]),
            variant="clean",
            request=grade_request(str(c["question"]), [str(a) for a in c["answers"]], str(c["response"])),
            meta={"role": "grader-check", "case": c["id"]},
        )
        for c in cases
    ]


def _group_rates(cases: Sequence[Mapping[str, Any]], verdicts: Mapping[str, str]) -> tuple[GroupRates, ...]:
    counts: dict[str, list[int]] = {}
    for c in cases:
        pos = c["expected"] == "correct"
        v = verdicts.get(str(c["id"]), "failed")
        for key in (GROUP_NAMES.get(str(c["cond"]), str(c["cond"])), "all"):
            row = counts.setdefault(key, [0] * 7)
            row[0] += 1
            row[1] += pos
            row[2] += not pos
            row[3] += not pos and v == "correct"
            row[4] += pos and v == "incorrect"
            row[5] += pos and v not in ("correct", "incorrect")
            row[6] += not pos and v not in ("correct", "incorrect")
    order = [g for g in _ORDER if g in counts] + sorted(set(counts) - set(_ORDER) - {"all"}) + ["all"]
    return tuple(GroupRates(g, *counts[g]) for g in order if g in counts)


def measure(
    cases: Sequence[Mapping[str, Any]],
    verdicts: Mapping[str, str],
    grader: str,
    *,
    table: str = "",
    table_sha256: str = "",
    second: tuple[str, Mapping[str, str]] | None = None,
) -> GraderCheck:
    """The check from verdicts already parsed (case id -> correct | incorrect | unsure |
    unparseable; a missing case is a failed request)."""
    tally = {k: 0 for k in ("correct", "incorrect", "unsure", "unparseable", "failed")}
    for c in cases:
        tally[verdicts.get(str(c["id"]), "failed")] += 1
    kappa: float | None = None
    n_kappa = 0
    second_groups: tuple[GroupRates, ...] = ()
    if second is not None:
        other = second[1]
        both = [
            (verdicts[i] == "correct", other[i] == "correct")
            for i in (str(c["id"]) for c in cases)
            if verdicts.get(i) in ("correct", "incorrect") and other.get(i) in ("correct", "incorrect")
        ]
        n_kappa = len(both)
        if both and len({a for a, _ in both} | {b for _, b in both}) > 1:
            from sklearn.metrics import cohen_kappa_score

            k = float(cohen_kappa_score([a for a, _ in both], [b for _, b in both]))
            kappa = None if math.isnan(k) else k
        elif both:
            kappa = 1.0 if all(a == b for a, b in both) else None
        second_groups = _group_rates(cases, other)
    return GraderCheck(
        grader=grader,
        table=table,
        table_sha256=table_sha256,
        groups=_group_rates(cases, verdicts),
        verdicts=tally,
        second_grader=second[0] if second else None,
        kappa=kappa,
        n_kappa=n_kappa,
        second_groups=second_groups,
    )


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _ci(ci: tuple[float | None, float | None] | Sequence[float | None]) -> str:
    lo, hi = ci
    return "" if lo is None or hi is None else f" [{100 * lo:.1f}, {100 * hi:.1f}]"


def _rows(groups: Sequence[GroupRates]) -> list[str]:
    return [
        f"| {g.group} | {g.n} | {g.false_accept}/{g.scored_neg} = {_pct(g.fa_rate)}{_ci(g.fa_ci)} "
        f"| {g.false_reject}/{g.scored_pos} = {_pct(g.fr_rate)}{_ci(g.fr_ci)} "
        f"| {g.unscored_pos + g.unscored_neg} |"
        for g in groups
    ]


def render_check(check: GraderCheck) -> str:
    """The check as a markdown table (the same text is printed and written to grader_check.md)."""
    head = "| group | replies | false accept (of scored wrong) | false reject (of scored right) | unscored |"
    lines = [
        f"Grader {check.grader} on {check.table} (sha256 {check.table_sha256[:12]}): "
        + ", ".join(f"{k} {v}" for k, v in check.verdicts.items()),
        "",
        head,
        "|---|---|---|---|---|",
        *_rows(check.groups),
    ]
    if check.second_grader:
        lines += ["", f"Second grader {check.second_grader}:", "", head, "|---|---|---|---|---|"]
        lines += _rows(check.second_groups)
        kappa = "n/a" if check.kappa is None else f"{check.kappa:.3f}"
        lines += [
            "",
            f"Cohen's kappa between the two graders: {kappa} (on {check.n_kappa} replies both graded)",
        ]
    lines += [
        "",
        "95% intervals: Clopper-Pearson. Unscored = UNSURE, unparseable or failed: never counted as incorrect.",
    ]
    return "\n".join(lines) + "\n"


def _verdicts(records: Sequence[Record]) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in records:
        case = str(r.meta.get("case", r.sample_id.removeprefix("check|")))
        if r.ok:
            out[case] = parse_verdict(r.response_text)
    return out


def run_grader_check(
    provider: Provider,
    out_dir: str | Path,
    *,
    table: str | Path | None = None,
    second: Provider | None = None,
    run_kwargs: dict[str, Any] | None = None,
) -> GraderCheck:
    """Grade every reply of ``table`` with ``provider`` (and ``second``), write
    ``out_dir/grader_check.json`` and ``.md`` atomically; requests are cached and resumable under
    ``out_dir/<provider>_<model>/``."""
    from llm_eval.runner import run_samples

    path = Path(table) if table else DEFAULT_TABLE
    cases = load_scoring_cases(path)
    samples = check_samples(cases)
    out = Path(out_dir)
    kw = {"progress": False, **(run_kwargs or {})}

    def grade(p: Provider) -> dict[str, str]:
        folder = out / f"{p.name}_{p.model}".replace("/", "_")
        return _verdicts(run_samples(samples, p, folder, **kw))

    first = grade(provider)
    pair = (f"{second.name}:{second.model}", grade(second)) if second is not None else None
    check = measure(
        cases,
        first,
        f"{provider.name}:{provider.model}",
        table=str(path),
        table_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        second=pair,
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / CHECK_FILE, json.dumps(check.to_dict(), indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(out / "grader_check.md", render_check(check))
    return check


def _overall(groups: Any) -> GroupRates | None:
    every = next((g for g in groups or [] if isinstance(g, Mapping) and g.get("group") == "all"), None)
    return None if every is None else GroupRates.from_dict(every)


def measured_graders(check: Mapping[str, Any] | None) -> dict[str, GroupRates]:
    """The graders a check (its JSON form) measured, by ``provider:model``, with their rates over every
    group: the first grader and the second, each only when some labelled reply got a CORRECT or
    INCORRECT verdict from it (a grader with no verdict measured nothing)."""
    if not isinstance(check, Mapping) or check.get("kind", "grader_check") != "grader_check":
        return {}
    out: dict[str, GroupRates] = {}
    for name, groups in (
        (check.get("grader"), check.get("groups")),
        (check.get("second_grader"), check.get("second_groups")),
    ):
        rates = _overall(groups)
        if name and rates is not None and rates.scored > 0:
            out.setdefault(str(name), rates)
    return out


def load_check(path: str | Path) -> dict[str, Any]:
    """A grader_check.json written by :func:`run_grader_check` (or the folder holding it)."""
    p = Path(path)
    if p.is_dir():
        p = p / CHECK_FILE
    if not p.is_file():
        raise FileNotFoundError(f"no grader check at {p}: run `flatbench llm-grader-check` first")
    data = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("kind") != "grader_check":
        raise ValueError(
            f"{p} is not a grader check (kind {data.get('kind') if isinstance(data, dict) else None!r})"
        )
    every = _overall(data.get("groups"))
    if every is None or every.scored <= 0:
        verdicts = ", ".join(f"{k} {v}" for k, v in (data.get("verdicts") or {}).items())
        raise ValueError(
            f"{p} measured nothing: no labelled reply got a CORRECT or INCORRECT verdict ({verdicts}); "
            "rerun `flatbench llm-grader-check` with a grader that replies in that one-word format"
        )
    return data
