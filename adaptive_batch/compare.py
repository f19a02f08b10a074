"""Two runs of the same queries side by side (last night against tonight): which queries changed,
and how each headline figure moved, with a 95% interval over the shared queries."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .errors import UserError
from .outputs import RESULTS_NAME


def _results(run_dir: Path) -> dict[str, dict[str, Any]]:
    path = run_dir / f"{RESULTS_NAME}.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{run_dir} has no {path.name}: is it a finished run directory?") from None
    return {row["id"]: row for row in map(json.loads, lines)}


def _paired(deltas: list[float]) -> dict[str, Any]:
    """Mean of per-query differences with a normal 95% interval (the queries are the sample)."""
    n = len(deltas)
    mean = sum(deltas) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in deltas) / (n - 1)) if n > 1 else 0.0
    half = 1.96 * sd / math.sqrt(n)
    return {"delta": round(mean, 4), "ci95": [round(mean - half, 4), round(mean + half, 4)]}


def compare_runs(before: str | Path, after: str | Path) -> dict[str, Any]:
    """Per-query differences between two runs and the change of each headline figure (after - before)."""
    a, b = _results(Path(before)), _results(Path(after))
    shared = sorted(set(a) & set(b))
    if not shared:
        raise UserError(f"{before} and {after} share no query ids: they are not runs of the same queries")
    lost = [q for q in shared if a[q]["resolved"] and not b[q]["resolved"]]
    gained = [q for q in shared if b[q]["resolved"] and not a[q]["resolved"]]
    changed = [q for q in shared if a[q]["final_answer"] is not None and b[q]["final_answer"] is not None
               and a[q]["final_answer"] != b[q]["final_answer"]]
    figures = {}
    for name, value in (("coverage", lambda row: float(bool(row["resolved"]))),
                        ("samples_per_query", lambda row: float(row["samples"])),
                        ("total_tokens_per_query", lambda row: float(row["prompt_tokens"] + row["completion_tokens"]))):
        before_mean = sum(value(a[q]) for q in shared) / len(shared)
        after_mean = sum(value(b[q]) for q in shared) / len(shared)
        figures[name] = {"before": round(before_mean, 4), "after": round(after_mean, 4),
                         **_paired([value(b[q]) - value(a[q]) for q in shared])}
    return {
        "before": str(before), "after": str(after), "shared_queries": len(shared),
        "only_before": len(set(a) - set(b)), "only_after": len(set(b) - set(a)),
        "resolved_before_only": lost, "resolved_after_only": gained, "answer_changed": changed,
        "figures": figures,
    }
