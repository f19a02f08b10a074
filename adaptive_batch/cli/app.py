"""The typer app, the consoles, and the one place errors become messages and exit codes.

Exit codes: 0 success; 2 a user-fixable problem (bad input, options, run directory, a failing
verifier, an export refused); 3 the generation engine failed after its retries; 4 coverage below
``--fail-under``; 70 a bug in adaptive-batch; 130 interrupted (resume with the same command).
"""

from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

import typer

from ..errors import AdaptiveBatchError, InternalError, UserError

EXIT_BELOW_THRESHOLD = 4
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="adaptive-batch",
    help="Process a whole LLM test set under one compute budget: a uniform warm-up, then adaptive "
    "allocation with evolving in-context demonstrations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

Command = TypeVar("Command", bound=Callable)


def console(stderr: bool = True):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def handles_errors(command: Command) -> Command:
    """A command whose AdaptiveBatchError becomes its message on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except AdaptiveBatchError as error:
            console().print(f"[bold red]error:[/] {error}", markup=True, soft_wrap=True)
            raise typer.Exit(error.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"adaptive-batch {version('adaptive-batch')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, metavar="",
                                 help="Print the version and exit."),
) -> None:
    """Process a whole LLM test set under one compute budget: a uniform warm-up, then adaptive
    allocation with evolving in-context demonstrations."""


def main() -> None:
    try:
        from .options import select_plugins

        select_plugins(sys.argv[1:])  # --help shows the options of the plugins the command line names
        app()
    except UserError as error:  # raised outside a command, e.g. while parsing
        console().print(f"error: {error}")
        sys.exit(error.exit_code)
    except Exception:  # a bug: say so, with the traceback to report
        import traceback

        traceback.print_exc()
        console().print("internal error: this is a bug in adaptive-batch; please report it with the traceback above")
        sys.exit(InternalError.exit_code)
