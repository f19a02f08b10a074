"""Generation backends: one contract, found by name.

A backend is any object with

- ``model_id: str`` — what produced the text, recorded in the summary and the resume check;
- ``generate(requests) -> list[list[Completion]]`` — one round's batch; for each request, its
  ``n`` completions, in order;
- optionally ``stream(requests)``, yielding ``(index, completions)`` for each request as it
  finishes, in any order: the run then verifies and logs samples while the batch is still being
  generated, so a kill loses seconds, not the round. Without it a batch is logged when
  ``generate`` returns (see ``stream`` below).

Built-ins (``llamacpp``, ``openai``, ``vllm``, ``simulated``) and third-party backends register
the same way: an entry point in the ``adaptive_batch.backends`` group naming a factory that takes
the run's frozen ``BackendConfig`` (engine arguments are in its ``options``).
"""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence, runtime_checkable

from ..records import Completion, GenerationRequest, SamplingParams
from ..registry import backends as registry


@runtime_checkable
class Backend(Protocol):
    model_id: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]: ...


def stream(backend: Backend, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, list[Completion]]]:
    """Each request's completions as soon as the backend has them: its ``stream`` where it has one,
    else all of them when ``generate`` returns."""
    streaming = getattr(backend, "stream", None)
    if streaming is not None:
        yield from streaming(requests)
        return
    yield from enumerate(backend.generate(requests))


def create_backend(config: "BackendConfig | None" = None, **fields) -> Backend:
    """The backend that ``config`` names (fields given as keywords override it)."""
    from dataclasses import replace

    from ..config import BackendConfig

    config = replace(config or BackendConfig(), **fields)
    return registry.get(config.name)(config)


__all__ = ["Backend", "Completion", "GenerationRequest", "SamplingParams", "create_backend", "registry", "stream"]
