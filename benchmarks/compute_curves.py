"""Coverage against compute, and the efficiency factor over uniform and elimination, from compare_methods.py results.

    python benchmarks/compute_curves.py benchmarks/results/compare-first200-3seeds.json \
        --out benchmarks/results/compute-curves.json --plots benchmarks/results/compute-curves

Every run's curve is its coverage after each round against its cumulative compute per query:
samples, generated tokens, total (prompt + generated) tokens, and, for results that recorded
cached prompt tokens, FLOPs (2 x the model's parameters x uncached prompt + generated tokens) and
cost under two declared price tables (A: $2 input, $0.50 cached input, $8 output per million
tokens; B: $3, $0.30, $15). The efficiency factor
at budget B is the compute uniform best-of-N needs to reach the coverage adaptive reaches at B,
divided by B samples (on the token axes: by the tokens adaptive actually spent up to B; a run
that had nothing left to sample before B keeps its final coverage). It is computed per seed
and summarised as mean with a 95% t-interval over seeds. Where uniform never reaches that coverage
within the samples it was run for, the factor is only known to exceed max/B: it is reported as
a lower bound ("censored"), never as a number it did not reach.

Budgets below the runs' own budget are read off the same run's curve (its coverage when it had
spent B samples per query), so one run at budget 6 gives the points 2, 4 and 6. The arithmetic is
:mod:`adaptive_batch.analysis`; this script reads the result files, writes the report and plots.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from adaptive_batch.analysis import AXES, dataset_report, merge_results

LABELS = {"samples": "samples per query", "generated_tokens": "output tokens per query",
          "total_tokens": "total (prompt + output) tokens per query", "flops": "FLOPs per query",
          "cost_a": "cost per query, table A ($2 / $0.50 / $8 per M)",
          "cost_b": "cost per query, table B ($3 / $0.30 / $15 per M)"}


def plot(name: str, data: dict, directory: Path, budget_marks: list[float]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_shown = [axis for axis in LABELS if all(axis in curves for curves in data["curves"].values())]
    rows = (len(axes_shown) + 2) // 3
    fig, axes = plt.subplots(rows, 3, figsize=(16, 4.4 * rows), squeeze=False)
    for ax, axis in zip(axes.flat, axes_shown):
        for method in data["curves"]:
            curve = data["curves"][method][axis]
            x, mean, sd = map(np.array, (curve["x"], curve["mean"], curve["sd"]))
            line, = ax.plot(x, mean, label=method)
            ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.15)
        if axis == "samples":
            for b in budget_marks:
                ax.axvline(b, color="grey", lw=0.5, ls=":")
        ax.set_xlabel(LABELS[axis])
        ax.set_ylabel("coverage")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(axes_shown):]:
        ax.axis("off")
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{name}: coverage against compute, mean ± sd over {data['seeds']} seeds "
                 f"({data['queries']} queries)")
    fig.tight_layout()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="compare_methods.py result files (same settings: merged)")
    parser.add_argument("--budgets", type=float, nargs="+", default=[2, 4, 6, 8, 12, 16])
    parser.add_argument("--out", default="benchmarks/results/compute-curves.json")
    parser.add_argument("--plots", help="folder for the plots (default: --out without .json), so a run with "
                        "another --out never overwrites committed plots")
    args = parser.parse_args(argv)
    plots = Path(args.plots) if args.plots else Path(args.out).with_suffix("")
    report: dict = {"sources": args.results, "datasets": {}}
    for loaded in merge_results(args.results):
        for name, dataset in loaded["datasets"].items():
            if not all("uniform" in row for row in dataset["seeds"]):
                parser.error(f"{name}: no uniform best-of-N in {' + '.join(args.results)}; merge a file that has "
                             "it (uniform_first_pass.py --merge-into), as benchmarks/cost_benchmarks.sh does")
            data = dataset_report(loaded["settings"], dataset["seeds"], args.budgets, loaded.get("parameters"))
            for method, f in data["largest_factor"].items():
                print(f"{name}: largest {method} efficiency factor at B={f['budget']:g}: samples {f['samples']['mean']} "
                      f"CI {f['samples']['ci95']}{' (censored: a lower bound)' if f['samples']['censored'] else ''}; "
                      f"total tokens {f['total_tokens']['mean']} CI {f['total_tokens']['ci95']}")
            for method, by_budget in data.get("at_equal_compute_against_elimination", {}).items():
                for budget, axes in by_budget.items():
                    print(f"{name} B={budget} {method} - elimination at equal compute: " + ", ".join(
                        f"{axis} {a['difference']['mean']:+.3f} ({a['wins_or_ties']}/{a['seeds']})"
                        for axis, a in axes.items()))
            data["plot"] = str(plot(name, data, plots, data["budgets_measured"]))
            report["datasets"][name] = data
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
