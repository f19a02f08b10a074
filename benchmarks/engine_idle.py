"""Engine idle time with round barriers against continuous scheduling.

    python benchmarks/engine_idle.py --real-dataset ../shared/datasets/svamp.jsonl --real-limit 50

Two engines, each run once in round mode and once with ``--continuous``, same data, seed and
budget; the meter is ``backends/activity.py`` inside the backend (idle share: time with no
request at the engine; slot occupancy: mean requests in flight over the engine's slots):

1. **A simulated server** (documented simulator, ``backends/simulated.py``): ``--slots`` slots,
   log-normal service times (mean ``--latency`` s), synthetic queries. It stands in for a
   continuous-batching server (vLLM, SGLang), where a round waits for its slowest request.
2. **The real default model** in-process on llama.cpp (one request at a time, no response
   cache): there the idle time is the tool's own work between requests (verification,
   retrieval, logging), which continuous scheduling overlaps with generation.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from adaptive_batch import RunConfig, run
from adaptive_batch.backends.activity import EngineActivity


def _measure(raw: dict, name: str, runs_dir: Path, continuous_first: bool = False, **shared) -> dict:
    out = {}
    for continuous in ((True, False) if continuous_first else (False, True)):
        mode = "continuous" if continuous else "rounds"
        directory = runs_dir / f"{name}-{mode}"
        if "backend" in shared:  # one loaded model for both runs: each run gets its own meter
            shared["backend"].activity = EngineActivity(1)
        shutil.rmtree(directory, ignore_errors=True)
        config = RunConfig.from_dict({**raw, "schedule": {**raw["schedule"], "continuous": continuous},
                                      "output_dir": str(directory)})
        started = time.perf_counter()
        result = run(config, **shared)
        wall = time.perf_counter() - started
        s = result.summary
        engine = s["backend_stats"]["engine"]
        out[mode] = {"coverage": result.coverage, "samples": s["samples"], "wall_s": round(wall, 2),
                     "engine": engine, "tool_time_s": s["time_s"]}
        print(name, mode, json.dumps({k: out[mode][k] for k in ("coverage", "samples", "wall_s")}),
              json.dumps(engine), flush=True)
    r, c = out["rounds"]["engine"], out["continuous"]["engine"]
    out["change"] = {
        "idle_share": [r["idle_share"], c["idle_share"]],
        "slot_occupancy": [r["slot_occupancy"], c["slot_occupancy"]],
        "generation_span_ratio": round(r["span_s"] / c["span_s"], 3) if c["span_s"] else None,
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--budget", type=float, default=6)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--sigma", type=float, default=0.8)
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--real-dataset", default=None)
    parser.add_argument("--real-limit", type=int, default=50)
    parser.add_argument("--real-budget", type=float, default=4)
    parser.add_argument("--real-repeats", type=int, default=1,
                        help="measure the real pair this many times, alternating which mode runs first")
    parser.add_argument("--runs-dir", default="runs/engine-idle")
    parser.add_argument("--out", default="benchmarks/results/engine-idle.json")
    args = parser.parse_args(argv)
    runs = Path(args.runs_dir)
    runs.mkdir(parents=True, exist_ok=True)

    from adaptive_batch.backends.simulated import synthetic_queries

    data = runs / f"synthetic-{args.queries}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in synthetic_queries(args.queries, seed=0, topics=20)))
    report: dict = {"settings": vars(args), "engines": {}}
    report["engines"]["simulated-server"] = _measure({
        "data": {"path": str(data)},
        "backend": {"name": "simulated", "options": {"latency_s": args.latency, "latency_sigma": args.sigma,
                                                      "slots": args.slots}},
        "retrieval": {"embedder": "hashing", "min_similarity": 0.0},
        "schedule": {"budget": args.budget, "warmup": 2},
    }, "simulated", runs)
    if args.real_dataset:
        from adaptive_batch.backends import create_backend
        from retrieval import create_embedder

        backend, embedder = create_backend(), create_embedder("sentence-transformers")
        for repeat in range(args.real_repeats):
            key = "llamacpp-default-model" + (f" (repeat {repeat + 1}, "
                                              f"{'continuous' if repeat % 2 else 'rounds'} first)" if repeat else "")
            report["engines"][key] = _measure({
                "data": {"path": args.real_dataset, "limit": args.real_limit},
                "schedule": {"budget": args.real_budget, "warmup": 2},
            }, "llamacpp", runs, continuous_first=bool(repeat % 2), embedder=embedder, backend=backend)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
