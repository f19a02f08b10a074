"""Commands for after a run: verify, score, export, report, inspect, learn. Thin wrappers over the
library (:mod:`adaptive_batch.scoring`, :mod:`adaptive_batch.report`, the allocator)."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer

from . import options as cli_options
from .app import console, handles_errors


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
    if report["resolution_read_references"]:
        out.print("note: this run's resolution read the reference answers, so this accuracy is oracle-assisted")


def export_command(
    run_dir: str = typer.Argument(..., help="A run directory.", show_default=False),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Directory for the files (default: RUN_DIR/export)."),
    allow_reference: bool = typer.Option(
        False, "--allow-reference",
        help="Export a run whose resolution read the reference answers; every line is marked oracle_verified."),
) -> None:
    """Leaderboard files: submission.jsonl (id -> answer) and predictions.jsonl (per-sample details)."""
    from ..scoring import export_run

    info = export_run(run_dir, output, allow_reference)
    out = console(stderr=False)
    out.print(f"wrote {info['n_queries']} answers to {info['out_dir']}/submission.jsonl and predictions.jsonl")
    if info["oracle_verified"]:
        console().print("[yellow]warning:[/] " + info["warning"])


def report_command(
    run_dirs: list[str] = typer.Argument(..., help="One or more run directories; several are overlaid.",
                                         show_default=False),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Directory for report.html and its PNGs "
                                         "(default: FIRST_RUN_DIR/report)."),
) -> None:
    """An HTML report: coverage against compute, samples per query, resolutions, pool, demonstrations."""
    from ..report import write_report

    page = write_report(run_dirs, output)
    console(stderr=False).print(f"wrote {page}")


def inspect_command(
    run_dir: str = typer.Argument(..., help="A run directory.", show_default=False),
    query_id: str = typer.Option(..., "--id", help="The query to show."),
) -> None:
    """One query's samples, verdicts, and the demonstrations each prompt carried."""
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


def register(app: typer.Typer) -> None:
    app.command("verify", help=verify_command.__doc__)(
        cli_options.with_options(handles_errors(verify_command), ("data", "verifier")))
    for name, command in (("score", score_command), ("export", export_command), ("report", report_command),
                          ("inspect", inspect_command), ("learn", learn_command)):
        app.command(name)(handles_errors(command))
