"""What a run writes: per-query results, every sample, and a summary."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Optional

from phases import RunState

from .config import RunConfig
from .costs import compute_figures, escalation_weight
from .estimates import oracle_maj_at_k, warmup_pass_at_k
from .execution import RunContext
from .execution.context import parameter_counts
from .atomic import replace_atomically, write_text_atomically

SUMMARY_NAME = "summary.json"
RESULTS_NAME = "results"
SAMPLES_PARQUET = "samples.parquet"


@dataclass(frozen=True)
class RunResult:
    """A finished run: its summary and where its tables are."""

    run_dir: Path
    summary: dict[str, Any]

    @property
    def coverage(self) -> float:
        return self.summary["coverage"]

    def results_table(self):
        """Per-query results as a pyarrow Table."""
        import pyarrow.parquet as pq

        return pq.read_table(self.run_dir / f"{RESULTS_NAME}.parquet")

    def samples_table(self):
        """Every sample as a pyarrow Table."""
        import pyarrow.parquet as pq

        return pq.read_table(self.run_dir / SAMPLES_PARQUET)

    def to_pandas(self):
        return self.results_table().to_pandas()


def write_outputs(context: RunContext, counters: dict[str, int], status: str = "complete",
                  error: Optional[str] = None) -> RunResult:
    """Write ``results.*``, ``samples.parquet`` (from the log) and ``summary.json`` for the run.

    A re-run of a finished run that only replayed its log keeps the summary it had: its wall
    time and timings describe the run that computed the samples, not the replay.
    """
    previous = _finished_summary(context.run_dir)
    if previous is not None and status == "complete" and not counters["generated"] and not counters["cached"]:
        return RunResult(context.run_dir, previous)
    import pyarrow as pa
    import pyarrow.parquet as pq

    config, state, run_dir, verifier = context.config, context.state, context.run_dir, context.verifier
    tables_started = time.perf_counter()
    rows = (result_row(q, s) for q, s in zip(state.queries, state.status))
    _write_tables(pa, pq, run_dir / f"{RESULTS_NAME}.parquet", _results_schema(pa), _chunks(rows),
                  jsonl=run_dir / f"{RESULTS_NAME}.jsonl")
    samples_schema = _samples_schema(pa)
    _write_tables(pa, pq, run_dir / SAMPLES_PARQUET, samples_schema,
                  _log_rounds(pa, run_dir / "samples.jsonl", samples_schema))

    estimates = None
    if verifier.needs_reference:
        columns = ["query_id", "sample_index", "phase", "passed", "error", "engine", "answer"]
        stops = context.method.early_stop and not config.schedule.warmup_together
        rows = pq.read_table(run_dir / SAMPLES_PARQUET, columns=columns).to_pylist()
        estimates = warmup_pass_at_k(rows, config.schedule.warmup, stops_at_first_pass=stops)
        if estimates and not stops:  # drawn whole: a uniform sample of answers too
            estimates = {**estimates, **(oracle_maj_at_k(rows, config.schedule.warmup) or {})}
    tables_s = time.perf_counter() - tables_started
    timings = {**context.timings.seconds, "outputs": tables_s}
    wall_s = time.perf_counter() - context.started
    n = len(state.queries)
    resolved = state.resolved_count
    weight, weight_source = escalation_weight(config.escalation.cost_weight, parameter_counts(config, context.engines))
    verification = verifier.label or config.verifier.name
    oracle = verifier.needs_reference
    summary = {
        "status": status,
        "stop_reason": error or _stop_reason(config, state, status, verifier),
        "coverage": resolved / n,
        "coverage_kind": f"pass@budget, {verification}" if oracle or verifier.resolved is None
        else f"share of queries whose samples agree, {verification}",
        "verification": {"verifier": config.verifier.name, "label": verification, "reads_references": oracle,
                         "extractor": config.verifier.extractor},
        "estimates": estimates,
        "n_queries": n,
        "resolved": resolved,
        "errors": sum(s.error is not None for s in state.status),
        "method": config.schedule.method,
        "budget_samples": state.total_budget if state.cost.per_sample else None,
        "budget": {"unit": config.schedule.budget_unit, "per_query": config.schedule.budget,
                   "total": state.total_budget, "spent": float(f"{state.spent:.12g}"),
                   "spent_share": round(state.spent / state.total_budget, 4) if state.total_budget else 0.0,
                   "per_query_cap": config.schedule.unit_cap},
        "samples": state.samples_spent,
        "compute": compute_figures(state.by_engine, parameter_counts(config, context.engines), config.prices.table),
        "prompt_kinds": {kind: {"samples": n, "passed": passed, "cached_share": _share(state.kind_cached_share(kind))}
                         for kind, (n, passed) in sorted(state.by_kind.items())},
        "prompt_tokens": sum(p["prompt_tokens"] for p in state.by_phase.values()),
        "completion_tokens": sum(p["completion_tokens"] for p in state.by_phase.values()),
        "by_phase": state.by_phase,
        "by_engine": state.by_engine,
        "cost_samples": round(sum(e["samples"] * (weight if name == "escalated" else 1.0)
                                  for name, e in state.by_engine.items()), 3),
        "escalation_cost_weight": {"weight": weight, "produced_by": weight_source} if "escalated" in context.engines
        else None,
        "pool_size": len(context.pool) if context.pool is not None else 0,
        "wall_time_s": round(wall_s, 3),
        "time_s": {k: round(v, 4) for k, v in sorted(timings.items())},
        "samples_generated": counters["generated"],
        "samples_replayed_from_log": counters["replayed"],
        "samples_from_cache": counters["cached"],
        "model": context.backend.model_id,
        "escalation_model": context.escalated.model_id if context.escalated is not None else None,
        "backend_stats": context.backend.stats(),
        "embedder": context.embedder_id,
        "extractor": config.verifier.extractor,
        "config": config.to_dict(),
        "versions": _versions(),
        "warnings": list(context.warnings),
    }
    write_text_atomically(run_dir / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
    return RunResult(run_dir, summary)


def result_row(q, s) -> dict[str, Any]:
    """A query's row of ``results.*``, from the query and its status."""
    return {"id": q.id, "question": q.question, "reference": q.answer, "final_answer": s.answer,
            "resolved": s.resolved, "samples": s.samples, "prompt_tokens": s.prompt_tokens,
            "completion_tokens": s.completion_tokens, "cached_tokens": s.cached_tokens, "cost": s.cost,
            "resolved_phase": s.resolved_phase, "resolved_round": s.resolved_round,
            "demo_ids": list(s.demo_ids), "error": s.error}


