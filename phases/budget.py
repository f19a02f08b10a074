"""Spending a budget counted in tokens, FLOPs or dollars: which planned samples fit.

With a budget in samples every sample costs 1 and the planners count (``choose_within_budget``).
In any other unit a planned sample's cost is known only after it is drawn, so the planners ask a
``SamplePricer``, which builds the sample's exact prompt and counts its tokens, for two figures:

- ``predicted``: with the outputs seen so far (their mean length, the cache's share), used for
  each query's own cap and by the online choice of prompt;
- ``worst``: nothing from the cache and ``max_tokens`` generated.

A round admits samples, fewest samples first, while the sum of their worst cases fits in what is
left: the run never spends past its budget. Far from the end that admits every candidate; near
it, each round spends part of the rest and the next round plans again with what is left then,
so the run stops within one worst-case sample of the budget.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, Sequence

from .state import Assignment, RunState, tie_break


class Price(NamedTuple):
    predicted: float
    worst: float


class SamplePricer(Protocol):
    def price(self, position: int, demonstrations: tuple, engine: str, kind: str = "") -> Price:
        """What sample of query ``position`` with these demonstrations (of this kind of prompt,
        where known) will cost on ``engine``."""
        ...


def admit_within_budget(state: RunState, assignments: Sequence[Assignment], prices: Sequence[Price], run_seed: int,
                        unit_cap: float, reserved: float = 0.0) -> list[Assignment]:
    """The assignments that fit: each under its query's cap (by prediction), and together, fewest
    samples first, within what is left of the budget (by the worst case). ``reserved`` is held
    for samples in flight. Returned in the order given."""
    fits = [i for i, a in enumerate(assignments)
            if state.status[a.position].cost + prices[i].predicted <= unit_cap + 1e-9 or state.status[a.position].samples == 0]
    left = state.remaining - reserved
    if sum(prices[i].worst for i in fits) <= left + 1e-9:
        return [assignments[i] for i in fits]
    ranked = sorted(fits, key=lambda i: (state.status[assignments[i].position].samples, assignments[i].sample_index,
                                         *tie_break(state, assignments[i].position, run_seed)))
    chosen = []
    for i in ranked:
        if prices[i].worst <= left + 1e-9:
            chosen.append(i)
            left -= prices[i].worst
    return [assignments[i] for i in sorted(chosen)]
