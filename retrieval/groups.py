"""Queries grouped by meaning, so a group can share one block of demonstrations.

A prompt's demonstrations differ from query to query, so the engine's prefix cache serves little
of them: under a price table with cheap cached input a prompt with demonstrations costs about twice
a base prompt. Queries of one group shown the same block share that prefix, and the engine
computes it once a round for all of them.
"""

from __future__ import annotations

import numpy as np

ITERATIONS = 20
# The centres are fitted on at most this many queries a group (evenly spaced), then every query is
# assigned once: a million questions cost one pass, not twenty.
FIT_PER_GROUP = 64
_CHUNK = 8192


def group_queries(vectors: np.ndarray, n_groups: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(group of each row, unit-length centre of each group): spherical k-means over the rows of
    ``vectors`` (L2-normalised), started from ``n_groups`` rows drawn with ``seed``.

    Deterministic given the vectors and the seed, so a resumed run rebuilds the same groups. A
    group left empty keeps its previous centre.
    """
    n = len(vectors)
    groups = max(1, min(n_groups, n))
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    step = max(1, n // (FIT_PER_GROUP * groups))
    fit = vectors[::step]
    rng = np.random.default_rng([seed, 0x6A0])
    centres = fit[np.sort(rng.choice(len(fit), size=min(groups, len(fit)), replace=False))].copy()
    for _ in range(ITERATIONS):
        labels = _assign(fit, centres)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, fit)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        moved = norms[:, 0] > 0
        updated = centres.copy()
        updated[moved] = sums[moved] / norms[moved]
        if np.array_equal(updated, centres):
            break
        centres = updated
    return _assign(vectors, centres), centres


def _assign(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each row's most similar centre (the first on a tie)."""
    out = np.empty(len(vectors), dtype=np.int64)
    for start in range(0, len(vectors), _CHUNK):
        out[start:start + _CHUNK] = np.argmax(vectors[start:start + _CHUNK] @ centres.T, axis=1)
    return out
