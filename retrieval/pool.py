"""The demonstration pool: resolved queries and a passing response of each, searchable by meaning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .index import VectorIndex


@dataclass(frozen=True)
class Demonstration:
    query_id: str
    question: str
    response: str
    similarity: float


class DemonstrationPool:
    """Questions are embedded once, up front; a query enters the index when it is resolved.

    ``embeddings`` holds one normalised row per query of the run, in query order.
    """

    def __init__(self, ids: Sequence[str], questions: Sequence[str], embeddings: np.ndarray):
        self._ids = list(ids)
        self._questions = list(questions)
        self._embeddings = embeddings
        self._index = VectorIndex(embeddings.shape[1], capacity=len(self._ids), training=embeddings)
        self._responses: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._responses)

    def add(self, position: int, response: str) -> None:
        """Record a passing response; a later one replaces an earlier one for the same query."""
        self.add_many([position], [response])

    def add_many(self, positions: Sequence[int], responses: Sequence[str]) -> None:
        """``add`` for a round's newly resolved queries, in one index update."""
        new = sorted({p for p in positions if p not in self._responses})
        if new:
            rows = np.asarray(new, dtype=np.int64)
            self._index.add(rows, self._embeddings[rows])
        for position, response in zip(positions, responses):
            self._responses[position] = response

    def nearest(self, position: int, k: int, min_similarity: float) -> list[Demonstration]:
        """Up to k resolved queries most similar to query ``position``, least similar first.

        Least similar first puts the closest example next to the question, where a base model
        weighs it most.
        """
        return self.nearest_many([position], k, min_similarity)[0]

    def nearest_many(self, positions: Sequence[int], k: int, min_similarity: float) -> list[list[Demonstration]]:
        """``nearest`` for many queries in one index search (a round asks for all of them at once)."""
        if not self._responses or not len(positions):
            return [[] for _ in positions]
        rows = np.asarray(positions, dtype=np.int64)
        scores, ids = self._index.search(self._embeddings[rows], k + 1)
        out = []
        for position, row_scores, row_ids in zip(positions, scores, ids):
            found = [
                self._demo(int(i), float(s))
                for s, i in zip(row_scores, row_ids)
                if i >= 0 and int(i) != position and s >= min_similarity
            ][:k]
            out.append(found[::-1])
        return out

    def random(self, position: int, k: int, rng: np.random.Generator) -> list[Demonstration]:
        candidates = sorted(p for p in self._responses if p != position)
        if not candidates:
            return []
        chosen = rng.choice(len(candidates), size=min(k, len(candidates)), replace=False)
        query = self._embeddings[position]
        return [self._demo(candidates[c], float(self._embeddings[candidates[c]] @ query)) for c in chosen]

    def _demo(self, position: int, similarity: float) -> Demonstration:
        return Demonstration(self._ids[position], self._questions[position], self._responses[position], similarity)
