"""Label-free allocation against self-consistency and Adaptive-Consistency, scored afterwards.

    python benchmarks/label_free_allocation.py --dataset ../shared/datasets/addsub.jsonl \
        --dataset ../shared/datasets/svamp.jsonl --limit 200 --budgets 4 6 --seeds 0 1 2

Every run reads the data without its answers (``reference`` is never given to it); ``score``
then judges its final answers against the references. Per budget B and seed, side by side:

- ``self-consistency``: uniform best-of-B, majority vote (Wang et al. 2022);
- ``self-consistency-top``: the same samples, an undecided query submitting its most confident
  sample's answer (``--consistency-vote top-confidence``; the same as the majority on an engine that
  reports no log-probabilities);
- ``adaptive-consistency``: per-query Beta stopping (Aggarwal et al. 2023) at their confidence
  0.95, at most B samples a query, nothing reallocated (elimination capped at B);
  ``adaptive-consistency-c0.8`` the same at this tool's default confidence, 0.8;
- ``elimination``: label-free elimination, base prompts, the budget B x queries with the samples
  saved on decided queries going to open ones (threshold rule);
- ``adaptive``: the same with retrieved demonstrations, every decided query in the pool;
- ``adaptive-floor``: the same, only queries decided with a vote share >= ``--floor`` in the pool.

Every method but ``self-consistency`` uses the tool's default vote for undecided queries
(top-confidence); ``--backend llamacpp-batched`` gives it the log-probabilities it weighs by.

A uniform run at the largest budget fills a shared response cache first: a sample's seed depends
only on (seed, query id, sample index), so every base-prompt method's samples are served from
it where they exist (generated otherwise); the methods with demonstrations get a fresh copy, so
their cached-token counts are their own. Two figures are replayed from that uniform run's logged
votes, and labelled so: self-consistency's accuracy at every k <= the largest budget (majority of
each query's first k samples), and the Beta rule's decided share and accuracy at several
confidences (per-query stopping replayed over the same votes), from which its default is chosen.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from adaptive_batch import RunConfig, run
from adaptive_batch.backends import create_backend
from adaptive_batch.config import DataConfig
from adaptive_batch.dataset import load_queries
from adaptive_batch.scoring import score_run
from adaptive_batch.verifiers.consistency import beta_top_probability
from adaptive_batch.verifiers.reference import ReferenceVerifier
from retrieval import create_embedder

METHODS = ("self-consistency", "self-consistency-top", "adaptive-consistency", "adaptive-consistency-c0.8",
           "elimination", "adaptive", "adaptive-floor")
CONFIDENCES = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def method_config(method: str, budget: float, args) -> dict:
    """The config sections a method changes: schedule, verifier options, retrieval."""
    threshold = {"name": "consistency", "options": {"min_votes": 3, "min_share": 0.5}}
    majority = {"name": "consistency", "options": {"min_votes": 3, "min_share": 0.5, "vote": "majority"}}
    beta = {"name": "consistency", "options": {"stopping": "beta", "confidence": args.beta_confidence}}
    beta_08 = {"name": "consistency", "options": {"stopping": "beta", "confidence": 0.8}}  # this tool's default
    return {
        "self-consistency": {"schedule": {"method": "uniform", "budget": budget}, "verifier": majority},
        "self-consistency-top": {"schedule": {"method": "uniform", "budget": budget}, "verifier": threshold},
        "adaptive-consistency": {"schedule": {"method": "elimination", "budget": budget, "max_per_query": budget},
                                 "verifier": beta},
        "adaptive-consistency-c0.8": {"schedule": {"method": "elimination", "budget": budget, "max_per_query": budget},
                                      "verifier": beta_08},
        "elimination": {"schedule": {"method": "elimination", "budget": budget}, "verifier": threshold},
        "adaptive": {"schedule": {"method": "adaptive", "budget": budget}, "verifier": threshold},
        "adaptive-floor": {"schedule": {"method": "adaptive", "budget": budget}, "verifier": threshold,
                           "retrieval": {"pool_min_share": args.floor}},
    }[method]


def one_run(method: str, budget: float, seed: int, data: Path, reference: str, args, embedder) -> dict:
    sections = method_config(method, budget, args)
    sections["schedule"]["warmup"] = args.warmup
    cache = args.cache_dir
    if method in ("adaptive", "adaptive-floor"):
        cache = f"{args.cache_dir}-copy"  # a fresh copy: cached-token counts of its own serving order
        shutil.rmtree(cache, ignore_errors=True)
        if Path(args.cache_dir).exists():
            shutil.copytree(args.cache_dir, cache)
    config = RunConfig.from_dict({
        "data": {"path": str(data), "limit": args.limit}, **sections, "seed": seed, "cache_dir": cache,
        "backend": {"name": args.backend},
        "output_dir": f"{args.runs_dir}/{Path(reference).stem}-{method}-b{budget:g}-s{seed}",
    })
    started = time.time()
    # A fresh engine per run, as a separate `adaptive-batch run` would have: one kept across runs carries
    # its saved prompt prefixes over, and a later run's cached-token counts would not be its own.
    result = run(config, backend=create_backend(config.backend), embedder=embedder)
    score = score_run(result.run_dir, DataConfig(path=reference, limit=args.limit))
    compute, n = result.summary["compute"], result.summary["n_queries"]
    return {
        "accuracy": score["accuracy"],
        "decided": score["coverage"],
        "accuracy_of_decided": score["accuracy_of_resolved"],
        "samples_per_query": result.summary["samples"] / n,
        "total_tokens_per_query": compute["total_tokens"] / n,
        "uncached_tokens_per_query": (compute["uncached_prompt_tokens"] + compute["output_tokens"]) / n,
        "pool": score["pool"],
        "estimates": score["estimates"],
        "model": result.summary["model"],
        "run_dir": str(result.run_dir),
        "generated_now": result.summary["samples_generated"],
        "wall_s": round(time.time() - started, 1),
    }


def votes_by_query(run_dir: str) -> dict[str, list]:
    rows = pq.read_table(Path(run_dir) / "samples.parquet", columns=["query_id", "sample_index", "answer"]).to_pylist()
    out: dict[str, list] = {}
    for r in sorted(rows, key=lambda r: (r["query_id"], r["sample_index"])):
        out.setdefault(r["query_id"], []).append(r["answer"])
    return out


def majority(answers: list) -> object:
    """The top answer, ties to the one seen first (the run's own rule); None without an answer."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    order = {a: i for i, a in reversed(list(enumerate(answers)))}
    return min(counts, key=lambda a: (-counts[a], order[a]))


def replayed(uniform_dir: str, reference: str, limit: int, budgets, extractor: str) -> dict:
    """Self-consistency at every k, and Beta stopping at several confidences, from logged votes."""
    judge = ReferenceVerifier(extractor)
    queries = {q.id: q for q in load_queries(DataConfig(path=reference, limit=limit), require_answers=True)}
    votes = votes_by_query(uniform_dir)

    def right(qid, answer) -> bool:
        return answer is not None and bool(judge.judge(queries[qid], answer).passed)

    largest = min(len(v) for v in votes.values())
    curve = {k: statistics.fmean(right(q, majority(v[:k])) for q, v in votes.items()) for k in range(1, largest + 1)}
    beta: dict = {}
    for budget in budgets:
        if budget > largest:
            continue
        for confidence in CONFIDENCES:
            spent, decided, decided_right, correct = 0, 0, 0, 0
            for q, v in votes.items():
                k = 0
                while k < budget:
                    k += 1
                    counts = sorted(Counter(a for a in v[:k] if a is not None).values(), reverse=True)
                    if counts and beta_top_probability(counts[0], counts[1] if len(counts) > 1 else 0) >= confidence:
                        decided += 1
                        decided_right += right(q, majority(v[:k]))
                        break
                spent += k
                correct += right(q, majority(v[:k]))
            n = len(votes)
            beta[f"b{budget:g}-c{confidence:g}"] = {
                "budget": budget, "confidence": confidence, "decided": decided / n,
                "accuracy_of_decided": decided_right / decided if decided else None,
                "accuracy": correct / n, "samples_per_query": spent / n}
    return {"produced_by": "replayed from the uniform run's logged votes (its samples.parquet), judged against the "
                           "references", "self_consistency_at_k": curve, "beta_stopping": beta}


def strip_answers(dataset: str, limit: int, runs_dir: str) -> Path:
    """The data as a label-free run sees it: ids and questions only."""
    rows = [json.loads(line) for line in Path(dataset).read_text(encoding="utf-8").splitlines()[:limit]]
    out = Path(runs_dir) / f"{Path(dataset).stem}-unlabeled-first{limit}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps({"id": r["id"], "question": r["question"]}) + "\n" for r in rows))
    return out


def mean_sd(values) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": round(statistics.fmean(values), 4),
            "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0, "n": len(values)}


def summarise(rows: list[dict], budgets, methods) -> dict:
    out: dict = {}
    for budget in budgets:
        key = f"b{budget:g}"
        out[key] = {m: {field: mean_sd([r["runs"][key][m][field] for r in rows if m in r["runs"].get(key, {})])
                        for field in ("accuracy", "decided", "accuracy_of_decided", "samples_per_query",
                                      "total_tokens_per_query", "uncached_tokens_per_query")}
                    for m in methods}
        for m in methods:
            out[key][m]["pool_shown_wrong_share"] = mean_sd(
                [r["runs"][key][m]["pool"]["shown_wrong_share"] for r in rows if m in r["runs"].get(key, {})])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", required=True)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--budgets", type=float, nargs="+", default=[4, 6])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--floor", type=float, default=0.75, help="adaptive-floor's pool_min_share")
    parser.add_argument("--beta-confidence", type=float, default=0.95, help="adaptive-consistency's confidence")
    parser.add_argument("--extractor", default="expression")
    parser.add_argument("--backend", default="llamacpp", help="the engine of every run (llamacpp-batched reports "
                        "the log-probabilities the default vote weighs by)")
    parser.add_argument("--cache-dir", default=".cache/label-free")
    parser.add_argument("--runs-dir", default="runs/label-free-allocation")
    parser.add_argument("--out", default="benchmarks/results/label-free-allocation.json")
    args = parser.parse_args(argv)

    embedder = create_embedder("sentence-transformers")
    report: dict = {"settings": {**vars(args), "engine": "a fresh backend for each run", "own_cached_counts": True},
                    "model": None, "embedder": embedder.model_id, "datasets": {}}  # the model: from the first run
    for dataset in args.dataset:
        name, data = Path(dataset).stem, strip_answers(dataset, args.limit, args.runs_dir)
        rows = []
        for seed in args.seeds:
            largest = max(args.budgets)
            uniform = one_run("self-consistency", largest, seed, data, dataset, args, embedder)
            report["model"] = report["model"] or uniform["model"]
            row: dict = {"seed": seed, "runs": {},
                         "replayed": replayed(uniform["run_dir"], dataset, args.limit, args.budgets, args.extractor)}
            for budget in args.budgets:
                row["runs"][f"b{budget:g}"] = runs = {}
                for method in args.methods:
                    runs[method] = uniform if (method == "self-consistency" and budget == largest) else \
                        one_run(method, budget, seed, data, dataset, args, embedder)
                    r = runs[method]
                    print(f"{name} s{seed} b{budget:g} {method}: accuracy {r['accuracy']:.3f} decided {r['decided']:.2f} "
                          f"samples/q {r['samples_per_query']:.2f} tokens/q {r['total_tokens_per_query']:.0f} "
                          f"({r['wall_s']}s, {r['generated_now']} generated)", flush=True)
            rows.append(row)
            report["datasets"][name] = {"seeds": rows, "mean": summarise(rows, args.budgets, args.methods)}
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
