"""Which open queries get the last round's samples in label-free elimination, replayed from votes.

    python benchmarks/label_free_order.py runs/label-free-allocation --dataset ../shared/datasets/addsub.jsonl \
        --dataset ../shared/datasets/svamp.jsonl --limit 200 --budgets 3 3.5 4 4.5 5 --seeds 1 2

Label-free elimination gives every open query one base-prompt sample a round; only when the budget
left is less than a round does an order choose who gets one. ``fewest``: fewest samples first,
then a seeded rank (the tool's order until this benchmark). The two others break the ties between
equally sampled queries before the rank: ``closest`` (the top answer's votes, most first, then its
share: the queries nearest to deciding) and ``least-settled`` (the top answer's share, least first:
the queries whose majority is the least settled; the tool's order since).

A sample's seed depends only on (seed, query id, sample index), so a query's k-th base-prompt
sample is the uniform run's k-th (``label_free_allocation.py`` leaves one per seed, at its largest
budget). The replay runs the threshold rule (3 votes, share 0.5) over those votes, judges the
majority answers against the references, and checks the replay against the tool's elimination run
at the same budget: ``tool_run_matches`` lists the orders whose replay gives that run's samples a
query exactly. A replay that needs a
sample past the uniform run's is reported as not replayable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from adaptive_batch.config import DataConfig
from adaptive_batch.dataset import load_queries
from adaptive_batch.verifiers.consistency import ConsistencyVerifier
from adaptive_batch.verifiers.reference import ReferenceVerifier
from label_free_allocation import votes_by_query  # a sibling script (its folder is on sys.path)
from phases.state import tie_break_rank

ORDERS = ("fewest", "closest", "least-settled")
THRESHOLD = ConsistencyVerifier(min_votes=3, min_share=0.5)


def ranked(answers: list) -> list[tuple[object, int]]:
    """(answer, votes), most votes first, ties to the answer seen first (the run's rule)."""
    counts = Counter(a for a in answers if a is not None)
    first = {a: i for i, a in reversed(list(enumerate(answers)))}
    return sorted(counts.items(), key=lambda item: (-item[1], first[item[0]]))


def decided(answers: list, rule: ConsistencyVerifier = THRESHOLD) -> bool:
    """The threshold rule (the tool's defaults: 3 votes, a 0.5 share) on these votes."""
    return rule.resolved([n for _, n in ranked(answers)])


def replay(votes: dict[str, list], budget: float, warmup: int, seed: int, order: str,
           rule: ConsistencyVerifier = THRESHOLD, cap: float | None = None) -> dict[str, list] | None:
    """Each query's votes as label-free elimination would draw them (``cap``: its --max-per-query,
    by default 3 x budget); None if a query would need a sample the uniform run does not have."""
    ids = sorted(votes)
    drawn = {q: votes[q][:warmup] for q in ids}
    remaining, cap = round(budget * len(ids)) - warmup * len(ids), 3 * budget if cap is None else cap
    while remaining > 0:
        open_ = [q for q in ids if not decided(drawn[q], rule) and len(drawn[q]) < cap]
        if not open_:
            break
        if len(open_) > remaining:
            open_ = sorted(open_, key=lambda q: _priority(drawn[q], order, seed, q))[:remaining]
        for q in open_:
            if len(drawn[q]) >= len(votes[q]):
                return None
            drawn[q] = votes[q][: len(drawn[q]) + 1]
        remaining -= len(open_)
    return drawn


def _priority(answers: list, order: str, seed: int, query_id: str) -> tuple:
    top = ranked(answers)
    votes, share = (top[0][1], top[0][1] / sum(n for _, n in top)) if top else (0, 0.0)
    rank = tie_break_rank(seed, query_id)
    return {"fewest": (len(answers), rank), "closest": (len(answers), -votes, -share, rank),
            "least-settled": (len(answers), share, rank)}[order]


def scored(drawn: dict[str, list], queries: dict, judge: ReferenceVerifier,
           rule: ConsistencyVerifier = THRESHOLD) -> dict:
    right = [bool(top) and bool(judge.judge(queries[q], top[0][0]).passed)
             for q, top in ((q, ranked(a)) for q, a in drawn.items())]
    n = len(drawn)
    return {"accuracy": sum(right) / n, "decided": sum(decided(a, rule) for a in drawn.values()) / n,
            "samples_per_query": sum(len(a) for a in drawn.values()) / n}


def one_budget(runs: Path, name: str, votes, queries, judge, seed: int, budget: float, warmup: int) -> dict:
    row: dict = {"dataset": name, "seed": seed, "budget": budget}
    for order in ORDERS:
        drawn = replay(votes, budget, warmup, seed, order)
        row[order] = scored(drawn, queries, judge) if drawn is not None else "not replayable"
    tool_run = runs / f"{name}-elimination-b{budget:g}-s{seed}"
    if tool_run.exists():
        actual = votes_by_query(str(tool_run))
        per_query = {q: len(a) for q, a in actual.items()}
        row["tool_run_matches"] = [order for order in ORDERS if (drawn := replay(votes, budget, warmup, seed, order))
                                   and {q: len(a) for q, a in drawn.items()} == per_query]
        row["tool_run"] = scored(actual, queries, judge)
    return row


def mean_over_seeds(rows: list[dict]) -> dict:
    """Per dataset and budget: each order's mean accuracy and decided share, and its accuracy minus
    ``fewest``'s, over the seeds where every order was replayable."""
    out: dict = {}
    for row in rows:
        if all(isinstance(row[o], dict) for o in ORDERS):
            out.setdefault(row["dataset"], {}).setdefault(f"b{row['budget']:g}", []).append(row)
    return {name: {budget: {order: {"accuracy": round(sum(r[order]["accuracy"] for r in cell) / len(cell), 4),
                                     "decided": round(sum(r[order]["decided"] for r in cell) / len(cell), 4),
                                     "minus_fewest": round(sum(r[order]["accuracy"] - r["fewest"]["accuracy"]
                                                               for r in cell) / len(cell), 4),
                                     "seeds": len(cell)}
                            for order in ORDERS}
                   for budget, cell in budgets.items()}
            for name, budgets in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs_dir", help="label_free_allocation.py's --runs-dir")
    parser.add_argument("--dataset", action="append", required=True)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--budgets", type=float, nargs="+", default=[3, 3.5, 4, 4.5, 5])
    parser.add_argument("--uniform-budget", type=float, default=6, help="the uniform run's budget")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--extractor", default="expression")
    parser.add_argument("--out", default="benchmarks/results/label-free-order-first200.json")
    args = parser.parse_args(argv)

    judge, runs = ReferenceVerifier(args.extractor), Path(args.runs_dir)
    report: dict = {"settings": vars(args), "produced_by": "replayed from each seed's uniform run (samples.parquet), "
                    "judged against the references; the tool's order checked against its elimination run", "rows": []}
    for dataset in args.dataset:
        name = Path(dataset).stem
        queries = {q.id: q for q in load_queries(DataConfig(path=dataset, limit=args.limit), require_answers=True)}
        for seed in args.seeds:
            votes = votes_by_query(str(runs / f"{name}-self-consistency-b{args.uniform_budget:g}-s{seed}"))
            for budget in args.budgets:
                report["rows"].append(one_budget(runs, name, votes, queries, judge, seed, budget, args.warmup))
                print(json.dumps(report["rows"][-1]), flush=True)
    report["mean_over_seeds"] = mean_over_seeds(report["rows"])
    print(json.dumps(report["mean_over_seeds"], indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
