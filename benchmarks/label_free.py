"""A label-free run end to end: consistency resolution, then accuracy scored after the fact.

    python benchmarks/label_free.py --dataset ../shared/datasets/addsub.jsonl --limit 50

The run never sees the answers (they are stripped from the data it reads); ``score`` then
compares its final (majority) answers with the references. Both stopping rules are run, and
an oracle-verified run of the same budget is given for scale.
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
    parser.add_argument("--budget", type=float, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", default="runs/label-free")
    parser.add_argument("--out", default="benchmarks/results/label-free-first50-seed0.json")
    args = parser.parse_args(argv)

    lines = Path(args.dataset).read_text(encoding="utf-8").splitlines()[: args.limit]
    unlabeled = Path(args.runs_dir) / f"unlabeled-first{args.limit}.jsonl"  # a fixed path: reruns resume
    unlabeled.parent.mkdir(parents=True, exist_ok=True)
    unlabeled.write_text("".join(
        json.dumps({"id": r["id"], "question": r["question"]}) + "\n" for r in map(json.loads, lines)
    ))
    backend, embedder = create_backend(), create_embedder("sentence-transformers")
    variants = {
        "consistency-threshold": ({"name": "consistency", "options": {"min_votes": 3, "min_share": 0.5}}, unlabeled),
        "consistency-beta": ({"name": "consistency", "options": {"stopping": "beta", "confidence": 0.95}}, unlabeled),
        "oracle-reference": ({"name": "reference"}, Path(args.dataset)),
    }
    report: dict = {"settings": vars(args), "model": backend.model_id, "runs": {}}
    for name, (verifier, data) in variants.items():
        config = RunConfig.from_dict({
            "data": {"path": str(data), "limit": args.limit},
            "schedule": {"budget": args.budget, "warmup": 2},
            "verifier": verifier,
            "seed": args.seed,
            "output_dir": f"{args.runs_dir}/{name}-s{args.seed}",
        })
        started = time.time()
        result = run(config, backend=backend, embedder=embedder)
        score = score_run(result.run_dir, DataConfig(path=args.dataset, limit=args.limit))
        report["runs"][name] = {
            "coverage": result.coverage,
            "coverage_kind": result.summary["coverage_kind"],
            "accuracy": score["accuracy"],
            "accuracy_of_resolved": score["accuracy_of_resolved"],
            "accuracy_of_unresolved": score["accuracy_of_unresolved"],
            "samples_per_query": result.summary["samples"] / result.summary["n_queries"],
            "status": result.summary["status"],
            "wall_s": round(time.time() - started, 1),
        }
        print(name, json.dumps(report["runs"][name]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
