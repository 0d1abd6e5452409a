"""Test helpers shipped with the library (the Messages API stub is also used by benchmarks)."""
