"""``adaptive-batch inspect RUN_DIR --id ID``: one query's story, in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from .config import DataConfig
from .dataset import load_queries
from .errors import UserError
from .registry import extractors
from .report.data import load_run, samples_by_query
from .verifiers import as_extractor


def passing_response(samples: list[dict[str, Any]], final_answer: Optional[str]) -> Optional[str]:
    """The response a resolved query contributes to the pool (a vote for the majority, label-free)."""
    for s in samples:
        if s["passed"]:
            return s["text"]
    for s in samples:
        if s["passed"] is None and final_answer is not None and s["answer"] == final_answer:
            return s["text"]
    return None


def describe_query(run_dir: str | Path, query_id: str, console) -> None:
    from rich.panel import Panel
    from rich.table import Table


    view = load_run(run_dir)
    rows = {r["id"]: r for r in view.results}
    if query_id not in rows:
        close = [i for i in rows if query_id.lower() in i.lower()][:5]
        hint = f" (similar ids: {', '.join(close)})" if close else ""
        raise UserError(f"no query '{query_id}' in {run_dir}{hint}")
    questions: dict[str, str] = {}
    try:
        questions = {q.id: q.question for q in load_queries(DataConfig.from_dict(view.summary["config"]["data"]))}
    except UserError:
        pass  # the dataset moved: show ids without questions
    by_query = samples_by_query(view)
    canonical = as_extractor(extractors.get(view.summary["config"]["verifier"]["extractor"])).canonical
    row = rows[query_id]
    status = (f"resolved in {row['resolved_phase']} round {row['resolved_round']}" if row["resolved"]
              else "unresolved")
    console.print(Panel(questions.get(query_id, "(question not available: dataset not found)"),
                        title=f"{query_id}: {status}, final answer {row['final_answer']}, {row['samples']} samples",
                        title_align="left"))
    table = Table(show_lines=True)
    for name in ("#", "phase", "round", "seed", "answer", "verdict", "tokens (prompt/gen)", "text"):
        table.add_column(name)
    for s in by_query.get(query_id, []):
        verdict = "vote" if s["passed"] is None else ("[green]pass[/]" if s["passed"] else "[red]fail[/]")
        if s["error"]:
            verdict = f"[yellow]error[/]: {s['error']}"
        table.add_row(str(s["sample_index"]), s["phase"], str(s["round"]), str(s["seed"]), str(s["answer"]),
                      verdict, f"{s['prompt_tokens']}/{s['completion_tokens']}", s["text"].strip())
    console.print(table)
    for s in by_query.get(query_id, []):
        if not s["demo_ids"]:
            continue
        demos = Table(title=f"sample {s['sample_index']} carried {len(s['demo_ids'])} demonstrations "
                            "(least similar first)", show_lines=True)
        demos.add_column("demonstration")
        demos.add_column("question")
        demos.add_column("shown answer")
        for demo_id in s["demo_ids"]:
            response = passing_response(by_query.get(demo_id, []), rows.get(demo_id, {}).get("final_answer"))
            shown = (canonical(response) if canonical and response else None) or (response or "").strip()
            demos.add_row(demo_id, questions.get(demo_id, ""), shown)
        console.print(demos)
