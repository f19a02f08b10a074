"""What recording each sampled token's log-probability costs the default llama.cpp engine.

    python benchmarks/logprob_overhead.py --dataset ../shared/datasets/svamp.jsonl --requests 40

The `llamacpp` backend reads every sampled token's log-probability as it is sampled (a
log-softmax over the model's 262k-token vocabulary, for the weighted vote of label-free runs).
This runs the same requests (base prompts, seeds, the tool's sampling) on two engines built
alike, one plain `llama_cpp.Llama` and one recording, alternating request by request, each
evaluating its prompt from scratch. The texts must be identical; the ratio of their times is
the cost, and the time added per generated token what it costs a token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from adaptive_batch.backends.llamacpp import logprob_recording_llama, prepare
from adaptive_batch.config import PromptConfig
from adaptive_batch.prompts import PromptBuilder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/logprob-overhead.json")
    args = parser.parse_args(argv)
    llama_cpp, path = prepare(None, "llamacpp")
    threads = os.cpu_count() or 1
    settings = dict(model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, n_batch=64,
                    n_ubatch=64, verbose=False)  # as the backend builds it
    engines = {"plain": llama_cpp.Llama(**settings), "recording": logprob_recording_llama(llama_cpp)(**settings)}
    builder = PromptBuilder(PromptConfig())
    lines = Path(args.dataset).read_text(encoding="utf-8").splitlines()[: args.requests]
    prompts = [builder.build(json.loads(line)["question"]) for line in lines]
    sampling = dict(max_tokens=48, temperature=0.8, top_p=0.95, top_k=40, min_p=0.0, repeat_penalty=1.0,
                    stop=["\n\n", "\nQuestion:"])
    seconds = {name: 0.0 for name in engines}
    texts: dict[str, list[str]] = {name: [] for name in engines}
    tokens = 0
    for repeat in range(args.repeats + 1):  # the first pass is untimed: first-call allocations
        for i, prompt in enumerate(prompts):
            order = list(engines) if i % 2 == 0 else list(reversed(engines))
            for name in order:
                llm = engines[name]
                llm.reset()
                started = time.perf_counter()
                out = llm.create_completion(prompt=prompt, seed=100 + i, **sampling)
                if repeat:
                    seconds[name] += time.perf_counter() - started
                    texts[name].append(out["choices"][0]["text"])
                    if name == "plain":  # the same tokens on both (the texts are compared below)
                        tokens += out["usage"]["completion_tokens"]
    same = texts["plain"] == texts["recording"]
    report = {
        "settings": {**vars(args), "threads": threads, "model": os.path.basename(path), "sampling": sampling},
        "identical_texts": same,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "generated_tokens": tokens,
        "recording_over_plain": round(seconds["recording"] / seconds["plain"], 4),
        "added_ms_per_generated_token": round(1000 * (seconds["recording"] - seconds["plain"]) / max(1, tokens), 3),
    }
    print(json.dumps(report, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
