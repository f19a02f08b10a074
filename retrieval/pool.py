"""The demonstration pool: resolved queries and a passing response of each, searchable by meaning."""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .groups import group_queries
from .index import EXACT_SEARCH_LIMIT, ClusteredIndex, VectorIndex

# Large runs keep each query's nearest questions (resolved or not) from one search; a round then
# only looks up which of them are resolved by now.
CANDIDATES = 32


class Demonstration(NamedTuple):
    # A tuple, not a dataclass: a large run builds tens of millions of them.
    query_id: str
    question: str
    response: str
    similarity: float


class DemonstrationPool:
    """Questions are embedded once, up front; a query joins the pool when it is resolved.

    ``embeddings`` holds one normalised row per query of the run, in query order.

    Up to ``exact_limit`` queries every round searches the pool exactly. Above it, a
    ``ClusteredIndex`` over all the run's questions is searched once per query for its
    ``CANDIDATES`` nearest questions, and each round takes the first resolved ones among them. That
    is the same answer as searching the resolved queries of the probed lists every round: a
    resolved query outside the candidates is less similar than all of them. Only a query with
    fewer than k resolved candidates is searched again, restricted to the resolved queries.
    """

    def __init__(self, ids: Sequence[str], questions: Sequence[str], embeddings: np.ndarray,
                 exact_limit: int = EXACT_SEARCH_LIMIT):
        self._ids = list(ids)
        self._questions = list(questions)
        self._embeddings = embeddings
        self._responses: dict[int, str] = {}
        self._rank_of: dict[str, int] = {}  # query id -> how many queries were resolved before it
        self._position_of: dict[str, int] | None = None  # built on first use: only kept blocks need it
        self._resolved = np.zeros(len(self._ids), dtype=bool)
        self._index: VectorIndex | None = None
        self._clustered: ClusteredIndex | None = None
        if len(self._ids) > exact_limit:
            self._clustered = ClusteredIndex(embeddings)
            width = min(CANDIDATES + 1, len(self._ids))  # + 1: a query finds itself
            self._listed = np.zeros(len(self._ids), dtype=bool)
            self._candidate_ids = np.full((len(self._ids), width), -1, dtype=np.int32)
            self._candidate_scores = np.zeros((len(self._ids), width), dtype=np.float32)
        else:
            self._index = VectorIndex(embeddings.shape[1])
        self.searches = 0  # queries searched in an index so far: a lookup in the candidates is not one
        self._group_of: np.ndarray | None = None  # set by ``group``
        self._centres: np.ndarray | None = None

    @property
    def index_kind(self) -> str:
        return self._clustered.kind if self._clustered is not None else "exact"

    def __len__(self) -> int:
        return len(self._responses)

    def add(self, position: int, response: str) -> None:
        """Record a passing response; a later one replaces an earlier one for the same query."""
        self.add_many([position], [response])

    def add_many(self, positions: Sequence[int], responses: Sequence[str]) -> None:
        """``add`` for a round's newly resolved queries, in one index update."""
        # In the order given: the index breaks equal similarities by insertion order, so a replayed
        # batch must enter as its samples once did, one by one (rounds give positions in order).
        new = list(dict.fromkeys(p for p in positions if p not in self._responses))
        if new:
            rows = np.asarray(new, dtype=np.int64)
            if self._index is not None:
                self._index.add(rows, self._embeddings[rows])
            self._resolved[rows] = True
        for position in new:
            self._rank_of[self._ids[position]] = len(self._rank_of)
        for position, response in zip(positions, responses):
            self._responses[position] = response

    def in_resolved_order(self, demos: Sequence[Demonstration]) -> tuple[Demonstration, ...]:
        """``demos`` oldest resolved first: a query whose nearest change as the pool grows keeps its
        older ones as a prompt prefix (a newer one joins at the end), and queries sharing an old one
        share a prefix too."""
        return tuple(sorted(demos, key=lambda d: self._rank_of[d.query_id]))

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
        if self._index is not None:
            self.searches += len(rows)
            scores, ids = self._index.search(self._embeddings[rows], k + 1)
            usable = self._usable(rows, scores, ids, min_similarity)
        else:
            scores, ids, usable = self._from_candidates(rows, k, min_similarity)
        return self._demonstrations(scores, ids, usable, k)

    def group(self, n_groups: int, seed: int) -> None:
        """Split the run's queries into ``n_groups`` groups by meaning (``groups.group_queries``), for
        ``nearest_of_groups``."""
        self._group_of, self._centres = group_queries(self._embeddings, n_groups, seed)

    def group_of(self, position: int) -> int:
        if self._group_of is None:
            raise ValueError("the pool's queries are not grouped: call group() first")
        return int(self._group_of[position])

    def nearest_of_groups(self, positions: Sequence[int], k: int, min_similarity: float) -> list[list[Demonstration]]:
        """For each query, up to k resolved queries most similar to its group's centre (at least
        ``min_similarity`` to it), least similar first: one block for every query of a group, in one
        order, so their prompts share it as a prefix. A demonstration's ``similarity`` is to the query."""
        if self._group_of is None:
            raise ValueError("the pool's queries are not grouped: call group() first")
        if not self._responses or not len(positions):
            return [[] for _ in positions]
        rows = np.asarray(positions, dtype=np.int64)
        groups, inverse = np.unique(self._group_of[rows], return_inverse=True)
        centres = self._centres[groups]
        self.searches += len(groups)
        # k + 1: a query resolved already (and so in the pool) is left out of its own block.
        if self._index is not None:
            scores, ids = self._index.search(centres, k + 1)
        else:
            scores, ids = self._clustered.search(centres, k + 1, allowed=self._resolved)
        scores, ids = scores[inverse.ravel()], ids[inverse.ravel()]
        usable = self._usable(rows, scores, ids, min_similarity)
        # Chosen and ordered by similarity to the centre; each one's similarity given is to the query.
        to_query = np.einsum("nkd,nd->nk", self._embeddings[np.maximum(ids, 0)], self._embeddings[rows])
        return self._demonstrations(to_query, ids, usable, k)

    def _usable(self, rows: np.ndarray, scores: np.ndarray, ids: np.ndarray, min_similarity: float) -> np.ndarray:
        """Which neighbours may be shown: resolved, similar enough, and not the query itself."""
        return (ids >= 0) & self._resolved[np.maximum(ids, 0)] & (ids != rows[:, None]) & (scores >= min_similarity)

    def _from_candidates(self, rows: np.ndarray, k: int, min_similarity: float) -> tuple[np.ndarray, ...]:
        """(scores, ids, usable) of each row's neighbours: its candidates, or a new search if too few."""
        new = np.unique(rows[~self._listed[rows]])
        if new.size:
            self.searches += new.size
            scores, ids = self._clustered.search(self._embeddings[new], self._candidate_ids.shape[1])
            self._candidate_scores[new], self._candidate_ids[new] = scores, ids
            self._listed[new] = True
        scores, ids = self._candidate_scores[rows], self._candidate_ids[rows]
        usable = self._usable(rows, scores, ids, min_similarity)
        # Too few resolved candidates, and the list may not have ended: more lie beyond it.
        short = (usable.sum(axis=1) < k) & (ids[:, -1] >= 0) & (scores[:, -1] >= min_similarity)
        if short.any():
            self.searches += int(short.sum())
            again = rows[short]
            found_scores, found_ids = self._clustered.search(self._embeddings[again], k + 1, allowed=self._resolved)
            width = max(ids.shape[1], k + 1)
            scores, ids, usable = _widen(scores, width, 0.0), _widen(ids, width, -1), _widen(usable, width, False)
            scores[short], ids[short] = _widen(found_scores, width, 0.0), _widen(found_ids, width, -1)
            usable[short] = self._usable(again, scores[short], ids[short], min_similarity)
        return scores, ids, usable

    def _demonstrations(self, scores: np.ndarray, ids: np.ndarray, usable: np.ndarray, k: int) -> list[list[Demonstration]]:
        chosen = usable & (np.cumsum(usable, axis=1) <= k)  # the k best usable, in score order
        counts = chosen.sum(axis=1).tolist()
        picked_ids = ids[chosen].tolist()
        picked_scores = scores[chosen].tolist()
        demo = self._demo
        out, start = [], 0
        for count in counts:
            end = start + count
            out.append([demo(i, s) for i, s in zip(picked_ids[start:end][::-1], picked_scores[start:end][::-1])])
            start = end
        return out

    def shown_again(self, position: int, query_ids: Sequence[str]) -> list[Demonstration]:
        """The pool's demonstrations of ``query_ids`` for query ``position``, in that order: a block
        shown before, shown again (ids not in the pool are left out)."""
        if self._position_of is None:
            self._position_of = {query_id: i for i, query_id in enumerate(self._ids)}
        rows = [self._position_of[q] for q in query_ids if q in self._position_of]
        rows = [r for r in rows if r in self._responses and r != position]
        query = self._embeddings[position]
        return [self._demo(r, float(self._embeddings[r] @ query)) for r in rows]

    def random(self, position: int, k: int, rng: np.random.Generator) -> list[Demonstration]:
        candidates = np.flatnonzero(self._resolved)
        candidates = candidates[candidates != position].tolist()
        if not candidates:
            return []
        chosen = rng.choice(len(candidates), size=min(k, len(candidates)), replace=False)
        query = self._embeddings[position]
        return [self._demo(candidates[c], float(self._embeddings[candidates[c]] @ query)) for c in chosen]

    def _demo(self, position: int, similarity: float) -> Demonstration:
        return Demonstration(self._ids[position], self._questions[position], self._responses[position], similarity)


def _widen(array: np.ndarray, width: int, fill) -> np.ndarray:
    if array.shape[1] >= width:
        return array
    out = np.full((array.shape[0], width), fill, dtype=array.dtype)
    out[:, : array.shape[1]] = array
    return out
