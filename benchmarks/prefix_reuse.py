"""Prompt tokens llama.cpp evaluates for a run's samples in the order they were generated.

    python benchmarks/prefix_reuse.py runs/engine-idle/llamacpp-rounds runs/engine-idle/llamacpp-continuous

The ``llamacpp`` backend reuses the KV cache of the previous prompt's common prefix, in whole
aligned chunks of 64 tokens. Which prompts follow which therefore changes the prompt work. This
rebuilds every sample's prompt from its run's log (question, demonstration ids, each
demonstration's passing response) in log order, tokenizes it with the model's vocabulary, and
counts the tokens the backend's rule would evaluate. For a one-slot engine the log order is the
generation order. Checks whether continuous scheduling's order costs more prompt work than a
round's query order.

``--store-tokens N [N ...]`` also replays a prefix store of N tokens (the backend's ``prefix_store_mb``
divided by the KV bytes a token takes), through the backend's own ``PrefixStore`` (the same
eviction): a prompt reuses the longest aligned prefix the live cache or the store
holds. It predicts what the store saves before the engine is run.

``--demo-order resolved`` rebuilds each prompt with its demonstrations in the order they were
resolved (oldest first) instead of as shown (least similar first): what a canonical order would
save, since a query whose pool grows then keeps its older demonstrations as a shared prefix.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from adaptive_batch import RunConfig
from adaptive_batch.config_file import upgrade_saved_config
from adaptive_batch.backends.llamacpp import default_model_path
from adaptive_batch.backends.prefix_store import PrefixStore
from adaptive_batch.dataset import load_queries
from adaptive_batch.prompts import PromptBuilder
from adaptive_batch.verifiers import create_verifier
from retrieval.pool import Demonstration

CHUNK = 64  # the llamacpp backend's default alignment


def evaluated_tokens(run_dir: Path, tokenize, store_tokens: tuple[int, ...] = (), demo_order: str = "logged") -> dict:
    """Prompt tokens and the tokens the backend's rule would evaluate: in log order, with each round's
    prompts sorted by their tokens, and sorted with every other round descending (what the backend's
    ``prefix`` serve order does now)."""
    manifest = json.loads((run_dir / "run.json").read_text())
    config = RunConfig.from_dict(upgrade_saved_config(manifest["config"]))
    builder = PromptBuilder(config.prompt, canonical=create_verifier(config.verifier).canonical)
    queries = {q.id: q for q in load_queries(config.data)}
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines() if line.strip()]
    passing: dict[str, str] = {}  # in the order the queries were resolved
    for r in rows:
        if r["passed"]:
            passing.setdefault(r["query_id"], r["text"])
    resolved_at = {query_id: i for i, query_id in enumerate(passing)}
    prompts = []
    for r in rows:
        shown = sorted(r["demo_ids"], key=resolved_at.__getitem__) if demo_order == "resolved" else r["demo_ids"]
        demos = [Demonstration(d, queries[d].question, passing[d], 0.0) for d in shown]
        prompts.append((r["round"], tokenize(builder.prompt_for(queries[r["query_id"]].question, demos))))
    out = {"samples": len(rows), "prompt_tokens": sum(len(t) for _, t in prompts)}
    for name, order in (("log_order", prompts), ("sorted_within_round", sorted(prompts)),
                        ("alternating_rounds", _alternating(prompts))):
        evaluated = _evaluated([tokens for _, tokens in order])
        out[name] = {"evaluated": evaluated, "evaluated_share": round(evaluated / out["prompt_tokens"], 4)}
        if store_tokens:
            out[name]["with_store"] = []
        for size in store_tokens:
            evaluated = _evaluated([tokens for _, tokens in order], size)
            out[name]["with_store"].append({"store_tokens": size, "evaluated": evaluated,
                                            "evaluated_share": round(evaluated / out["prompt_tokens"], 4)})
    return out


def _alternating(prompts: list[tuple[int, list[int]]]) -> list[tuple[int, list[int]]]:
    """Each round's prompts sorted by their tokens, every other round descending: the backend's
    ``prefix`` serve order, a round being one batch."""
    rounds = sorted({r for r, _ in prompts})
    return [item for i, r in enumerate(rounds)
            for item in sorted((p for p in prompts if p[0] == r), reverse=i % 2 == 1)]


def _evaluated(sequence: list[list[int]], store_tokens: int = 0) -> int:
    """Prompt tokens evaluated when each prompt reuses the longest aligned prefix of the last prompt
    (the live cache) or, with ``store_tokens``, of the prompts the backend's own ``PrefixStore``
    keeps within that many tokens (a token stands for its KV bytes, the same for every token)."""
    store = PrefixStore(store_tokens) if store_tokens else None
    live: list[int] = []
    total = 0
    for tokens in sequence:
        best = _common(live, tokens)
        if store is not None:
            key, best = store.worth_restoring(tokens, best, CHUNK)
            if key is not None:
                store.get(key)
        total += len(tokens) - (min(best, len(tokens) - 1) // CHUNK) * CHUNK
        live = tokens[: (len(tokens) // CHUNK) * CHUNK]
        if store is not None and live:
            store.put(tuple(live), bytes(len(live)))
    return total


def _common(a, b) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", default=None)
    parser.add_argument("--store-tokens", type=int, nargs="+", default=[],
                        help="also replay a prefix store of this many tokens (several: one replay each)")
    parser.add_argument("--demo-order", choices=("logged", "resolved"), default="logged",
                        help="demonstrations as logged, or oldest resolved first")
    args = parser.parse_args(argv)
    import llama_cpp

    vocab = llama_cpp.Llama(model_path=default_model_path(), vocab_only=True, verbose=False)
    report = {run: evaluated_tokens(Path(run), lambda text: vocab.tokenize(text.encode("utf-8"), special=True),
                                   args.store_tokens, args.demo_order)
              for run in args.runs}
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
