"""Generation backends: one contract, found by name.

A backend is any object with

- ``model_id: str`` — what produced the text, recorded in the summary and the resume check;
- ``generate(requests) -> list[list[Completion]]`` — one round's batch; for each request, its
  ``n`` completions, in order.

Built-ins (``llamacpp``, ``openai``, ``vllm``, ``simulated``) and third-party backends register
the same way: an entry point in the ``adaptive_batch.backends`` group naming a factory that takes
the run's frozen ``BackendConfig`` (engine arguments are in its ``options``).
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from ..records import Completion, GenerationRequest, SamplingParams
from ..registry import backends as registry


@runtime_checkable
class Backend(Protocol):
    model_id: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]: ...


def create_backend(config: "BackendConfig | None" = None, **fields) -> Backend:
    """The backend that ``config`` names (fields given as keywords override it)."""
    from dataclasses import replace

    from ..config import BackendConfig

    config = replace(config or BackendConfig(), **fields)
    return registry.get(config.name)(config)


__all__ = ["Backend", "Completion", "GenerationRequest", "SamplingParams", "create_backend", "registry"]
