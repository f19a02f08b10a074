"""The same llama.cpp requests called from the main thread and from a worker thread.

    python benchmarks/thread_penalty.py --dataset ../shared/datasets/svamp.jsonl --requests 40

Continuous scheduling used to call every engine from worker threads. On in-process llama.cpp
(an OpenMP build) it was 12 to 18% slower than round mode, all of it inside generation. This
runs the same requests (prompts, seeds) one call each, alternating: on the main thread, from one
worker thread (the main thread waiting on its result), and from a worker with one request queued
(as continuous scheduling's one slot plus one did). Outputs must be identical; only the time differs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from adaptive_batch.backends import create_backend
from adaptive_batch.config import PromptConfig
from adaptive_batch.prompts import PromptBuilder
from adaptive_batch.records import GenerationRequest, SamplingParams


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/thread-penalty.json")
    args = parser.parse_args(argv)
    lines = Path(args.dataset).read_text(encoding="utf-8").splitlines()[: args.requests]
    builder = PromptBuilder(PromptConfig())
    params = SamplingParams(0.8, 0.95, 40, 48, ("\n\n", "\nQuestion:"))
    requests = [GenerationRequest(builder.build(json.loads(line)["question"]), params, seed=100 + i)
                for i, line in enumerate(lines)]
    backend = create_backend(name="llamacpp")
    backend.generate(requests[:2])  # untimed: first-call allocations

    def main_thread():
        return [backend.generate([r])[0][0] for r in requests]

    def worker_thread():
        with ThreadPoolExecutor(1) as pool:
            return [pool.submit(backend.generate, [r]).result()[0][0] for r in requests]

    def worker_one_queued():
        out, pending = {}, {}
        upcoming = iter(enumerate(requests))
        with ThreadPoolExecutor(1) as pool:
            for i, r in (next(upcoming), next(upcoming)):
                pending[pool.submit(backend.generate, [r])] = i
            while pending:
                for future in wait(pending, return_when=FIRST_COMPLETED)[0]:
                    out[pending.pop(future)] = future.result()[0][0]
                    following = next(upcoming, None)
                    if following is not None:
                        pending[pool.submit(backend.generate, [following[1]])] = following[0]
        return [out[i] for i in range(len(requests))]

    ways = {"main thread": main_thread, "worker thread": worker_thread, "worker thread, one queued": worker_one_queued}
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    texts: dict[str, list[str]] = {}
    for repeat in range(args.repeats):
        for name, way in ways.items():
            started = time.perf_counter()
            completions = way()
            seconds[name].append(round(time.perf_counter() - started, 2))
            texts.setdefault(name, [c.text for c in completions])
            print(f"pass {repeat} {name}: {seconds[name][-1]} s", flush=True)
    base = seconds["main thread"]
    report = {
        "settings": vars(args), "cores": os.cpu_count(), "model": backend.model_id,
        "identical_outputs": all(t == texts["main thread"] for t in texts.values()),
        "rows": {name: {"seconds": s, "mean_s": round(statistics.fmean(s), 2),
                        "slowdown_vs_main_per_pass": [round(x / b, 3) for x, b in zip(s, base)]}
                 for name, s in seconds.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["rows"], indent=2), "identical outputs:", report["identical_outputs"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
