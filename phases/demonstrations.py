"""Which resolved queries a sample is shown: the method's kind of demonstrations, chosen from the pool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from retrieval.pool import Demonstration, DemonstrationPool

from .policies import Demonstrations


@dataclass(frozen=True)
class DemonstrationChoice:
    """Chooses a sample's demonstrations from the pool as it is when the sample is planned.

    ``rotate_among`` > k: a query's first sample with demonstrations shows its k nearest; each
    later one shows k drawn at random (from the sample's own seed) among its ``rotate_among``
    nearest usable ones. The same k nearest shown again after they failed rarely help; other
    near neighbours give the next attempt something new to copy from.
    """

    pool: Optional[DemonstrationPool]
    kind: Demonstrations
    k: int = 3
    min_similarity: float = 0.0
    rotate_among: int = 0
    warmup: int = 0
    warmup_targets: Optional[Sequence[int]] = None  # a learned allocator's warm-up, query by query

    def for_samples(self, positions: Sequence[int], indices: Sequence[int],
                    seeds: Sequence[int]) -> list[tuple[Demonstration, ...]]:
        """Demonstrations for sample ``indices[i]`` of query ``positions[i]`` (seed ``seeds[i]``)."""
        if self.pool is None or self.kind == "none":
            return [()] * len(positions)
        if self.kind == "random":
            return [tuple(self.pool.random(p, self.k, np.random.default_rng(s))) for p, s in zip(positions, seeds)]
        rotating = self.rotate_among > self.k
        width = self.rotate_among if rotating else self.k
        found = self.pool.nearest_many(positions, width, self.min_similarity)
        if not rotating:
            return [tuple(near) for near in found]
        return [self._rotated(near, index > self._first_index(p), seed)
                for p, index, seed, near in zip(positions, indices, seeds, found)]

    def _first_index(self, position: int) -> int:
        """Index of the query's first sample after warm-up: the first that may show demonstrations."""
        return self.warmup_targets[position] if self.warmup_targets is not None else self.warmup

    def _rotated(self, near: list[Demonstration], draw: bool, seed: int) -> tuple[Demonstration, ...]:
        # ``near`` is least similar first, so its last k are the k nearest.
        if not draw or len(near) <= self.k:
            return tuple(near[-self.k:])
        picked = np.sort(np.random.default_rng(seed).choice(len(near), size=self.k, replace=False))
        return tuple(near[i] for i in picked.tolist())
