"""Label-free resolution by self-consistency: a query is resolved when its samples agree.

Each sample is one vote, its extracted answer. The verifier's per-sample verdict is only that
vote (``passed`` is None: no single sample is judged right or wrong); the decision is made over a
query's votes so far by :meth:`ConsistencyVerifier.resolved`, which the scheduler calls after every
sample. Two stopping rules:

- ``threshold``: the top answer has at least ``min_votes`` votes and a share >= ``min_share`` of
  the samples that gave an answer;
- ``beta``: Adaptive-Consistency's rule (Aggarwal et al., 2023): with the top two answers' votes
  v1 >= v2, stop once P(p1 > p2 | votes) = P(X > 1/2), X ~ Beta(v1 + 1, v2 + 1), reaches
  ``confidence``; at most ``max_votes`` samples. The paper's 0.95 suits its 40-sample budgets;
  at 4 to 6 samples a query it decided 1-3% of queries here, so the default is 0.8.

A resolved query's answer is the one its votes agreed on, and the response stored as a
demonstration is one that gave it. A query its votes leave undecided submits, by ``vote``:

- ``top-confidence`` (the default): the answer of the single most confident sample, by its mean
  token log-probability;
- ``confidence``: the answer whose votes weigh most, each weighted by its sample's probability
  per token, exp(mean token log-probability) (Wang et al.'s normalized weighting);
- ``majority``: the answer with the most votes.

Ties, and every choice where no sample carries a log-probability (an engine that reports none,
``BackendBase.reports_logprobs``), go to the most votes, then to the answer seen first: on such an
engine all three are the majority vote. On the first 200 queries (seed 0, 8 samples a query,
every k of them) the most confident sample's answer beat the majority by +0.098 and +0.079 on
AddSub at k = 4 and 6, +0.027 and +0.026 on SVAMP (benchmarks/README.md, votes weighted by the
model's confidence).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb, exp, inf, sqrt
from typing import Literal, Optional, Sequence

from ..config_fields import PluginOptions, doc, require
from ..records import Query, Verdict
from ..registry import Plugin, extractors
from .base import VerifierBase, as_extractor


def beta_top_probability(top: int, second: int) -> float:
    """P(X > 1/2) for X ~ Beta(top + 1, second + 1), exactly.

    For integer parameters a, b: P(X <= 1/2) = P(Binomial(a + b - 1, 1/2) >= a).
    """
    a, b = top + 1, second + 1
    n = a + b - 1
    below = sum(comb(n, j) for j in range(a, n + 1)) / 2**n
    return 1.0 - below


VOTE_LABELS = {"majority": "most votes", "confidence": "votes weighted by confidence",
               "top-confidence": "the most confident sample"}


class ConsistencyVerifier(VerifierBase):
    needs_reference = False
    label = "label-free (self-consistency)"

    def __init__(self, extractor: str = "expression", min_votes: int = 3, min_share: float = 0.5,
                 stopping: str = "threshold", confidence: float = 0.8, max_votes: int = 40,
                 vote: str = "top-confidence"):
        self.extractor_name = extractor
        self._extract = as_extractor(extractors.get(extractor))
        self.canonical = self._extract.canonical
        self.min_votes, self.min_share = min_votes, min_share
        self.stopping, self.confidence = stopping, confidence
        # The scheduler caps each query's samples here too.
        self.max_samples = max_votes
        if stopping == "beta":
            self.label = f"label-free (self-consistency, Beta stopping at {confidence:g})"
        else:
            self.label = f"label-free (self-consistency, >= {min_votes} votes and >= {min_share:g} share)"
        self.vote = vote
        if vote != "majority":
            self.score_vote = self._score_vote
            self.wants_logprobs = True
        self.label = f"{self.label[:-1]}; undecided queries by {VOTE_LABELS[vote]})"

    def __call__(self, query: Query, response: str) -> Verdict:
        answer = self._extract(response)
        return Verdict(None, answer, detail="vote" if answer is not None else "no answer found")

    def without_logprobs(self) -> "ConsistencyVerifier":
        """Without log-probabilities every vote rule is the majority: the majority, so named."""
        if self.vote == "majority":
            return self
        return ConsistencyVerifier(self.extractor_name, self.min_votes, self.min_share, self.stopping,
                                   self.confidence, self.max_samples, "majority")

    def _score_vote(self, standing: Optional[float], confidence: Optional[float]) -> float:
        """An answer's standing after one more vote whose sample has this mean token log-probability
        (None: the engine reported none; the vote then adds nothing to the standing)."""
        if self.vote == "top-confidence":
            return max(-inf if standing is None else standing, -inf if confidence is None else confidence)
        return (standing or 0.0) + (0.0 if confidence is None else exp(confidence))

    def resolved(self, counts: Sequence[int]) -> bool:
        """Whether a query with these vote counts (largest first) needs no more samples."""
        if not counts:
            return False
        top = counts[0]
        second = counts[1] if len(counts) > 1 else 0
        if self.stopping == "beta":
            return beta_top_probability(top, second) >= self.confidence
        return top >= self.min_votes and top / sum(counts) >= self.min_share


    def success_lower_bound(self, counts: Sequence[int], z: float = 1.645) -> float:
        """One-sided 95% Wilson lower bound on a sample's chance to give the top answer.

        Used by calibrated stopping: a query whose samples mostly agree needs few more.
        """
        n = sum(counts)
        if not n:
            return 0.0
        share = counts[0] / n
        centre = share + z * z / (2 * n)
        spread = z * sqrt(share * (1 - share) / n + z * z / (4 * n * n))
        return max(0.0, (centre - spread) / (1 + z * z / n))


@dataclass(frozen=True)
class ConsistencyOptions(PluginOptions):
    min_votes: int = doc(3, "Votes the top answer needs before its query counts as resolved.")
    min_share: float = doc(0.5, "Share of the answered samples the top answer needs.")
    stopping: Literal["threshold", "beta"] = doc(
        "threshold", "threshold (min-votes and min-share) or beta (Adaptive-Consistency: stop when "
        "P(p_top > p_second | votes) >= confidence, at most max-votes samples).")
    confidence: float = doc(
        0.8, "With beta stopping: the posterior probability to reach. 0.8 stops on 2 of 2 votes, 3 of 4, 5 of 7; "
        "Adaptive-Consistency's 0.95 needs 4 of 4 and decided 1-3% of queries at budgets 4-6 (measured: "
        "benchmarks/README.md, label-free allocation).")
    max_votes: int = doc(40, "Most samples any query gets (caps the per-query budget too).")
    vote: Literal["top-confidence", "confidence", "majority"] = doc(
        "top-confidence", "The answer a query submits while its votes do not decide it: top-confidence (the most "
        "confident sample's), confidence (votes weighted by their samples' probability per token) or majority. "
        "Confidence needs the engine's log-probabilities (both llama.cpp backends; a server with --openai-logprobs); "
        "without them every rule is the majority vote.")

    def __post_init__(self) -> None:
        require(self.min_votes >= 1, f"min_votes must be >= 1, got {self.min_votes}")
        require(0 < self.min_share <= 1, f"min_share must be in (0, 1], got {self.min_share}")
        require(self.stopping in ("threshold", "beta"), f"stopping must be threshold or beta, got '{self.stopping}'")
        require(0.5 < self.confidence < 1, f"confidence must be in (0.5, 1), got {self.confidence}")
        require(self.max_votes >= 1, f"max_votes must be >= 1, got {self.max_votes}")
        require(self.vote in VOTE_LABELS, f"vote must be top-confidence, confidence or majority, got '{self.vote}'")


def from_config(config, options: ConsistencyOptions) -> ConsistencyVerifier:
    return ConsistencyVerifier(config.extractor, options.min_votes, options.min_share, options.stopping,
                               options.confidence, options.max_votes, options.vote)


PLUGIN = Plugin(from_config, ConsistencyOptions, "label-free: a query is resolved when its samples agree",
                label_free=True)
