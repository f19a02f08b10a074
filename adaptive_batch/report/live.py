"""A run still in progress (or killed), seen from its log: what ``report`` shows before the end.

A finished run has its summary and tables. One still running, or killed before it wrote them,
has only ``run.json`` and the durable log: the view is rebuilt from those, by applying every
logged sample to a fresh state in the order the run applied them, as a resume would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from phases import RunState, total_budget

from ..config import DataConfig, PriceConfig, ScheduleConfig, VerifierConfig
from ..config_file import upgrade_saved_config
from ..costs import compute_figures
from ..dataset import load_queries
from ..errors import UserError
from ..outputs import result_row
from ..runlog import MANIFEST_NAME, SampleLog
from ..verifiers import create_verifier


def log_view_parts(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(summary so far, per-query rows, sample rows) of a run directory that has no summary yet."""
    try:
        manifest = json.loads((run_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{run_dir} is not a run directory: {MANIFEST_NAME} is missing") from None
    config = upgrade_saved_config(manifest["config"])
    verifier = create_verifier(VerifierConfig.from_dict(config["verifier"]))
    queries = load_queries(DataConfig.from_dict(config["data"]))
    schedule = ScheduleConfig.from_dict(config["schedule"])
    state = RunState(queries, total_budget(schedule, len(queries)), vote_rule=verifier.resolved,
                     vote_score=verifier.score_vote)
    position = {q.id: i for i, q in enumerate(queries)}
    records = sorted(SampleLog(run_dir).load().values(), key=lambda r: (r.round, r.query_id, r.sample_index))
    for record in records:
        if record.query_id in position:
            state.apply(position[record.query_id], record)
    results = [result_row(q, s) for q, s in zip(queries, state.status)]
    prices = PriceConfig.from_dict(config.get("prices", {})).table
    summary = {
        "status": "in progress", "method": schedule.method, "n_queries": len(queries),
        "coverage": state.resolved_count / max(1, len(queries)),
        "coverage_kind": "so far, from the log (the run has not finished)",
        "samples": state.samples_spent, "budget_samples": state.total_budget if schedule.budget_unit == "samples" else None,
        "prompt_tokens": sum(p["prompt_tokens"] for p in state.by_phase.values()),
        "completion_tokens": sum(p["completion_tokens"] for p in state.by_phase.values()),
        "compute": compute_figures(state.by_engine, {}, prices), "model": manifest.get("model"),
        "config": config, "wall_time_s": None,
    }
    return summary, results, [r.to_json() for r in records]
