"""Compute and coverage of finished run directories, side by side, on every axis.

    python benchmarks/run_table.py runs/pilot/* --out benchmarks/results/levers-pilot.json

For each run: coverage, and per query samples, output tokens, total tokens, uncached and cached
prompt tokens, FLOPs and cost under the benchmarks' two declared price tables (A and B,
``adaptive_batch.analysis.PRICE_TABLES``), all from the run's own ``summary.json``; and which kinds
of prompt its adaptive samples used. A table is printed; ``--out`` writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from adaptive_batch.analysis import PRICE_TABLES


def row(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    c, n = summary["compute"], summary["n_queries"]
    params = next(iter(c["parameters"].values()))
    out = {
        "run": f"{run_dir.parent.name}/{run_dir.name}", "data": {k: summary["config"]["data"][k] for k in ("path", "skip", "limit")},
        "method": summary["method"], "coverage": summary["coverage"], "queries": n,
        "samples": c["samples"] / n, "output_tokens": c["output_tokens"] / n, "total_tokens": c["total_tokens"] / n,
        "uncached_prompt_tokens": c["uncached_prompt_tokens"] / n, "cached_prompt_tokens": c["cached_prompt_tokens"] / n,
        "prompt_cache_share": c["prompt_cache_share"],
        "flops": 2 * params * (c["uncached_prompt_tokens"] + c["output_tokens"]) / n if params else None,
        **{name: table.dollars(c["prompt_tokens"], c["cached_prompt_tokens"], c["output_tokens"]) / n
           for name, table in PRICE_TABLES.items()},
        "prompt_kinds": summary.get("prompt_kinds"), "config": {k: summary["config"][k] for k in ("prompt", "retrieval")},
        # How llamacpp ordered its requests: serve_order, default prefix; runs written before it existed (their
        # backend options still (key, value) pairs) served them in the order given.
        "serve_order": (summary["config"]["backend"].get("options") or {}).get("serve_order", "prefix")
        if isinstance(summary["config"]["backend"].get("options"), dict) else "given",
        "adaptive_together": summary["config"]["schedule"].get("adaptive_together", 1),
        "prefix_store": (summary.get("backend_stats") or {}).get("prefix_store"),
        "engine_s": c.get("engine_s"),
    }
    return {k: round(v, 8) if isinstance(v, float) else v for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    rows = [row(r) for r in args.runs if (r / "summary.json").exists()]
    print("| run | coverage | samples / q | total tokens / q | uncached prompt / q | cache share | cost A / q ($) | cost B / q ($) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['coverage']:.3f} | {r['samples']:.2f} | {r['total_tokens']:.0f} | "
              f"{r['uncached_prompt_tokens']:.0f} | {r['prompt_cache_share']:.2f} | {r['cost_a']:.6f} | {r['cost_b']:.6f} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"runs": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
