"""Calibrated stopping (arXiv 2506.09338) in a label-free run, against the fixed-cap consistency run.

    python benchmarks/calibrated_stopping.py --dataset ../shared/datasets/addsub.jsonl --limit 50 --cap 16

The runs never see the answers (they are stripped from the data they read); ``score`` compares
their final (majority) answers with the references afterwards. Every run uses the consistency
verifier with the Beta stopping rule at 0.95 and a per-query cap of ``--cap`` samples, with a
budget of cap x queries so that the budget never binds: what differs is only when a query stops.

- fixed cap: a query is sampled until the Beta rule is confident or it has ``--cap`` samples.
- calibrated: each query's cap is N = ceil(log(1 - C) / log(1 - p)), p the one-sided Wilson lower
  bound on its top answer's share, recomputed every round (``--stop-confidence C``).

Reported: samples spent, samples saved against the fixed cap, accuracy and accuracy lost.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from adaptive_batch import RunConfig, run
from adaptive_batch.backends import create_backend
from adaptive_batch.config import DataConfig
from adaptive_batch.scoring import score_run
from retrieval import create_embedder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--cap", type=int, default=16)
    parser.add_argument("--confidences", type=float, nargs="+", default=[0.95, 0.9, 0.8])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=".cache/responses")
    parser.add_argument("--runs-dir", default="runs/calibrated")
    parser.add_argument("--out", default="benchmarks/results/calibrated-stopping-first50-seed0.json")
    args = parser.parse_args(argv)

    lines = [line for line in Path(args.dataset).read_text(encoding="utf-8").splitlines() if line.strip()]
    unlabeled = Path(args.runs_dir) / f"unlabeled-first{args.limit}.jsonl"
    unlabeled.parent.mkdir(parents=True, exist_ok=True)
    unlabeled.write_text("".join(json.dumps({"id": r["id"], "question": r["question"]}) + "\n"
                                 for r in map(json.loads, lines[: args.limit])))
    backend, embedder = create_backend(), create_embedder("sentence-transformers")
    variants: dict[str, float | None] = {"fixed-cap": None}
    variants.update({f"calibrated-C{c:g}": c for c in args.confidences})
    report: dict = {"settings": vars(args), "model": backend.model_id, "runs": {}}
    for name, confidence in variants.items():
        schedule = {"budget": args.cap, "warmup": 2, "max_per_query": args.cap}
        if confidence is not None:
            schedule["stop_confidence"] = confidence
        config = RunConfig.from_dict({
            "data": {"path": str(unlabeled), "limit": args.limit},
            "schedule": schedule,
            "verifier": {"name": "consistency", "options": {"stopping": "beta", "confidence": 0.95, "max_votes": args.cap}},
            "seed": args.seed, "cache_dir": args.cache_dir,
            "output_dir": f"{args.runs_dir}/{name}-cap{args.cap}-s{args.seed}",
        })
        started = time.time()
        result = run(config, backend=backend, embedder=embedder)
        score = score_run(result.run_dir, DataConfig(path=args.dataset, limit=args.limit))
        report["runs"][name] = {
            "stop_confidence": confidence,
            "samples": result.summary["samples"],
            "samples_per_query": result.summary["samples"] / result.summary["n_queries"],
            "accuracy": score["accuracy"],
            "coverage": result.coverage,
            "coverage_kind": result.summary["coverage_kind"],
            "wall_s": round(time.time() - started, 1),
        }
        print(name, json.dumps(report["runs"][name]), flush=True)
    fixed = report["runs"]["fixed-cap"]
    for name, row in report["runs"].items():
        row["samples_saved"] = round(1 - row["samples"] / fixed["samples"], 4)
        row["accuracy_lost"] = round(fixed["accuracy"] - row["accuracy"], 4)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: {m: v[m] for m in ("samples_saved", "accuracy", "accuracy_lost")}
                      for k, v in report["runs"].items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
