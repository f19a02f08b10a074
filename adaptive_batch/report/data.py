"""What a report shows, computed from a run directory's tables (no plotting here)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..outputs import RESULTS_NAME, SAMPLES_PARQUET, SUMMARY_NAME


@dataclass
class RunView:
    run_dir: Path
    summary: dict[str, Any]
    results: list[dict[str, Any]]
    samples: list[dict[str, Any]]
    curve: dict[str, list[float]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.run_dir.name} ({self.summary.get('method')})"

    @property
    def n(self) -> int:
        return len(self.results)

    @property
    def score(self) -> dict[str, Any] | None:
        """What ``adaptive-batch score`` wrote for this run (score.json), if it was scored."""
        path = self.run_dir / "score.json"
        try:
            return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        except (OSError, ValueError):
            return None  # a damaged score file is not the report's to fail on


def _unfinished(run_dir: Path) -> bool:
    """A run directory whose log may hold more than its tables: no summary, or one of a run that
    did not complete (a resume may be adding to the log now)."""
    if not (run_dir / "samples.jsonl").exists():
        return False
    try:
        summary = json.loads((run_dir / SUMMARY_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return not isinstance(summary, dict) or summary.get("status") != "complete"


def load_run(run_dir: str | Path) -> RunView:
    import pyarrow.parquet as pq

    run_dir = Path(run_dir)
    if _unfinished(run_dir):
        from .live import log_view_parts

        view = RunView(run_dir, *log_view_parts(run_dir))
        view.curve = coverage_curve(view)
        return view
    try:
        summary = json.loads((run_dir / SUMMARY_NAME).read_text(encoding="utf-8"))
        results = pq.read_table(run_dir / f"{RESULTS_NAME}.parquet").to_pylist()
        samples = pq.read_table(run_dir / SAMPLES_PARQUET).to_pylist()
    except FileNotFoundError as exc:
        raise UserError(f"{run_dir} is not a finished run directory: {Path(exc.filename).name} is missing") from None
    view = RunView(run_dir, summary, results, samples)
    view.curve = coverage_curve(view)
    return view


def coverage_curve(view: RunView) -> dict[str, list[float]]:
    """Coverage after each round against the compute spent so far, per query: samples, generated,
    total, prompt and cached prompt tokens (the other units follow from these: ``analysis``)."""
    resolved_at = Counter(r["resolved_round"] for r in view.results if r["resolved"])
    spent: dict[int, list[int]] = {}
    for s in view.samples:
        if s["error"] is None:
            row = spent.setdefault(s["round"], [0, 0, 0, 0, 0])
            row[0] += 1
            row[1] += s["completion_tokens"]
            row[2] += s["prompt_tokens"] + s["completion_tokens"]
            row[3] += s["prompt_tokens"]
            row[4] += s.get("cached_tokens") or 0
    keys = ("samples", "generated_tokens", "total_tokens", "prompt_tokens", "cached_tokens")
    curve: dict[str, list[float]] = {"round": [], **{k: [] for k in keys}, "coverage": [], "pool": []}
    totals, resolved = [0] * len(keys), 0
    n = max(view.n, 1)
    for round_index in sorted(spent):
        totals = [a + b for a, b in zip(totals, spent[round_index])]
        resolved += resolved_at.get(round_index, 0)
        curve["round"].append(round_index)
        for key, total in zip(keys, totals):
            curve[key].append(total / n)
        curve["coverage"].append(resolved / n)
        curve["pool"].append(resolved)
    return curve


def resolutions_by_round(view: RunView) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    for r in view.results:
        if r["resolved"]:
            out.setdefault(r["resolved_phase"], Counter())[r["resolved_round"]] += 1
    return out


def demonstration_use(view: RunView) -> Counter:
    return Counter(d for s in view.samples for d in s["demo_ids"])


def samples_by_query(view: RunView) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for s in view.samples:
        out.setdefault(s["query_id"], []).append(s)
    for rows in out.values():
        rows.sort(key=lambda s: s["sample_index"])
    return out


def engine_breakdown(view: RunView) -> list[dict[str, Any]]:
    """Where a run's compute went: per engine (one, or two with escalation), its samples, tokens,
    FLOPs (at that engine's parameter count), passing samples and the queries it resolved first."""
    by_engine = view.summary.get("by_engine") or {}
    parameters = (view.summary.get("compute") or {}).get("parameters") or {}
    models = {"main": view.summary.get("model"), "escalated": view.summary.get("escalation_model")}
    passing: Counter = Counter(s.get("engine") or "main" for s in view.samples if s.get("passed"))
    first: dict[str, str] = {}
    for s in sorted(view.samples, key=lambda s: s["sample_index"]):
        if s.get("passed") and s["query_id"] not in first:
            first[s["query_id"]] = s.get("engine") or "main"
    resolved_first = Counter(first.values())
    rows = []
    for name, e in sorted(by_engine.items(), key=lambda item: (item[0] != "main", item[0])):
        evaluated = e.get("prompt_tokens", 0) - e.get("cached_tokens", 0) + e.get("completion_tokens", 0)
        count = parameters.get(name)
        rows.append({"engine": name, "model": models.get(name), "samples": e.get("samples", 0),
                     "prompt_tokens": e.get("prompt_tokens", 0), "cached_tokens": e.get("cached_tokens", 0),
                     "completion_tokens": e.get("completion_tokens", 0),
                     "flops": 2.0 * count * evaluated if count else None,
                     "passing_samples": passing[name], "queries_resolved_first": resolved_first[name]})
    return rows
