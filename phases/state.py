"""What the scheduler knows about every query, updated sample by sample."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Optional, Sequence

from adaptive_batch.costs import CostModel
from adaptive_batch.records import Query, SampleRecord, mean_token_logprob
from retrieval.pool import Demonstration


def sample_seed(run_seed: int, query_id: str, sample_index: int) -> int:
    """The seed of one sample, a pure function of (run seed, query id, sample index).

    A resumed run, a re-ordered batch and an uninterrupted run therefore ask for the same samples.
    """
    digest = hashlib.blake2b(f"{run_seed}\x1f{query_id}\x1f{sample_index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**31 - 1)


def tie_break_rank(run_seed: int, query_id: str) -> int:
    """A seeded, order-free rank used to break ties between equally deserving queries."""
    return int.from_bytes(hashlib.blake2b(f"rank\x1f{run_seed}\x1f{query_id}".encode(), digest_size=8).digest(), "big")


def tie_break(state: "RunState", position: int, run_seed: int) -> tuple[float, int]:
    """The order among open queries with equal samples when the budget cannot cover them all: in a
    label-free run the least settled majority first (the top answer's smallest share of the votes;
    of three orders replayed over label-free elimination's partial rounds, the most accurate:
    benchmarks/label_free_order.py), then a seeded rank. An oracle run's open queries hold no votes,
    so there only the rank orders."""
    return state.status[position].top_share(), tie_break_rank(run_seed, state.queries[position].id)


class Assignment(NamedTuple):
    """One sample to draw in a round: which query, which of its samples, and with what context.

    A tuple, not a dataclass: a large run makes millions of them."""

    position: int
    sample_index: int
    seed: int
    demonstrations: tuple[Demonstration, ...] = ()
    engine: str = "main"  # "escalated": the escalation backend draws it
    kind: str = "base"  # the kind of prompt: base, nearest, rotated or random (demonstrations)


@dataclass(slots=True)  # one per query: a million of them must stay small
class QueryStatus:
    samples: int = 0
    resolved: bool = False
    resolved_phase: Optional[str] = None
    resolved_round: Optional[int] = None
    answer: Optional[str] = None
    passing_response: Optional[str] = None
    error: Optional[str] = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0  # spent on this query, in the budget's unit
    demo_ids: list[str] = field(default_factory=list)
    # Label-free runs: votes per answer in first-seen order, and the first response of each.
    votes: dict[str, int] = field(default_factory=dict)
    vote_responses: dict[str, str] = field(default_factory=dict)
    # Each answer's standing under the verifier's vote (``score_vote``), where it weighs votes.
    vote_standing: dict[str, float] = field(default_factory=dict)

    def may_sample(self, limit: float, stop_when_resolved: bool = True) -> bool:
        """Whether the query may get another sample: the engine could serve it, it is under
        ``limit`` samples, and, for methods that stop early, it is not resolved yet. The one rule
        every planner asks."""
        return self.error is None and self.samples < limit and not (stop_when_resolved and self.resolved)

    def top_share(self) -> float:
        """The top answer's share of the votes (label-free runs); 0 without votes."""
        return max(self.votes.values()) / sum(self.votes.values()) if self.votes else 0.0

    def top_answers(self) -> list[str]:
        """Answers by votes, most first; ties go to the answer seen first."""
        order = {answer: i for i, answer in enumerate(self.votes)}
        return sorted(self.votes, key=lambda a: (-self.votes[a], order[a]))


