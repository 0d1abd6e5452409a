"""Per-model prices in USD per million tokens, overridable from a JSON/YAML file.

Prices change; the built-in table is a starting point, and ``--prices FILE`` (or
``load_prices(path)``) replaces or adds entries. Lookup falls back to the longest matching
prefix (so "claude-sonnet-4-5-20250929" uses "claude-sonnet-4-5") and then to a family
("claude-opus" / "claude-sonnet" / "claude-haiku"). Batch requests cost half. Prompt-cache writes
and reads are billed at their own rates (by default 1.25x and 0.1x the input price, as Anthropic
bills 5-minute cache writes and cache hits).

A model without a price has an unknown cost (``cost`` returns None), never $0: the runner looks the
price up before its first request and records None, and refuses a ``cost_limit`` it cannot check.

Price file format (JSON or YAML), $ per million tokens::

    {"my-model": {"input": 3.0, "output": 15.0}}
    {"my-model": {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.3}}
    {"my-model": [3.0, 15.0]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_eval.types import Usage

__all__ = [
    "BATCH_DISCOUNT",
    "DEFAULT_PRICES",
    "PRICE_FILE_HELP",
    "NoPriceError",
    "Price",
    "PriceTable",
    "UnpricedModelError",
    "load_prices",
]

BATCH_DISCOUNT = 0.5
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1

PRICE_FILE_HELP = (
    "add it with --prices FILE, a JSON or YAML file mapping the model id to $ per million tokens, "
    'e.g. {"MODEL": {"input": 3.0, "output": 15.0}}'
)


class UnpricedModelError(ValueError):
    """A cost limit was asked for a model whose price is unknown."""


class NoPriceError(KeyError):
    """``PriceTable.lookup`` of a model without a price (its message reads as written)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float
    cache_write_per_mtok: float | None = None  # None: CACHE_WRITE_FACTOR x input
    cache_read_per_mtok: float | None = None  # None: CACHE_READ_FACTOR x input

    def __post_init__(self) -> None:
        for name in ("input_per_mtok", "output_per_mtok", "cache_write_per_mtok", "cache_read_per_mtok"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"`{name}` must be >= 0, got {v}")

    def usd(self, usage: Usage) -> float:
        write = self.cache_write_per_mtok
        read = self.cache_read_per_mtok
        write = self.input_per_mtok * CACHE_WRITE_FACTOR if write is None else write
        read = self.input_per_mtok * CACHE_READ_FACTOR if read is None else read
        return (
            usage.input_tokens * self.input_per_mtok
            + usage.output_tokens * self.output_per_mtok
            + (usage.cache_creation_input_tokens or 0) * write
            + (usage.cache_read_input_tokens or 0) * read
        ) / 1e6


# $/MTok (input, output). Family entries are the fallback for model ids we don't list.
DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-4": Price(15.0, 75.0),
    "claude-opus-4-1": Price(15.0, 75.0),
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-sonnet-4-5": Price(3.0, 15.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
    "claude-opus": Price(5.0, 25.0),
    "claude-sonnet": Price(3.0, 15.0),
    "claude-haiku": Price(1.0, 5.0),
    "local": Price(0.0, 0.0),
}


class PriceTable:
    def __init__(self, prices: Mapping[str, Price] | None = None, default: Price | None = None) -> None:
        self.prices: dict[str, Price] = dict(DEFAULT_PRICES if prices is None else prices)
        self.default = default

    def find(self, model: str) -> Price | None:
        """The price of ``model`` (exact, longest prefix, then the default), or None if unknown."""
        if model in self.prices:
            return self.prices[model]
        matches = [k for k in self.prices if model.startswith(k)]
        if matches:
            return self.prices[max(matches, key=len)]
        return self.default

    def lookup(self, model: str) -> Price:
        p = self.find(model)
        if p is None:
            raise NoPriceError(f"no price for model {model!r}; {PRICE_FILE_HELP.replace('MODEL', model)}")
        return p

    def cost(self, model: str, usage: Usage, *, batch: bool = False) -> float | None:
        """USD for ``usage``; None when the model has no price (unknown, not free)."""
        p = self.find(model)
        if p is None:
            return None
        return p.usd(usage) * (BATCH_DISCOUNT if batch else 1.0)

    def with_overrides(self, overrides: Mapping[str, Price]) -> PriceTable:
        return PriceTable({**self.prices, **overrides}, self.default)


def _parse(raw: Any, source: str) -> dict[str, Price]:
    if not isinstance(raw, dict):
        raise ValueError(f"price file {source} must map model -> {{input, output}}, got {type(raw).__name__}")
    out: dict[str, Price] = {}
    for model, entry in raw.items():
        if isinstance(entry, dict) and {"input", "output"} <= set(entry):
            cw, cr = entry.get("cache_write"), entry.get("cache_read")
            out[str(model)] = Price(
                float(entry["input"]),
                float(entry["output"]),
                None if cw is None else float(cw),
                None if cr is None else float(cr),
            )
        elif isinstance(entry, list | tuple) and len(entry) == 2:
            out[str(model)] = Price(float(entry[0]), float(entry[1]))
        else:
            raise ValueError(
                f"price for {model!r} in {source} must be {{input: $/MTok, output: $/MTok}}, got {entry!r}"
            )
    return out


def load_prices(path: str | Path | None = None) -> PriceTable:
    """Default table, updated with entries from a JSON or YAML file ``{model: {input, output}}``."""
    table = PriceTable()
    if path is None:
        return table
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix in (".yaml", ".yml"):
        import yaml

        raw = yaml.safe_load(text)
    else:
        raw = json.loads(text)
    return table.with_overrides(_parse(raw, str(p)))
