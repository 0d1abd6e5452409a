"""Token lengths against `max_len`: how many examples a run truncates, and a `max_len` taken from the data.

Lengths count what the model sees: the tokenizer's special tokens included, and both texts of a sentence
pair (as the runner encodes them). Nothing here changes a run; `validate` and `train` report the share
of examples longer than `max_len`, and `--max-len auto` picks the 99th percentile, capped per profile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

TRUNCATION_WARN_SHARE = 0.05  # warn when more than 5% of the examples are longer than max_len
AUTO_PERCENTILE = 99
AUTO_MULTIPLE = 8
AUTO_FLOOR = 16


@dataclass(frozen=True)
class LengthStats:
    """Token-length summary of `n` examples against `max_len`."""

    n: int
    mean: float
    p50: int
    p95: int
    p99: int
    max: int
    max_len: int
    n_truncated: int

    @property
    def truncated_share(self) -> float:
        return self.n_truncated / self.n if self.n else 0.0

    @property
    def warn(self) -> bool:
        return self.truncated_share > TRUNCATION_WARN_SHARE

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "truncated_share": round(self.truncated_share, 4)}

    def line(self, what: str = "examples") -> str:
        """One line: the share longer than max_len, with the distribution that explains it."""
        return (
            f"{self.n_truncated:,} of {self.n:,} {what} ({self.truncated_share:.1%}) are longer than "
            f"max_len {self.max_len} tokens and get truncated (token lengths: median {self.p50}, "
            f"p95 {self.p95}, p99 {self.p99}, max {self.max})"
        )


def percentile(values: Sequence[int], q: float) -> int:
    """The smallest value with at least q% of the values at or below it (nearest rank: a real length)."""
    s = sorted(values)
    if not s:
        return 0
    k = max(1, math.ceil(q / 100 * len(s)))
    return int(s[k - 1])


def length_stats(lengths: Sequence[int], max_len: int) -> LengthStats:
    n = len(lengths)
    return LengthStats(
        n=n,
        mean=round(sum(lengths) / n, 2) if n else 0.0,
        p50=percentile(lengths, 50),
        p95=percentile(lengths, 95),
        p99=percentile(lengths, 99),
        max=max(lengths, default=0),
        max_len=int(max_len),
        n_truncated=sum(1 for x in lengths if x > max_len),
    )


def auto_max_len(lengths: Sequence[int], cap: int) -> int:
    """The 99th percentile of `lengths`, rounded up to a multiple of 8, within [16, cap]."""
    p = percentile(lengths, AUTO_PERCENTILE)
    return int(min(cap, max(AUTO_FLOOR, math.ceil(p / AUTO_MULTIPLE) * AUTO_MULTIPLE)))


def load_tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from flatlora.bench.models import resolve_model_path

    hf_logging.set_verbosity_error()  # "sequence longer than the model's maximum": measuring is the point
    return AutoTokenizer.from_pretrained(resolve_model_path(model))


def token_lengths(tok: Any, texts: Sequence[Any], pairs: Sequence[Any] | None = None) -> list[int]:
    """Untruncated token counts, special tokens included; pairs encoded together, as the runner does."""
    from flatlora.bench.models import separated_pairs

    a = [str(t) for t in texts]
    b = separated_pairs(tok, pairs) if pairs is not None else None
    enc = tok(a, b, truncation=False) if b is not None else tok(a, truncation=False)
    return [len(ids) for ids in enc["input_ids"]]


def choose_max_len(
    train_texts: Sequence[Any], train_pairs: Sequence[Any] | None, model: str, cap: int, profile: str
) -> tuple[int, str]:
    """(max_len, how it was chosen) from the training split's token lengths: `auto_max_len`, at most the
    profile's `cap` and the model's position table (a tiny or older model may take fewer tokens)."""
    from flatlora.bench.models import position_limit

    lengths = token_lengths(load_tokenizer(model), train_texts, train_pairs)
    limit = position_limit(model)
    bound = f"the {profile} profile's cap"
    if limit is not None and limit < cap:
        bound = f"the model's {limit} token positions; the {profile} profile's cap is {cap}"
        cap = limit
    value = auto_max_len(lengths, cap)
    p99 = percentile(lengths, AUTO_PERCENTILE)
    why = (
        f"--max-len auto: {value} = the 99th percentile of the training split's token lengths ({p99}, "
        f"{len(lengths):,} examples, {model} tokenizer) rounded up to a multiple of {AUTO_MULTIPLE}, "
        f"within [{AUTO_FLOOR}, {cap}] ({bound})"
    )
    return value, why


__all__ = [
    "TRUNCATION_WARN_SHARE",
    "LengthStats",
    "auto_max_len",
    "choose_max_len",
    "length_stats",
    "load_tokenizer",
    "percentile",
    "token_lengths",
]
