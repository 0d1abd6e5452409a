"""Hashes of JSON-able values: the config hash that names a run, and what else is hashed the same way."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    """`obj` as JSON with sorted keys, no spaces and ASCII only: one text per value, whatever its order."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def sha256_json(obj: Any) -> str:
    """The sha256 (hex) of `obj`'s canonical JSON; a config hash. Changing it renames every run."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()
