"""The `flatbench` command line.

Each command group lives in its own module and registers itself here, so the
library code stays importable without typer or Prefect. Heavy imports (torch,
transformers, Prefect) happen inside the commands, keeping `flatbench --help` fast.
"""

from __future__ import annotations

import inspect

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


def one_line_paragraphs(doc: str) -> str:
    """`doc` with each paragraph on one line. The help panel keeps a docstring's own line breaks after its
    first paragraph, so lines wrapped for the source would rewrap raggedly at the terminal's width."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _register() -> None:
    from flows import cli_bench, cli_llm, cli_study, cli_train, cli_worker

    for module in (cli_train, cli_bench, cli_study, cli_llm, cli_worker):
        module.register(app)
    for command in app.registered_commands:
        if command.help is None and command.callback is not None and command.callback.__doc__:
            command.help = one_line_paragraphs(command.callback.__doc__)


_register()

if __name__ == "__main__":
    app()
