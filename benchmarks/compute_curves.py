"""Coverage against compute, and the efficiency factor over uniform, from compare_methods.py results.

    python benchmarks/compute_curves.py benchmarks/results/compare-first200-3seeds.json \
        --out benchmarks/results/compute-curves.json --plots docs/compute-curves

Every run's curve is its coverage after each round against its cumulative compute per query,
three ways: samples, generated tokens, total (prompt + generated) tokens. The efficiency factor
at budget B is the compute uniform best-of-N needs to reach the coverage adaptive reaches at B,
divided by B samples (on the token axes: by the tokens adaptive actually spent up to B; a run
that had nothing left to sample before B keeps its final coverage). It is computed per seed
and summarised as mean with a 95% t-interval over seeds. Where uniform never reaches that coverage
within the samples it was run for, the factor is only known to exceed max/B: it is reported as
a lower bound ("censored"), never as a number it did not reach.

Budgets below the runs' own budget are read off the same run's curve (its coverage when it had
spent B samples per query), so one run at budget 6 gives the points 2, 4 and 6.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

AXES = ("samples", "generated_tokens", "total_tokens")
METHODS = ("uniform", "elimination", "random-demos", "adaptive")
T95 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571}


def methods_in(row: dict) -> list[str]:
    """The methods a seed row holds results of: the standard ones in their order, then variants
    such as ``adaptive-rotate8``."""
    found = [key for key, value in row.items() if isinstance(value, dict) and "curve" in value]
    return [m for m in METHODS if m in found] + sorted(m for m in found if m not in METHODS)


def at(curve: dict, axis: str, x: float) -> float | None:
    xs, ys = curve[axis], curve["coverage"]
    if x > xs[-1] + 1e-9:
        return None
    return float(np.interp(x, xs, ys))


def compute_to_reach(curve: dict, axis: str, target: float) -> float | None:
    """The least compute at which a (non-decreasing) curve reaches target, interpolated; None if never."""
    xs, ys = curve[axis], curve["coverage"]
    for i in range(1, len(xs)):
        if ys[i] >= target - 1e-12:
            if ys[i] == ys[i - 1]:
                return float(xs[i])
            return float(xs[i - 1] + (target - ys[i - 1]) * (xs[i] - xs[i - 1]) / (ys[i] - ys[i - 1]))
    return 0.0 if ys and ys[0] >= target else None


def summary(values: list[float]) -> dict:
    n = len(values)
    mean = statistics.fmean(values)
    half = T95.get(n, 1.96) * statistics.stdev(values) / n**0.5 if n > 1 else 0.0
    return {"mean": round(mean, 3), "ci95": [round(mean - half, 3), round(mean + half, 3)], "n": n,
            "per_seed": [round(v, 3) for v in values]}


def efficiency(seeds: list[dict], method: str, budget: float) -> dict:
    out: dict = {}
    for axis in AXES:
        factors, censored = [], []
        for row in seeds:
            mine, uniform = row[method]["curve"], row["uniform"]["curve"]
            # A run that stopped short of B (nothing left to sample) keeps its final coverage.
            x = min(budget, mine["samples"][-1])
            coverage = at(mine, "samples", x)
            spent = budget if axis == "samples" else float(np.interp(x, mine["samples"], mine[axis]))
            needed = compute_to_reach(uniform, axis, coverage)
            censored.append(needed is None)
            if needed is None:
                needed = uniform[axis][-1]  # uniform's whole run: the factor is at least this
            factors.append(needed / spent if spent > 0 else 1.0)
        else:
            # A censored seed's factor is a lower bound, and so is any summary that includes it.
            out[axis] = {**summary(factors), "censored": any(censored), "censored_seeds": sum(censored)}
    return out


def curves_on_grid(seeds: list[dict], method: str, axis: str, points: int = 41) -> dict:
    top = min(row[method]["curve"][axis][-1] for row in seeds)
    grid = np.linspace(0, top, points)
    values = np.array([[at(row[method]["curve"], axis, x) for x in grid] for row in seeds], dtype=float)
    return {"x": grid.round(3).tolist(), "mean": values.mean(0).round(4).tolist(),
            "sd": (values.std(0, ddof=1) if len(seeds) > 1 else np.zeros(points)).round(4).tolist()}


def plot(name: str, data: dict, directory: Path, budget_marks: list[float]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"samples": "samples per query", "generated_tokens": "generated tokens per query",
              "total_tokens": "total (prompt + generated) tokens per query"}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for ax, axis in zip(axes, AXES):
        for method in data["curves"]:
            curve = data["curves"][method][axis]
            x, mean, sd = map(np.array, (curve["x"], curve["mean"], curve["sd"]))
            line, = ax.plot(x, mean, label=method)
            ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.15)
            ax.errorbar(x[::8], mean[::8], yerr=sd[::8], fmt="none", ecolor=line.get_color(), capsize=3)
        if axis == "samples":
            for b in budget_marks:
                ax.axvline(b, color="grey", lw=0.5, ls=":")
        ax.set_xlabel(labels[axis])
        ax.set_ylabel("coverage")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle(f"{name}: coverage against compute, mean ± sd over {data['seeds']} seeds")
    fig.tight_layout()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def merged(sources: list[str]) -> list[dict]:
    """The result files, those with the same settings merged: a dataset's seed rows gather the
    methods of every file (e.g. adaptive from one run of compare_methods, the baselines from
    another, at the same budget and queries)."""
    out: list[dict] = []
    for source in sources:
        loaded = json.loads(Path(source).read_text())
        key = (loaded["settings"]["limit"], loaded["settings"]["budget"])
        into = next((o for o in out if (o["settings"]["limit"], o["settings"]["budget"]) == key), None)
        if into is None:
            out.append(loaded)
            continue
        for name, dataset in loaded["datasets"].items():
            if name not in into["datasets"]:
                into["datasets"][name] = dataset
                continue
            rows = {row["seed"]: row for row in into["datasets"][name]["seeds"]}
            for row in dataset["seeds"]:
                for method in methods_in(row):
                    if row["seed"] in rows:
                        rows[row["seed"]].setdefault(method, row[method])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="compare_methods.py result files (same settings: merged)")
    parser.add_argument("--budgets", type=float, nargs="+", default=[2, 4, 6, 8, 12, 16])
    parser.add_argument("--out", default="benchmarks/results/compute-curves.json")
    parser.add_argument("--plots", default="benchmarks/results/compute-curves")
    args = parser.parse_args(argv)
    report: dict = {"sources": args.results, "datasets": {}}
    for loaded in merged(args.results):
        for name, dataset in loaded["datasets"].items():
            seeds = dataset["seeds"]
            methods = [m for m in methods_in(seeds[0]) if all(m in row for row in seeds)]
            budgets = [b for b in args.budgets if b <= loaded["settings"]["budget"] + 1e-9]
            data = {
                "seeds": len(seeds), "queries": loaded["settings"]["limit"],
                "uniform_samples_run": min(row["uniform"]["curve"]["samples"][-1] for row in seeds),
                "budgets_measured": budgets,
                "budgets_not_measured": [b for b in args.budgets if b not in budgets],
                "coverage": {m: {f"{b:g}": summary([at(r[m]["curve"], "samples", min(b, r[m]["curve"]["samples"][-1]))
                                                    for r in seeds])
                                 for b in budgets} for m in methods},
                "efficiency_factor": {m: {f"{b:g}": efficiency(seeds, m, b) for b in budgets}
                                      for m in methods if m != "uniform"},
                "curves": {m: {axis: curves_on_grid(seeds, m, axis) for axis in AXES} for m in methods},
            }
            data["largest_factor"] = {}
            for method, factors in data["efficiency_factor"].items():
                best = max(budgets, key=lambda b: factors[f"{b:g}"]["samples"]["mean"])
                f = data["largest_factor"][method] = {"budget": best, **factors[f"{best:g}"]}
                print(f"{name}: largest {method} efficiency factor at B={best:g}: samples {f['samples']['mean']} "
                      f"CI {f['samples']['ci95']}{' (censored: a lower bound)' if f['samples']['censored'] else ''}; "
                      f"total tokens {f['total_tokens']['mean']} CI {f['total_tokens']['ci95']}")
            if "adaptive" in data["largest_factor"]:
                data["largest_adaptive_factor"] = data["largest_factor"]["adaptive"]
            data["plot"] = str(plot(name, data, Path(args.plots), budgets))
            report["datasets"][name] = data
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
