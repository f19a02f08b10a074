"""How often a query is shown demonstrations that already failed for it, and how those samples fare.

    python benchmarks/demo_repeats.py runs/benchmark-first50/addsub-adaptive-b16-add-s0 ...

For each demonstration-conditioned sample in the given run directories: how many earlier samples
of the same query showed exactly the same demonstrations (0 = new to it), and the pass rate at
each count. Read with care: a query that keeps failing is a hard one, so later samples pass less
often whatever they are shown; the comparison that controls for it is between methods (nearest
demonstrations repeat, random ones do not).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from adaptive_batch.report import load_run

TOP = 5  # counts of 5 and more are pooled


def repeats(samples: list[dict]) -> dict[int, list[int]]:
    """{earlier uses of the same demonstrations: [samples, passed]}"""
    by_query: dict[str, list[dict]] = defaultdict(list)
    for s in samples:
        if s["demo_ids"]:
            by_query[s["query_id"]].append(s)
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for rows in by_query.values():
        seen: dict[tuple, int] = defaultdict(int)
        for s in sorted(rows, key=lambda s: s["sample_index"]):
            key = tuple(s["demo_ids"])
            bucket = counts[min(seen[key], TOP)]
            bucket[0] += 1
            bucket[1] += bool(s["passed"])
            seen[key] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories (pooled)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    total: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for run_dir in args.runs:
        for uses, (n, passed) in repeats(load_run(Path(run_dir)).samples).items():
            total[uses][0] += n
            total[uses][1] += passed
    all_samples = sum(n for n, _ in total.values())
    report = {"runs": args.runs, "samples_with_demonstrations": all_samples, "by_earlier_uses": {
        (f"{uses}+" if uses == TOP else str(uses)): {
            "samples": n, "share": round(n / all_samples, 3), "pass_rate": round(passed / n, 3)}
        for uses, (n, passed) in sorted(total.items())}}
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
