"""Steps that `prefect deploy` runs from prefect.yaml before registering anything."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def check_repo() -> dict[str, str]:
    """FLATBENCH_REPO names the flatbench checkout the workers run; stop ``prefect deploy`` with one line
    (no traceback) when it is unset or is not one."""
    repo = os.environ.get("FLATBENCH_REPO", "")
    if not repo:
        problem = (
            "FLATBENCH_REPO is not set: export FLATBENCH_REPO=$PWD (the checkout the workers run) "
            "and rerun prefect deploy"
        )
    elif not (Path(repo) / "prefect.yaml").is_file():
        problem = f"FLATBENCH_REPO={repo} is not a flatbench checkout (no prefect.yaml there)"
    else:
        return {"flatbench_repo": repo}
    print(f"error: {problem}", file=sys.stderr)
    raise SystemExit(1)
