"""CLI: `flatbench worker`, a Prefect process worker that one SIGTERM stops after its runs."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the top-level app."""
    from flows.cli_common import friendly_errors

    app.command("worker")(friendly_errors(worker))


def worker(
    pool: Annotated[str, typer.Option("--pool", "-p", help="the work pool to poll (created if missing)")],
    limit: Annotated[int, typer.Option(min=1, help="flow runs at once; 1 per GPU")] = 1,
    name: Annotated[
        str | None,
        typer.Option(help="worker name, shown in the UI and in each run's workers/<run id>.json"),
    ] = None,
) -> None:
    """`prefect worker start --type process`, except for signals: the first SIGTERM (or Ctrl-C) stops
    taking runs, lets the flow runs in progress finish, and exits 0; a second one stops them now."""
    import anyio

    from flows.worker import check_pool, serve

    if not os.environ.get("PREFECT_API_URL"):
        from prefect.settings import PREFECT_API_URL

        if not PREFECT_API_URL.value():
            raise typer.BadParameter(
                "a worker needs a Prefect server: export PREFECT_API_URL=http://<server>:4200/api",
                param_hint="PREFECT_API_URL",
            )
    if name and ("/" in name or "%" in name):
        raise typer.BadParameter(f"{name!r}: a worker name cannot contain '/' or '%'", param_hint="--name")
    check_pool(pool)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    code = anyio.run(serve, pool, limit, name, say)
    if code:
        raise typer.Exit(code)
