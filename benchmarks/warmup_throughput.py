"""The warm-up phase of a real run on llama.cpp: one call per sample, batched rounds, batched together.

    python benchmarks/warmup_throughput.py --dataset ../shared/datasets/svamp.jsonl --queries 64

Each setting runs ``adaptive_batch.run`` on the same queries with the warm-up only (elimination,
budget = warm-up, no adaptive rounds) and no response cache, so every sample is generated:

- ``llamacpp``, rounds: the default; one ``create_completion`` per sample, one sample of each
  query per round.
- ``llamacpp-batched``, rounds: waves of ``parallel`` sequences, but a round still holds one
  sample of each of many prompts, so only the shared instruction is evaluated once.
- ``llamacpp-batched``, ``warmup_together``: a query's warm-up samples side by side in one round,
  so they share the whole prompt's KV cache (the question too).

Samples per second of generation time is the engine's measure; a together warm-up also draws the
second sample of queries its first already resolved, so the queries resolved per second are
reported beside it. Settings alternate for ``--repeats`` passes so drift hits all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

from adaptive_batch import RunConfig, run
from adaptive_batch.backends import create_backend
from adaptive_batch.config import DataConfig, ScheduleConfig

SETTINGS = {  # name: (backend, warm-up together)
    "llamacpp, one sample per query per round": ("llamacpp", False),
    "llamacpp-batched, one sample per query per round": ("llamacpp-batched", False),
    "llamacpp-batched, warm-up together": ("llamacpp-batched", True),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--runs-dir", default="runs/warmup-throughput")
    parser.add_argument("--out", default="benchmarks/results/warmup-throughput.json")
    args = parser.parse_args(argv)

    backends = {"llamacpp": create_backend(name="llamacpp"),
                "llamacpp-batched": create_backend(name="llamacpp-batched", options=(("parallel", args.parallel),))}
    rows: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for repeat in range(args.repeats):
        for name, (backend_name, together) in SETTINGS.items():
            out = Path(args.runs_dir) / f"{backend_name}-{'together' if together else 'rounds'}-{repeat}"
            shutil.rmtree(out, ignore_errors=True)
            config = RunConfig(
                data=DataConfig(path=args.dataset, limit=args.queries),
                schedule=ScheduleConfig(method="elimination", budget=args.warmup, warmup=args.warmup,
                                        max_rounds=0, warmup_together=together),
                output_dir=str(out),
            )
            summary = run(config, backend=backends[backend_name]).summary
            generation = summary["time_s"]["generation"]
            row = {"samples": summary["samples"], "resolved": summary["resolved"], "coverage": summary["coverage"],
                   "generation_s": round(generation, 2), "wall_s": summary["wall_time_s"],
                   "samples_per_s": round(summary["samples"] / generation, 3),
                   "resolved_per_s": round(summary["resolved"] / generation, 3),
                   "generated_tokens": summary["completion_tokens"]}
            rows[name].append(row)
            print(f"pass {repeat} {name}: {json.dumps(row)}", flush=True)

    base = rows[next(iter(SETTINGS))]
    report: dict = {"settings": vars(args), "cores": os.cpu_count(), "model": backends["llamacpp"].model_id,
                    "rows": {}}
    for name, runs in rows.items():
        report["rows"][name] = {
            "runs": runs,
            "samples_per_s": round(statistics.fmean(r["samples_per_s"] for r in runs), 3),
            "resolved_per_s": round(statistics.fmean(r["resolved_per_s"] for r in runs), 3),
            # Pass by pass, against the default setting of the same pass.
            "speedup_samples_per_s": [round(r["samples_per_s"] / b["samples_per_s"], 2) for r, b in zip(runs, base)],
            "speedup_resolved_per_s": [round(r["resolved_per_s"] / b["resolved_per_s"], 2)
                                       for r, b in zip(runs, base)],
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({n: {k: v for k, v in r.items() if k != "runs"} for n, r in report["rows"].items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
