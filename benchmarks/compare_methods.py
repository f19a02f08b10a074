"""Uniform, elimination, random demonstrations and adaptive+demonstrations, side by side.

Every method runs through the same ``adaptive_batch.run`` with the same model and embedder,
loaded once. Uniform best-of-N runs at ``--uniform-budget`` (>= budget): because each sample's
seed depends only on (seed, query id, sample index), its first r rounds are exactly uniform at
budget r, which gives the uniform curve against which the other methods are compared at equal
samples, equal generated tokens and equal total (prompt + generated) tokens.

    python benchmarks/compare_methods.py --dataset ../shared/datasets/addsub.jsonl \
        --dataset ../shared/datasets/svamp.jsonl --limit 200 --budget 6 --warmup 2 --seeds 0 1 2

``--rotate-among M`` runs adaptive with rotating demonstrations (``retrieval.rotate_among``); its
results are labelled ``adaptive-rotateM`` so they sit beside plain adaptive in ``compute_curves.py``.

``--methods`` also takes the named variants of ``VARIANTS``: a method with some settings changed
(the levers of prompt economy, the online choice of prompt), each under its own name.

A shared response cache makes the base-prompt samples of elimination and of every warm-up
free after uniform has drawn them (same prompt, same seed). A cache hit carries the measurements
of the run that generated it (its cached prompt tokens among them), which are right for a
base-prompt sample: every method draws its warm-up in the same rounds and order. So each method
with demonstrations gets its own copy of the shared cache, made just before it runs, and none of
its samples is served from another variant's generation in another order (``--share-cache`` turns
this off).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from adaptive_batch import RunConfig, run
from adaptive_batch.backends import create_backend
from adaptive_batch.config import BackendConfig, DataConfig, PriceConfig, PromptConfig, RetrievalConfig, ScheduleConfig
from adaptive_batch.report import coverage_curve, load_run
from retrieval import create_embedder

METHODS = ("uniform", "elimination", "random-demos", "adaptive")
# Variants: (method, {config section: {field: value}}), each measured under its name.
VARIANTS = {
    "adaptive-auto": ("adaptive", {"prompt": {"demo_mode": "auto"}}),
    "adaptive-replace": ("adaptive", {"prompt": {"demo_mode": "replace"}}),
    "adaptive-ex1": ("adaptive", {"prompt": {"adaptive_examples": 1}}),
    "adaptive-online": ("adaptive", {"retrieval": {"prompt_choice": "online"}}),
    "adaptive-online-auto": ("adaptive", {"retrieval": {"prompt_choice": "online"}, "prompt": {"demo_mode": "auto"}}),
    "adaptive-online-ex1": ("adaptive", {"retrieval": {"prompt_choice": "online"}, "prompt": {"adaptive_examples": 1}}),
    "adaptive-retire": ("adaptive", {"retrieval": {"retire_after": 4}}),
    "adaptive-together2": ("adaptive", {"schedule": {"adaptive_together": 2}}),
    "adaptive-auto-together2": ("adaptive", {"prompt": {"demo_mode": "auto"}, "schedule": {"adaptive_together": 2}}),
    "adaptive-online-together2": ("adaptive", {"retrieval": {"prompt_choice": "online"},
                                               "schedule": {"adaptive_together": 2}}),
    "adaptive-short": ("adaptive", {"retrieval": {"max_demo_chars": 240}}),
    "adaptive-auto-together3": ("adaptive", {"prompt": {"demo_mode": "auto"}, "schedule": {"adaptive_together": 3}}),
    "adaptive-auto-retire": ("adaptive", {"prompt": {"demo_mode": "auto"}, "retrieval": {"retire_after": 4}}),
    "adaptive-auto-keep": ("adaptive", {"prompt": {"demo_mode": "auto"}, "retrieval": {"keep_demonstrations": True}}),
    "adaptive-auto-short": ("adaptive", {"prompt": {"demo_mode": "auto"}, "retrieval": {"max_demo_chars": 240}}),
    "adaptive-auto-resolved": ("adaptive", {"prompt": {"demo_mode": "auto"}, "retrieval": {"demo_order": "resolved"}}),
    "adaptive-auto-retire-resolved": ("adaptive", {"prompt": {"demo_mode": "auto"},
                                                   "retrieval": {"retire_after": 4, "demo_order": "resolved"}}),
    # The default, and it with every third (fifth) adaptive sample of a query on the base prompt.
    "adaptive-auto-retire-resolved-base3": ("adaptive", {"prompt": {"demo_mode": "auto"},
                                                         "retrieval": {"retire_after": 4, "demo_order": "resolved",
                                                                       "base_every": 3}}),
    "adaptive-auto-retire-resolved-base5": ("adaptive", {"prompt": {"demo_mode": "auto"},
                                                         "retrieval": {"retire_after": 4, "demo_order": "resolved",
                                                                       "base_every": 5}}),
    # The same with the gap between base turns shrinking by one after each, down to 2 (--base-ramp).
    "adaptive-auto-retire-resolved-base5-ramp": ("adaptive", {"prompt": {"demo_mode": "auto"},
                                                              "retrieval": {"retire_after": 4, "demo_order": "resolved",
                                                                            "base_every": 5, "base_ramp": True}}),
    # The default with two demonstrations a prompt instead of three (shorter adaptive prompts).
    "adaptive-auto-retire-resolved-base5-k2": ("adaptive", {"prompt": {"demo_mode": "auto"},
                                                            "retrieval": {"retire_after": 4, "demo_order": "resolved",
                                                                          "base_every": 5, "k": 2}}),
    # The default with four demonstrations a prompt instead of three (longer adaptive prompts).
    "adaptive-auto-retire-resolved-base5-k4": ("adaptive", {"prompt": {"demo_mode": "auto"},
                                                            "retrieval": {"retire_after": 4, "demo_order": "resolved",
                                                                          "base_every": 5, "k": 4}}),
    # The default with three base-prompt warm-up samples a query instead of two (a larger pool first).
    "adaptive-auto-retire-resolved-base5-warmup3": ("adaptive", {"prompt": {"demo_mode": "auto"},
                                                                 "retrieval": {"retire_after": 4, "demo_order": "resolved",
                                                                               "base_every": 5},
                                                                 "schedule": {"warmup": 3}}),
    # One block of demonstrations for each of 16 groups of queries (by meaning), shared as a cached prefix.
    "adaptive-auto-retire-groups16": ("adaptive", {"prompt": {"demo_mode": "auto"},
                                                   "retrieval": {"retire_after": 4, "demo_groups": 16}}),
    "adaptive-auto-retire-groups4": ("adaptive", {"prompt": {"demo_mode": "auto"},
                                                  "retrieval": {"retire_after": 4, "demo_groups": 4}}),
    # The online choice spending a budget in cost under price table A (--cost-budget dollars a query),
    # each kind of prompt priced by its own measured cache share.
    "adaptive-online-cost": ("adaptive", {"prompt": {"demo_mode": "auto"}, "retrieval": {"prompt_choice": "online"},
                                          "schedule": {"budget_unit": "cost"},
                                          "prices": {"input": 2.0, "cached_input": 0.5, "output": 8.0}}),
}


def trajectory(run_dir: Path) -> dict[str, list[float]]:
    """Coverage after each round against cumulative samples, generated, total, prompt and cached
    prompt tokens (from 0)."""
    curve = coverage_curve(load_run(run_dir))
    return {axis: [0.0] + curve[axis] for axis in ("samples", "generated_tokens", "total_tokens", "prompt_tokens",
                                                   "cached_tokens", "coverage")}


def coverage_at(curve: dict[str, list[float]], axis: str, x: float) -> float | None:
    """Uniform's coverage at compute x, interpolated between rounds; None beyond its range."""
    xs, ys = curve[axis], curve["coverage"]
    if x > xs[-1] + 1e-9:
        return None
    return float(np.interp(x, xs, ys))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", required=True)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--skip", type=int, default=0, help="leave out the first N queries (e.g. a pilot slice)")
    parser.add_argument("--budget", type=float, default=6)
    parser.add_argument("--uniform-budget", type=float, default=10)
    parser.add_argument("--cost-budget", type=float, default=None,
                        help="dollars a query for the methods whose budget is in cost (e.g. adaptive-online-cost); "
                             "elimination's spend at --budget is the fair choice")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=[*METHODS, *VARIANTS])
    parser.add_argument("--demo-mode", default="add")
    parser.add_argument("--min-similarity", type=float, default=None)
    parser.add_argument("--rotate-among", type=int, default=0,
                        help="adaptive rotates its demonstrations among this many nearest (0: off)")
    parser.add_argument("--extractor", default="expression")
    parser.add_argument("--serve-order", choices=["prefix", "given"], default="prefix",
                        help="the order llamacpp serves a round's requests in (its serve_order option)")
    parser.add_argument("--prefix-store-mb", type=int, default=None,
                        help="llamacpp's prefix_store_mb (saved prompt prefixes; default: the backend's)")
    parser.add_argument("--cache-dir", default=".cache/responses")
    parser.add_argument("--share-cache", action="store_true",
                        help="one cache for every method (faster; cached-token counts of demonstration samples then "
                             "come from whichever variant generated them first)")
    parser.add_argument("--runs-dir", default="runs/benchmark")
    parser.add_argument("--out", default="benchmarks/results/compare_methods.json")
    args = parser.parse_args(argv)

    # Recorded in each run's config where it is not the default (so earlier run directories still resume).
    options = {"serve_order": args.serve_order} if args.serve_order != "prefix" else {}
    if args.prefix_store_mb is not None:
        options["prefix_store_mb"] = args.prefix_store_mb
    engine = BackendConfig(options=options)
    backend = create_backend(engine)
    embedder = create_embedder("sentence-transformers")
    # Without retirement, in similarity order and without base-prompt turns (the defaults before each was
    # measured): every variant's name says what it changes from this, so "adaptive-auto" means what it meant
    # in the committed results, "-retire" adds retirement, "-resolved" the order and "-base5" the turns.
    similarity = {} if args.min_similarity is None else {"min_similarity": args.min_similarity}
    retrieval = RetrievalConfig(retire_after=0, demo_order="similarity", base_every=0, **similarity)
    labels = {m: label(m, args.rotate_among) for m in args.methods}
    report: dict = {"settings": vars(args), "model": backend.model_id, "parameters": backend.parameter_count(),
                    "embedder": embedder.model_id, "datasets": {}}
    for dataset in args.dataset:
        name = Path(dataset).stem
        per_seed = []
        for seed in args.seeds:
            row: dict = {"seed": seed}
            for method in args.methods:
                base_method, changes = VARIANTS.get(method, (method, {}))
                budget = args.uniform_budget if method == "uniform" else args.budget
                if changes.get("schedule", {}).get("budget_unit") == "cost":
                    if args.cost_budget is None:
                        parser.error(f"{method} spends a budget in cost: give --cost-budget (dollars a query)")
                    budget = args.cost_budget
                name_of_run = labels[method]
                config = RunConfig(
                    data=DataConfig(path=dataset, limit=args.limit, skip=args.skip),
                    backend=engine,
                    schedule=ScheduleConfig(**{"method": base_method, "budget": budget, "warmup": args.warmup,
                                               **changes.get("schedule", {})}),
                    # Only the method it changes gets the rotation: the others' runs stay resumable.
                    retrieval=replace(retrieval, rotate_among=args.rotate_among) if name_of_run != method else retrieval,
                    prompt=PromptConfig(demo_mode=args.demo_mode),
                    prices=PriceConfig(**changes.get("prices", {})),
                    seed=seed,
                    cache_dir=cache_for(args, base_method),
                    output_dir=f"{args.runs_dir}/{name}{f'-skip{args.skip}' if args.skip else ''}-{name_of_run}-"
                               f"b{budget:g}-{args.demo_mode}-s{seed}",
                )
                config = replace(config, verifier=replace(config.verifier, extractor=args.extractor),
                                 **{section: replace(getattr(config, section), **fields)
                                    for section, fields in changes.items() if section not in ("schedule", "prices")})
                started = time.time()
                # A fresh engine per run, as a separate `adaptive-batch run` would have: one kept across runs
                # carries its saved prompt prefixes over, and a later run's cached-token counts would not be its own.
                result = run(config, backend=create_backend(engine), embedder=embedder)
                curve = trajectory(result.run_dir)
                row[name_of_run] = {
                    "coverage": result.coverage,
                    "samples_per_query": result.summary["samples"] / result.summary["n_queries"],
                    "generated_tokens_per_query": curve["generated_tokens"][-1],
                    "total_tokens_per_query": curve["total_tokens"][-1],
                    "curve": curve,
                    "wall_s": round(time.time() - started, 1),
                    "generated_now": result.summary["samples_generated"],
                    "prompt_kinds": result.summary["prompt_kinds"],
                }
                print(f"{name} seed={seed} {name_of_run}: coverage={result.coverage:.3f} "
                      f"samples/q={row[name_of_run]['samples_per_query']:.2f} ({row[name_of_run]['wall_s']}s)",
                      flush=True)
            uniform = row.get("uniform", {}).get("curve")
            if uniform:
                row["uniform_at_equal"] = {
                    m: {axis: coverage_at(uniform, axis, row[m][key])
                        for axis, key in (("samples", "samples_per_query"),
                                          ("generated_tokens", "generated_tokens_per_query"),
                                          ("total_tokens", "total_tokens_per_query"))}
                    for m in labels.values() if m != "uniform"
                }
                row["uniform_at_budget"] = coverage_at(uniform, "samples", args.budget)
            per_seed.append(row)
        report["datasets"][name] = {"seeds": per_seed, "mean": _means(per_seed, args)}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps({name: report["datasets"][name]["mean"]}, indent=2), flush=True)
    return 0


