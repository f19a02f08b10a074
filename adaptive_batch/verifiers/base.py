"""The verifier and extractor contracts, each optional capability declared with its default.

A verifier subclasses :class:`VerifierBase` and implements ``__call__(query, response) ->
Verdict``; it overrides a capability only where it has one. An extractor is an :class:`Extractor`;
a plain ``text -> answer`` function registered by a third party is taken as one of kind "number".
The run reads these directly, never by probing for attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from ..records import Query, Verdict

Canonical = Callable[[str], Optional[str]]


@dataclass(frozen=True)
class Extractor:
    """``extract(text) -> answer or None``; ``kind`` says how its answers compare ("number",
    "choice", "latex"); ``canonical(text)`` reduces a passing response to what was verified (shown
    so in demonstrations), where the extractor knows how."""

    extract: Callable[[str], Optional[str]]
    kind: str = "number"
    canonical: Optional[Canonical] = None

    def __call__(self, text: str) -> Optional[str]:
        return self.extract(text)


def as_extractor(registered) -> Extractor:
    """What the extractor registry gave, as an Extractor."""
    return registered if isinstance(registered, Extractor) else Extractor(registered)


class VerifierBase:
    #: It reads the dataset's answers (or tests): coverage is oracle-verified, and ``export``
    #: refuses the run as a leaderboard submission.
    needs_reference: bool = False
    #: How summaries name the kind of verification (default: the verifier's name).
    label: str = ""
    #: How a passing response is shown as a demonstration (default: as it is).
    canonical: Optional[Canonical] = None
    #: Most samples any query may get, whatever the schedule says (label-free voting's cap).
    max_samples: Optional[int] = None
    #: Label-free voting: verdicts with ``passed=None`` are votes, and a query is resolved when
    #: ``resolved(vote counts, largest first)`` says so. None: verdicts decide alone.
    resolved: Optional[Callable[[Sequence[int]], bool]] = None
    #: A lower bound on a query's per-sample success probability from its vote counts, for
    #: calibrated stopping. None: the verifier gives none.
    success_lower_bound: Optional[Callable[[Sequence[int]], float]] = None
    #: Label-free voting: an answer's standing after one more vote, from its standing so far (None
    #: before its first vote) and that sample's mean token log-probability (None where the engine
    #: reports none). An undecided query submits the answer standing highest, ties going to the
    #: most votes. None: the most votes.
    score_vote: Optional[Callable[[Optional[float], Optional[float]], float]] = None
    #: It chooses better with each sample's log-probability (a run warns where the engine has none).
    wants_logprobs: bool = False

    def without_logprobs(self) -> "VerifierBase":
        """This verifier as it decides on an engine that reports no log-probabilities (the run uses
        it there, so its label says what decided); by default, itself."""
        return self

    def __call__(self, query: Query, response: str) -> Verdict:
        raise NotImplementedError

    def sample_cap(self, schedule_cap: int) -> int:
        """The most samples a query may get: the schedule's cap, or the verifier's if lower."""
        return schedule_cap if self.max_samples is None else min(schedule_cap, self.max_samples)
