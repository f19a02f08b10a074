"""Commands for after a run: verify, score, export, report, inspect, learn. Thin wrappers over the
library (:mod:`adaptive_batch.scoring`, :mod:`adaptive_batch.report`, the allocator)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from . import options as cli_options
from .app import EXIT_BELOW_THRESHOLD, console, handles_errors


def verify_command(
    responses: str = typer.Argument(
        ..., help="JSONL of responses (fields id or query_id, and response or text), or a run directory.",
        show_default=False),
    data: str = typer.Option("", "--data", help="The queries the responses answer (questions, references, tests)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the verdicts here as JSONL (default: stdout)."),
    **options: Any,
) -> None:
    """Re-score a file of responses with any verifier."""
    from ..config import DataConfig, VerifierConfig
    from ..scoring import read_responses, verify_responses

    given = cli_options.overrides(options, ("data", "verifier"))
    cli_options.place_plugin_options(given, options, ("verifier",))
    data_config = DataConfig.from_dict({**given.get("data", {}), "path": data})
    verifier = VerifierConfig.from_dict(given.get("verifier", {}))
    verdicts = verify_responses(read_responses(responses), data_config, verifier)
    text = "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in verdicts)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    passed = sum(bool(v["passed"]) for v in verdicts)
    console().print(f"{passed}/{len(verdicts)} responses pass ({verifier.name}, extractor {verifier.extractor})")


def score_command(
    run_dir: str = typer.Argument(..., help="A run directory.", show_default=False),
    reference: str = typer.Option(..., "--reference", help="JSONL holding the reference answers."),
    answer_field: str = typer.Option("answer", "--answer-field", help="Field of the reference answer."),
    id_field: str = typer.Option("id", "--id-field", help="Field of the query id."),
    question_field: str = typer.Option("question", "--question-field", help="Field of the question."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Accuracy of a (label-free) run's final answers against reference answers, after the fact."""
    from ..config import DataConfig
    from ..scoring import score_run

    report = score_run(run_dir, DataConfig(path=reference, answer_field=answer_field, id_field=id_field,
                                           question_field=question_field))
    if json_out:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    out = console(stderr=False)
    out.print(f"accuracy {report['accuracy']:.3f} on {report['n_queries']} queries (answers checked against "
              f"{reference}); coverage {report['coverage']:.3f}")
    for group in ("resolved", "unresolved"):
        value = report[f"accuracy_of_{group}"]
        if value is not None:
            out.print(f"  accuracy of {group} queries: {value:.3f}")
    for name, figure in (report["estimates"] or {}).items():  # comparable night to night, whatever the budget
        low, high = figure["ci95"]
        out.print(f"  {name} {figure['value']:.3f} [{low:.3f}, {high:.3f}] from the warm-up's samples")
    if report["resolution_read_references"]:
        out.print("note: this run's resolution read the reference answers, so this accuracy is oracle-assisted")


def export_command(
    run_dir: str = typer.Argument(..., help="A run directory.", show_default=False),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Directory for the files (default: RUN_DIR/export)."),
    allow_reference: bool = typer.Option(
        False, "--allow-reference",
        help="Export a run whose resolution read the reference answers; every line is marked oracle_verified."),
    abstain_below: Optional[float] = typer.Option(
        None, "--abstain-below", help="Leave out answers whose vote share is below this (0-1): answer null, "
        "abstained true; for leaderboards that allow abstaining."),
) -> None:
    """Leaderboard files: submission.jsonl (id -> answer, its confidence: vote share and votes) and
    predictions.jsonl (per-sample details)."""
    from ..errors import UserError
    from ..scoring import export_run

    if abstain_below is not None and not 0 <= abstain_below <= 1:
        raise UserError(f"--abstain-below must be in [0, 1], got {abstain_below:g}")
    info = export_run(run_dir, output, allow_reference, abstain_below)
    out = console(stderr=False)
    left_out = f" ({info['abstained']} abstained, vote share below {abstain_below:g})" if abstain_below is not None else ""
    out.print(f"wrote {info['n_queries']} answers{left_out} to {info['out_dir']}/submission.jsonl and predictions.jsonl")
    if info["oracle_verified"]:
        console().print("[yellow]warning:[/] " + info["warning"])


def report_command(
    run_dirs: list[str] = typer.Argument(..., help="One or more run directories; several are overlaid.",
                                         show_default=False),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Directory for report.html and its PNGs "
                                         "(default: FIRST_RUN_DIR/report)."),
    self_contained: bool = typer.Option(False, "--self-contained", metavar="",
                                        help="Put the images inside report.html: one file to share."),
) -> None:
    """An HTML report: coverage against compute, samples per query, resolutions, pool, demonstrations."""
    from ..report import write_report

    page = write_report(run_dirs, output, self_contained=self_contained)
    console(stderr=False).print(f"wrote {page}")


