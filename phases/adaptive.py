"""The adaptive phase: the rest of the budget, round by round, to unresolved queries only."""

from __future__ import annotations

from .demonstrations import DemonstrationChoice
from .policies import choose_within_budget
from .state import Assignment, RunState, sample_seed


def plan_adaptive_round(
    state: RunState,
    run_seed: int,
    cap: int,
    demonstrations: DemonstrationChoice,
    targets: list[int] | None = None,
    query_caps: list[int] | None = None,
) -> list[Assignment]:
    """The next round's samples: one for each unresolved query under its cap, within budget.

    With ``targets`` (best-of-N) every query instead gets samples up to its target, resolved or not.
    ``query_caps`` (calibrated stopping) lowers the cap query by query.
    Demonstrations come from the pool as it is now, so queries resolved last round already help.
    """
    if targets is not None:
        candidates = [p for p, s in enumerate(state.status) if s.may_sample(targets[p], stop_when_resolved=False)]
    else:
        candidates = [p for p, s in enumerate(state.status) if s.may_sample(query_caps[p] if query_caps else cap)]
    chosen = choose_within_budget(state, candidates, run_seed)
    indices = [state.status[p].samples for p in chosen]
    seeds = [sample_seed(run_seed, state.queries[p].id, i) for p, i in zip(chosen, indices)]
    demos = demonstrations.for_samples(chosen, indices, seeds)
    return [Assignment(*fields) for fields in zip(chosen, indices, seeds, demos)]
