"""Bookkeeping at scale: the real scheduler, retrieval, verification and log, with a simulated engine.

    python benchmarks/scale.py --sizes 10000 100000 1000000 --budget 8

The backend is the documented simulator (``adaptive_batch/backends/simulated.py``: each query
has a latent success probability, raised by demonstrations of its own topic), so what is timed is
everything except generation: planning rounds, FAISS retrieval (exact up to 50k queries; above,
candidate lists from one IVF index of all the questions, see ``retrieval/pool.py``), building
prompts, verification, the durable log, and writing the Parquet tables. The embedder is the
hashing embedder (MiniLM on a million questions would time the embedder, not the tool). Each size
runs in its own process, so its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path


def one(n: int, budget: float, work: Path) -> dict:
    from adaptive_batch import RunConfig, run
    from adaptive_batch.backends.simulated import synthetic_queries

    data = work / f"synthetic-{n}.jsonl"
    with open(data, "w") as handle:
        for record in synthetic_queries(n, seed=0, topics=max(20, n // 500)):
            handle.write(json.dumps(record) + "\n")
    out = work / f"run-{n}"
    shutil.rmtree(out, ignore_errors=True)
    config = RunConfig.from_dict({
        "data": {"path": str(data)},
        # A weak boost keeps most queries unresolved for several rounds, so the budget is spent.
        "backend": {"name": "simulated", "options": {"boost": 0.05}},
        "retrieval": {"embedder": "hashing", "min_similarity": 0.0},
        "schedule": {"budget": budget, "warmup": 2},
        "output_dir": str(out),
    })
    started = time.perf_counter()
    result = run(config)
    wall = time.perf_counter() - started
    s = result.summary
    from retrieval.index import EXACT_SEARCH_LIMIT

    return {"n": n, "index": "exact" if n <= EXACT_SEARCH_LIMIT else "ivf", "budget": budget,
            "wall_s": round(wall, 1), "time_per_query_ms": round(1000 * wall / n, 3),
            "samples": s["samples"], "coverage": round(s["coverage"], 4), "time_s": s["time_s"],
            "log_bytes": (out / "samples.jsonl").stat().st_size,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--budget", type=float, default=8)
    parser.add_argument("--work", default="runs/scale")
    parser.add_argument("--out", default="benchmarks/results/scale.json")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(one(args.one, args.budget, work)))
        return 0
    rows = []
    for n in args.sizes:
        proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--budget", str(args.budget),
                               "--work", str(work)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        row = json.loads(proc.stdout.splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(work / f"run-{n}", ignore_errors=True)
        (work / f"synthetic-{n}.jsonl").unlink(missing_ok=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=2) + "\n")
    if len(rows) > 1:
        plot(rows, Path(args.out).with_suffix(".png"))
    return 0


def plot(rows: list[dict], path: Path) -> None:
    """Wall time by component and peak memory against N, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [r["n"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    left.loglog(ns, [r["wall_s"] for r in rows], "o-", label="wall time", lw=2)
    parts = sorted({k for r in rows for k in r["time_s"]}, key=lambda k: -rows[-1]["time_s"].get(k, 0))
    for part in parts[:6]:
        left.loglog(ns, [max(r["time_s"].get(part, 0), 1e-3) for r in rows], ".--", label=part)
    left.loglog(ns, [rows[0]["wall_s"] * n / ns[0] for n in ns], color="grey", lw=0.6, label="linear in N")
    left.set_xlabel("queries N")
    left.set_ylabel("seconds")
    left.legend(fontsize=8)
    right.loglog(ns, [r["peak_rss_mb"] for r in rows], "o-")
    right.set_xlabel("queries N")
    right.set_ylabel("peak memory (max RSS, MB)")
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"Bookkeeping at scale, budget {rows[0]['budget']:g} (simulated engine)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
