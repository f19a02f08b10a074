"""Generation backends: one contract, found by name.

A backend subclasses :class:`BackendBase` (``base.py``): ``model_id`` and
``generate(requests) -> list[list[Completion]]`` (for each request, its ``n`` completions, in
order), plus the optional capabilities it has, each declared there with its default:
``concurrent_requests``, ``stream`` (completions handed over as they finish, so samples are
logged while a batch runs), ``stats`` and ``count_tokens``.

Built-ins (``llamacpp``, ``llamacpp-batched``, ``openai``, ``vllm``, ``simulated``) and third-party
backends register the same way: an entry point in the ``adaptive_batch.backends`` group naming a
factory that takes the run's frozen ``BackendConfig`` (engine arguments are in its ``options``).
"""

from __future__ import annotations

from ..errors import PluginContractError
from ..records import Completion, GenerationRequest, SamplingParams
from ..registry import backends as registry
from .base import BackendBase


Backend = BackendBase


def create_backend(config: "BackendConfig | None" = None, **fields) -> Backend:
    """The backend that ``config`` names (fields given as keywords override it)."""
    from dataclasses import replace

    from ..config import BackendConfig

    config = replace(config or BackendConfig(), **fields)
    backend = registry.plugin(config.name).create(config, registry.build_options(config.name, config.options))
    if not isinstance(backend, BackendBase):
        raise PluginContractError(
            f"the backend '{config.name}' built a {type(backend).__name__}, which does not subclass "
            "adaptive_batch.backends.BackendBase (the contract every backend declares its capabilities on)"
        )
    return backend


__all__ = ["Backend", "BackendBase", "Completion", "GenerationRequest", "SamplingParams", "create_backend", "registry"]