def _finished_summary(run_dir: Path) -> Optional[dict[str, Any]]:
    try:
        summary = json.loads((run_dir / SUMMARY_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and summary.get("status") == "complete" else None


def _stop_reason(config: RunConfig, state: RunState, status: str, verifier: Any) -> str:
    if status != "complete":
        return status
    if state.remaining <= 0:
        return "budget spent"
    if all(s.resolved or s.error for s in state.status):
        return "every query resolved"
    if not state.cost.per_sample:
        if config.schedule.max_rounds is None and state.spent >= 0.97 * state.total_budget:
            return "budget spent (what is left is less than the next samples' worst case)"
        return "per-query cap, round limit or the rest of the budget too small for the next samples"
    if config.schedule.method == "uniform":
        return "every query got its samples"
    cap = verifier.sample_cap(config.schedule.per_query_cap)
    if all(s.resolved or s.error or s.samples >= cap for s in state.status):
        return f"per-query cap ({cap}) reached"
    return "round limit reached"


def _results_schema(pa):
    return pa.schema(
        [
            ("id", pa.string()),
            ("question", pa.string()),
            ("reference", pa.string()),
            ("final_answer", pa.string()),
            ("resolved", pa.bool_()),
            ("samples", pa.int32()),
            ("prompt_tokens", pa.int64()),
            ("completion_tokens", pa.int64()),
            ("cached_tokens", pa.int64()),
            ("cost", pa.float64()),
            ("resolved_phase", pa.string()),
            ("resolved_round", pa.int32()),
            ("demo_ids", pa.list_(pa.string())),
            ("error", pa.string()),
        ]
    )


def _samples_schema(pa):
    return pa.schema(
        [
            ("query_id", pa.string()),
            ("sample_index", pa.int32()),
            ("phase", pa.string()),
            ("round", pa.int32()),
            ("seed", pa.int64()),
            ("demo_ids", pa.list_(pa.string())),
            ("text", pa.string()),
            ("answer", pa.string()),
            ("passed", pa.bool_()),
            ("prompt_tokens", pa.int32()),
            ("completion_tokens", pa.int32()),
            ("finish_reason", pa.string()),
            ("error", pa.string()),
            ("score", pa.float64()),
            ("detail", pa.string()),
            ("engine", pa.string()),
            ("cached_tokens", pa.int32()),
            ("engine_s", pa.float64()),
            ("prompt_kind", pa.string()),
            ("started_at", pa.float64()),
            ("finished_at", pa.float64()),
            ("logprob", pa.float64()),
        ]
    )


# Tables are written in chunks so that a run of a million queries never holds all its samples as
# Python objects at once.
_CHUNK = 100_000


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


LOG_CHUNK_ROWS = 20_000
_LOG_READ_BYTES = 64 << 20


def _log_rounds(pa, log_path: Path, schema) -> Iterator[Any]:
    """The sample log as tables of whole rounds (small ones merged), each sorted by query id.

    Rounds are appended to the log whole; a table ends at the first round change after
    ``LOG_CHUNK_ROWS`` rows, so that continuous runs, which log many tiny batches, make few tables.
    """
    import numpy as np

    if not log_path.exists():  # round 0 failed before anything was logged
        return
    pending = None
    for table in _read_log(pa, log_path, schema):
        pending = table if pending is None else pa.concat_tables([pending, table])
        rounds = pending.column("round").to_numpy()
        changes = np.flatnonzero(rounds[1:] != rounds[:-1]) + 1
        start = 0
        while True:
            at = int(np.searchsorted(changes, start + LOG_CHUNK_ROWS))
            if at == len(changes):
                break
            yield _log_order(pending.slice(start, int(changes[at]) - start))
            start = int(changes[at])
        pending = pending.slice(start)
    if pending is not None and pending.num_rows:
        yield _log_order(pending)


def _log_order(table):
    return table.sort_by([("round", "ascending"), ("query_id", "ascending"), ("sample_index", "ascending")])


def _read_log(pa, log_path: Path, schema) -> Iterator[Any]:
    """The JSONL log parsed by Arrow in pieces of whole lines (a multi-GB log never sits in memory)."""
    import pyarrow.compute as pc
    import pyarrow.json as pj

    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    rest = b""
    with open(log_path, "rb") as handle:
        while True:
            data = handle.read(_LOG_READ_BYTES)
            if not data:
                break  # a torn last line (a kill mid-write) is not a sample
            data = rest + data
            end = data.rfind(b"\n") + 1
            block, rest = data[:end], data[end:]
            if not block:
                continue
            try:
                table = pj.read_json(pa.BufferReader(block), pj.ReadOptions(block_size=16 << 20), options)
            except pa.ArrowInvalid:  # a line longer than a parse block: parse the piece as one block
                table = pj.read_json(pa.BufferReader(block), pj.ReadOptions(block_size=len(block) + 1), options)
            # Logs written before these fields existed: the main engine, nothing known cached.
            for name, value in (("engine", "main"), ("cached_tokens", 0), ("engine_s", 0.0), ("prompt_kind", ""),
                                ("started_at", 0.0), ("finished_at", 0.0)):
                table = table.set_column(table.schema.get_field_index(name), name,
                                         pc.fill_null(table.column(name), value))
            yield table.select(schema.names).cast(schema)


def _write_tables(pa, pq, path: Path, schema, chunks: Iterator[Any], jsonl: Optional[Path] = None) -> None:
    """Write the chunks (Arrow tables or lists of rows) as one Parquet file, and JSONL beside it,
    each replaced atomically."""
    def write(tmp: Path) -> None:
        lines = open(jsonl.with_name(jsonl.name + ".tmp"), "w", encoding="utf-8") if jsonl else None
        try:
            with pq.ParquetWriter(tmp, schema) as writer:
                for chunk in chunks:
                    table = chunk if isinstance(chunk, pa.Table) else pa.Table.from_pylist(chunk, schema=schema)
                    writer.write_table(table)
                    if lines:
                        rows = chunk if isinstance(chunk, list) else table.to_pylist()
                        lines.write("".join(json.dumps(r) + "\n" for r in rows))
        finally:
            if lines:
                lines.close()
        if jsonl:
            os.replace(jsonl.with_name(jsonl.name + ".tmp"), jsonl)

    replace_atomically(path, write)


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in ("adaptive-batch", "llama-cpp-python", "sentence-transformers", "faiss-cpu", "torch", "pyarrow"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _share(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 4)
