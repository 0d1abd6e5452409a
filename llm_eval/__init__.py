"""LLM robustness evaluation: providers, cached/resumable runner, suites.

Never imports Prefect; the flows/ layer wires this into the CLI and Prefect tasks.
"""

from llm_eval.types import Provider, Record, Request, Response, Sample, Usage

__all__ = ["Provider", "Record", "Request", "Response", "Sample", "Usage"]
