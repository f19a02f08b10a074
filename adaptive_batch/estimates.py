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

maj@k, the accuracy of the majority answer of k samples (ties broken at random, samples without an
answer abstaining), comes from the same uniform samples where the warm-up is drawn whole: exactly
the mean over every k of a query's n samples (``maj_at_k``). A label-free run has it from ``score``
(its references come after the run); an oracle run whose warm-up is drawn whole has it in its
summary (an answer is right where its samples passed).

Each is averaged over queries, with a 95% normal interval over queries. Only oracle verifiers
(a sample passes or fails against a reference) have pass@k in the summary; label-free runs report
none there.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Callable, Iterable, Optional, Sequence


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
    produced_by = (f"the warm-up's base-prompt samples (up to {warmup} per query): {how}; mean over queries with a "
                   "95% normal interval")
    return {name: {**figure, "produced_by": produced_by} for name, figure in out.items()} or None


def maj_at_k(answers: Sequence[Optional[str]], correct: Callable[[str], bool], k: int) -> float:
    """The mean, over every k of these n samples, of whether their majority answer is right: ties
    between top answers count as the share of them that is right (a random tie-break), samples
    without an answer (None) do not vote, and k samples without any answer are wrong. Exact."""
    n = len(answers)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    counts = Counter(a for a in answers if a is not None)
    silent = n - sum(counts.values())
    total = 0.0
    for answer, own in counts.items():
        if not correct(answer):
            continue
        others = [c for a, c in counts.items() if a != answer]
        for j in range(1, min(own, k) + 1):
            # Ways the other k - j samples leave this answer on top with t others tied: {(size, t): ways}.
            ways: dict[tuple[int, int], int] = {(x, 0): math.comb(silent, x) for x in range(min(silent, k - j) + 1)}
            for c in others:
                grown: dict[tuple[int, int], int] = {}
                for (size, ties), w in ways.items():
                    for x in range(min(c, j, k - j - size) + 1):
                        key = (size + x, ties + (x == j))
                        grown[key] = grown.get(key, 0) + w * math.comb(c, x)
                ways = grown
            total += math.comb(own, j) * sum(w / (1 + ties) for (size, ties), w in ways.items() if size == k - j)
    return total / math.comb(n, k)


def warmup_maj_at_k(samples: Iterable[dict[str, Any]], warmup: int,
                    correct: Callable[[str, str], bool]) -> Optional[dict[str, Any]]:
    """maj@1 .. maj@warmup with intervals from each query's warm-up samples (rows of samples.parquet),
    where every query has its whole warm-up; ``correct(query_id, answer)`` judges an answer."""
    by_query: dict[str, list[tuple[int, Optional[str]]]] = {}
    for s in samples:
        if s["phase"] == "warmup" and s["error"] is None and s.get("engine", "main") == "main":
            by_query.setdefault(s["query_id"], []).append((s["sample_index"], s["answer"]))
    if not by_query or any(len(rows) < warmup for rows in by_query.values()):
        return None  # a warm-up cut short (stopped at a pass, or by agreement) is no uniform sample
    out = {}
    for k in range(1, warmup + 1):
        values = [maj_at_k([a for _, a in sorted(rows)[:warmup]], lambda answer, q=q: correct(q, answer), k)
                  for q, rows in by_query.items()]
        out[f"maj@{k}"] = _interval(values)
    produced_by = (f"the warm-up's base-prompt samples ({warmup} per query): the majority answer's accuracy over "
                   "every k of them, ties split; mean over queries with a 95% normal interval")
    return {name: {**figure, "produced_by": produced_by} for name, figure in out.items()}


def oracle_maj_at_k(samples: list[dict[str, Any]], warmup: int) -> Optional[dict[str, Any]]:
    """maj@k of an oracle run: an answer is right where a sample that gave it passed."""
    right = {(s["query_id"], s["answer"]) for s in samples if s["passed"] and s["answer"] is not None}
    return warmup_maj_at_k(samples, warmup, lambda query, answer: (query, answer) in right)


def _interval(values: list[float]) -> dict[str, Any]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    half = 1.96 * sd / math.sqrt(n)
    return {"value": round(mean, 4), "ci95": [round(max(0.0, mean - half), 4), round(min(1.0, mean + half), 4)],
            "queries": n}