_TOKENS = {"samples": 0, "prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0}

VoteRule = Callable[[Sequence[int]], bool]
VoteScore = Callable[[Optional[float], Optional[float]], float]


class RunState:
    """``vote_rule`` (label-free runs) decides from a query's vote counts, largest first, whether
    it is resolved; samples whose verdict is None are then counted as votes. ``vote_score`` (the
    verifier's ``score_vote``) ranks the answers of a query its votes leave undecided."""

    def __init__(self, queries: Sequence[Query], total_budget: float, vote_rule: Optional[VoteRule] = None,
                 cost: Optional[CostModel] = None, vote_score: Optional[VoteScore] = None):
        self.queries = list(queries)
        self.status = [QueryStatus() for _ in self.queries]
        self.total_budget = total_budget  # in the cost model's unit
        self.vote_rule = vote_rule
        self.vote_score = vote_score
        self.cost = cost or CostModel()
        self.spent: float = 0  # in the budget's unit (samples: a whole number)
        self.samples_spent = 0
        self.resolved_count = 0  # kept as queries resolve: progress displays ask it often
        self.by_phase: dict[str, dict[str, float]] = {}
        self.by_engine: dict[str, dict[str, float]] = {}
        # Adaptive samples by round and kind of prompt, [samples, passed]: what the online choice of
        # prompt learns from. By round, since the open queries get harder as the easy ones resolve: a
        # kind drawn mostly late would look worse than one drawn early; within rounds it does not.
        # And each demonstration's record, [shown, passed].
        self.kind_rounds: dict[int, dict[str, list[int]]] = {}
        # Their prompt tokens and, of those, the ones the engine served from its cache: a base
        # prompt a query already drew is mostly cached, a new block of demonstrations is not, so
        # the cost of a kind is priced from its own share (``kind_cached_share``).
        self.kind_tokens: dict[str, list[int]] = {}
        self.demo_use: dict[str, list[int]] = {}

    @property
    def remaining(self) -> float:
        return self.total_budget - self.spent

    def apply(self, position: int, record: SampleRecord) -> bool:
        """Account one verified sample; True when it newly resolves its query."""
        status = self.status[position]
        status.samples += 1
        status.prompt_tokens += record.prompt_tokens
        status.completion_tokens += record.completion_tokens
        status.cached_tokens += record.cached_tokens
        for demo_id in record.demo_ids:
            if demo_id not in status.demo_ids:
                status.demo_ids.append(demo_id)
        phase = self.by_phase.setdefault(record.phase, {**_TOKENS, "resolved": 0})
        if record.error is not None:
            # The engine could not serve it (e.g. too long a prompt): no compute was spent, and
            # the query takes no further part rather than failing the same way again.
            status.error = record.error
            return False
        cost = self.cost.of(record.prompt_tokens, record.cached_tokens, record.completion_tokens, record.engine)
        self.spent += cost if not self.cost.per_sample else 1
        self.samples_spent += 1
        status.cost += cost
        engine = self.by_engine.setdefault(record.engine, {**_TOKENS, "engine_s": 0.0})
        for sums in (engine, phase):
            sums["samples"] += 1
            sums["prompt_tokens"] += record.prompt_tokens
            sums["completion_tokens"] += record.completion_tokens
            sums["cached_tokens"] += record.cached_tokens
        # Engine seconds are a measurement (they differ run to run): kept apart from the counts.
        engine["engine_s"] = round(engine["engine_s"] + record.engine_s, 6)
        self._learn(record)
        if record.passed is None and self.vote_rule is not None:
            return self._count_vote(status, phase, record)
        if status.answer is None and record.answer is not None:
            status.answer = record.answer
        if record.passed:
            status.passing_response = record.text
            if not status.resolved:
                status.resolved = True
                status.answer = record.answer
                status.resolved_phase = record.phase
                status.resolved_round = record.round
                phase["resolved"] += 1
                self.resolved_count += 1
                return True
        return False

    def _learn(self, record: SampleRecord) -> None:
        """What the prompt choice and the demonstrations' record learn from an adaptive sample."""
        if record.phase == "warmup" or not record.prompt_kind:
            return
        passed = bool(record.passed)
        in_round = self.kind_rounds.setdefault(record.round, {}).setdefault(record.prompt_kind, [0, 0])
        in_round[0] += 1
        in_round[1] += passed
        tokens = self.kind_tokens.setdefault(record.prompt_kind, [0, 0])
        tokens[0] += record.prompt_tokens
        tokens[1] += record.cached_tokens
        for demo_id in record.demo_ids:
            use = self.demo_use.setdefault(demo_id, [0, 0])
            use[0] += 1
            use[1] += passed

    @property
    def by_kind(self) -> dict[str, tuple[int, int]]:
        """Adaptive samples and passes of each kind of prompt, over the whole run."""
        out: dict[str, tuple[int, int]] = {}
        for kinds in self.kind_rounds.values():
            for kind, (n, p) in kinds.items():
                drawn, passed = out.get(kind, (0, 0))
                out[kind] = (drawn + n, passed + p)
        return out

    def kind_passes_against_expected(self) -> dict[str, tuple[int, float]]:
        """Each kind's passes and the passes it would have had at its rounds' pass rates (every kind
        together): indirect standardization by round, so their ratio says how a kind did against the
        others on the open queries of the same rounds, however hard those had become."""
        out: dict[str, list[float]] = {}
        for kinds in self.kind_rounds.values():
            drawn, passed = sum(n for n, _ in kinds.values()), sum(p for _, p in kinds.values())
            for kind, (n, p) in kinds.items():
                totals = out.setdefault(kind, [0, 0.0])
                totals[0] += p
                totals[1] += n * passed / drawn
        return {kind: (int(p), e) for kind, (p, e) in out.items()}

    def kind_cached_share(self, kind: str) -> Optional[float]:
        """The share of the adaptive prompt tokens of this kind that came from the engine's cache;
        None before its first sample."""
        prompt, cached = self.kind_tokens.get(kind, (0, 0))
        return cached / prompt if prompt else None

    def _count_vote(self, status: QueryStatus, phase: dict[str, int], record: SampleRecord) -> bool:
        if record.answer is None:
            return False
        status.votes[record.answer] = status.votes.get(record.answer, 0) + 1
        status.vote_responses.setdefault(record.answer, record.text)
        if self.vote_score is not None:
            confidence = mean_token_logprob(record.logprob, record.completion_tokens)
            status.vote_standing[record.answer] = self.vote_score(status.vote_standing.get(record.answer), confidence)
        ranked = status.top_answers()
        # Until resolved the leading answer is the query's answer; once resolved it stays fixed.
        if status.resolved or not self.vote_rule([status.votes[a] for a in ranked]):
            if not status.resolved:
                status.answer = (ranked[0] if self.vote_score is None
                                 else max(ranked, key=lambda a: status.vote_standing[a]))  # the first of equals
            return False
        status.resolved = True
        status.answer = ranked[0]
        status.passing_response = status.vote_responses[ranked[0]]
        status.resolved_phase = record.phase
        status.resolved_round = record.round
        phase["resolved"] += 1
        self.resolved_count += 1
        return True
