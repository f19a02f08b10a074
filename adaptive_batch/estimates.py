"""Figures a pipeline can compare night to night: pass@k from the warm-up's uniform samples.

Coverage is pass@budget: it depends on the budget and on the method. The warm-up is the same for
every method, base-prompt samples drawn in order with seeds fixed by (run seed, query id, sample
index), so it estimates the model's own pass@k for k up to the warm-up size, whatever came after:

- where the warm-up is drawn whole (best-of-N, ``--warmup-together``), each query's n samples
  give the unbiased estimator of Chen et al. (2021), 1 - C(n - c, k) / C(n, k), from its c passes;
- where it stops at a query's first pass (early-stopping methods draw one warm-up sample per
  round), the indicator "a pass among its first k samples" does: the samples are drawn in order,
  so it is unbiased for the same probability. (Chen's estimator on such samples would not be:
  a query gets its later samples only because its earlier ones failed.)

Each is averaged over queries, with a 95% normal interval over queries. Only oracle verifiers
(a sample passes or fails against a reference) have pass@k; label-free runs report none.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al.'s unbiased estimator of pass@k from n samples with c passes."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def warmup_pass_at_k(samples: Iterable[dict[str, Any]], warmup: int,
                     stops_at_first_pass: bool) -> Optional[dict[str, Any]]:
    """pass@1 .. pass@warmup with intervals, from the run's samples (rows of samples.parquet);
    ``stops_at_first_pass``: the warm-up stopped sampling a query at its first pass."""
    by_query: dict[str, list[tuple[int, Optional[bool]]]] = {}
    for s in samples:
        if s["phase"] == "warmup" and s["error"] is None and s.get("engine", "main") == "main":
            by_query.setdefault(s["query_id"], []).append((s["sample_index"], s["passed"]))
    if not by_query or any(p is None for rows in by_query.values() for _, p in rows):
        return None  # nothing drawn, or label-free votes: no pass@k
    out: dict[str, Any] = {}
    for rows in by_query.values():
        rows.sort()
    for k in range(1, warmup + 1):
        values = []
        for rows in by_query.values():
            passes = [p for _, p in rows]
            if not stops_at_first_pass and len(passes) >= warmup:
                values.append(pass_at_k(len(passes), sum(passes), k))
            elif stops_at_first_pass and (True in passes[:k] or len(passes) >= k):
                values.append(1.0 if True in passes[:k] else 0.0)
            else:
                # Fewer than k samples and no pass among them (a learned warm-up's small budget, a
                # budget that ran out): unknown, and leaving it out would bias the mean upwards.
                values = []
                break
        if values:
            out[f"pass@{k}"] = _interval(values)
    how = ("a pass among a query's first k samples (its warm-up stopped at its first pass)" if stops_at_first_pass
           else "Chen et al.'s unbiased estimator over each query's warm-up samples")
    return {**out, "produced_by": f"the warm-up's base-prompt samples (up to {warmup} per query): {how}; mean over "
            "queries with a 95% normal interval"} if out else None


def _interval(values: list[float]) -> dict[str, Any]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    half = 1.96 * sd / math.sqrt(n)
    return {"value": round(mean, 4), "ci95": [round(max(0.0, mean - half), 4), round(min(1.0, mean + half), 4)],
            "queries": n}
