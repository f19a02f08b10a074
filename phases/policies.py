"""Allocation methods: the proposed one and the baselines share every other line of code."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, Optional, Sequence

from adaptive_batch.config import ScheduleConfig

from .budget import admit_within_budget
from .state import Assignment, RunState, tie_break, tie_break_rank

Demonstrations = Literal["none", "nearest", "random"]


@dataclass(frozen=True)
class Method:
    name: str
    early_stop: bool
    demonstrations: Demonstrations
    description: str

    @property
    def adaptive_phase(self) -> str:
        """The phase label of samples after the warm-up."""
        return "adaptive" if self.early_stop else "best-of-n"


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("adaptive", True, "nearest", "adaptive allocation with the nearest resolved queries as demonstrations"),
        Method("elimination", True, "none", "adaptive allocation from the base prompt (no demonstrations)"),
        Method("random-demos", True, "random", "adaptive allocation with random resolved queries as demonstrations"),
        Method("uniform", False, "none", "best-of-N: every query gets the same samples, no early stop"),
    )
}


@dataclass(frozen=True)
class PlanSettings:
    """What every planner plans by: the method, the run's seed, the per-query cap, the warm-up
    size, and the optional per-query numbers (best-of-N ``targets``, a learned allocator's
    ``warmup_targets``, calibrated stopping's ``cap_of(position)``)."""

    method: Method
    run_seed: int
    cap: int
    warmup: int
    targets: Optional[list[int]] = None
    warmup_targets: Optional[list[int]] = None
    cap_of: Optional[Callable[[int], int]] = None
    # Escalation: a query's samples from this index on go to the escalation engine (None: off).
    escalate_after: Optional[int] = None
    # A budget in another unit than samples: what a planned sample costs (``budget.SamplePricer``),
    # and each query's cap in that unit. None: every sample costs 1.
    pricer: Any = None
    unit_cap: float = math.inf
    # Adaptive samples of one query drawn side by side per round, with the same demonstrations.
    together: int = 1

    def engine_of(self, sample_index: int) -> str:
        """Which engine draws a query's sample of this index."""
        return "escalated" if self.escalate_after is not None and sample_index >= self.escalate_after else "main"

    def with_engines(self, assignments: list[Assignment]) -> list[Assignment]:
        if self.escalate_after is None:
            return assignments
        return [a._replace(engine=self.engine_of(a.sample_index)) for a in assignments]

    def within_budget(self, state: RunState, assignments: list[Assignment], reserved: float = 0.0) -> list[Assignment]:
        """Of a budget in tokens, FLOPs or cost: the planned samples that fit (``budget``)."""
        assignments = self.with_engines(assignments)
        prices = [self.pricer.price(a.position, a.demonstrations, a.engine, a.kind) for a in assignments]
        return admit_within_budget(state, assignments, prices, self.run_seed, self.unit_cap, reserved)


def total_budget(schedule: ScheduleConfig, n_queries: int) -> float:
    """The run's whole budget, in its unit (samples: a whole number)."""
    if schedule.budget_unit == "samples":
        return int(schedule.budget * n_queries + 1e-9)
    return schedule.budget * n_queries


def uniform_targets(state: RunState, run_seed: int) -> list[int]:
    """Samples per query for best-of-N: the budget spread as evenly as whole samples allow."""
    n = len(state.queries)
    base, extra = divmod(state.total_budget, n)
    order = sorted(range(n), key=lambda p: tie_break_rank(run_seed, state.queries[p].id))
    targets = [base] * n
    for position in order[:extra]:
        targets[position] += 1
    return targets


def choose_within_budget(state: RunState, candidates: list[int], run_seed: int) -> list[int]:
    """All candidates if the budget allows; else those with the fewest samples so far, equals in
    ``tie_break`` order."""
    if len(candidates) <= state.remaining:
        return candidates
    ranked = sorted(candidates, key=lambda p: (state.status[p].samples, *tie_break(state, p, run_seed)))
    return sorted(ranked[: max(state.remaining, 0)])


def calibrated_caps(state: RunState, lower_bound: Callable[[Sequence[int]], float], confidence: float, floor: int,
                    ceiling: int) -> Callable[[int], int]:
    """Calibrated stopping's cap of each query (by position), from its votes as they are now."""

    def cap_of(position: int) -> int:
        status = state.status[position]
        return calibrated_cap(lower_bound([status.votes[a] for a in status.top_answers()]), confidence, floor, ceiling)

    return cap_of


def calibrated_cap(p_lower: float, confidence: float, floor: int, ceiling: int) -> int:
    """Samples needed for P(at least one success) >= confidence at per-sample success p_lower.

    N = ceil(log(1 - C) / log(1 - p)), kept within [floor, ceiling] (instance-adaptive scaling,
    arXiv 2506.09338). With p unknown (0) the ceiling applies.
    """
    if p_lower <= 0:
        return ceiling
    if p_lower >= 1:
        return floor
    needed = math.ceil(math.log(1 - confidence) / math.log(1 - p_lower) - 1e-9)
    return max(floor, min(ceiling, needed))
