"""Markdown tables of a compare_methods.py result file, for the README and issue notes.

    python benchmarks/table.py benchmarks/results/compare-first200-3seeds.json
"""

from __future__ import annotations

import json
import sys

LABELS = {"uniform@budget": "uniform (best-of-B)", "elimination": "elimination", "random-demos": "random demonstrations",
          "adaptive": "adaptive + demonstrations"}


def fmt(stat) -> str:
    if not stat:
        return ""
    return f"{stat['mean']:.3f} ± {stat['sd']:.3f}" if stat.get("n", 1) > 1 else f"{stat['mean']:.3f}"


def main(path: str) -> None:
    report = json.loads(open(path).read())
    for name, data in report["datasets"].items():
        mean = data["mean"]
        seeds = len(data["seeds"])
        print(f"\n**{name}**, first {report['settings']['limit']} queries, budget {report['settings']['budget']:g}, "
              f"{seeds} seed(s), mean ± sd over seeds:\n")
        print("| method | coverage | samples / query | total tokens / query | uniform at equal samples "
              "| uniform at equal generated tokens | uniform at equal total tokens |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {LABELS['uniform@budget']} | {fmt(mean.get('uniform@budget'))} | {report['settings']['budget']:g} | | | | |")
        for method in [m for m in ("elimination", "random-demos", "adaptive") if m in mean] + sorted(
                m for m in mean if m not in LABELS):
            row = mean[method]
            if not row:
                continue
            eq = row.get("uniform_at_equal", {})
            print(f"| {LABELS.get(method, method)} | {fmt(row['coverage'])} | {fmt(row['samples_per_query'])} | "
                  f"{fmt(row['total_tokens_per_query'])} | {fmt(eq.get('samples'))} | "
                  f"{fmt(eq.get('generated_tokens'))} | {fmt(eq.get('total_tokens'))} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/compare-first200-3seeds.json")
