"""Training a learned allocator from finished runs: reads their data and samples, then fits
(:mod:`phases.allocator` holds the model and the allocation rule)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from phases.allocator import Allocator, train_allocator

from .config import DataConfig
from .dataset import load_queries
from .errors import UserError
from .scoring import read_summary


def learn_from_runs(run_dirs: Sequence[str | Path], embedder) -> Allocator:
    """Train on the base-prompt samples of finished, reference-verified runs (any method)."""
    import pyarrow.parquet as pq

    questions: dict[str, str] = {}
    passes: dict[str, int] = {}
    trials: dict[str, int] = {}
    for run_dir in run_dirs:
        summary = read_summary(run_dir)
        if not summary.get("verification", {}).get("reads_references", True):
            raise UserError(f"{run_dir} is label-free: its samples carry votes, not pass/fail, so it cannot teach "
                            "success probabilities")
        data = DataConfig.from_dict(summary["config"]["data"])
        for query in load_queries(data):
            questions.setdefault(query.id, query.question)
        for sample in pq.read_table(Path(run_dir) / "samples.parquet").to_pylist():
            if sample["demo_ids"] or sample["error"] or sample["passed"] is None:
                continue  # only base-prompt samples say how hard the question is on its own
            key = sample["query_id"]
            trials[key] = trials.get(key, 0) + 1
            passes[key] = passes.get(key, 0) + int(sample["passed"])
    ids = sorted(trials)
    texts = [questions[i] for i in ids]
    return train_allocator(texts, embedder.embed(texts), [passes[i] for i in ids], [trials[i] for i in ids],
                           embedder.model_id, {"runs": [str(d) for d in run_dirs]})
