"""Learned allocation (Solve-then-Learn, arXiv 2604.14853): a warm-up budget per query.

Past runs say, for each query, how often a base-prompt sample passed. ``train_allocator`` fits a
logistic regression from cheap input features (the question's embedding, its length and how many
numbers it holds) to that per-sample success probability. ``allocate`` then spends a warm-up
budget by the Lagrangian rule: each query gets the b maximising Acc(x, b) - lambda * b, with
Acc(x, b) = 1 - (1 - p_x)^b. Because the marginal gain p(1 - p)^b falls with b, that is the
same as handing out samples in order of marginal gain, and the cut-off gain is the lambda that
makes the total meet the budget exactly. Queries predicted easy get one sample; those predicted
hopeless get little.

Saved as ``allocator.npz`` (coefficients) and ``allocator.json`` (what it was trained on): plain
numbers, nothing executable.
"""

from __future__ import annotations

import heapq
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from adaptive_batch.errors import UserError

from .state import tie_break_rank

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def query_features(questions: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
    """Embedding, log length in characters, count of numbers, and a bias-free constant layout."""
    extra = np.array([[np.log1p(len(q)), len(_NUMBER.findall(q))] for q in questions], dtype=np.float32)
    return np.hstack([embeddings.astype(np.float32), extra])


@dataclass(frozen=True)
class Allocator:
    coef: np.ndarray
    intercept: float
    embedder: str
    trained_on: dict

    def success_probability(self, features: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(features @ self.coef + self.intercept)))

    def save(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        np.savez(out / "allocator.npz", coef=self.coef, intercept=np.array([self.intercept]))
        (out / "allocator.json").write_text(json.dumps({"embedder": self.embedder, **self.trained_on}, indent=2) + "\n")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> "Allocator":
        path = Path(directory)
        try:
            weights = np.load(path / "allocator.npz", allow_pickle=False)
            meta = json.loads((path / "allocator.json").read_text())
        except FileNotFoundError as exc:
            raise UserError(f"{path} is not an allocator (made by `adaptive-batch learn`): {Path(exc.filename).name} "
                            "is missing") from None
        return cls(weights["coef"], float(weights["intercept"][0]), meta.pop("embedder"), meta)


def train_allocator(questions: Sequence[str], embeddings: np.ndarray, passes: Sequence[int], trials: Sequence[int],
                    embedder: str, trained_on: dict) -> Allocator:
    """Fit p(success per sample | features) to per-query pass counts (each trial is one row)."""
    from sklearn.linear_model import LogisticRegression

    features = query_features(questions, embeddings)
    rows, labels, weights = [], [], []
    for x, k, n in zip(features, passes, trials):
        if n <= 0:
            continue
        for label, count in ((1, k), (0, n - k)):
            if count:
                rows.append(x)
                labels.append(label)
                weights.append(count)
    if len(set(labels)) < 2:
        raise UserError("the runs given hold only passes or only failures: nothing to learn from")
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit(np.array(rows), np.array(labels), sample_weight=np.array(weights, dtype=np.float64))
    stats = {**trained_on, "queries": int(sum(1 for n in trials if n > 0)), "samples": int(sum(trials)),
             "pass_rate": float(sum(passes) / max(1, sum(trials)))}
    return Allocator(model.coef_[0].astype(np.float32), float(model.intercept_[0]), embedder, stats)


def allocate(p: Sequence[float], total: int, most: int, order: Sequence[int] | None = None) -> list[int]:
    """Samples per query maximising sum_x 1 - (1 - p_x)^b_x subject to sum_x b_x = total, b_x <= most.

    ``order`` breaks ties between equal marginal gains (a seeded rank; default: position).
    """
    n = len(p)
    total = min(total, n * most)
    rank = list(order) if order is not None else list(range(n))
    budgets = [0] * n
    # Max-heap of the next sample's marginal gain, p (1 - p)^b, per query.
    heap = [(-float(p[i]), rank[i], i) for i in range(n) if most > 0]
    heapq.heapify(heap)
    for _ in range(total):
        gain, _, i = heapq.heappop(heap)
        budgets[i] += 1
        if budgets[i] < most:
            heapq.heappush(heap, (gain * (1 - float(p[i])), rank[i], i))
    return budgets


def warmup_budgets(allocator: Allocator, query_ids: Sequence[str], questions: Sequence[str], embeddings: np.ndarray,
                   run_seed: int, total: int, cap: int) -> list[int]:
    """A learned allocator's warm-up budget per query, ``total`` samples in all, ties broken by the
    run's seeded rank."""
    p = allocator.success_probability(query_features(questions, embeddings))
    ranks = sorted(range(len(query_ids)), key=lambda i: tie_break_rank(run_seed, query_ids[i]))
    order = [0] * len(query_ids)
    for position, i in enumerate(ranks):
        order[i] = position
    return allocate(p, total, cap, order)
