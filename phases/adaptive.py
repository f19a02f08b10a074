"""The adaptive phase: the rest of the budget, round by round, to unresolved queries only."""

from __future__ import annotations

import numpy as np

from retrieval.pool import DemonstrationPool

from .policies import Method, choose_within_budget
from .state import Assignment, RunState, sample_seed


def plan_adaptive_round(
    state: RunState,
    method: Method,
    run_seed: int,
    cap: int,
    pool: DemonstrationPool | None,
    k: int,
    min_similarity: float,
    targets: list[int] | None = None,
    query_caps: list[int] | None = None,
) -> list[Assignment]:
    """The next round's samples: one for each unresolved query under its cap, within budget.

    With ``targets`` (best-of-N) every query instead gets samples up to its target, resolved or not.
    ``query_caps`` (calibrated stopping) lowers the cap query by query.
    Demonstrations come from the pool as it is now, so queries resolved last round already help.
    """
    if targets is not None:
        candidates = [p for p, s in enumerate(state.status) if s.error is None and s.samples < targets[p]]
    else:
        candidates = [p for p, s in enumerate(state.status)
                      if state.active(p) and s.samples < (query_caps[p] if query_caps else cap)]
    chosen = choose_within_budget(state, candidates, run_seed)
    nearest: list = [()] * len(chosen)
    if pool is not None and method.demonstrations == "nearest":
        nearest = pool.nearest_many(chosen, k, min_similarity)
    assignments = []
    for position, near in zip(chosen, nearest):
        index = state.status[position].samples
        seed = sample_seed(run_seed, state.queries[position].id, index)
        demos: tuple = tuple(near)
        if pool is not None and method.demonstrations == "random":
            demos = tuple(pool.random(position, k, np.random.default_rng(seed)))
        assignments.append(Assignment(position, index, seed, demos))
    return assignments
