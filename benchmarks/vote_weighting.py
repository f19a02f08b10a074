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
  weighting; the tool's ``--consistency-vote confidence``, scored by its own rule);
- ``seq-prob``: each vote weighted by exp(summed log-probability), the sequence's probability;
- ``best-mean``: the answer of the single sample with the highest mean token log-probability
  (``--consistency-vote top-confidence``, likewise).

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
from adaptive_batch.records import mean_token_logprob
from adaptive_batch.report import load_run
from adaptive_batch.verifiers.consistency import ConsistencyVerifier

RULES = ("majority", "mean-prob", "seq-prob", "best-mean")
# The product's vote rules, by the names this benchmark's results carry.
PRODUCT_RULES = {"mean-prob": "confidence", "best-mean": "top-confidence"}


_SCORE_VOTE = {rule: ConsistencyVerifier(vote=vote).score_vote for rule, vote in PRODUCT_RULES.items()}


def standings(rule: str, voting: list[dict]) -> dict[str, float]:
    """Each answer's standing under the rule: the tool's own ``score_vote`` for its rules."""
    out: dict[str, float] = {}
    if rule in PRODUCT_RULES:
        score_vote = _SCORE_VOTE[rule]
        for s in voting:
            confidence = mean_token_logprob(s["logprob"], s["completion_tokens"])
            out[s["answer"]] = score_vote(out.get(s["answer"]), confidence)
        return out
    for s in voting:  # majority: one each; seq-prob: the sequence's probability
        out[s["answer"]] = out.get(s["answer"], 0.0) + (1.0 if rule == "majority" else math.exp(s["logprob"]))
    return out


def chosen_right(rule: str, subset: tuple[dict, ...], right: set) -> float:
    """1 if the rule's answer for these samples is right, 0 if wrong, a share where answers tie."""
    voting = [s for s in subset if s["answer"] is not None]
    if not voting:
        return 0.0
    totals = standings(rule, voting)
    top = max(totals.values())
    tied = {a for a, w in totals.items() if math.isclose(w, top, rel_tol=1e-12)}
    return len(tied & right) / len(tied)


def by_k(queries: dict[str, list[dict]], k: int) -> dict:
    """Each rule's accuracy over every k of each query's samples, and its gain over the majority
    query by query (the same samples), each with a 95% interval over queries."""
    per_rule: dict[str, list[float]] = {rule: [] for rule in RULES}
    for samples in queries.values():
        right = {s["answer"] for s in samples if s["passed"] and s["answer"] is not None}
        subsets = list(itertools.combinations(samples, k))
        for rule in RULES:
            per_rule[rule].append(sum(chosen_right(rule, c, right) for c in subsets) / len(subsets))
        exact = maj_at_k([s["answer"] for s in samples], lambda a: a in right, k)
        if not math.isclose(exact, per_rule["majority"][-1], abs_tol=1e-9):
            raise RuntimeError(f"enumerated majority {per_rule['majority'][-1]} != maj_at_k {exact}")
    majority = per_rule["majority"]
    return {"accuracy": {rule: _mean_interval(values) for rule, values in per_rule.items()},
            "gain_over_majority": {rule: _mean_interval([a - b for a, b in zip(per_rule[rule], majority)])
                                   for rule in RULES[1:]}}


def _mean_interval(values: list[float]) -> dict:
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return {"mean": round(mean, 4), "ci95": [round(mean - half, 4), round(mean + half, 4)]}


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
            rows[f"k={k}"] = by_k(queries, k)
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
