"""Model escalation: where the escalated compute goes, against the same run without escalation.

    python benchmarks/escalation.py --dataset ../shared/datasets/svamp.jsonl --limit 200 \
        --after 4 --temperature 0.3

The "stronger" engine here is the default model with another sampling temperature
(``--escalate-temperature``); its cost weight is therefore 1. Escalation between two real models
(Gemma 3 270M and SmolLM2-135M-Instruct, each with its own prompt style, at equal FLOPs) is
``benchmarks/escalation_models.py``.

Both runs are the adaptive two-phase processor at the same budget and seed. Reported per engine:
samples, prompt and generated tokens, passing samples, pass rate per sample, queries resolved,
cost in main-backend samples; and for the escalated engine how its samples spread over queries
and rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from adaptive_batch import RunConfig, run
from adaptive_batch.backends import create_backend
from retrieval import create_embedder


def _engine_breakdown(run_dir: Path, cost_weight: float) -> dict:
    samples = pq.read_table(run_dir / "samples.parquet").to_pylist()
    results = {r["id"]: r for r in pq.read_table(run_dir / "results.parquet").to_pylist()}
    first_pass: dict[str, dict] = {}
    for s in sorted(samples, key=lambda s: (s["query_id"], s["sample_index"])):
        if s["passed"] and s["query_id"] not in first_pass:
            first_pass[s["query_id"]] = s
    engines: dict[str, dict] = defaultdict(lambda: {"samples": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                                    "passing_samples": 0, "queries": set(), "rounds": Counter()})
    for s in samples:
        e = engines[s.get("engine") or "main"]
        e["samples"] += 1
        e["prompt_tokens"] += s["prompt_tokens"]
        e["completion_tokens"] += s["completion_tokens"]
        e["passing_samples"] += int(bool(s["passed"]))
        e["queries"].add(s["query_id"])
        e["rounds"][s["round"]] += 1
    out = {}
    for name, e in sorted(engines.items()):
        resolved = sum(1 for q, s in first_pass.items() if (s.get("engine") or "main") == name and results[q]["resolved"])
        per_query = Counter(s["query_id"] for s in samples if (s.get("engine") or "main") == name)
        out[name] = {
            "samples": e["samples"], "prompt_tokens": e["prompt_tokens"], "completion_tokens": e["completion_tokens"],
            "cost_samples": e["samples"] * (cost_weight if name == "escalated" else 1.0),
            "passing_samples": e["passing_samples"], "pass_rate": round(e["passing_samples"] / max(1, e["samples"]), 4),
            "queries_sampled": len(e["queries"]), "queries_resolved": resolved,
            "samples_per_query_histogram": {str(k): v for k, v in sorted(Counter(per_query.values()).items())},
            "samples_by_round": {str(k): v for k, v in sorted(e["rounds"].items())},
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--budget", type=float, default=6)
    parser.add_argument("--after", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=0.3)
    parser.add_argument("--model", default=None, help="A second GGUF for the escalated engine.")
    parser.add_argument("--cost-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=".cache/responses")
    parser.add_argument("--runs-dir", default="runs/escalation")
    parser.add_argument("--out", default="benchmarks/results/escalation-first200-seed0.json")
    args = parser.parse_args(argv)

    backend, embedder = create_backend(), create_embedder("sentence-transformers")
    escalation = {"after": args.after, "cost_weight": args.cost_weight, "temperature": args.temperature}
    if args.model:
        escalation["model"] = args.model
    variants = {"plain": None, "escalated": escalation}
    report: dict = {"settings": vars(args), "model": backend.model_id, "runs": {}}
    for name, esc in variants.items():
        raw = {"data": {"path": args.dataset, "limit": args.limit},
               "schedule": {"budget": args.budget, "warmup": 2}, "seed": args.seed, "cache_dir": args.cache_dir,
               "output_dir": f"{args.runs_dir}/{name}-b{args.budget:g}-s{args.seed}"}
        if esc:
            raw["escalation"] = esc
        started = time.time()
        result = run(RunConfig.from_dict(raw), backend=backend, embedder=embedder)
        s = result.summary
        report["runs"][name] = {
            "coverage": result.coverage, "samples_per_query": s["samples"] / s["n_queries"],
            "cost_samples": s.get("cost_samples", s["samples"]), "escalation_model": s.get("escalation_model"),
            "engines": _engine_breakdown(Path(result.run_dir), args.cost_weight),
            "wall_s": round(time.time() - started, 1),
        }
        print(name, json.dumps({k: v for k, v in report["runs"][name].items() if k != "engines"}), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["runs"]["escalated"]["engines"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
