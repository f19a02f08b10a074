"""What logging inside a round costs, and what it saves when a run is killed, on the real model.

    python benchmarks/durability.py --dataset ../shared/datasets/svamp.jsonl --queries 48

1. **Cost.** The same warm-up (elimination, budget = warm-up, no response cache, so every sample
   is generated) with three log settings, alternating for ``--repeats`` passes so drift hits them
   alike:
   - the default: verified samples appended and fsync'ed every 64 samples or 1 s;
   - every sample: one fsync per sample (the most a one-slot engine can do);
   - once per round: the behaviour before in-round logging.
   The figure is each setting's wall time against "once per round" in the same pass.
2. **Kills.** The CLI on the same queries, SIGKILLed ``--kill-after`` seconds after each start,
   up to ``--kills`` times in a row (fewer if the run finishes first), with the default and with
   once-per-round logging: the samples each kill kept (records in the log when it was killed, less
   those before it started).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from adaptive_batch import RunConfig, run
from adaptive_batch.backends import create_backend
from adaptive_batch.config import DataConfig, ScheduleConfig

ONCE_PER_ROUND = {"log_every_samples": 10**9, "log_every_s": 1e9}
SETTINGS = {
    "every 64 samples or 1 s (default)": {},
    "every sample": {"log_every_samples": 1},
    "once per round (before)": ONCE_PER_ROUND,
}


def measure_cost(args, backend) -> dict:
    rows: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for repeat in range(args.repeats):
        for name, log in SETTINGS.items():
            out = Path(args.runs_dir) / f"cost-{list(SETTINGS).index(name)}-{repeat}"
            shutil.rmtree(out, ignore_errors=True)
            config = RunConfig(data=DataConfig(path=args.dataset, limit=args.queries), output_dir=str(out),
                               schedule=ScheduleConfig(method="elimination", budget=args.warmup, warmup=args.warmup,
                                                       max_rounds=0), **log)
            summary = run(config, backend=backend).summary
            times = summary["time_s"]
            row = {"wall_s": summary["wall_time_s"], "generation_s": round(times["generation"], 3),
                   "logging_s": round(times.get("logging", 0.0), 4), "samples": summary["samples"]}
            rows[name].append(row)
            print(f"pass {repeat} {name}: {json.dumps(row)}", flush=True)
    base = rows["once per round (before)"]
    return {name: {"runs": runs,
                   "wall_against_once_per_round": [round(r["wall_s"] / b["wall_s"], 4) for r, b in zip(runs, base)],
                   "mean_ratio": round(statistics.fmean(r["wall_s"] / b["wall_s"] for r, b in zip(runs, base)), 4),
                   "logging_share": round(statistics.fmean(r["logging_s"] / r["wall_s"] for r in runs), 5)}
            for name, runs in rows.items()}


def count_records(run_dir: Path) -> int:
    path = run_dir / "samples.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def measure_kills(args) -> dict:
    report = {}
    for name, log in (("every 64 samples or 1 s (default)", {}), ("once per round (before)", ONCE_PER_ROUND)):
        out = Path(args.runs_dir) / f"kills-{'default' if not log else 'per-round'}"
        shutil.rmtree(out, ignore_errors=True)
        command = [sys.executable, "-m", "adaptive_batch", "run", args.dataset, "--limit", str(args.queries),
                   "--method", "elimination", "--budget", str(args.warmup), "--warmup", str(args.warmup),
                   "--max-rounds", "0", "--output", str(out), "--quiet"]
        for key, value in log.items():
            command += [f"--{key.replace('_', '-')}", str(value)]
        kept = []
        for _ in range(args.kills):
            before = count_records(out)
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env={**os.environ, "HF_HUB_OFFLINE": "1"})
            time.sleep(args.kill_after)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kept.append(count_records(out) - before)
            print(f"{name}: kill kept {kept[-1]} samples", flush=True)
            if (out / "summary.json").exists() and json.loads((out / "summary.json").read_text())["status"] == "complete":
                break  # it finished before this kill
        finished = (out / "summary.json").exists()
        report[name] = {"kept_per_kill": kept, "total_kept": sum(kept), "finished_within_the_kills": finished,
                        "starts": len(kept)}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--queries", type=int, default=48)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--kill-after", type=float, default=12.0)
    parser.add_argument("--runs-dir", default="runs/durability")
    parser.add_argument("--parts", nargs="+", choices=("cost", "kills"), default=["cost", "kills"],
                        help="Run only these parts; the others are kept from an existing --out file.")
    parser.add_argument("--out", default="benchmarks/results/durability.json")
    args = parser.parse_args(argv)

    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}
    report.update({"cores": os.cpu_count()})
    if "cost" in args.parts:
        backend = create_backend(name="llamacpp")
        report.update({"cost_settings": vars(args), "model": backend.model_id, "cost": measure_cost(args, backend)})
        del backend  # the kill loop's runs load their own model
    if "kills" in args.parts:
        report.update({"kill_settings": vars(args), "kills": measure_kills(args)})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"cost": {n: {k: v for k, v in r.items() if k != "runs"} for n, r in report.get("cost", {}).items()},
                      "kills": report.get("kills")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
