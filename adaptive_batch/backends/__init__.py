"""Generation backends: one contract, found by name.

A backend is any object with

- ``model_id: str`` — what produced the text, recorded in the summary and the resume check;
- ``generate(requests) -> list[list[Completion]]`` — one round's batch; for each request, its
  ``n`` completions, in order.

Built-ins (``llamacpp``, ``simulated``) and third-party backends register the same way, as
entry points in the ``adaptive_batch.backends`` group.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from ..records import Completion, GenerationRequest, SamplingParams
from ..registry import backends as registry


@runtime_checkable
class Backend(Protocol):
    model_id: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]: ...


def create_backend(name: str, **options) -> Backend:
    """Instantiate the backend registered as ``name`` with its options."""
    return registry.create(name, **options)


__all__ = ["Backend", "Completion", "GenerationRequest", "SamplingParams", "create_backend", "registry"]
