"""Does weighting a vote by the model's own confidence choose better label-free answers than the plain majority?

    PYTHONPATH=. python benchmarks/vote_weighting.py --dataset ../shared/datasets/addsub.jsonl \
        --dataset ../shared/datasets/svamp.jsonl --limit 200 --n 8 --seed 0 \
        --runs-dir /work/runs/vote-weighting --out benchmarks/results/vote-weighting-first200.json

writes the JSON and, beside it, the PNG (``--replot`` draws the PNG again from the JSON alone).

One uniform run per dataset draws n base-prompt samples of every query on ``llamacpp-batched``,
which records each sample's log-probability (its tokens under the model's own distribution). The
samples are scored against the references only afterwards. For every k up to n, over every k of a
query's n samples (exact enumeration, ties split as a random tie-break would split them), the
share of queries whose chosen answer is right, for each rule:

- ``majority``: one vote per sample (self-consistency; equals ``estimates.maj_at_k``, checked);
- ``mean-prob``: each vote weighted by exp(mean token log-probability) (Wang et al.'s "normalized"
  weighting);
- ``seq-prob``: each vote weighted by exp(summed log-probability), the sequence's probability;
- ``best-mean``: the answer of the single sample with the highest mean token log-probability.

Samples without an extracted answer do not vote; k samples without any answer choose nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
import time
from pathlib import Path

from adaptive_batch import RunConfig, run
from adaptive_batch.backends import create_backend
from adaptive_batch.config import BackendConfig, DataConfig, ScheduleConfig
from adaptive_batch.estimates import maj_at_k
from adaptive_batch.report import load_run

RULES = ("majority", "mean-prob", "seq-prob", "best-mean")


def weight(rule: str, sample: dict) -> float:
    if rule == "majority":
        return 1.0
    if rule == "seq-prob":
        return math.exp(sample["logprob"])
    return math.exp(sample["logprob"] / max(1, sample["completion_tokens"]))


def chosen_right(rule: str, subset: list[dict], right: set) -> float:
    """1 if the rule's answer for these samples is right, 0 if wrong, a share where answers tie."""
    voting = [s for s in subset if s["answer"] is not None]
    if not voting:
        return 0.0
    if rule == "best-mean":
        top = max(weight(rule, s) for s in voting)
        tied = {s["answer"] for s in voting if weight(rule, s) == top}
    else:
        totals: dict[str, float] = {}
        for s in voting:
            totals[s["answer"]] = totals.get(s["answer"], 0.0) + weight(rule, s)
        top = max(totals.values())
        tied = {a for a, w in totals.items() if math.isclose(w, top, rel_tol=1e-12)}
    return len(tied & right) / len(tied)


def accuracy_at_k(queries: dict[str, list[dict]], n: int, k: int) -> dict[str, dict]:
    per_rule: dict[str, list[float]] = {rule: [] for rule in RULES}
    for samples in queries.values():
        right = {s["answer"] for s in samples if s["passed"] and s["answer"] is not None}
        subsets = list(itertools.combinations(samples, k))
        for rule in RULES:
            per_rule[rule].append(sum(chosen_right(rule, list(c), right) for c in subsets) / len(subsets))
        exact = maj_at_k([s["answer"] for s in samples], lambda a: a in right, k)
        if not math.isclose(exact, per_rule["majority"][-1], abs_tol=1e-9):
            raise RuntimeError(f"enumerated majority {per_rule['majority'][-1]} != maj_at_k {exact}")
    return {rule: _mean_interval(values) for rule, values in per_rule.items()}


def _mean_interval(values: list[float]) -> dict:
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return {"mean": round(mean, 4), "ci95": [round(mean - half, 4), round(mean + half, 4)]}


def paired_gain(queries: dict[str, list[dict]], k: int, rule: str) -> dict:
    """rule minus majority, query by query, with a 95% interval over queries (the same samples)."""
    gains = []
    for samples in queries.values():
        right = {s["answer"] for s in samples if s["passed"] and s["answer"] is not None}
        subsets = [list(c) for c in itertools.combinations(samples, k)]
        gains.append(sum(chosen_right(rule, c, right) - chosen_right("majority", c, right) for c in subsets)
                     / len(subsets))
    return _mean_interval(gains)


def plot(report: dict, path: Path) -> Path:
    """Accuracy against k for every rule, one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["datasets"])
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        rows = report["datasets"][name]["by_k"]
        ks = [int(k.split("=")[1]) for k in rows]
        for rule in RULES:
            ax.plot(ks, [rows[f"k={k}"]["accuracy"][rule]["mean"] for k in ks], marker="o", label=rule)
        ax.set_title(f"{name}, first {report['settings']['limit']}, seed {report['settings']['seed']}")
        ax.set_xlabel("samples a query (k)")
        ax.set_ylabel("accuracy of the submitted answer")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", required=True)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", default="runs/vote-weighting")
    parser.add_argument("--out", default="benchmarks/results/vote-weighting-first200.json")
    parser.add_argument("--replot", action="store_true", help="only draw the PNG beside --out from it")
    args = parser.parse_args(argv)
    if args.replot:
        print(plot(json.loads(Path(args.out).read_text()), Path(args.out).with_suffix(".png")))
        return 0

    backend_config = BackendConfig(name="llamacpp-batched")
    backend = create_backend(backend_config)
    report: dict = {"settings": vars(args), "model": backend.model_id, "backend": backend_config.name,
                    "rules": RULES, "datasets": {}}
    for dataset in args.dataset:
        name = Path(dataset).stem
        config = RunConfig(data=DataConfig(path=dataset, limit=args.limit), backend=backend_config,
                           schedule=ScheduleConfig(method="uniform", budget=args.n, warmup=2),
                           seed=args.seed, output_dir=f"{args.runs_dir}/{name}-uniform-n{args.n}-s{args.seed}")
        started = time.time()
        result = run(config, backend=backend)
        view = load_run(result.run_dir)
        queries: dict[str, list[dict]] = {}
        for s in view.samples:
            if s["error"] is None:
                queries.setdefault(s["query_id"], []).append(s)
        if any(len(v) != args.n for v in queries.values()) or any(s["logprob"] is None for v in queries.values()
                                                                   for s in v):
            raise RuntimeError(f"{name}: every query needs {args.n} samples with a log-probability")
        rows = {}
        for k in range(1, args.n + 1):
            rows[f"k={k}"] = {"accuracy": accuracy_at_k(queries, args.n, k),
                              "gain_over_majority": {rule: paired_gain(queries, k, rule) for rule in RULES[1:]}}
            print(f"{name} k={k}: " + ", ".join(f"{r} {v['mean']:.3f}" for r, v in rows[f"k={k}"]["accuracy"].items()),
                  flush=True)
        report["datasets"][name] = {"queries": len(queries), "wall_s": round(time.time() - started, 1),
                                    "per_sample_pass_rate": round(statistics.fmean(
                                        float(bool(s["passed"])) for v in queries.values() for s in v), 4),
                                    "by_k": rows}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    plot(report, Path(args.out).with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
