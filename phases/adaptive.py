"""The adaptive phase: the rest of the budget, round by round, to unresolved queries only."""

from __future__ import annotations

from typing import Optional

from .demonstrations import DemonstrationChoice
from .policies import PlanSettings, choose_within_budget
from .state import Assignment, RunState, sample_seed, tie_break_rank


def plan_adaptive_round(
    state: RunState,
    run_seed: int,
    cap: float,
    demonstrations: DemonstrationChoice,
    targets: list[int] | None = None,
    query_caps: list[int] | None = None,
    settings: Optional[PlanSettings] = None,
) -> list[Assignment]:
    """The next round's samples: one for each unresolved query under its cap, within budget.

    With ``targets`` (best-of-N) every query instead gets samples up to its target, resolved or not.
    ``query_caps`` (calibrated stopping) lowers the cap query by query. With ``settings`` carrying
    a pricer (a budget in tokens, FLOPs or cost) the budget is checked by each sample's price.
    Demonstrations come from the pool as it is now, so queries resolved last round already help.
    """
    if targets is not None:
        candidates = [p for p, s in enumerate(state.status) if s.may_sample(targets[p], stop_when_resolved=False)]
    else:
        stop = settings.method.early_stop if settings is not None else True
        candidates = [p for p, s in enumerate(state.status)
                      if s.may_sample(query_caps[p] if query_caps else cap, stop_when_resolved=stop)]
    priced = settings is not None and settings.pricer is not None
    together = settings.together if settings is not None and targets is None else 1
    chosen = candidates if priced or together > 1 else choose_within_budget(state, candidates, run_seed)
    indices = [state.status[p].samples for p in chosen]
    seeds = [sample_seed(run_seed, state.queries[p].id, i) for p, i in zip(chosen, indices)]
    engines = [settings.engine_of(i) for i in indices] if settings is not None else ["main"] * len(chosen)
    shown = demonstrations.choose(chosen, indices, seeds, engines)
    assignments = [Assignment(p, i, seed, demos, engine, kind)
                   for p, i, seed, engine, (demos, kind) in zip(chosen, indices, seeds, engines, shown)]
    if together > 1:
        limits = query_caps if query_caps else [cap] * len(state.status)
        assignments = _side_by_side(state, run_seed, assignments, together, limits, per_sample=not priced)
    return settings.within_budget(state, assignments) if priced else assignments


def _side_by_side(state: RunState, run_seed: int, firsts: list[Assignment], together: int, limits,
                  per_sample: bool) -> list[Assignment]:
    """Each query's next ``together`` samples (under its cap), one after the other, all showing the
    first one's demonstrations; with a budget in samples, whole groups by priority while they fit,
    the last one cut to what is left."""
    groups = []
    for a in firsts:
        last = min(a.sample_index + together, limits[a.position])
        groups.append([a] + [a._replace(sample_index=i, seed=sample_seed(run_seed, state.queries[a.position].id, i))
                             for i in range(a.sample_index + 1, int(last))])
    if per_sample and sum(map(len, groups)) > state.remaining:
        left = max(int(state.remaining), 0)
        order = sorted(range(len(groups)), key=lambda g: (state.status[groups[g][0].position].samples,
                                                          tie_break_rank(run_seed, state.queries[groups[g][0].position].id)))
        take = [0] * len(groups)
        for g in order:  # first every query's next sample, by priority, then the rest of each group
            if left > 0:
                take[g], left = 1, left - 1
        for g in order:
            extra = min(len(groups[g]) - take[g], left) if take[g] else 0
            take[g], left = take[g] + extra, left - extra
        groups = [group[:t] for group, t in zip(groups, take) if t]
    return [a for group in groups for a in group]
