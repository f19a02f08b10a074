"""Tables and plots of label_free_allocation.py results: every method against self-consistency.

    python benchmarks/label_free_table.py benchmarks/results/label-free-allocation-first200-s*.json \
        --out benchmarks/results/label-free-allocation-first200.json --plots benchmarks/results/label-free-allocation

Seeds come from one file each (or several in one file); they are merged, then for each dataset
and budget: accuracy against the references (mean and 95% t-interval over seeds), the difference
against self-consistency at the same budget (equal samples: every method here spends B a query
but adaptive-consistency, which stops early and is also compared with self-consistency at the
samples it spent), samples, total and uncached tokens a query, and the pool's pollution (the share
of shown demonstrations whose answer was wrong). The Beta rule's replayed sweep gives the share
of queries it decides and their accuracy at each confidence.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def interval(values: list[float]) -> dict:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "ci95": [mean, mean], "n": len(values)}
    half = T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / len(values) ** 0.5
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": len(values)}


def merge(paths: list[str], root: Path) -> dict:
    """The seeds of every file, by dataset; a run's estimates from its score.json (under ``root``)
    where the file predates their being copied in."""
    merged: dict = {"sources": paths, "datasets": {}}
    for path in paths:
        report = json.loads(Path(path).read_text())
        merged.setdefault("settings", report["settings"])
        merged.setdefault("model", report["model"])
        for name, data in report["datasets"].items():
            for row in data["seeds"]:
                for runs in row["runs"].values():
                    for run in runs.values():
                        score = root / run["run_dir"] / "score.json"
                        if "estimates" not in run and score.exists():
                            run["estimates"] = json.loads(score.read_text()).get("estimates")
            rows = merged["datasets"].setdefault(name, [])
            for row in data["seeds"]:
                # False where one engine served every run and carried its saved prefixes over.
                row["own_cached_counts"] = report["settings"].get("own_cached_counts", True)
                same = next((r for r in rows if r["seed"] == row["seed"]), None)
                if same is None:
                    rows.append(row)
                    continue
                for budget, runs in row["runs"].items():  # a later file adds methods to a seed
                    same["runs"].setdefault(budget, {}).update(runs)
                same["own_cached_counts"] = same["own_cached_counts"] and row["own_cached_counts"]
    for rows in merged["datasets"].values():
        rows.sort(key=lambda r: r["seed"])
    return merged


def stability(rows: list[dict]) -> dict:
    """Across seeds, the spread (standard deviation) of each figure a pipeline could track: the
    warm-up's maj@k, the decided share (coverage of a label-free run) and the accuracy, per method
    and budget."""
    out: dict = {}
    if len(rows) < 2:
        return out
    for budget in sorted(rows[0]["runs"], key=lambda b: float(b[1:])):
        for method in [m for m in rows[0]["runs"][budget] if all(m in r["runs"].get(budget, {}) for r in rows)]:
            runs = [r["runs"][budget][method] for r in rows]
            figures = {"decided (coverage)": [x["decided"] for x in runs], "accuracy": [x["accuracy"] for x in runs]}
            for name in (runs[0].get("estimates") or {}):
                values = [(x.get("estimates") or {}).get(name, {}).get("value") for x in runs]
                if None not in values:
                    figures[name] = values
            out[f"{budget}/{method}"] = {name: {"sd": round(statistics.stdev(v), 4), "mean": round(statistics.fmean(v), 4)}
                                         for name, v in figures.items()}
    return out


def sc_at(row: dict, samples: float) -> float:
    """Self-consistency's accuracy at a fractional number of samples a query (linear between k's)."""
    curve = {int(k): v for k, v in row["replayed"]["self_consistency_at_k"].items()}
    low = max(1, min(int(samples), max(curve)))
    high = min(low + 1, max(curve))
    return curve[low] + (curve[high] - curve[low]) * (samples - low) if high > low else curve[low]


def sc_at_uncached_tokens(row: dict, budget_key: str, tokens: float) -> float | None:
    """Self-consistency's accuracy at the same uncached tokens a query (its tokens grow by the same
    amount each sample); None beyond its largest budget, where it was not measured."""
    largest = max(row["runs"], key=lambda b: float(b[1:]))
    sc = row["runs"][largest]["self-consistency"]
    per_sample = sc["uncached_tokens_per_query"] / sc["samples_per_query"]
    samples = tokens / per_sample
    return sc_at(row, samples) if samples <= sc["samples_per_query"] + 1e-9 else None


def sc_samples_for(rows: list[dict], accuracy: float) -> float | None:
    """The fewest samples a query (linear between k's) at which self-consistency's mean replayed curve
    first reaches ``accuracy``; None when it never does within the uniform run."""
    ks = sorted(int(k) for k in rows[0]["replayed"]["self_consistency_at_k"])
    curve = [statistics.fmean(r["replayed"]["self_consistency_at_k"][str(k)] for r in rows) for k in ks]
    if curve[0] >= accuracy:
        return float(ks[0])
    for (k0, a0), (k1, a1) in zip(zip(ks, curve), zip(ks[1:], curve[1:])):
        if a1 >= accuracy > a0:
            return k0 + (k1 - k0) * (accuracy - a0) / (a1 - a0)
    return None


def fewest_samples_to_match(rows: list[dict], method: str = "elimination") -> dict:
    """For each budget self-consistency was run at: the smallest budget at which ``method``, run on
    every seed, reaches self-consistency's mean accuracy, as a share of its samples (the issue's
    "matches it with <= 60% of its samples"), and on how many seeds it is at or above it seed by seed.
    Only budgets both were run at count: nothing interpolated."""
    def accuracies(budget: str, name: str) -> list[float] | None:
        runs = [r["runs"].get(budget, {}).get(name) for r in rows]
        return None if None in runs else [x["accuracy"] for x in runs]

    budgets = sorted({b for r in rows for b in r["runs"]}, key=lambda b: float(b[1:]))
    out: dict = {}
    for sc_budget in budgets:
        sc = accuracies(sc_budget, "self-consistency")
        if sc is None:
            continue
        for budget in budgets:
            own = accuracies(budget, method)
            if own is None or statistics.fmean(own) < statistics.fmean(sc):
                continue
            out[sc_budget[1:]] = {
                "method": method, "budget": float(budget[1:]),
                "share_of_samples": round(float(budget[1:]) / float(sc_budget[1:]), 3),
                "accuracy": round(statistics.fmean(own), 4), "self_consistency": round(statistics.fmean(sc), 4),
                "seeds_at_or_above": f"{sum(a >= b for a, b in zip(own, sc))}/{len(sc)}"}
            break
    return out


def summarise(rows: list[dict]) -> dict:
    out: dict = {"seeds": [r["seed"] for r in rows], "budgets": {}}
    for budget in sorted(rows[0]["runs"], key=lambda b: float(b[1:])):
        # Every method run on any seed, over the seeds that ran it (the interval says how many).
        methods = list(dict.fromkeys(m for r in rows for m in r["runs"].get(budget, {})))
        table = {}
        for method in methods:
            ran = [r for r in rows if method in r["runs"].get(budget, {})]
            runs = [r["runs"][budget][method] for r in ran]
            # Self-consistency run at this budget; at a budget it was not run at (a fraction of a larger one),
            # its replayed majority over each query's first B samples, which is what that run would draw.
            sc = [r["runs"][budget]["self-consistency"]["accuracy"] if "self-consistency" in r["runs"][budget]
                  else sc_at(r, float(budget[1:])) for r in ran]
            entry = {field: interval([x[field] for x in runs]) for field in
                     ("accuracy", "decided", "samples_per_query", "total_tokens_per_query")}
            own_runs = [x for x, r in zip(runs, ran) if r["own_cached_counts"]]
            entry["uncached_tokens_per_query"] = interval([x["uncached_tokens_per_query"] for x in own_runs or runs])
            entry["minus_self_consistency"] = interval([x["accuracy"] - s for x, s in zip(runs, sc)])
            entry["minus_self_consistency_at_equal_samples"] = interval(
                [x["accuracy"] - sc_at(r, x["samples_per_query"]) for x, r in zip(runs, ran)])
            own = [(x, r) for x, r in zip(runs, ran) if r["own_cached_counts"]]  # token counts that are the run's own
            at_tokens = [sc_at_uncached_tokens(r, budget, x["uncached_tokens_per_query"]) for x, r in own]
            entry["minus_self_consistency_at_equal_uncached_tokens"] = None if None in at_tokens or not own else interval(
                [x["accuracy"] - a for (x, _), a in zip(own, at_tokens)])
            wrong = [x["pool"]["shown_wrong_share"] for x in runs if x["pool"]["shown_wrong_share"] is not None]
            entry["pool_shown_wrong_share"] = interval(wrong) if wrong else None
            # Equal accuracy: what self-consistency needs to match this run (mean curve, mean accuracy), and
            # the share of those samples this run spent (the "<= 60% of its samples").
            needed = sc_samples_for(ran, entry["accuracy"]["mean"])
            entry["self_consistency_samples_for_equal_accuracy"] = None if needed is None else round(needed, 2)
            entry["share_of_self_consistency_samples"] = None if needed is None else round(
                entry["samples_per_query"]["mean"] / needed, 3)
            table[method] = entry
        out["budgets"][budget] = table
    out["fewest_samples_to_match"] = fewest_samples_to_match(rows)
    sweep: dict = {}
    for key in rows[0]["replayed"]["beta_stopping"]:
        cells = [r["replayed"]["beta_stopping"][key] for r in rows]
        sweep[key] = {"budget": cells[0]["budget"], "confidence": cells[0]["confidence"],
                      "decided": interval([c["decided"] for c in cells]),
                      "accuracy_of_decided": interval([c["accuracy_of_decided"] for c in cells
                                                       if c["accuracy_of_decided"] is not None] or [0.0]),
                      "accuracy": interval([c["accuracy"] for c in cells]),
                      "samples_per_query": interval([c["samples_per_query"] for c in cells])}
    out["beta_sweep"] = sweep
    out["stability_across_seeds"] = stability(rows)
    return out


def equal_accuracy(entry: dict) -> str:
    needed = entry["self_consistency_samples_for_equal_accuracy"]
    return "beyond the uniform run" if needed is None else \
        f"{needed:.2f} ({entry['share_of_self_consistency_samples']:.0%})"


def markdown(summary: dict) -> str:
    def f(x, digits=3):
        return f"{x['mean']:.{digits}f} [{x['ci95'][0]:.{digits}f}, {x['ci95'][1]:.{digits}f}]"

    lines = []
    for name, data in summary["datasets"].items():
        lines.append(f"**{name}**, seeds {data['seeds']}\n")
        lines.append("| B | method | accuracy | minus self-consistency | at equal samples | at equal uncached tokens | "
                     "decided | samples/q | SC samples for equal accuracy (share) | total tokens/q | uncached tokens/q | "
                     "shown demos wrong |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for budget, table in data["budgets"].items():
            for method, e in table.items():
                wrong = f"{e['pool_shown_wrong_share']['mean']:.2f}" if e["pool_shown_wrong_share"] else ""
                seeds = e["accuracy"]["n"]
                shown = method if seeds == len(data["seeds"]) else f"{method} ({seeds} seed{'s' * (seeds > 1)})"
                lines.append(f"| {budget[1:]} | {shown} | {f(e['accuracy'])} | {f(e['minus_self_consistency'])} | "
                             f"{f(e['minus_self_consistency_at_equal_samples'])} | "
                             f"{f(e['minus_self_consistency_at_equal_uncached_tokens']) if e['minus_self_consistency_at_equal_uncached_tokens'] else 'beyond the uniform run'} | "
                             f"{e['decided']['mean']:.2f} | "
                             f"{e['samples_per_query']['mean']:.2f} | {equal_accuracy(e)} | "
                             f"{e['total_tokens_per_query']['mean']:.0f} | "
                             f"{e['uncached_tokens_per_query']['mean']:.0f} | {wrong} |")
        if data["fewest_samples_to_match"]:
            lines.append("\nThe fewest samples at which elimination matches self-consistency (both run, every seed):\n")
            lines.append("| self-consistency B | its accuracy | elimination B | accuracy | share of samples | "
                         "seeds at or above |")
            lines.append("|---|---|---|---|---|---|")
            for sc_budget, m in data["fewest_samples_to_match"].items():
                lines.append(f"| {sc_budget} | {m['self_consistency']:.3f} | {m['budget']:g} | {m['accuracy']:.3f} | "
                             f"{m['share_of_samples']:.0%} | {m['seeds_at_or_above']} |")
        lines.append("\nBeta stopping replayed over the uniform run's votes (per-query cap B, nothing reallocated):\n")
        lines.append("| B | confidence | decided | accuracy of decided | accuracy | samples/q |")
        lines.append("|---|---|---|---|---|---|")
        for cell in data["beta_sweep"].values():
            lines.append(f"| {cell['budget']:g} | {cell['confidence']:g} | {cell['decided']['mean']:.3f} | "
                         f"{cell['accuracy_of_decided']['mean']:.3f} | {cell['accuracy']['mean']:.3f} | "
                         f"{cell['samples_per_query']['mean']:.2f} |")
        if data["stability_across_seeds"]:
            lines.append("\nSpread across seeds (standard deviation) of the figures a pipeline could track:\n")
            names = sorted({n for cell in data["stability_across_seeds"].values() for n in cell})
            lines.append("| run | " + " | ".join(names) + " |")
            lines.append("|---|" + "---|" * len(names))
            for key, cell in data["stability_across_seeds"].items():
                lines.append(f"| {key} | " + " | ".join(
                    f"{cell[n]['sd']:.3f} (mean {cell[n]['mean']:.3f})" if n in cell else "" for n in names) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(merged: dict, summary: dict, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in merged["datasets"].items():
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ks = sorted(int(k) for k in rows[0]["replayed"]["self_consistency_at_k"])
        curve = [statistics.fmean(r["replayed"]["self_consistency_at_k"][str(k)] for r in rows) for k in ks]
        ax.plot(ks, curve, color="grey", label="self-consistency at k (replayed)")
        markers = {"self-consistency": "o", "adaptive-consistency": "v", "adaptive-consistency-c0.8": "<",
                   "elimination": "s", "adaptive": "D", "adaptive-floor": "^"}
        labelled: set = set()
        for budget, table in summary["datasets"][name]["budgets"].items():
            for method, e in table.items():
                # Methods at the same budget spend the same samples: spread them a little to keep each visible.
                shift = 0.05 * (list(markers).index(method) - 2.5) if method in markers else 0.0
                ax.errorbar(e["samples_per_query"]["mean"] + shift, e["accuracy"]["mean"],
                            yerr=[[e["accuracy"]["mean"] - e["accuracy"]["ci95"][0]],
                                  [e["accuracy"]["ci95"][1] - e["accuracy"]["mean"]]],
                            marker=markers.get(method, "x"), linestyle="none", capsize=3,
                            label=None if method in labelled else f"{method} ({e['accuracy']['n']} seeds)",
                            color=f"C{list(markers).index(method) if method in markers else 5}")
                labelled.add(method)
        ax.set_xlabel("samples per query")
        ax.set_ylabel("accuracy against the references (scored afterwards)")
        ax.set_title(f"{name}: label-free, first {merged['settings']['limit']} queries (mean, 95% interval over seeds)",
                     fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / f"{name}.png", dpi=110)
        plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+")
    parser.add_argument("--out", help="write the merged summary here (JSON)")
    parser.add_argument("--plots", help="a folder for one plot per dataset")
    parser.add_argument("--root", default=".", help="where the runs' directories are (their score.json)")
    args = parser.parse_args(argv)
    merged = merge(args.results, Path(args.root))
    summary = {"sources": args.results, "model": merged["model"], "settings": merged["settings"],
               "datasets": {name: summarise(rows) for name, rows in merged["datasets"].items()}}
    print(markdown(summary))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    if args.plots:
        plot(merged, summary, Path(args.plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
