"""Did a classification run learn anything beyond the class prior? A test-free rule, fixed in advance.

Fine-tuning a pretrained encoder sometimes fails outright: the run sits on the plateau where the model
predicts the class prior (training loss near the prior's entropy) and scores the majority class (Mosbach
et al., ICLR 2021). A comparison of methods means something only where each trains, so the rule below
is computed for every run, from training and validation data only, and stored in its record:

* **loss:** the mean training loss over the last `tail_fraction` of the steps (at least
  `min_tail_steps`) is at least `loss_ratio` times the entropy of the training split's label prior
  (the loss of always predicting the prior); or
* **validation:** the headline validation score at the selected epoch is at or below the majority
  class's score on the same validation rows.

Either makes the run *collapsed*. The test split is never looked at.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CollapseRule:
    """The thresholds of the rule; `text()` is what plans and reports print."""

    # 0.625: midway in the gap the first PhraseBank study showed between its stuck runs (tail loss at
    # least 0.65 of the prior entropy, test accuracy at most 0.75) and its healthy ones (at most 0.60)
    loss_ratio: float = field(
        default=0.625,
        metadata={"help": "tail training loss / prior entropy at or above which a run is stuck"},
    )
    tail_fraction: float = field(default=0.10, metadata={"help": "share of the last steps averaged"})
    min_tail_steps: int = field(default=10, metadata={"help": "at least this many steps are averaged"})

    def __post_init__(self) -> None:
        if not 0 < self.loss_ratio <= 1:
            raise ValueError(f"`loss_ratio` must be in (0, 1], got {self.loss_ratio!r}")
        if not 0 < self.tail_fraction <= 1:
            raise ValueError(f"`tail_fraction` must be in (0, 1], got {self.tail_fraction!r}")
        if self.min_tail_steps < 1:
            raise ValueError(f"`min_tail_steps` must be >= 1, got {self.min_tail_steps!r}")

    def tail_steps(self, n_steps: int) -> int:
        return min(n_steps, max(self.min_tail_steps, math.ceil(self.tail_fraction * n_steps)))

    def text(self) -> str:
        return (
            f"collapsed = the mean training loss over the last {self.tail_fraction:.0%} of steps (at least "
            f"{self.min_tail_steps}) is at least {self.loss_ratio:.3g} x the entropy of the training label "
            "prior, or the validation headline score at the selected epoch is at or below the majority "
            "class's; test data is not used"
        )


DEFAULT_RULE = CollapseRule()


@dataclass(frozen=True)
class Collapse:
    """The rule applied to one run; `reasons` names what fired ("loss", "validation"); `not_measured`
    names a part that could not be applied (["validation"]: a run that skipped validation)."""

    collapsed: bool
    reasons: list[str]
    tail_loss: float
    tail_steps: int
    prior_entropy: float
    val_score: float | None
    val_majority: float | None
    rule: str
    not_measured: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.not_measured:  # the usual case: the block reads as it always has
            d.pop("not_measured")
        return d


def prior_entropy(counts: Sequence[int] | Mapping[Any, int]) -> float:
    """Entropy (nats) of the label distribution `counts`: the loss of always predicting the prior."""
    values = [int(c) for c in (counts.values() if isinstance(counts, Mapping) else counts)]
    n = sum(values)
    if n <= 0:
        raise ValueError("prior_entropy needs at least one labelled example")
    return -sum(c / n * math.log(c / n) for c in values if c > 0)


def majority_share(counts: Sequence[int] | Mapping[Any, int]) -> float:
    """Accuracy of always predicting the most frequent class."""
    values = [int(c) for c in (counts.values() if isinstance(counts, Mapping) else counts)]
    n = sum(values)
    if n <= 0:
        raise ValueError("majority_share needs at least one labelled example")
    return max(values) / n


def assess(
    train_losses: Sequence[float],
    train_counts: Sequence[int] | Mapping[Any, int],
    val_score: float | None,
    val_majority: float | None,
    rule: CollapseRule = DEFAULT_RULE,
) -> Collapse:
    """Apply `rule` to a run's per-step training losses and its selected-epoch validation score.

    `val_majority` is the majority class's score on the same validation rows (for accuracy,
    `majority_share(val_counts)`). A run without validation (`val_score` None) is judged on the loss
    rule alone, and the result says validation was not measured."""
    if not train_losses:
        raise ValueError("assess needs the run's training losses (none were recorded)")
    k = rule.tail_steps(len(train_losses))
    tail = [float(x) for x in train_losses[-k:]]
    tail_loss = sum(tail) / len(tail)
    h = prior_entropy(train_counts)
    reasons = []
    if h > 0 and tail_loss >= rule.loss_ratio * h:
        reasons.append("loss")
    score: float | None = None
    base: float | None = None
    if val_score is not None and val_majority is not None:
        score, base = float(val_score), float(val_majority)
        if score <= base + 1e-12:
            reasons.append("validation")
    return Collapse(
        collapsed=bool(reasons),
        reasons=reasons,
        tail_loss=tail_loss,
        tail_steps=k,
        prior_entropy=h,
        val_score=score,
        val_majority=base,
        rule=rule.text(),
        not_measured=[] if score is not None else ["validation"],
    )


__all__ = ["DEFAULT_RULE", "Collapse", "CollapseRule", "assess", "majority_share", "prior_entropy"]
