"""Per-model prices in USD per million tokens, overridable from a JSON/YAML file.

Prices change; the built-in table is a starting point, and ``--prices FILE`` (or
``load_prices(path)``) replaces or adds entries. Lookup falls back to the longest matching
prefix (so "claude-sonnet-4-5-20250929" uses "claude-sonnet-4-5") and then to a family
("claude-opus" / "claude-sonnet" / "claude-haiku"). Batch requests cost half.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_eval.types import Usage

__all__ = ["BATCH_DISCOUNT", "DEFAULT_PRICES", "Price", "PriceTable", "load_prices"]

BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float

    def __post_init__(self) -> None:
        for name in ("input_per_mtok", "output_per_mtok"):
            v = getattr(self, name)
            if v < 0:
                raise ValueError(f"`{name}` must be >= 0, got {v}")


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

    def lookup(self, model: str) -> Price:
        if model in self.prices:
            return self.prices[model]
        matches = [k for k in self.prices if model.startswith(k)]
        if matches:
            return self.prices[max(matches, key=len)]
        if self.default is not None:
            return self.default
        raise KeyError(f"no price for model {model!r}; add it with --prices FILE")

    def cost(self, model: str, usage: Usage, *, batch: bool = False) -> float:
        p = self.lookup(model)
        usd = (usage.input_tokens * p.input_per_mtok + usage.output_tokens * p.output_per_mtok) / 1e6
        return usd * (BATCH_DISCOUNT if batch else 1.0)

    def with_overrides(self, overrides: Mapping[str, Price]) -> PriceTable:
        return PriceTable({**self.prices, **overrides}, self.default)


def _parse(raw: Any, source: str) -> dict[str, Price]:
    if not isinstance(raw, dict):
        raise ValueError(f"price file {source} must map model -> {{input, output}}, got {type(raw).__name__}")
    out: dict[str, Price] = {}
    for model, entry in raw.items():
        if isinstance(entry, dict) and {"input", "output"} <= set(entry):
            out[str(model)] = Price(float(entry["input"]), float(entry["output"]))
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
