"""Which model grader's verdicts count: a grader is measured before its verdicts decide a sample.

The rule scorer leaves some replies unresolved; a model grader (:mod:`llm_eval.grader`) may grade
them. Its verdict decides such a sample, and so enters every accuracy, paired test and interval,
only when

- the run was given a grader check (:mod:`llm_eval.grader_check`) that measured this very grader
  (the same ``provider:model`` as the grade names) and measured something (some labelled reply got a
  CORRECT or INCORRECT verdict): reason ``measured``; or
- the user asked to count an unmeasured grader (``count_unmeasured_grader``): reason ``opt-in``.

Otherwise (``unmeasured``: no check; ``measured-nothing``: the check of this grader got no verdict;
``other-grader``: the check measured other graders; ``rule-scorer``: the run's scorer is ``rule``) the
grades stay in the records and in the agreement table, the samples stay unresolved, and the
report shows what the grader's verdicts would give as a sensitivity line, not as a finding.

The decision is read from the run's provenance (:data:`POLICY_KEYS`), so every summary built from the
same records and provenance (a run, a flow, a rebuild) counts the same verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llm_eval.grader_check import GroupRates, measured_graders

__all__ = ["COUNTED_REASONS", "POLICY_KEYS", "GraderPolicy", "GraderUse", "policy_provenance"]

# the provenance keys that decide which verdicts count: a rebuild from the records keeps them
POLICY_KEYS = ("scorer", "grader_check", "count_unmeasured_grader")
COUNTED_REASONS = ("measured", "opt-in")


def policy_provenance(check: Mapping[str, Any] | None, count_unmeasured: bool) -> dict[str, Any]:
    """The provenance entries a run passes to its analysis (beside ``scorer``)."""
    return {**({"grader_check": dict(check)} if check else {}), "count_unmeasured_grader": count_unmeasured}


@dataclass(frozen=True)
class GraderPolicy:
    """Whose grader verdicts decide unresolved samples (see the module docstring)."""

    measured: Mapping[str, GroupRates] = field(default_factory=dict)  # provider:model -> rates
    count_unmeasured: bool = False
    rule_only: bool = False  # the run's scorer is `rule`: no grader verdict counts
    checked: tuple[str, ...] = ()  # the graders a given check names, measured or not

    @classmethod
    def from_provenance(cls, provenance: Mapping[str, Any] | None) -> GraderPolicy:
        """The policy a run's provenance states (``grader_check``, ``count_unmeasured_grader``, ``scorer``)."""
        prov = provenance or {}
        check = prov.get("grader_check")
        return cls(
            measured=measured_graders(check if isinstance(check, Mapping) else None),
            count_unmeasured=bool(prov.get("count_unmeasured_grader")),
            rule_only=prov.get("scorer") == "rule",
            checked=tuple(
                str(check[k])
                for k in ("grader", "second_grader")
                if isinstance(check, Mapping) and check.get(k)
            ),
        )

    def reason(self, grader: str) -> str:
        """measured | opt-in (counted), or rule-scorer | measured-nothing | other-grader | unmeasured."""
        if self.rule_only:
            return "rule-scorer"
        if grader in self.measured:
            return "measured"
        if self.count_unmeasured:
            return "opt-in"
        if grader in self.checked:
            return "measured-nothing"
        return "other-grader" if self.checked else "unmeasured"

    def counts(self, grader: str | None) -> bool:
        """Whether a verdict of ``grader`` decides an unresolved sample."""
        return grader is not None and self.reason(grader) in COUNTED_REASONS


@dataclass(frozen=True)
class GraderUse:
    """One grader of a run: how many verdicts it gave on unresolved samples and whether they count."""

    grader: str  # provider:model
    n_graded: int  # answered records that carry its grade
    n_verdicts: int  # rule-unresolved samples it graded CORRECT or INCORRECT
    counted: bool
    reason: str  # see GraderPolicy.reason
    rates: GroupRates | None = None  # its measured rates over every group, when measured

    def to_dict(self) -> dict[str, Any]:
        r = self.rates
        return {
            "grader": self.grader,
            "n_graded": self.n_graded,
            "n_verdicts": self.n_verdicts,
            "counted": self.counted,
            "reason": self.reason,
            "fa_rate": None if r is None else r.fa_rate,
            "fa_ci": None if r is None else list(r.fa_ci),
            "fr_rate": None if r is None else r.fr_rate,
            "fr_ci": None if r is None else list(r.fr_ci),
            "n_scored": None if r is None else r.scored,
        }
