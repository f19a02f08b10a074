"""Markdown tables of a compute_curves.py result: every method on every axis, against uniform and elimination.

    python benchmarks/cost_table.py benchmarks/results/cost-curves-first50-budget16.json

For each dataset and budget: coverage (mean and 95% interval over seeds), the efficiency factor
against uniform on each axis (the compute uniform needs to reach the method's coverage, over the
method's own; ">=" where uniform never got there, a lower bound), and the coverage difference
against elimination at equal compute on each axis, with the seeds where the method was at least
as good.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

AXES = {"samples": "samples", "generated_tokens": "output tokens", "total_tokens": "total tokens",
        "flops": "FLOPs", "cost_a": "cost A", "cost_b": "cost B"}


def _factor(f: dict) -> str:
    bound = ">=" if f["censored"] else ""
    return f"{bound}{f['mean']:.2f} [{f['ci95'][0]:.2f}, {f['ci95'][1]:.2f}]"


def tables(report: dict) -> str:
    out = []
    for name, data in report["datasets"].items():
        axes = [a for a in AXES if any(a in f for m in data["efficiency_factor"].values() for f in m.values())]
        out.append(f"**{name}**, first {data['queries']} queries, {data['seeds']} seeds; uniform best-of-N up to "
                   f"{data['uniform_samples_run']:g} samples; elimination compared: {data.get('elimination_compared')}\n")
        out.append("| method | B | coverage | " + " | ".join(f"factor vs uniform, {AXES[a]}" for a in axes) + " |")
        out.append("|---|---|---|" + "---|" * len(axes))
        for method, by_budget in data["efficiency_factor"].items():
            for budget, factors in by_budget.items():
                cov = data["coverage"][method][budget]
                cells = [_factor(factors[a]) if a in factors else "" for a in axes]
                out.append(f"| {method} | {budget} | {cov['mean']:.3f} [{cov['ci95'][0]:.3f}, {cov['ci95'][1]:.3f}] | "
                           + " | ".join(cells) + " |")
        equal = data.get("at_equal_compute_against_elimination") or {}
        if equal:
            out.append("")
            out.append("| method | B | " + " | ".join(f"- elimination at equal {AXES[a]}" for a in axes) + " |")
            out.append("|---|---|" + "---|" * len(axes))
            for method, by_budget in equal.items():
                for budget, per_axis in by_budget.items():
                    cells = []
                    for a in axes:
                        if a not in per_axis:
                            cells.append("")
                            continue
                        d = per_axis[a]
                        mark = f", elimination ran out on {d['other_ran_out_seeds']}" if d["other_ran_out_seeds"] else ""
                        cells.append(f"{d['difference']['mean']:+.3f} ({d['wins_or_ties']}/{d['seeds']} seeds{mark})")
                    out.append(f"| {method} | {budget} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result")
    args = parser.parse_args(argv)
    print(tables(json.loads(Path(args.result).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
