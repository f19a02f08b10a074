"""FAISS inner-product indexes over L2-normalised vectors (so scores are cosine similarities)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from adaptive_batch.errors import MissingDependencyError

# Above this many queries an exact search of every query against the whole pool, every round, costs
# more than the rest of the run, and the pool switches to a ``ClusteredIndex``.
EXACT_SEARCH_LIMIT = 50_000
IVF_PROBES = 16


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError("faiss-cpu", "faiss", "Retrieval") from exc
    return faiss


class VectorIndex:
    """Exact search (``IndexFlatIP``) over the vectors added so far, keyed by caller-chosen ids."""

    def __init__(self, dim: int):
        self._index = _faiss().IndexIDMap2(_faiss().IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n, k); missing neighbours have id -1."""
        k = max(1, min(k, len(self)))
        return self._index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)


class ClusteredIndex:
    """An inverted-file index (``IndexIVFFlat``) over a fixed set of vectors, ids = row numbers.

    It holds every vector of the run from the start (all questions are known before the first
    round), and a search may be restricted to a subset of rows (the resolved queries) with a
    bitmap, so the pool never re-indexes as it grows. The coarse quantizer is trained on an
    evenly spaced sample of the vectors themselves: deterministic, the same on every run of the
    same data. A search scans the ``IVF_PROBES`` lists nearest the query, 4 sqrt(N) lists in all.
    """

    def __init__(self, vectors: np.ndarray):
        faiss = _faiss()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        lists = max(1, min(int(4 * np.sqrt(n)), n // 39))
        self._quantizer = faiss.IndexFlatIP(dim)  # kept alive beside the index that uses it
        self._index = faiss.IndexIVFFlat(self._quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        step = max(1, n // (40 * lists))  # 40 points per list is what k-means needs
        self._index.train(vectors[::step])
        self._index.add(vectors)
        self._index.nprobe = IVF_PROBES
        self.kind = f"ivf{lists}"
        self._n = n

    def search(self, vectors: np.ndarray, k: int, allowed: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (n, k), best first; missing neighbours have id -1.

        ``allowed`` (a boolean mask over the rows) limits the search to those rows.
        """
        faiss = _faiss()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if allowed is None:
            return self._index.search(vectors, k)
        bitmap = np.packbits(np.asarray(allowed, dtype=bool), bitorder="little")
        selector = faiss.IDSelectorBitmap(self._n, faiss.swig_ptr(bitmap))
        params = faiss.SearchParametersIVF(sel=selector, nprobe=IVF_PROBES)
        return self._index.search(vectors, k, params=params)
