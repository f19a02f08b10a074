"""Samples per second of a warm-up round: one llama.cpp call per sample against batched decoding.

    python benchmarks/batched_throughput.py --dataset ../shared/datasets/svamp.jsonl --queries 64

A warm-up round is one base-prompt sample for each of N queries. The same requests (prompts and
seeds) go to the ``llamacpp`` backend (one ``create_completion`` per sample, aligned-chunk KV
reuse of the shared prefix) and to ``llamacpp-batched`` at several ``parallel`` settings (one
``llama_decode`` per step for the whole wave, the common prefix evaluated once). Both load the
default model with all cores; each measurement runs after one untimed warm-up call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from adaptive_batch.backends import create_backend
from adaptive_batch.config import PromptConfig
from adaptive_batch.prompts import PromptBuilder
from adaptive_batch.records import GenerationRequest, SamplingParams


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--parallel", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--out", default="benchmarks/results/batched-throughput.json")
    args = parser.parse_args(argv)
    lines = Path(args.dataset).read_text(encoding="utf-8").splitlines()[: args.queries]
    builder = PromptBuilder(PromptConfig())
    params = SamplingParams(0.8, 0.95, 40, 48, ("\n\n", "\nQuestion:"))
    requests = [GenerationRequest(builder.build(json.loads(line)["question"]), params, seed=1000 + i)
                for i, line in enumerate(lines)]

    def measure(backend) -> dict:
        backend.generate(requests[:2])  # untimed: first-call allocations
        started = time.perf_counter()
        out = backend.generate(requests)
        wall = time.perf_counter() - started
        tokens = sum(c.completion_tokens for o in out for c in o)
        return {"wall_s": round(wall, 2), "samples_per_s": round(len(requests) / wall, 3),
                "generated_tokens": tokens, "generated_tokens_per_s": round(tokens / wall, 1)}

    rows = {"llamacpp": measure(create_backend(name="llamacpp"))}
    print("llamacpp", rows["llamacpp"], flush=True)
    for parallel in args.parallel:
        name = f"llamacpp-batched(parallel={parallel})"
        rows[name] = measure(create_backend(name="llamacpp-batched", options=(("parallel", parallel),)))
        rows[name]["speedup"] = round(rows[name]["samples_per_s"] / rows["llamacpp"]["samples_per_s"], 2)
        print(name, rows[name], flush=True)
    report = {"settings": vars(args), "cores": os.cpu_count(), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
