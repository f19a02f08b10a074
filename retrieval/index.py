"""A FAISS inner-product index over L2-normalised vectors (so scores are cosine similarities)."""

from __future__ import annotations

import numpy as np

from adaptive_batch.errors import MissingDependencyError


class VectorIndex:
    """Exact search (``IndexFlatIP``) keyed by caller-chosen integer ids."""

    def __init__(self, dim: int):
        try:
            import faiss
        except ImportError as exc:
            raise MissingDependencyError("faiss-cpu", "faiss", "Retrieval") from exc
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n, k); missing neighbours have id -1."""
        k = max(1, min(k, len(self)))
        return self._index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
