"""A provider by name: the one place that knows every backend (``--provider anthropic | local``).

The backends load only when asked for (the Anthropic SDK, or torch and the GGUF model), so naming a
provider costs nothing until one is made.
"""

from __future__ import annotations

from typing import Any

from llm_eval.types import Provider

__all__ = ["PROVIDERS", "make_provider"]

PROVIDERS = ("anthropic", "local")


def make_provider(name: str, model: str | None = None, base_url: str | None = None, **kw: Any) -> Provider:
    """``anthropic`` kwargs: api_key, timeout_s, max_retries, prices, batch_poll_s, send_temperature.
    ``local`` kwargs: max_new_tokens, seed, loader, threads, max_batch, max_wait_ms (base_url is ignored)."""
    if name == "anthropic":
        from llm_eval.providers.anthropic import AnthropicProvider

        return AnthropicProvider(model, base_url=base_url, **kw)
    if name == "local":
        from llm_eval.providers.local import LocalProvider

        return LocalProvider(model, **kw)
    raise ValueError(f"`provider` must be one of {PROVIDERS}, got {name!r}")
