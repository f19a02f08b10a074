"""Learned allocation (Solve-then-Learn) against the plain two-phase processor and uniform.

    python benchmarks/learned_allocation.py --train ../shared/datasets/addsub.jsonl --split 200 \
        --transfer ../shared/datasets/svamp.jsonl --transfer-limit 200 --budget 6 --seeds 0 1 2

1. Training runs: uniform best-of-N (``--train-budget`` samples a query) on the first ``--split``
   queries of ``--train``, one run per seed. Only base-prompt samples teach the allocator.
2. ``learn_from_runs`` (what ``adaptive-batch learn`` calls) fits the allocator on them.
3. Evaluation, every seed, at the same budget (samples per query): uniform, the plain two-phase
   processor (``adaptive``) and the two-phase processor with the allocator setting each query's
   warm-up, on the held-out rest of ``--train`` and on the first ``--transfer-limit`` queries of
   ``--transfer`` (a dataset the allocator never saw).

Also reported: how well the predicted per-sample success probability ranks the held-out queries
(Spearman against each query's observed pass rate in the uniform runs; AUC for "solved at all"),
and how the allocator spread the warm-up samples. With ``--cache-dir`` (default) base-prompt
samples that another benchmark already drew are replayed, not generated again.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from adaptive_batch import RunConfig, run
from adaptive_batch.backends import create_backend
from adaptive_batch.config import DataConfig
from adaptive_batch.dataset import load_queries
from adaptive_batch.learning import learn_from_runs
from phases.allocator import Allocator, query_features
from retrieval import create_embedder

METHODS = ("uniform", "adaptive", "adaptive+allocator")


def _config(data: dict, method: str, budget: float, seed: int, out: str, cache: str, allocator: str | None) -> RunConfig:
    schedule = {"method": "adaptive" if method == "adaptive+allocator" else method, "budget": budget, "warmup": 2}
    if allocator:
        schedule["allocator"] = allocator
    return RunConfig.from_dict({"data": data, "schedule": schedule, "seed": seed, "cache_dir": cache,
                                "output_dir": out})


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    for v in np.unique(values):  # ties share their mean rank
        ranks[values == v] = ranks[values == v].mean()
    return ranks


def _auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return None
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
                 / (len(pos) * len(neg)))


def _prediction_quality(allocator: Allocator, embedder, data: dict, uniform_dirs: list[Path]) -> dict:
    """How the allocator's p ranks held-out queries by their observed base-prompt pass rate."""
    queries = load_queries(DataConfig.from_dict(data))
    questions = [q.question for q in queries]
    p = allocator.success_probability(query_features(questions, embedder.embed(questions)))
    passes, trials = Counter(), Counter()
    for run_dir in uniform_dirs:
        for row in pq.read_table(run_dir / "samples.parquet", columns=["query_id", "passed", "error"]).to_pylist():
            if row["error"] is None and row["passed"] is not None:
                trials[row["query_id"]] += 1
                passes[row["query_id"]] += int(row["passed"])
    rate = np.array([passes[q.id] / max(1, trials[q.id]) for q in queries])
    spearman = float(np.corrcoef(_ranks(p), _ranks(rate))[0, 1])
    return {"spearman_p_vs_pass_rate": round(spearman, 4), "auc_solved_at_all": _round(_auc(p, rate > 0)),
            "mean_predicted_p": round(float(p.mean()), 4), "mean_observed_pass_rate": round(float(rate.mean()), 4)}


