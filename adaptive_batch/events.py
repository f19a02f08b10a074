"""What a run tells a progress display: status lines before sampling starts, then progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Status:
    """What a run is doing where no sample is being drawn: loading the model, embedding, ..."""

    text: str


@dataclass(frozen=True)
class RoundProgress:
    """Reported as samples finish (at most ``PROGRESS_EVERY_S`` apart) and after every round."""

    phase: str
    round: int
    spent: float  # budget spent so far (in ``unit``), the samples verified in the round in flight included
    total_budget: float
    resolved: int
    n_queries: int
    completion_tokens: int
    elapsed_s: float
    replayed: bool
    # What this process generated (not replayed, not from the cache): the basis of rates and ETAs.
    samples_generated: int = 0
    tokens_generated: int = 0  # prompt + generated tokens of those samples
    unit: str = "samples"  # the budget's unit
    # Compute of every sample so far (replayed ones included), as the summary counts it.
    samples: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: Optional[float] = None  # under the declared price table, where there is one


# Progress displays redraw a few times a second at most; a million-query run finishes far more
# samples than that, so the executor reports at most this often within a round.
PROGRESS_EVERY_S = 0.1
