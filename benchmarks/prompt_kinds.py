"""Pass rate and cache share of each kind of prompt the online choice drew, pooled over seeds,
from a compare_methods.py result file (runs with ``--prompt-choice online``).

    python benchmarks/prompt_kinds.py benchmarks/results/costs-first200-budget6-online-cost.json

The kinds are drawn by Thompson sampling, not at random: a kind drawn late draws harder queries
(the easy ones are resolved by then), so these pass rates lean against the kinds drawn most late.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def kinds_table(result: dict) -> list[str]:
    out = ["| dataset | method | kind | samples | passed | pass rate | prompt tokens from cache |", "|---|---|---|---|---|---|---|"]
    for name, dataset in result["datasets"].items():
        for method in sorted({m for row in dataset["seeds"] for m, v in row.items() if isinstance(v, dict) and v.get("prompt_kinds")}):
            pooled: dict[str, list[float]] = {}
            for row in dataset["seeds"]:
                for kind, k in row[method]["prompt_kinds"].items():
                    into = pooled.setdefault(kind, [0, 0, 0.0])
                    into[0] += k["samples"]
                    into[1] += k["passed"]
                    into[2] += (k["cached_share"] or 0.0) * k["samples"]  # weighted by samples: an approximation
            for kind, (n, passed, cached) in sorted(pooled.items()):
                out.append(f"| {name} | {method} | {kind} | {n} | {passed} | {passed / n:.3f} | {cached / n:.2f} |")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("result", help="a compare_methods.py result file")
    args = parser.parse_args(argv)
    print("\n".join(kinds_table(json.loads(Path(args.result).read_text()))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
