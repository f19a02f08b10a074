"""The threshold rule that decides a label-free query, swept by replay: which (votes, share) lets
label-free elimination match self-consistency on the fewest samples.

    python benchmarks/label_free_rules.py runs/label-free-first50 --dataset ../shared/datasets/addsub.jsonl \
        --dataset ../shared/datasets/svamp.jsonl --limit 50 --uniform-budget 16 --seeds 0 1 2 \
        --budgets 4 5 6 7 8 10 12 --min-votes 2 3 4 --min-shares 0.5 0.6 0.67 0.75 \
        --out benchmarks/results/label-free-rules-first50.json

A query's k-th base-prompt sample is the same in every method (its seed depends only on the run's
seed, the query and k), so each seed's self-consistency run at the largest budget (16 samples a
query) holds every sample label-free elimination could draw, up to a per-query cap of 16
(``--max-per-query 16`` in a real run; ``label_free_order.replay`` with the tool's order,
least settled first). Self-consistency at k samples is the majority of a query's first k. For each
rule and budget: accuracy (majority answers against the references), samples a query, accuracy
minus self-consistency at the same budget, and the share of the samples self-consistency's mean
curve needs for the same accuracy (the issue's "matches it with <= 60% of its samples"; None when
self-consistency never reaches it within 16). The grid is chosen on these queries, so a rule that
wins here is a candidate to confirm elsewhere, not a measured default.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from adaptive_batch.config import DataConfig
from adaptive_batch.dataset import load_queries
from adaptive_batch.verifiers.consistency import ConsistencyVerifier
from adaptive_batch.verifiers.reference import ReferenceVerifier
from label_free_allocation import votes_by_query  # sibling scripts (their folder is on sys.path)
from label_free_order import replay, scored
from label_free_table import interval

ORDER = "least-settled"  # the tool's order among equally sampled open queries


def sc_curve(votes: dict[str, list], queries: dict, judge: ReferenceVerifier, largest: int) -> list[float]:
    """Self-consistency's accuracy at k = 1..largest samples a query."""
    return [scored({q: a[:k] for q, a in votes.items()}, queries, judge)["accuracy"] for k in range(1, largest + 1)]


def samples_for(curve: list[float], accuracy: float) -> float | None:
    """The fewest samples (linear between k's) at which the curve first reaches ``accuracy``."""
    if curve[0] >= accuracy:
        return 1.0
    for k, (a0, a1) in enumerate(zip(curve, curve[1:]), start=1):
        if a1 >= accuracy > a0:
            return k + (accuracy - a0) / (a1 - a0)
    return None


def sweep(votes_by_seed: dict[int, dict], queries: dict, judge, args) -> dict:
    """Per rule and budget: each seed's replay, and their means against self-consistency's mean curve."""
    curves = {s: sc_curve(v, queries, judge, int(args.uniform_budget)) for s, v in votes_by_seed.items()}
    mean_curve = [statistics.fmean(c[k] for c in curves.values()) for k in range(int(args.uniform_budget))]
    cells = []
    for min_votes in args.min_votes:
        for min_share in args.min_shares:
            rule = ConsistencyVerifier(min_votes=min_votes, min_share=min_share)
            for budget in args.budgets:
                seeds = {}
                for seed, votes in votes_by_seed.items():
                    drawn = replay(votes, budget, args.warmup, seed, ORDER, rule, cap=args.uniform_budget)
                    seeds[seed] = None if drawn is None else scored(drawn, queries, judge, rule)
                if None in seeds.values():
                    continue
                accuracy = statistics.fmean(x["accuracy"] for x in seeds.values())
                samples = statistics.fmean(x["samples_per_query"] for x in seeds.values())
                needed = samples_for(mean_curve, accuracy)
                sc_same = [curves[s][min(int(budget), len(curves[s])) - 1] for s in seeds]
                cells.append({
                    "min_votes": min_votes, "min_share": min_share, "budget": budget,
                    "accuracy": interval([x["accuracy"] for x in seeds.values()]),
                    "decided": round(statistics.fmean(x["decided"] for x in seeds.values()), 4),
                    "samples_per_query": round(samples, 3),
                    "minus_self_consistency_at_budget": interval(
                        [x["accuracy"] - c for x, c in zip(seeds.values(), sc_same)]),
                    "self_consistency_samples_for_equal_accuracy": None if needed is None else round(needed, 2),
                    "share_of_self_consistency_samples": None if needed is None else round(samples / needed, 3)})
    return {"self_consistency_mean_curve": [round(a, 4) for a in mean_curve], "cells": cells}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs_dir", help="label_free_allocation.py's --runs-dir")
    parser.add_argument("--dataset", action="append", required=True)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--uniform-budget", type=float, default=16, help="the self-consistency run's budget")
    parser.add_argument("--budgets", type=float, nargs="+", default=[4, 5, 6, 7, 8, 10, 12])
    parser.add_argument("--min-votes", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--min-shares", type=float, nargs="+", default=[0.5, 0.6, 0.67, 0.75])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--extractor", default="expression")
    parser.add_argument("--out", default="benchmarks/results/label-free-rules-first50.json")
    args = parser.parse_args(argv)

    judge, runs = ReferenceVerifier(args.extractor), Path(args.runs_dir)
    report: dict = {"settings": vars(args), "produced_by": "replayed from each seed's self-consistency run "
                    "(samples.parquet) with label_free_order.replay, judged against the references", "datasets": {}}
    for dataset in args.dataset:
        name = Path(dataset).stem
        queries = {q.id: q for q in load_queries(DataConfig(path=dataset, limit=args.limit), require_answers=True)}
        votes = {s: votes_by_query(str(runs / f"{name}-self-consistency-b{args.uniform_budget:g}-s{s}"))
                 for s in args.seeds}
        report["datasets"][name] = result = sweep(votes, queries, judge, args)
        print(f"{name}: self-consistency " + " ".join(f"{a:.3f}" for a in result["self_consistency_mean_curve"]))
        for cell in sorted(result["cells"], key=lambda c: c["share_of_self_consistency_samples"] or 9)[:8]:
            print(f"  votes>={cell['min_votes']} share>={cell['min_share']:g} B{cell['budget']:g}: accuracy "
                  f"{cell['accuracy']['mean']:.3f} on {cell['samples_per_query']:.2f} samples "
                  f"(SC share {cell['share_of_self_consistency_samples']}, minus SC at B "
                  f"{cell['minus_self_consistency_at_budget']['mean']:+.3f})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
