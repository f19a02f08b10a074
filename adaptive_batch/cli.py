"""The command line: a thin layer over the library. Errors become messages and exit codes here only.

Exit codes: 0 success; 2 a user-fixable problem (bad input, options, run directory);
3 the generation engine failed after its retries; 70 a bug in adaptive-batch; 130 interrupted.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any, Optional

import typer

from . import cli_options
from .errors import AdaptiveBatchError, UserError

app = typer.Typer(
    name="adaptive-batch",
    help="Process a whole LLM test set under one compute budget: a uniform warm-up, then adaptive "
    "allocation with evolving in-context demonstrations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _console(stderr: bool = True):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _fail(error: AdaptiveBatchError) -> None:
    _console().print(f"[bold red]error:[/] {error}", markup=True, soft_wrap=True)
    raise typer.Exit(error.exit_code)


def run_command(
    data: Optional[str] = typer.Argument(
        None, help="JSONL file of queries (optional with an --adapter that ships its data).", show_default=False),
    resume: Optional[str] = typer.Option(
        None, "--resume", help="Continue the run in this directory (a re-run of the same command also resumes)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display or summary table."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
    **options: Any,
) -> None:
    """Run the two-phase processor (or a baseline, with --method) on DATA."""
    from .config import RunConfig

    given = cli_options.overrides(options)
    given.setdefault("data", {})["path"] = data or ""
    if resume:
        given["output_dir"] = resume
    try:
        config = RunConfig.from_dict(given)
        with _GracefulStop() as stop:
            result = _run_with_progress(config, show=not quiet and not json_out, should_stop=stop.requested)
    except KeyboardInterrupt:
        _console().print(f"Stopped at once. Every finished round is logged; {_resume_hint(given)}.")
        raise typer.Exit(130)
    except AdaptiveBatchError as error:
        _fail(error)
        return
    if json_out:
        sys.stdout.write(json.dumps(result.summary) + "\n")
    elif not quiet:
        _print_summary(result)
    if result.summary["status"] == "interrupted":
        _console().print(f"Interrupted after logging the round in flight; {_resume_hint(given)}.")
        raise typer.Exit(130)


def _resume_hint(given: dict) -> str:
    where = given.get("output_dir")
    return "resume with the same command" + (f" (or --resume {where})" if where else "")


class _GracefulStop:
    """First Ctrl-C: finish and log the round in flight, then stop. Second: stop at once."""

    def __init__(self):
        self._asked = False

    def requested(self) -> bool:
        return self._asked

    def _handle(self, signum, frame):
        if self._asked:
            raise KeyboardInterrupt
        self._asked = True
        _console().print("Stopping after the round in flight is logged (Ctrl-C again to stop now).")

    def __enter__(self) -> "_GracefulStop":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)


# typer reads the signature: swap the **options catch-all for one option per config field.
app.command("run", help=run_command.__doc__)(cli_options.with_options(run_command))


def _run_with_progress(config, show: bool, should_stop):
    from .runner import run

    if not show:
        return run(config, should_stop=should_stop)
    from .progress import RunProgress

    with RunProgress(_console()) as display:
        return run(config, progress=display.update, should_stop=should_stop)


def _print_summary(result) -> None:
    from rich.table import Table

    s = result.summary
    table = Table(title=f"adaptive-batch: {s['method']} on {s['n_queries']} queries", show_header=True)
    table.add_column("phase")
    table.add_column("samples", justify="right")
    table.add_column("resolved", justify="right")
    table.add_column("prompt tokens", justify="right")
    table.add_column("generated tokens", justify="right")
    for phase, row in s["by_phase"].items():
        table.add_row(phase, str(row["samples"]), str(row["resolved"]), str(row["prompt_tokens"]),
                      str(row["completion_tokens"]))
    table.add_row("total", str(s["samples"]), str(s["resolved"]), str(s["prompt_tokens"]),
                  str(s["completion_tokens"]), style="bold")
    console = _console(stderr=False)
    console.print(table)
    console.print(
        f"coverage {s['coverage']:.3f} ({s['coverage_kind']}); {s['samples']}/{s['budget_samples']} samples; "
        f"{s['errors']} query errors; {s['wall_time_s']:.1f} s; stopped: {s['stop_reason']}. "
        f"Results in {result.run_dir}"
    )


@app.command("cache-clear")
def cache_clear(directory: str = typer.Argument(..., help="The response cache directory.")) -> None:
    """Empty a response cache."""
    from .cache import ResponseCache

    removed = ResponseCache(directory).clear()
    _console(stderr=False).print(f"removed {removed} cached responses from {directory}")


def main() -> None:
    from . import cli_after  # noqa: F401  (registers verify, score, export)

    try:
        app()
    except UserError as error:  # raised outside a command, e.g. while parsing
        _console().print(f"error: {error}")
        sys.exit(error.exit_code)
