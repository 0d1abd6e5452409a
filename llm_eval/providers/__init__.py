"""Model backends behind the Provider protocol (llm_eval.types.Provider)."""

from llm_eval.providers.factory import PROVIDERS, make_provider

__all__ = ["PROVIDERS", "make_provider"]