def cache_for(args, method: str) -> str:
    """The shared cache for base-prompt methods; for one with demonstrations, a fresh copy of it."""
    if args.share_cache or method in ("uniform", "elimination"):
        return args.cache_dir
    copy = Path(f"{args.cache_dir}-copy")
    shutil.rmtree(copy, ignore_errors=True)
    if Path(args.cache_dir).exists():
        shutil.copytree(args.cache_dir, copy)
    return str(copy)


def label(method: str, rotate_among: int) -> str:
    """The name a method's results go under: rotation changes only the nearest-demonstration method."""
    return f"{method}-rotate{rotate_among}" if rotate_among and method == "adaptive" else method


def _means(rows: list[dict], args) -> dict:
    def mean_sd(values):
        values = [v for v in values if v is not None]
        if not values:
            return None
        return {"mean": round(statistics.fmean(values), 4),
                "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0, "n": len(values)}

    out: dict = {}
    for method in (label(m, args.rotate_among) for m in args.methods):
        if method == "uniform":
            out["uniform@budget"] = mean_sd([r.get("uniform_at_budget") for r in rows])
            continue
        out[method] = {
            "coverage": mean_sd([r[method]["coverage"] for r in rows]),
            "samples_per_query": mean_sd([r[method]["samples_per_query"] for r in rows]),
            "total_tokens_per_query": mean_sd([r[method]["total_tokens_per_query"] for r in rows]),
        }
        if "uniform_at_equal" in rows[0]:
            out[method]["uniform_at_equal"] = {
                axis: mean_sd([r["uniform_at_equal"][method][axis] for r in rows])
                for axis in ("samples", "generated_tokens", "total_tokens")
            }
    return out


if __name__ == "__main__":
    sys.exit(main())
