"""The adaptive phase: the rest of the budget, round by round, to unresolved queries only."""

from __future__ import annotations

from typing import Optional

from .demonstrations import DemonstrationChoice
from .policies import PlanSettings, choose_within_budget
from .state import Assignment, RunState, sample_seed


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
    chosen = candidates if priced else choose_within_budget(state, candidates, run_seed)
    indices = [state.status[p].samples for p in chosen]
    seeds = [sample_seed(run_seed, state.queries[p].id, i) for p, i in zip(chosen, indices)]
    engines = [settings.engine_of(i) for i in indices] if settings is not None else ["main"] * len(chosen)
    shown = demonstrations.choose(chosen, indices, seeds, engines)
    assignments = [Assignment(p, i, seed, demos, engine, kind)
                   for p, i, seed, engine, (demos, kind) in zip(chosen, indices, seeds, engines, shown)]
    return settings.within_budget(state, assignments) if priced else assignments
