"""``run``, ``config`` and ``cache-clear``: a run and its configuration."""

from __future__ import annotations

import json
import signal
import sys
from typing import Any, Optional

import typer

from . import options as cli_options
from ..costs import format_amount, in_unit
from ..errors import UserError
from ..events import Status
from .app import EXIT_BELOW_THRESHOLD, EXIT_INTERRUPTED, console, handles_errors


def run_command(
    data: Optional[str] = typer.Argument(
        None, help="JSONL file of queries (optional with an --adapter that ships its data).", show_default=False),
    resume: Optional[str] = typer.Option(
        None, "--resume", help="Continue the run in this directory (a re-run of the same command also resumes)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", metavar="", help="No progress display or summary table."),
    json_out: bool = typer.Option(False, "--json", metavar="", help="Print the summary as one JSON object on stdout."),
    config_file: Optional[str] = typer.Option(
        None, "--config", help="A TOML file holding any of the options below; flags given here override it."),
    task: Optional[str] = typer.Option(
        None, "--task", help="A bundle of settings for a kind of test set (see `adaptive-batch tasks`), or a task "
        "TOML file; the config file and flags override it."),
    fail_under: Optional[float] = typer.Option(
        None, "--fail-under", help=f"Exit with code {EXIT_BELOW_THRESHOLD} when the --fail-on figure ends below this (0-1)."),
    fail_on: str = typer.Option(
        "coverage", "--fail-on", help="The figure --fail-under gates: coverage (pass@budget), or pass@K or maj@K from the "
        "warm-up's samples (summary.json's estimates, K up to the warm-up; comparable night to night whatever the "
        "method)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", metavar="", help="Print the planned samples, estimated tokens and time (from a few calibration "
        "samples), and spend nothing else."),
    progress_every: float = typer.Option(
        30.0, "--progress-every", help="Seconds between progress lines when stderr is not a terminal (CI, nohup, "
        "pipes); on a terminal the display is live."),
    repair: bool = typer.Option(
        False, "--repair", metavar="", help="Resume from a damaged run directory: keep every logged sample before the first "
        "damaged line (the rest is set aside in samples.jsonl.damaged) and generate the rest again."),
    **options: Any,
) -> None:
    """Run the two-phase processor (or a baseline, with --method) on DATA."""
    config, given = resolve_config(data, config_file, options, resume, task)
    _check_fail_on(fail_on, config.schedule.warmup)
    if dry_run:
        _dry_run(config, json_out)
        return
    try:
        with _GracefulStop() as stop:
            result = _run_with_progress(config, show=not quiet and not json_out, should_stop=stop.requested,
                                        repair=repair, progress_every=progress_every)
    except KeyboardInterrupt:
        console().print(f"Stopped at once. Every sample verified so far is logged; {_resume_hint(given)}.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    for warning in result.summary["warnings"]:
        console().print(f"warning: {warning}", soft_wrap=True)
    if json_out:
        sys.stdout.write(json.dumps(result.summary) + "\n")
    elif not quiet:
        _print_summary(result)
    if result.summary["status"] == "interrupted":
        console().print(f"Interrupted after logging the round in flight; {_resume_hint(given)}.")
        raise typer.Exit(EXIT_INTERRUPTED)
    if fail_under is not None:
        value = _gated_figure(result.summary, fail_on)
        if value < fail_under:
            console().print(f"{fail_on} {value:.3f} is below --fail-under {fail_under:g}")
            raise typer.Exit(EXIT_BELOW_THRESHOLD)


def _check_fail_on(name: str, warmup: int) -> None:
    """Before anything is spent: a figure the run can have."""
    k = name.partition("@")[2] if name.startswith(("pass@", "maj@")) else ""
    if name != "coverage" and not (k.isdigit() and 1 <= int(k) <= warmup):
        raise UserError(f"--fail-on must be coverage, pass@K or maj@K with K from 1 to the warm-up ({warmup}), got "
                        f"'{name}'")


def _gated_figure(summary: dict, name: str) -> float:
    if name == "coverage":
        return summary["coverage"]
    found = (summary.get("estimates") or {}).get(name)
    if found is None:
        known = ", ".join(summary.get("estimates") or {}) or "none"
        raise UserError(f"--fail-on {name}: this run has no such estimate (it has: coverage, {known}); pass@K needs "
                         "an oracle verifier and K at most the warm-up, maj@K also a warm-up drawn whole (--method "
                         "uniform or --warmup-together)")
    return found["value"]


def resolve_config(data: Optional[str], config_file: Optional[str], options: dict, resume: Optional[str] = None,
                   task: Optional[str] = None):
    """The run config: a task's settings (``--task``, or ``task`` in the file), under a TOML file
    (if any), under the flags given."""
    from ..config import RunConfig
    from ..config_file import load_toml, merge

    given = cli_options.overrides(options)
    if data:
        given.setdefault("data", {})["path"] = data
    if resume:
        given["output_dir"] = resume
    base = load_toml(config_file) if config_file else {}
    task = task or base.pop("task", None)
    if task:
        from ..tasks import load_task

        base = merge(load_task(task).settings, base)
    merged = merge(base, given)
    cli_options.place_plugin_options(merged, options)
    merged.setdefault("data", {}).setdefault("path", "")
    return RunConfig.from_dict(merged), merged


def _dry_run(config, json_out: bool) -> None:
    from ..forecast import forecast

    plan = forecast(config)
    if json_out:
        sys.stdout.write(json.dumps(plan) + "\n")
        return
    out = console(stderr=False)
    out.print(f"{plan['method']} on {plan['n_queries']} queries with {plan['model']}")
    unit = plan["budget"]["unit"]
    if unit != "samples":
        out.print(f"  budget: {in_unit(plan['budget']['total'], unit)} "
                  f"({format_amount(plan['budget']['per_query'], unit)} per query, cap "
                  f"{format_amount(plan['budget']['per_query_cap'], unit)}); one base-prompt sample costs about "
                  f"{format_amount(plan['budget']['base_sample'], unit)}, one with demonstrations about "
                  f"{format_amount(plan['budget']['demo_sample'], unit)}")
    if unit == "samples":
        out.print(f"  samples: at most {plan['planned_samples_max']} of a budget of {plan['budget_samples']} "
                  f"({plan['warmup_samples']} in warm-up, up to {plan['adaptive_samples_max']} after; "
                  f"cap {plan['per_query_cap']} per query)")
    else:
        out.print(f"  samples: about {plan['planned_samples_max']} ({plan['warmup_samples']} in warm-up, about "
                  f"{plan['adaptive_samples_max']} after)")
    out.print(f"  tokens: ~{plan['prompt_tokens_est']:,} prompt, ~{plan['generated_tokens_est']:,} generated "
                  f"(at most {plan['generated_tokens_max']:,})")
    if plan["seconds_per_sample"]:
        out.print(f"  time: at most ~{plan['time_s_est_max']:.0f} s at {plan['seconds_per_sample']:.3g} s per "
                      f"sample, measured on {plan['calibration_samples']} calibration samples")
    out.print(f"  ({plan['note']})")


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
        console().print("Stopping after the round in flight is logged (Ctrl-C again to stop now).")

    def __enter__(self) -> "_GracefulStop":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)


