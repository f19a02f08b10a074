"""A method's coverage against a baseline's at the same compute, on every axis, from compare_methods.py files.

    python benchmarks/equal_compute.py --baseline runs/pilot-store1024-elim9.json elimination \
        --method runs/pilot-store1024-adaptive-auto.json adaptive-auto --out FILE

The baseline is run past the method's budget (elimination at budget 9 against a method at 6): up to
the round where its own budget binds, a longer elimination run is the shorter one, so its curve
read at the method's final compute is elimination at that compute (``analysis.at_equal_compute``).
Axes: samples, output tokens, total tokens, FLOPs (the parameter count in the file) and cost under
the benchmarks' price tables A and B.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from adaptive_batch.analysis import at_equal_compute, with_cost_axes


def runs(path: str, method: str) -> dict[tuple[str, int], dict]:
    """(dataset, seed) -> the method's curve, with FLOPs and costs from its token counts."""
    report = json.loads(Path(path).read_text())
    return {(name, row["seed"]): with_cost_axes(row[method]["curve"], report["parameters"])
            for name, data in report["datasets"].items() for row in data["seeds"] if method in row}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", nargs=2, metavar=("FILE", "METHOD"), action="append", required=True,
                        help="the baseline's runs (one per dataset, or several datasets in one file)")
    parser.add_argument("--method", nargs=2, metavar=("FILE", "METHOD"), action="append", required=True)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    baseline = {key: curve for path, name in args.baseline for key, curve in runs(path, name).items()}
    report: dict = {"baseline": args.baseline, "results": []}
    for path, name in args.method:
        for key, curve in runs(path, name).items():
            if key not in baseline:
                continue
            seeds = [{"method": {"curve": curve}, "baseline": {"curve": baseline[key]}}]
            equal = at_equal_compute(seeds, "method", "baseline", curve["samples"][-1])
            row = {"file": path, "method": name, "dataset": key[0], "seed": key[1],
                   "coverage": curve["coverage"][-1],
                   "compute_per_query": {axis: curve[axis][-1] for axis in equal},
                   "baseline_at_equal": {axis: {"coverage": e["other"]["mean"], "difference": e["difference"]["mean"],
                                                "baseline_ran_out": bool(e["other_ran_out_seeds"])}
                                         for axis, e in equal.items()}}
            report["results"].append(row)
            diffs = ", ".join(f"{a} {d['difference']:+.3f}{' (baseline ran out)' if d['baseline_ran_out'] else ''}"
                              for a, d in row["baseline_at_equal"].items())
            print(f"{key[0]} seed {key[1]} {name}: coverage {row['coverage']:.3f}; minus the baseline at "
                  f"equal compute: {diffs}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
