"""A FAISS inner-product index over L2-normalised vectors (so scores are cosine similarities)."""

from __future__ import annotations

import numpy as np

from adaptive_batch.errors import MissingDependencyError

# Above this many vectors an exact search of every query against the whole pool, every round, costs
# more than the rest of the run. An inverted-file index takes over: its coarse quantizer is
# trained up front on the run's own question embeddings (all known before the first round), so
# adding a resolved query is cheap and the index is the same on every run of the same data.
EXACT_SEARCH_LIMIT = 50_000
IVF_PROBES = 16


class VectorIndex:
    """Exact search (``IndexFlatIP``) keyed by caller-chosen integer ids; IVF for large runs.

    ``capacity`` is how many vectors the index may come to hold (the run's query count), and
    ``training`` the vectors to place its lists by.
    """

    def __init__(self, dim: int, capacity: int = 0, training: np.ndarray | None = None):
        try:
            import faiss
        except ImportError as exc:
            raise MissingDependencyError("faiss-cpu", "faiss", "Retrieval") from exc
        if capacity > EXACT_SEARCH_LIMIT and training is not None:
            lists = int(4 * np.sqrt(capacity))
            inner = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
            # An evenly spaced sample: deterministic, and 40 points per list is what k-means needs.
            step = max(1, len(training) // (40 * lists))
            inner.train(np.ascontiguousarray(training[::step], dtype=np.float32))
            inner.nprobe = IVF_PROBES
            self._quantizer = inner.quantizer  # kept alive beside the index that uses it
            self.kind = f"ivf{lists}"
        else:
            inner = faiss.IndexFlatIP(dim)
            self.kind = "exact"
        self._index = faiss.IndexIDMap2(inner)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n, k); missing neighbours have id -1."""
        k = max(1, min(k, len(self)))
        return self._index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
