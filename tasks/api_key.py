"""The Anthropic API key for a run: the environment first, else a Prefect Secret block.

It lives with the Prefect tasks (not in ``llm_eval``, which never imports Prefect) so that both the
tasks and the CLI in ``flows`` import it downward.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["resolve_api_key"]


def resolve_api_key(block: str | None) -> str | None:
    """ANTHROPIC_API_KEY wins; otherwise read the named Prefect Secret block (None when neither is given)."""
    key = os.environ.get("ANTHROPIC_API_KEY")
    if key or not block:
        return key
    from prefect.blocks.system import Secret

    secret: Any = Secret.load(block)  # sync call from this (sync) CLI context
    value: Any = secret.get()
    return str(value) if value else None
