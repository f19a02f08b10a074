"""The backend contract: one required method, every optional capability declared with its default.

A backend subclasses :class:`BackendBase`, sets ``model_id`` and implements ``generate``; it
overrides a capability only where it has one. The run reads capabilities directly, never by
probing for attributes.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Sequence

from ..records import Completion, GenerationRequest


class BackendBase:
    #: What produced the text: recorded in the summary and checked on resume.
    model_id: str = ""
    #: Requests the engine serves at once. Continuous scheduling keeps this many in flight (from
    #: worker threads when above 1; a one-slot engine is called on the run's own thread).
    concurrent_requests: int = 1
    #: Whether each Completion carries ``logprob`` (weighted votes need it).
    reports_logprobs: bool = False

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """For each request, its ``n`` completions, in order."""
        raise NotImplementedError

    def stream(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, list[Completion]]]:
        """``(index, completions)`` for each request as it finishes, in any order. The run verifies
        and logs samples as they arrive, so a kill loses seconds, not the batch. By default all of
        them when ``generate`` returns."""
        yield from enumerate(self.generate(requests))

    def stats(self) -> dict[str, Any]:
        """Engine figures for ``summary.json`` (``backend_stats``): activity, retries."""
        return {}

    def count_tokens(self, text: str) -> Optional[int]:
        """Tokens of ``text`` in the model's tokenizer, where the backend can count them (forecasts)."""
        return None

    def prompt_tokens(self, prompt) -> Optional[int]:
        """The exact prompt tokens the engine will count for ``prompt`` (text or chat messages),
        where the backend knows them before generating. Budgets in tokens, FLOPs or cost plan each
        sample by it; without it they plan by an estimate."""
        return None

    def parameter_count(self) -> Optional[int]:
        """The model's parameter count (FLOPs), where the engine reports it."""
        return None
