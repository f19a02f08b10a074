"""Escalation between two real models, both ways, against each model alone at equal FLOPs.

    python benchmarks/escalation_models.py --dataset ../shared/datasets/svamp.jsonl --limit 200 \
        --budget-samples 6 --after 4

The models: the default Gemma 3 270M (a base model: few-shot completion prompts) and
SmolLM2-135M-Instruct (a chat model: its GGUF chat template), each with the prompt style it
needs (``escalation.prompt_style``). First the default model alone at ``--budget-samples``
samples a query sets the FLOPs budget F (its measured FLOPs a query); then four runs at F
FLOPs a query (``--budget-unit flops``, each engine's tokens at its own parameter count, read
from its GGUF): each model alone, and each escalating to the other after ``--after`` samples of
a query. Reported per run and engine: samples, tokens, FLOPs, passing samples, queries first
resolved by it, and the run's coverage; so where the escalated compute went, and whether it
beat either model alone at the same compute.

Every run is the adaptive two-phase processor, oracle-verified (reference answers), same seed.
A shared response cache serves the base-prompt warm-up samples a previous run already drew
(same model, prompt and seed, drawn in the same warm-up order).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from adaptive_batch import RunConfig, run
from adaptive_batch.backends import create_backend
from adaptive_batch.config import BackendConfig
from adaptive_batch.report.data import engine_breakdown as report_engine_breakdown, load_run
from retrieval import create_embedder

MODELS = {"gemma": ("gemma3-270m", "completion"), "smollm2": ("smollm2-135m-instruct", "chat")}


def engine_breakdown(run_dir: Path) -> dict:
    """The report's breakdown per engine, with each engine's pass rate and mean output a sample."""
    out = {}
    for e in report_engine_breakdown(load_run(run_dir)):
        name, samples = e.pop("engine"), max(1, e["samples"])
        out[name] = {**e, "pass_rate": round(e["passing_samples"] / samples, 4),
                                "mean_output_tokens": round(e["completion_tokens"] / samples, 1)}
    return out


def one_run(name: str, main: str, escalated: str | None, budget: float, unit: str, args, backends, embedder) -> dict:
    model, style = MODELS[main]
    raw: dict = {"data": {"path": args.dataset, "limit": args.limit},
                 "backend": {"model": model}, "prompt": {"style": style},
                 "schedule": {"budget": budget, "budget_unit": unit, "warmup": 2},
                 "seed": args.seed, "cache_dir": args.cache_dir, "output_dir": f"{args.runs_dir}/{name}-s{args.seed}"}
    if escalated:
        raw["escalation"] = {"model": MODELS[escalated][0], "prompt_style": MODELS[escalated][1], "after": args.after}
    started = time.time()
    result = run(RunConfig.from_dict(raw), backend=backends[main], embedder=embedder,
                 escalation_backend=backends[escalated] if escalated else None)
    s, n = result.summary, result.summary["n_queries"]
    row = {
        "main": model, "escalated_to": MODELS[escalated][0] if escalated else None,
        "coverage": result.coverage, "samples_per_query": s["samples"] / n,
        "flops_per_query": s["compute"]["flops"] / n, "budget": s["budget"], "stop_reason": s["stop_reason"],
        "escalation_cost_weight": s.get("escalation_cost_weight"),
        "engines": engine_breakdown(Path(result.run_dir)),
        "run_dir": str(result.run_dir), "wall_s": round(time.time() - started, 1),
    }
    print(name, json.dumps({k: v for k, v in row.items() if k != "engines"}), flush=True)
    return row


def markdown(report: dict) -> str:
    """Coverage and where the compute went, run by run and engine by engine."""
    lines = [f"FLOPs budget {report['flops_budget_per_query']:.4g} a query (the default model alone at "
             f"{report['settings']['budget_samples']:g} samples); escalation after {report['settings']['after']} samples",
             "", "| run | coverage | samples/q | FLOPs/q | engine | samples | FLOPs share | passing samples | pass rate | "
             "queries it resolved first | output tokens/sample |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["runs"].items():
        total = sum(e["flops"] for e in r["engines"].values()) or 1.0
        for i, (engine, e) in enumerate(r["engines"].items()):
            head = f"| {name} | {r['coverage']:.3f} | {r['samples_per_query']:.2f} | {r['flops_per_query']:.3g} |" if not i \
                else "| | | | |"
            model = r["main"] if engine == "main" else r["escalated_to"]
            lines.append(f"{head} {engine} ({model}) | {e['samples']} | {e['flops'] / total:.2f} | {e['passing_samples']} | "
                         f"{e['pass_rate']:.3f} | {e['queries_resolved_first']} | {e['mean_output_tokens']} |")
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    """Coverage of each run at the same FLOPs, its bar split by the engines' shares of those FLOPs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {n: r for n, r in report["runs"].items() if r["budget"]["unit"] == "flops"}
    fig, ax = plt.subplots(figsize=(7, 4))
    colours = {"gemma3-270m": "C0", "smollm2-135m-instruct": "C1"}
    for x, (name, r) in enumerate(runs.items()):
        total, bottom = sum(e["flops"] for e in r["engines"].values()), 0.0
        for engine, e in sorted(r["engines"].items(), key=lambda item: item[0] != "main"):
            model = r["main"] if engine == "main" else r["escalated_to"]
            height = r["coverage"] * e["flops"] / total
            ax.bar(x, height, bottom=bottom, color=colours.get(model, "C2"), edgecolor="white")
            bottom += height
        ax.text(x, r["coverage"] + 0.01, f"{r['coverage']:.3f}", ha="center")
    ax.set_xticks(range(len(runs)), list(runs), fontsize=8)
    ax.set_ylabel("coverage (bar split by each model's share of the FLOPs)")
    ax.set_title(f"SVAMP first {report['settings']['limit']}, {report['flops_budget_per_query']:.3g} FLOPs a query")
    ax.legend(handles=[matplotlib.patches.Patch(color=c, label=m) for m, c in colours.items()], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--budget-samples", type=float, default=6)
    parser.add_argument("--after", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=".cache/escalation")
    parser.add_argument("--runs-dir", default="runs/escalation-models")
    parser.add_argument("--out", default="benchmarks/results/escalation-models-first200-seed0.json")
    parser.add_argument("--show", metavar="RESULT", help="print the table of a result file, plot it beside it (.png) and stop")
    args = parser.parse_args(argv)
    if args.show:
        report = json.loads(Path(args.show).read_text())
        print(markdown(report))
        plot(report, Path(args.show).with_suffix(".png"))
        return 0

    backends = {name: create_backend(BackendConfig(model=model)) for name, (model, _) in MODELS.items()}
    embedder = create_embedder("sentence-transformers")
    report: dict = {"settings": vars(args), "models": {n: b.model_id for n, b in backends.items()},
                    "parameters": {n: b.parameter_count() for n, b in backends.items()}, "runs": {}}
    scale = one_run("gemma-alone-samples", "gemma", None, args.budget_samples, "samples", args, backends, embedder)
    flops = float(f"{scale['flops_per_query']:.4g}")
    report["flops_budget_per_query"] = flops
    report["runs"]["gemma-alone-samples"] = scale
    for name, main_model, escalated in (("gemma-alone", "gemma", None), ("smollm2-alone", "smollm2", None),
                                        ("gemma-to-smollm2", "gemma", "smollm2"),
                                        ("smollm2-to-gemma", "smollm2", "gemma")):
        report["runs"][name] = one_run(name, main_model, escalated, flops, "flops", args, backends, embedder)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