def inspect_command(
    run_dir: str = typer.Argument(..., help="A run directory.", show_default=False),
    query_id: str = typer.Option(..., "--id", help="The query to show."),
    prompt: Optional[int] = typer.Option(
        None, "--prompt", help="Print the exact prompt of this sample index (rebuilt from the query and its "
        "demonstration ids) instead of the query's story."),
) -> None:
    """One query's samples, verdicts, and the demonstrations each prompt carried."""
    if prompt is not None:
        from ..prompt_replay import rebuild_prompt

        rebuilt = rebuild_prompt(run_dir, query_id, prompt)
        text = rebuilt if isinstance(rebuilt, str) else "".join(
            f"<{m['role']}>\n{m['content']}\n" for m in rebuilt)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from ..inspect_query import describe_query

    describe_query(run_dir, query_id, console(stderr=False))


def learn_command(
    run_dirs: list[str] = typer.Argument(..., help="Finished runs verified with reference answers.",
                                         show_default=False),
    output: str = typer.Option(..., "--output", "-o", help="Directory to write the allocator to."),
    embedder: str = typer.Option("sentence-transformers", "--embedder", help="Embedder for the features "
                                 "(a run using the allocator must use the same one)."),
    embedder_model: Optional[str] = typer.Option(None, "--embedder-model", help="Its model name or path."),
) -> None:
    """Train a learned allocator (Solve-then-Learn) from past runs; use it with run --allocator DIR."""
    from ..learning import learn_from_runs
    from retrieval import create_embedder

    allocator = learn_from_runs(run_dirs, create_embedder(embedder, embedder_model))
    path = allocator.save(output)
    info = allocator.trained_on
    console(stderr=False).print(f"wrote {path}: trained on {info['queries']} queries, {info['samples']} "
                                 f"base-prompt samples (pass rate {info['pass_rate']:.3f})")


def list_command(
    directory: str = typer.Argument("runs", help="Where to look for run directories (searched below)."),
    json_out: bool = typer.Option(False, "--json", metavar="", help="Print one JSON object per run."),
) -> None:
    """The runs under a directory, newest first: method, dataset, status, coverage, spend, date."""
    from rich.table import Table

    from ..runs_index import list_runs

    runs = list_runs(directory)
    if json_out:
        sys.stdout.write("".join(json.dumps(r) + "\n" for r in runs))
        return
    table = Table(title=f"{len(runs)} runs under {directory}")
    for column in ("run", "method", "dataset", "status", "coverage", "samples", "updated"):
        table.add_column(column, justify="right" if column in ("coverage", "samples") else "left")
    for r in runs:
        spend = f"{r['samples']}/{r['budget_samples']}" if r["budget_samples"] else str(r["samples"])
        table.add_row(r["run_dir"], r["method"] or "?", Path(r["dataset"] or "?").name, r["status"],
                      "" if r["coverage"] is None else f"{r['coverage']:.3f}", spend, r["updated_at"])
    console(stderr=False).print(table)


def compare_command(
    before: str = typer.Argument(..., help="The earlier run directory (last night).", show_default=False),
    after: str = typer.Argument(..., help="The later run directory (tonight).", show_default=False),
    max_drop: Optional[float] = typer.Option(
        None, "--max-drop", help=f"Exit with code {EXIT_BELOW_THRESHOLD} when coverage fell by more than this "
        "(e.g. 0.02)."),
    max_lost: Optional[int] = typer.Option(
        None, "--max-lost", help=f"Exit with code {EXIT_BELOW_THRESHOLD} when more than this many queries "
        "resolved before are not resolved after."),
    json_out: bool = typer.Option(False, "--json", metavar="", help="Print the comparison as one JSON object."),
) -> None:
    """Which queries changed between two runs of the same queries, and how each headline figure moved."""
    from ..compare import compare_runs

    report = compare_runs(before, after)
    if json_out:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        _print_comparison(report)
    drop = -report["figures"]["coverage"]["delta"]
    if (max_drop is not None and drop > max_drop) or (max_lost is not None
                                                       and len(report["resolved_before_only"]) > max_lost):
        console().print(f"regression: coverage {report['figures']['coverage']['delta']:+.4f}, "
                        f"{len(report['resolved_before_only'])} queries no longer resolved", soft_wrap=True)
        raise typer.Exit(EXIT_BELOW_THRESHOLD)


def _print_comparison(report: dict) -> None:
    from rich.table import Table

    out = console(stderr=False)
    table = Table(title=f"{report['after']} against {report['before']} ({report['shared_queries']} shared queries)")
    for column in ("figure", "before", "after", "change", "95% interval"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for name, f in report["figures"].items():
        table.add_row(name, f"{f['before']:g}", f"{f['after']:g}", f"{f['delta']:+g}",
                      f"[{f['ci95'][0]:+g}, {f['ci95'][1]:+g}]")
    out.print(table)
    for key, label in (("resolved_before_only", "resolved before, not after"),
                       ("resolved_after_only", "resolved after, not before"), ("answer_changed", "answer changed")):
        ids = report[key]
        shown = ", ".join(ids[:20]) + (f", ... ({len(ids) - 20} more)" if len(ids) > 20 else "")
        out.print(f"{label}: {len(ids)}" + (f" ({shown})" if ids else ""), soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("verify", help=verify_command.__doc__)(
        cli_options.with_options(handles_errors(verify_command), ("data", "verifier")))
    for name, command in (("score", score_command), ("export", export_command), ("report", report_command),
                          ("inspect", inspect_command), ("learn", learn_command), ("list", list_command),
                          ("compare", compare_command)):
        app.command(name)(handles_errors(command))
