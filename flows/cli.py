"""The `flatbench` command line.

Each command group lives in its own module and registers itself here, so the
library code stays importable without typer or Prefect. Heavy imports (torch,
transformers, Prefect) happen inside the commands, keeping `flatbench --help` fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="flatbench",
    help="Flat-LoRA benchmark pipeline and LLM robustness stress tests.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _options(
    debug: bool = typer.Option(
        False, "--debug", help="show the full traceback of an error (also FLATBENCH_DEBUG=1)"
    ),
) -> None:
    """Flat-LoRA benchmark pipeline and LLM robustness stress tests."""
    from flows.cli_common import set_debug
    from flows.shutdown import exit_on_signals

    set_debug(debug)
    exit_on_signals()


def _register() -> None:
    from flows import cli_bench, cli_llm, cli_study, cli_train

    for module in (cli_train, cli_bench, cli_study, cli_llm):
        module.register(app)


_register()

if __name__ == "__main__":
    app()
