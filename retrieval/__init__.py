"""Retrieval of in-context demonstrations: embedders, a FAISS index, the evolving pool."""

from __future__ import annotations

from adaptive_batch.registry import embedders

from .pool import Demonstration, DemonstrationPool


def create_embedder(name: str, model: str | None = None):
    """The embedder registered as ``name`` (entry-point group ``adaptive_batch.embedders``)."""
    return embedders.create(name, model=model)


__all__ = ["Demonstration", "DemonstrationPool", "create_embedder", "embedders"]
