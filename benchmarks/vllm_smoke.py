"""GPU smoke test of the vLLM backend: run where vLLM and a GPU exist (not on the CPU CI machines).

    python benchmarks/vllm_smoke.py --model Qwen/Qwen2.5-0.5B --data ../shared/datasets/gsm8k_test.jsonl \
        --limit 100 --engine-args '{"gpu_memory_utilization": 0.8, "max_model_len": 4096}'

It runs the two-phase processor end to end and prints the summary's samples/s and coverage.
"""

from __future__ import annotations

import argparse
import json
import time

from adaptive_batch import RunConfig, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--extractor", default="expression")
    parser.add_argument("--engine-args", default="{}")
    args = parser.parse_args()
    config = RunConfig.from_dict({
        "data": {"path": args.data, "limit": args.limit},
        "backend": {"name": "vllm", "model": args.model, "options": {"engine_args": json.loads(args.engine_args)}},
        "verifier": {"extractor": args.extractor},
        "output_dir": "runs/vllm-smoke",
    })
    started = time.time()
    summary = run(config).summary
    elapsed = time.time() - started
    print(json.dumps({"coverage": summary["coverage"], "samples": summary["samples"],
                      "samples_per_s": round(summary["samples"] / elapsed, 2), "time_s": summary["time_s"]}, indent=2))


if __name__ == "__main__":
    main()
