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
        self._index = VectorIndex(embeddings.shape[1])
        self._responses: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._responses)

    def add(self, position: int, response: str) -> None:
        """Record a passing response; a later one replaces an earlier one for the same query."""
        if position not in self._responses:
            self._index.add(np.array([position]), self._embeddings[position : position + 1])
        self._responses[position] = response

    def nearest(self, position: int, k: int, min_similarity: float) -> list[Demonstration]:
        """Up to k resolved queries most similar to query ``position``, least similar first.

        Least similar first puts the closest example next to the question, where a base model
        weighs it most.
        """
        if not self._responses:
            return []
        scores, ids = self._index.search(self._embeddings[position : position + 1], k + 1)
        found = [
            self._demo(int(i), float(s))
            for s, i in zip(scores[0], ids[0])
            if i >= 0 and int(i) != position and s >= min_similarity
        ][:k]
        return found[::-1]

    def random(self, position: int, k: int, rng: np.random.Generator) -> list[Demonstration]:
        candidates = sorted(p for p in self._responses if p != position)
        if not candidates:
            return []
        chosen = rng.choice(len(candidates), size=min(k, len(candidates)), replace=False)
        query = self._embeddings[position]
        return [self._demo(candidates[c], float(self._embeddings[candidates[c]] @ query)) for c in chosen]

    def _demo(self, position: int, similarity: float) -> Demonstration:
        return Demonstration(self._ids[position], self._questions[position], self._responses[position], similarity)