def _warmup_spread(run_dir: Path) -> dict:
    """How many queries got 0, 1, 2, ... warm-up samples."""
    rows = pq.read_table(run_dir / "samples.parquet", columns=["query_id", "phase"]).to_pylist()
    per_query = Counter(r["query_id"] for r in rows if r["phase"] == "warmup")
    n = len(pq.read_table(run_dir / "results.parquet", columns=["id"]))
    spread = Counter(per_query.values())
    spread[0] = n - len(per_query)
    return {str(k): spread[k] for k in sorted(spread) if spread[k]}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _mean_sd(values: list[float]) -> dict:
    return {"mean": round(statistics.fmean(values), 4),
            "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0, "n": len(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", required=True, help="Dataset whose first --split queries train the allocator.")
    parser.add_argument("--split", type=int, default=200)
    parser.add_argument("--train-budget", type=float, default=10)
    parser.add_argument("--heldout-limit", type=int, default=None, help="Use only this many held-out queries.")
    parser.add_argument("--transfer", action="append", default=[], help="Datasets the allocator never saw.")
    parser.add_argument("--transfer-limit", type=int, default=200)
    parser.add_argument("--budget", type=float, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cache-dir", default=".cache/responses")
    parser.add_argument("--runs-dir", default="runs/allocation")
    parser.add_argument("--out", default="benchmarks/results/learned-allocation-3seeds.json")
    args = parser.parse_args(argv)

    backend, embedder = create_backend(), create_embedder("sentence-transformers")
    runs = Path(args.runs_dir)
    train_data = {"path": args.train, "limit": args.split}
    train_dirs = []
    for seed in args.seeds:
        out = runs / f"train-uniform-b{args.train_budget:g}-s{seed}"
        run(_config(train_data, "uniform", args.train_budget, seed, str(out), args.cache_dir, None),
            backend=backend, embedder=embedder)
        train_dirs.append(out)
    allocator = learn_from_runs(train_dirs, embedder)
    allocator_dir = str(allocator.save(runs / "allocator"))
    print(f"allocator: {allocator.trained_on['queries']} queries, {allocator.trained_on['samples']} samples, "
          f"pass rate {allocator.trained_on['pass_rate']:.3f}", flush=True)

    heldout = {"path": args.train, "skip": args.split}
    if args.heldout_limit:
        heldout["limit"] = args.heldout_limit
    evaluations = {f"{Path(args.train).stem}-heldout": heldout}
    for path in args.transfer:
        evaluations[f"{Path(path).stem}-transfer"] = {"path": path, "limit": args.transfer_limit}
    report: dict = {"settings": vars(args), "model": backend.model_id, "embedder": embedder.model_id,
                    "allocator": allocator.trained_on, "evaluations": {}}
    for name, data in evaluations.items():
        per_seed = []
        for seed in args.seeds:
            row: dict = {"seed": seed}
            for method in METHODS:
                out = runs / f"{name}-{method}-b{args.budget:g}-s{seed}"
                started = time.time()
                result = run(_config(data, method, args.budget, seed, str(out), args.cache_dir,
                                     allocator_dir if method == "adaptive+allocator" else None),
                             backend=backend, embedder=embedder)
                s = result.summary
                row[method] = {"coverage": result.coverage, "samples_per_query": s["samples"] / s["n_queries"],
                               "generated_now": s["samples_generated"], "wall_s": round(time.time() - started, 1)}
                if method == "adaptive+allocator":
                    row[method]["warmup_samples_per_query"] = _warmup_spread(out)
                print(f"{name} seed={seed} {method}: coverage={result.coverage:.3f} "
                      f"samples/q={row[method]['samples_per_query']:.2f}", flush=True)
            per_seed.append(row)
        uniform_dirs = [runs / f"{name}-uniform-b{args.budget:g}-s{seed}" for seed in args.seeds]
        report["evaluations"][name] = {
            "queries": len(load_queries(DataConfig.from_dict(data))),
            "data": data,
            "seeds": per_seed,
            "mean": {m: {"coverage": _mean_sd([r[m]["coverage"] for r in per_seed]),
                         "samples_per_query": _mean_sd([r[m]["samples_per_query"] for r in per_seed])}
                     for m in METHODS},
            "allocator_vs_plain_per_seed": [round(r["adaptive+allocator"]["coverage"] - r["adaptive"]["coverage"], 4)
                                            for r in per_seed],
            "prediction": _prediction_quality(allocator, embedder, data, uniform_dirs),
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps({name: report["evaluations"][name]["mean"]}, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
