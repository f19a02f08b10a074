"""Warm-up: a small, uniform number of base-prompt samples per query, one per round or all at once."""

from __future__ import annotations

import math
from typing import Optional

from .policies import Method, PlanSettings, choose_within_budget
from .state import Assignment, RunState, sample_seed


def plan_warmup_round(state: RunState, method: Method, run_seed: int,
                      targets: list[int] | None = None, together: int = 1,
                      settings: Optional[PlanSettings] = None) -> list[Assignment]:
    """One base-prompt sample for every query still in play (every query, for best-of-N).

    With ``targets`` (a learned allocator's warm-up budgets) only queries below their target.
    ``together`` > 1: up to that many samples of each query at once (its whole warm-up), side by
    side, for engines that serve the samples of one prompt together. With ``settings`` carrying a
    pricer (a budget in tokens, FLOPs or cost) the budget is checked by each sample's price.
    """
    candidates = [p for p, status in enumerate(state.status)
                  if status.may_sample(targets[p] if targets is not None else math.inf, method.early_stop)]
    priced = settings is not None and settings.pricer is not None
    if together > 1:
        planned = _together(state, run_seed, candidates, targets, together, limited=not priced)
    else:
        chosen = candidates if priced else choose_within_budget(state, candidates, run_seed)
        planned = [Assignment(p, state.status[p].samples,
                              sample_seed(run_seed, state.queries[p].id, state.status[p].samples)) for p in chosen]
    return settings.within_budget(state, planned) if priced else planned


def _together(state: RunState, run_seed: int, candidates: list[int], targets: list[int] | None,
              count: int, limited: bool = True) -> list[Assignment]:
    assignments = []
    left = state.remaining if limited else math.inf
    for p in candidates:
        first = state.status[p].samples
        last = min(first + count, first + max(left, 0)) if limited else first + count
        if targets is not None:
            last = min(last, targets[p])
        assignments += [Assignment(p, i, sample_seed(run_seed, state.queries[p].id, i)) for i in range(first, last)]
        left -= last - first
    return assignments