def config_command(
    data: Optional[str] = typer.Argument(None, help="JSONL file of queries (or data.path in the file).",
                                         show_default=False),
    config_file: Optional[str] = typer.Option(None, "--config", help="A TOML run config."),
    task: Optional[str] = typer.Option(None, "--task", help="A task's settings under the file and flags."),
    show: bool = typer.Option(True, "--show/--check", help="Print the resolved config as TOML, or only check it."),
    **options: Any,
) -> None:
    """Resolve a config (file, then flags) and print it as TOML: every key a run will use."""
    from ..config_file import dump_toml

    config, _ = resolve_config(data, config_file, options, task=task)
    if show:
        sys.stdout.write(dump_toml(config.to_dict()))
    else:
        console().print("config OK")


def _run_with_progress(config, show: bool, should_stop, repair: bool = False, progress_every: float = 30.0):
    if not show:
        from ..runner import run

        return run(config, should_stop=should_stop, repair=repair)
    from ..progress import PlainProgress, RunProgress

    err = console()
    # Started before the library is imported, so a person sees it from the first second.
    with (RunProgress(err) if err.is_terminal else PlainProgress(every_s=progress_every)) as display:
        if err.is_terminal:  # a live line that the next one replaces; a log gets only what was done
            display.update(Status("importing the engines"))
        from ..runner import run

        return run(config, progress=display.update, should_stop=should_stop, repair=repair)


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
    out = console(stderr=False)
    out.print(table)
    out.print(compute_line(s), soft_wrap=True)
    budget = s["budget"]
    spend = (f"{s['samples']}/{s['budget_samples']} samples" if budget["unit"] == "samples" else
             f"{format_amount(budget['spent'], budget['unit'])}/{in_unit(budget['total'], budget['unit'])} "
             f"({s['samples']} samples)")
    out.print(  # one line, whatever the width: pipelines grep it
        f"coverage {s['coverage']:.3f} ({s['coverage_kind']}); {spend}; "
        f"{s['errors']} query errors; {s['wall_time_s']:.1f} s; stopped: {s['stop_reason']}. "
        f"Results in {result.run_dir}",
        soft_wrap=True,
    )


