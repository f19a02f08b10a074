"""Warm-up: a small, uniform number of base-prompt samples per query, one per round."""

from __future__ import annotations

from .policies import Method, choose_within_budget
from .state import Assignment, RunState, sample_seed


def plan_warmup_round(state: RunState, method: Method, run_seed: int,
                      targets: list[int] | None = None) -> list[Assignment]:
    """One base-prompt sample for every query still in play (every query, for best-of-N).

    With ``targets`` (a learned allocator's warm-up budgets) only queries below their target.
    """
    candidates = [
        p
        for p, status in enumerate(state.status)
        if status.error is None and (not method.early_stop or not status.resolved)
        and (targets is None or status.samples < targets[p])
    ]
    return [
        Assignment(p, state.status[p].samples, sample_seed(run_seed, state.queries[p].id, state.status[p].samples))
        for p in choose_within_budget(state, candidates, run_seed)
    ]
