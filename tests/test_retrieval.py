"""The demonstration pool: exact search for small runs, candidate lists over an IVF index for large ones."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import DemonstrationPool
from retrieval.index import ClusteredIndex


def _vectors(n: int, dim: int = 32, clusters: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    v = centres[rng.integers(clusters, size=n)] + 0.6 * rng.normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _pool(vectors: np.ndarray, exact_limit: int) -> DemonstrationPool:
    n = len(vectors)
    return DemonstrationPool([f"q{i}" for i in range(n)], [f"question {i}" for i in range(n)], vectors,
                             exact_limit=exact_limit)


def test_exact_pool_matches_brute_force():
    vectors = _vectors(300)
    pool = _pool(vectors, exact_limit=10_000)
    assert pool.index_kind == "exact"
    resolved = list(range(0, 300, 3))
    pool.add_many(resolved, [f"answer {p}" for p in resolved])
    queries = [1, 2, 4, 5, 3]  # 3 is resolved itself: it must not be its own demonstration
    for min_similarity in (0.0, 0.5):
        got = pool.nearest_many(queries, 4, min_similarity)
        for position, demos in zip(queries, got):
            scores = vectors[resolved] @ vectors[position]
            order = [resolved[i] for i in np.argsort(-scores) if resolved[i] != position
                     and scores[i] >= min_similarity][:4]
            assert [d.query_id for d in demos] == [f"q{p}" for p in order[::-1]]  # least similar first
            assert all(d.response == f"answer {int(d.query_id[1:])}" for d in demos)
            assert [round(d.similarity, 5) for d in demos] == sorted(round(d.similarity, 5) for d in demos)


@pytest.mark.parametrize("min_similarity", [0.0, 0.55])
def test_candidate_lists_match_a_fresh_restricted_search_every_round(min_similarity):
    """The large-run pool answers as if it searched the resolved queries anew every round."""
    vectors = _vectors(3000)
    pool = _pool(vectors, exact_limit=100)
    reference = ClusteredIndex(vectors)
    assert pool.index_kind.startswith("ivf")
    rng = np.random.default_rng(1)
    resolved = np.zeros(len(vectors), dtype=bool)
    # Few resolved at first, so that some queries have too few resolved candidates and fall back.
    for share in (0.002, 0.05, 0.3, 0.6):
        new = np.flatnonzero((rng.random(len(vectors)) < share) & ~resolved)
        pool.add_many(new.tolist(), [f"answer {p}" for p in new])
        resolved[new] = True
        active = np.flatnonzero(~resolved)
        searches = pool.searches
        got = pool.nearest_many(active.tolist(), 3, min_similarity)
        if share >= 0.3:  # the candidate lists are known by now, and most hold 3 resolved queries
            assert pool.searches - searches < 0.2 * len(active)
        scores, ids = reference.search(vectors[active], 4, allowed=resolved)
        for position, demos, row_scores, row_ids in zip(active, got, scores, ids):
            expected = [int(i) for s, i in zip(row_scores, row_ids) if i >= 0 and s >= min_similarity][:3]
            assert [d.query_id for d in demos] == [f"q{i}" for i in expected[::-1]]


def test_an_empty_pool_gives_no_demonstrations():
    pool = _pool(_vectors(200), exact_limit=10)
    assert pool.nearest_many([0, 1], 3, 0.0) == [[], []]
    pool.add(5, "five")
    assert [d.query_id for d in pool.nearest(0, 3, -1.0)] == ["q5"]
    assert pool.nearest(5, 3, -1.0) == []