def compute_line(summary: dict) -> str:
    """The run's compute in every unit, on one line."""
    c = summary["compute"]
    parts = [f"{c['samples']} samples", f"{c['output_tokens']:,} output tokens",
             f"{c['total_tokens']:,} total tokens ({c['uncached_prompt_tokens']:,} prompt uncached, "
             f"{c['cached_prompt_tokens']:,} cached: {100 * c['prompt_cache_share']:.0f}%)"]
    if c["flops"] is not None:
        parts.append(f"{format_amount(c['flops'], 'flops')}FLOPs")
    if c["cost_usd"] is not None:
        parts.append(f"${c['cost_usd']:.4f}")
    return "compute: " + ", ".join(parts)


def tasks_command() -> None:
    """List the tasks --task can name (built-in and installed), each with what it is for."""
    from rich.table import Table

    from ..tasks import load_task, task_names

    from rich.markup import escape

    table = Table(show_header=True)
    table.add_column("task")
    table.add_column("for")
    table.add_column("sets")
    for name in task_names():
        task = load_task(name)
        sets = ", ".join(f"{section}.{key}" for section, keys in task.settings.items() for key in keys) or "(the defaults)"
        table.add_row(escape(name), escape(task.description), escape(sets))
    console(stderr=False).print(table)
    console(stderr=False).print("A task of your own: --task my_task.toml (see `adaptive_batch.tasks`); "
                                "`adaptive-batch config --task NAME --show` prints what it resolves to.")


def cache_clear_command(directory: str = typer.Argument(..., help="The response cache directory.")) -> None:
    """Empty a response cache."""
    from ..cache import ResponseCache

    removed = ResponseCache(directory).clear()
    console(stderr=False).print(f"removed {removed} cached responses from {directory}")


def register(app: typer.Typer) -> None:
    # typer reads the signature: swap the **options catch-all for one option per config field.
    app.command("run", help=run_command.__doc__)(cli_options.with_options(handles_errors(run_command)))
    app.command("config", help=config_command.__doc__)(cli_options.with_options(handles_errors(config_command)))
    app.command("cache-clear")(handles_errors(cache_clear_command))
    app.command("tasks")(handles_errors(tasks_command))
