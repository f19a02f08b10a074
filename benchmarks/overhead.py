"""Where a real run's wall time goes: generation against everything the tool itself does.

    python benchmarks/overhead.py --dataset ../shared/datasets/svamp.jsonl --limit 100

One adaptive run with the default model and embedder, no response cache, in a fresh run
directory. The breakdown comes from the run's own timers (``summary.json``'s ``time_s``);
"other" is wall time no timer covers (planning rounds, building prompts, writing the tables).
Model and embedder loading are one-off costs and reported apart from the per-round work.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from adaptive_batch import RunConfig, run

ONE_OFF = ("model_load", "embedder_load")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--budget", type=float, default=6)
    parser.add_argument("--run-dir", default="runs/overhead")
    parser.add_argument("--out", default="benchmarks/results/overhead.json")
    args = parser.parse_args(argv)
    shutil.rmtree(args.run_dir, ignore_errors=True)
    config = RunConfig.from_dict({
        "data": {"path": args.dataset, "limit": args.limit},
        "schedule": {"budget": args.budget, "warmup": 2},
        "output_dir": args.run_dir,
    })
    result = run(config)
    s = result.summary
    timers = dict(s["time_s"])
    one_off = sum(timers.pop(k, 0.0) for k in ONE_OFF)
    work = s["wall_time_s"] - one_off
    timers["other"] = max(0.0, work - sum(timers.values()))
    table = {name: {"seconds": round(sec, 3), "share_of_work": round(sec / work, 4)}
             for name, sec in sorted(timers.items(), key=lambda kv: -kv[1])}
    not_generation = sum(v["seconds"] for k, v in table.items() if k != "generation")
    report = {
        "settings": vars(args), "model": s["model"], "embedder": s["embedder"], "samples": s["samples"],
        "wall_time_s": s["wall_time_s"], "one_off_load_s": round(one_off, 3), "work_s": round(work, 3),
        "breakdown": table, "share_not_generation": round(not_generation / work, 4),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
