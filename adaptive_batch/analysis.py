"""Coverage against compute, and the efficiency factor over uniform best-of-N: the arithmetic.

A method's curve is its coverage after each round against its cumulative compute per query, on
three axes: samples, generated tokens, total (prompt + generated) tokens. The efficiency factor at
budget B is the compute uniform best-of-N needs to reach the coverage the method reaches at B,
divided by B samples (on the token axes: by the tokens the method actually spent up to B; a run
that had nothing left to sample before B keeps its final coverage). It is computed per seed and
summarised as mean with a 95% t-interval over seeds. Where uniform never reaches that coverage
within the samples it was run for, the factor is only known to exceed max/B: it is reported as a
lower bound ("censored"), never as a number it did not reach.

The benchmark scripts (``benchmarks/compute_curves.py``, ``benchmarks/uniform_first_pass.py``)
read and write files and draw; what they compute is here, where tests check it.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np

from .costs import PriceTable

# The declared price tables of the benchmarks (dollars per million tokens), no vendor's.
PRICE_TABLES = {"cost_a": PriceTable(input=2.0, cached_input=0.5, output=8.0),
                "cost_b": PriceTable(input=3.0, cached_input=0.3, output=15.0)}
MEASURED_AXES = ("samples", "generated_tokens", "total_tokens")
AXES = (*MEASURED_AXES, "flops", "cost_a", "cost_b")
METHODS = ("uniform", "elimination", "random-demos", "adaptive")


def with_cost_axes(curve: dict, parameters: int) -> dict:
    """A curve with FLOPs and cost under each price table, per query, from its prompt, cached
    prompt and generated tokens (curves measured before cached tokens were counted get none)."""
    if "cached_tokens" not in curve or "flops" in curve:
        return curve
    out = dict(curve)
    prompt, cached, generated = curve["prompt_tokens"], curve["cached_tokens"], curve["generated_tokens"]
    out["flops"] = [2.0 * parameters * (p - c + g) for p, c, g in zip(prompt, cached, generated)]
    for axis, table in PRICE_TABLES.items():
        out[axis] = [table.dollars(p, c, g) for p, c, g in zip(prompt, cached, generated)]
    return out


def axes_of(seeds: list[dict], methods: list[str]) -> list[str]:
    """The axes every curve of these methods has."""
    return [a for a in AXES if all(a in row[m]["curve"] for row in seeds for m in methods)]
T95 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571}


def methods_in(row: dict) -> list[str]:
    """The methods a seed row holds results of: the standard ones in their order, then variants
    such as ``adaptive-rotate8``."""
    found = [key for key, value in row.items() if isinstance(value, dict) and "curve" in value]
    return [m for m in METHODS if m in found] + sorted(m for m in found if m not in METHODS)


def coverage_at(curve: dict, axis: str, x: float) -> float | None:
    xs, ys = curve[axis], curve["coverage"]
    if x > xs[-1] + 1e-9:
        return None
    return float(np.interp(x, xs, ys))


def compute_to_reach(curve: dict, axis: str, target: float) -> float | None:
    """The least compute at which a (non-decreasing) curve reaches target, interpolated; None if never."""
    xs, ys = curve[axis], curve["coverage"]
    for i in range(1, len(xs)):
        if ys[i] >= target - 1e-12:
            if ys[i] == ys[i - 1]:
                return float(xs[i])
            return float(xs[i - 1] + (target - ys[i - 1]) * (xs[i] - xs[i - 1]) / (ys[i] - ys[i - 1]))
    return 0.0 if ys and ys[0] >= target else None


def interval(values: list[float]) -> dict:
    n = len(values)
    mean = statistics.fmean(values)
    half = T95.get(n, 1.96) * statistics.stdev(values) / n**0.5 if n > 1 else 0.0
    return {"mean": round(mean, 3), "ci95": [round(mean - half, 3), round(mean + half, 3)], "n": n,
            "per_seed": [round(v, 3) for v in values]}


def efficiency(seeds: list[dict], method: str, budget: float, against: str = "uniform") -> dict:
    """The compute ``against`` needs to reach the coverage ``method`` reaches at ``budget`` samples,
    over what ``method`` spent, per axis."""
    out: dict = {}
    for axis in axes_of(seeds, [method, against]):
        factors, censored = [], []
        for row in seeds:
            mine, uniform = row[method]["curve"], row[against]["curve"]
            # A run that stopped short of B (nothing left to sample) keeps its final coverage.
            x = min(budget, mine["samples"][-1])
            coverage = coverage_at(mine, "samples", x)
            spent = budget if axis == "samples" else float(np.interp(x, mine["samples"], mine[axis]))
            needed = compute_to_reach(uniform, axis, coverage)
            censored.append(needed is None)
            if needed is None:
                needed = uniform[axis][-1]  # uniform's whole run: the factor is at least this
            factors.append(needed / spent if spent > 0 else 1.0)
        else:
            # A censored seed's factor is a lower bound, and so is any summary that includes it.
            out[axis] = {**interval(factors), "censored": any(censored), "censored_seeds": sum(censored)}
    return out


def at_equal_compute(seeds: list[dict], method: str, other: str, budget: float) -> dict:
    """Per axis: ``method``'s coverage at ``budget`` samples and ``other``'s coverage at the same
    compute on that axis, seed by seed, and the difference. Where ``other`` never spent that much
    (its run ended first), its final coverage stands in and the seed is marked: ``other`` might
    have gone further with more budget."""
    out: dict = {}
    for axis in axes_of(seeds, [method, other]):
        mine_cov, other_cov, beyond = [], [], 0
        for row in seeds:
            mine, theirs = row[method]["curve"], row[other]["curve"]
            x = min(budget, mine["samples"][-1])
            coverage = coverage_at(mine, "samples", x)
            spent = float(np.interp(x, mine["samples"], mine[axis]))
            reached = coverage_at(theirs, axis, spent)
            if reached is None:
                beyond += 1
                reached = theirs["coverage"][-1]
            mine_cov.append(coverage)
            other_cov.append(reached)
        diff = [a - b for a, b in zip(mine_cov, other_cov)]
        out[axis] = {"method": interval(mine_cov), "other": interval(other_cov), "difference": interval(diff),
                     "wins_or_ties": sum(d >= -1e-12 for d in diff), "seeds": len(diff),
                     "other_ran_out_seeds": beyond}
    return out


def curves_on_grid(seeds: list[dict], method: str, axis: str, points: int = 41) -> dict:
    top = min(row[method]["curve"][axis][-1] for row in seeds)
    grid = np.linspace(0, top, points)
    values = np.array([[coverage_at(row[method]["curve"], axis, x) for x in grid] for row in seeds], dtype=float)
    return {"x": [float(f"{x:.6g}") for x in grid], "mean": values.mean(0).round(4).tolist(),
            "sd": (values.std(0, ddof=1) if len(seeds) > 1 else np.zeros(points)).round(4).tolist()}


def merge_results(sources: list[str]) -> list[dict]:
    """The result files, those with the same settings merged: a dataset's seed rows gather the
    methods of every file (e.g. adaptive from one run of compare_methods, the baselines from
    another, at the same budget and queries)."""
    out: list[dict] = []
    for source in sources:
        loaded = json.loads(Path(source).read_text())
        key = (loaded["settings"]["limit"], loaded["settings"]["budget"])
        into = next((o for o in out if (o["settings"]["limit"], o["settings"]["budget"]) == key), None)
        if into is None:
            out.append(loaded)
            continue
        for name, dataset in loaded["datasets"].items():
            if name not in into["datasets"]:
                into["datasets"][name] = dataset
                continue
            rows = {row["seed"]: row for row in into["datasets"][name]["seeds"]}
            for row in dataset["seeds"]:
                for method in methods_in(row):
                    if row["seed"] in rows:
                        rows[row["seed"]].setdefault(method, row[method])
    return out


def dataset_report(settings: dict, seeds: list[dict], budgets: list[float], parameters: int | None = None) -> dict:
    """Coverage, efficiency factors (against uniform and against elimination), coverage at equal
    compute against elimination, and mean curves of one dataset's seed rows, at the budgets the
    runs reached. ``parameters`` (the model's) gives the FLOPs and cost axes where the curves hold
    cached tokens."""
    methods = [m for m in methods_in(seeds[0]) if all(m in row for row in seeds)]
    if parameters:
        for row in seeds:
            for m in methods:
                row[m] = {**row[m], "curve": with_cost_axes(row[m]["curve"], parameters)}
    measured = [b for b in budgets if b <= settings["budget"] + 1e-9]
    data = {
        "seeds": len(seeds), "queries": settings["limit"],
        "uniform_samples_run": min(row["uniform"]["curve"]["samples"][-1] for row in seeds),
        "budgets_measured": measured,
        "budgets_not_measured": [b for b in budgets if b not in measured],
        "coverage": {m: {f"{b:g}": interval([coverage_at(r[m]["curve"], "samples", min(b, r[m]["curve"]["samples"][-1]))
                                             for r in seeds])
                         for b in measured} for m in methods},
        "efficiency_factor": {m: {f"{b:g}": efficiency(seeds, m, b) for b in measured}
                              for m in methods if m != "uniform"},
        "curves": {m: {axis: curves_on_grid(seeds, m, axis) for axis in axes_of(seeds, [m])} for m in methods},
        "largest_factor": {},
    }
    # Elimination past its budget (where the results hold it) reaches the compute a method spent
    # with longer prompts; elimination at the same budget may have stopped short of it.
    against = "elimination-extended" if "elimination-extended" in methods else "elimination"
    if against in methods:
        others = [m for m in methods if m not in ("uniform", "elimination", "elimination-extended")]
        data["elimination_compared"] = against
        data["efficiency_against_elimination"] = {m: {f"{b:g}": efficiency(seeds, m, b, against)
                                                      for b in measured} for m in others}
        data["at_equal_compute_against_elimination"] = {m: {f"{b:g}": at_equal_compute(seeds, m, against, b)
                                                            for b in measured} for m in others}
        for m in others:
            # A budget in tokens or cost may buy more samples than the largest budget in samples:
            # the comparison at the end of its runs is the one at its own budget.
            if measured and any(row[m]["curve"]["samples"][-1] > max(measured) + 1e-9 for row in seeds):
                data["at_equal_compute_against_elimination"][m]["end"] = at_equal_compute(seeds, m, against, math.inf)
    for method, factors in data["efficiency_factor"].items():
        best = max(measured, key=lambda b: factors[f"{b:g}"]["samples"]["mean"])
        data["largest_factor"][method] = {"budget": best, **factors[f"{best:g}"]}
    if "adaptive" in data["largest_factor"]:
        data["largest_adaptive_factor"] = data["largest_factor"]["adaptive"]
    return data


def uniform_curve(samples: list[dict], n_queries: int, n: int) -> dict:
    """Uniform best-of-x for x = 0..n from the samples of an elimination run capped at n.

    A sample uniform would draw after its query's first pass is not drawn: its generated and
    cached prompt tokens are counted at that query's mean over the samples it did draw (its prompt
    tokens are exact: the base prompt is the same for every sample of a query)."""
    by_query: dict[str, list[dict]] = {}
    for s in samples:
        if s["error"] is None:
            by_query.setdefault(s["query_id"], []).append(s)
    first_pass, prompt = [], []
    generated, cached, estimated = np.zeros(n), np.zeros(n), np.zeros(n)
    for rows in by_query.values():
        rows.sort(key=lambda s: s["sample_index"])
        passes = [s["sample_index"] for s in rows if s["passed"]]
        first_pass.append(passes[0] if passes else n)
        prompt.append(rows[0]["prompt_tokens"])
        drawn = {s["sample_index"]: (s["completion_tokens"], s.get("cached_tokens") or 0) for s in rows}
        mean_generated = sum(g for g, _ in drawn.values()) / len(drawn)
        mean_cached = sum(c for _, c in drawn.values()) / len(drawn)
        for i in range(n):
            if i in drawn:
                generated[i] += drawn[i][0]
                cached[i] += drawn[i][1]
            else:
                generated[i] += mean_generated
                cached[i] += mean_cached
                estimated[i] += mean_generated
    first = np.array(first_pass)
    keys = ("samples", "generated_tokens", "total_tokens", "prompt_tokens", "cached_tokens", "coverage")
    curve: dict[str, list[float]] = {k: [] for k in keys}
    for x in range(n + 1):
        gen = generated[:x].sum() / n_queries
        prompt_x = x * sum(prompt) / n_queries
        curve["samples"].append(float(x))
        curve["generated_tokens"].append(round(float(gen), 3))
        curve["total_tokens"].append(round(float(gen + prompt_x), 3))
        curve["prompt_tokens"].append(round(float(prompt_x), 3))
        curve["cached_tokens"].append(round(float(cached[:x].sum() / n_queries), 3))
        curve["coverage"].append(float((first < x).sum() / n_queries))
    return {"curve": curve, "estimated_generated_share": round(float(estimated.sum() / generated.sum()), 4),
            "samples_drawn": sum(len(rows) for rows in by_query.values())}
