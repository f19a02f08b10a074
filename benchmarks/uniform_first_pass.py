"""Uniform best-of-N to a large N for a fraction of its cost: only the samples that decide coverage.

    python benchmarks/uniform_first_pass.py --dataset ../shared/datasets/addsub.jsonl \
        --dataset ../shared/datasets/svamp.jsonl --limit 200 --n 16 --seeds 0 1 2 \
        --merge-into benchmarks/results/compare-first200-3seeds.json \
        --out benchmarks/results/compare-first200-3seeds-uniform16.json

Sample i of a query has the same prompt and seed in uniform best-of-N and in elimination (the
base prompt; the seed depends only on (run seed, query id, i)), so an elimination run capped at N
samples a query and given N per query draws, for every query, exactly uniform's samples 0, 1, ...
up to its first pass, and all N for a query that never passes. Uniform's coverage after x samples
per query is then the share of queries whose first passing sample index is below x: exact, with
no sample after a query's first pass drawn. Prompt tokens are exact too (a query's prompt is the
same for every sample). The generated tokens of samples uniform would have drawn after a query's
first pass are not measured: each is counted at that query's mean over the samples it did draw,
and the share of uniform's generated tokens so estimated is reported.

With ``--merge-into``, the derived uniform curves replace those of a compare_methods.py result
(same datasets, limit and seeds), after checking that both agree where both were measured: the
coverage after each of the committed run's rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from adaptive_batch import RunConfig, run
from adaptive_batch.analysis import uniform_curve
from adaptive_batch.backends import create_backend
from adaptive_batch.config import DataConfig, ScheduleConfig
from adaptive_batch.report import coverage_curve, load_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", required=True)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--n", type=int, default=16, help="uniform best-of-N up to this N")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cache-dir", default=".cache/responses")
    parser.add_argument("--runs-dir", default="runs/benchmark")
    parser.add_argument("--merge-into", help="a compare_methods.py result whose uniform curves to replace")
    parser.add_argument("--out", default="benchmarks/results/uniform-first-pass.json")
    args = parser.parse_args(argv)

    backend = create_backend()
    merged = json.loads(Path(args.merge_into).read_text()) if args.merge_into else None
    report: dict = {"settings": vars(args), "model": backend.model_id, "datasets": {}}
    for dataset in args.dataset:
        name = Path(dataset).stem
        rows = []
        for seed in args.seeds:
            config = RunConfig(
                data=DataConfig(path=dataset, limit=args.limit),
                schedule=ScheduleConfig(method="elimination", budget=args.n, warmup=args.warmup,
                                        max_per_query=args.n),
                seed=seed, cache_dir=args.cache_dir,
                output_dir=f"{args.runs_dir}/{name}-uniform-first-pass-n{args.n}-s{seed}",
            )
            started = time.time()
            result = run(config, backend=backend)
            view = load_run(result.run_dir)
            derived = uniform_curve(view.samples, view.n, args.n)
            derived.update(seed=seed, wall_s=round(time.time() - started, 1),
                           generated_now=result.summary["samples_generated"],
                           elimination_curve=elimination_curve(result.run_dir))
            rows.append(derived)
            print(f"{name} seed={seed}: uniform coverage at N={args.n}: {derived['curve']['coverage'][-1]:.3f}, "
                  f"{derived['samples_drawn']} samples drawn of {args.n * view.n} ({derived['wall_s']}s)", flush=True)
        report["datasets"][name] = {"seeds": rows}
        if merged is not None:
            _merge(merged, name, rows, report["datasets"][name])
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(merged if merged is not None else report, indent=2) + "\n")
    return 0


def elimination_curve(run_dir: Path) -> dict:
    """The capped run's own curve: elimination given N samples a query. Elimination at a budget B
    < N plans the same rounds until its budget binds, so up to B this is elimination at B, and
    past it, elimination with more budget: what "at equal compute" needs where a method spent more
    tokens per sample than elimination did (checked against the elimination run at B below)."""
    curve = coverage_curve(load_run(run_dir))
    keys = ("samples", "generated_tokens", "total_tokens", "prompt_tokens", "cached_tokens", "coverage")
    return {k: [0.0] + curve[k] for k in keys}


def _merge(merged: dict, name: str, rows: list[dict], record: dict) -> None:
    """Put the derived uniform curves into a compare_methods.py result, after checking they agree."""
    seeds = {row["seed"]: row for row in merged["datasets"][name]["seeds"]}
    worst, token_error, points = 0.0, {"generated_tokens": 0.0, "total_tokens": 0.0}, 0
    for derived in rows:
        old = seeds[derived["seed"]].get("uniform") or {"curve": {"samples": []}}  # absent: nothing to check
        for i, x in enumerate(old["curve"]["samples"]):
            if not (float(x).is_integer() and 0 < x <= len(derived["curve"]["coverage"]) - 1):
                continue
            points += 1
            worst = max(worst, abs(derived["curve"]["coverage"][int(x)] - old["curve"]["coverage"][i]))
            # Where the committed run measured every token, how far off the estimate is.
            for axis in token_error:
                measured = old["curve"][axis][i]
                token_error[axis] = max(token_error[axis], abs(derived["curve"][axis][int(x)] - measured) / measured)
        seeds[derived["seed"]]["uniform"] = {
            "coverage": derived["curve"]["coverage"][-1], "samples_per_query": derived["curve"]["samples"][-1],
            "generated_tokens_per_query": derived["curve"]["generated_tokens"][-1],
            "total_tokens_per_query": derived["curve"]["total_tokens"][-1], "curve": derived["curve"],
            "derived_from": "elimination capped at N (benchmarks/uniform_first_pass.py)",
            "estimated_generated_share": derived["estimated_generated_share"],
            "previous_run_samples": old["curve"]["samples"][-1] if old["curve"]["samples"] else 0,
        }
        extended = derived.pop("elimination_curve")
        row = seeds[derived["seed"]]
        row["elimination-extended"] = {
            "curve": extended, "derived_from": "the elimination run capped at N, N samples a query "
            "(benchmarks/uniform_first_pass.py): elimination past its budget"}
        if "elimination" in row:  # where both ran, the extension starts as elimination at B did
            mine = row["elimination"]["curve"]
            x = mine["samples"][-1]
            row["elimination-extended"]["coverage_difference_at_elimination_budget"] = round(
                float(np.interp(x, extended["samples"], extended["coverage"])) - mine["coverage"][-1], 4)
    if not points:
        merged["datasets"][name]["uniform_check"] = {"note": "the result had no uniform run to check against"}
        print(f"{name}: no committed uniform run to check against", flush=True)
    else:
        merged["datasets"][name]["uniform_check"] = _check(worst, token_error, points)
        print(f"{name}: against the committed uniform run: largest coverage difference {worst:.4f}, "
              f"largest relative error of generated tokens {token_error['generated_tokens']:.4f}", flush=True)
    merged.setdefault("uniform_extension", {})[name] = {k: v for k, v in record.items() if k != "seeds"}
    merged["settings"]["uniform_budget"] = float(rows[0]["curve"]["samples"][-1])


def _check(worst: float, token_error: dict, points: int) -> dict:
    return {
        "points_compared": points,
        "max_coverage_difference_where_both_measured": round(worst, 4),
        "max_relative_token_error_where_both_measured": {k: round(v, 4) for k, v in token_error.items()},
        "note": "coverage difference 0: the regenerated samples decide coverage exactly as the committed "
                "uniform run did; token error: the estimated generated tokens against the measured ones",
    }


if __name__ == "__main__":
    sys.exit(main())
