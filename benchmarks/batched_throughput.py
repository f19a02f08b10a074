"""Samples per second on llama.cpp: one call per sample against batched decoding.

    python benchmarks/batched_throughput.py --dataset ../shared/datasets/svamp.jsonl --queries 64

Two workloads of the same number of samples: a warm-up round (one base-prompt sample for each of
N queries) and ``--samples-per-prompt`` samples of each of N/n prompts. The same requests (prompts and
seeds) go to the ``llamacpp`` backend (one ``create_completion`` per sample, aligned-chunk KV
reuse of the shared prefix) and to ``llamacpp-batched`` at several ``parallel`` settings (one
``llama_decode`` per step for the whole wave, the common prefix evaluated once). Both load the
default model with all cores; each measurement runs after one untimed warm-up call.

Where the time goes: each backend also runs the same requests with ``max_tokens=1``, which is
the prompt work alone (evaluating each question after the shared prefix, and one sampled token).
Batching helps the decoding steps most; the prompt work is a matrix product on either side and
gains little, so ``seq_total / batched_prompt_only`` bounds what batching can reach on these prompts.
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
    parser.add_argument("--parallel", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--samples-per-prompt", type=int, default=4)
    parser.add_argument("--out", default="benchmarks/results/batched-throughput.json")
    args = parser.parse_args(argv)
    lines = Path(args.dataset).read_text(encoding="utf-8").splitlines()[: args.queries]
    builder = PromptBuilder(PromptConfig())
    prompts = [builder.build(json.loads(line)["question"]) for line in lines]
    stop = ("\n\n", "\nQuestion:")
    full, one_token = SamplingParams(0.8, 0.95, 40, 48, stop), SamplingParams(0.8, 0.95, 40, 1, stop)
    n = args.samples_per_prompt
    # The same number of samples two ways: one from each of the prompts (a warm-up round), and n
    # from each of the first prompts (the whole prompt's KV cache shared by its n samples).
    workloads = {"one sample of each prompt": (prompts, 1),
                 f"{n} samples of each prompt": (prompts[: len(prompts) // n], n)}

    def requests(chosen, per_prompt, params):
        return [GenerationRequest(p, params, seed=1000 + i, n=per_prompt) for i, p in enumerate(chosen)]

    def timed(backend, batch) -> tuple[float, list]:
        started = time.perf_counter()
        out = backend.generate(batch)
        return time.perf_counter() - started, out

    def measure(backend) -> dict:
        backend.generate(requests(prompts[:2], 1, full))  # untimed: first-call allocations
        out = {}
        for workload, (chosen, per_prompt) in workloads.items():
            wall, completions = timed(backend, requests(chosen, per_prompt, full))
            prompt_wall, _ = timed(backend, requests(chosen, per_prompt, one_token))
            samples = sum(len(c) for c in completions)
            tokens = sum(c.completion_tokens for o in completions for c in o)
            out[workload] = {"wall_s": round(wall, 2), "samples": samples, "samples_per_s": round(samples / wall, 3),
                             "generated_tokens": tokens, "generated_tokens_per_s": round(tokens / wall, 1),
                             "prompt_only_wall_s": round(prompt_wall, 2), "prompt_share": round(prompt_wall / wall, 3)}
        return out

    rows = {"llamacpp": measure(create_backend(name="llamacpp"))}
    print("llamacpp", json.dumps(rows["llamacpp"]), flush=True)
    for parallel in args.parallel:
        name = f"llamacpp-batched(parallel={parallel})"
        rows[name] = measure(create_backend(name="llamacpp-batched", options=(("parallel", parallel),)))
        for workload, row in rows[name].items():
            base = rows["llamacpp"][workload]
            row["speedup"] = round(row["samples_per_s"] / base["samples_per_s"], 2)
            # Even with free decoding steps, a batched round costs at least its prompt work.
            row["speedup_bound_from_prompt_work"] = round(base["wall_s"] / row["prompt_only_wall_s"], 2)
        print(name, json.dumps(rows[name]), flush=True)
    report = {"settings": vars(args), "cores": os.cpu_count(), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
