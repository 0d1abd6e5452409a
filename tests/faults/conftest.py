"""Fault injection helpers: a folder the current user cannot write to, whoever that user is."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*cmd: str) -> bool:
    return subprocess.run(cmd, capture_output=True).returncode == 0


@contextlib.contextmanager
def readonly_dir(path: Path) -> Iterator[Path]:
    """``path`` refuses writes while inside: mode 0555 for a normal user; root ignores modes, so for
    root a read-only bind mount of the folder onto itself (EROFS). Skips when neither is possible."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(mode)
        return
    if not (
        _run("mount", "--bind", str(path), str(path)) and _run("mount", "-o", "remount,ro,bind", str(path))
    ):
        _run("umount", str(path))
        pytest.skip("running as root without the right to mount: cannot make a folder read-only")
    try:
        yield path
    finally:
        _run("umount", str(path))


# the Messages API stub and providers pointed at it, shared with the llm_eval tests
from tests.llm_eval.conftest import _isolated_env, make_provider, make_stub  # noqa: E402, F401
