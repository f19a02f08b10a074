"""Continuous scheduling's policy: the next sample to draw, one at a time, as slots free up.

Round mode plans a whole round, waits for all of it, then plans the next. Here a query whose
sample has just been verified is back in line at once, with the pool as it is at that moment.
The order is the rounds' order without their barriers: fewest samples first (so every query's
warm-up comes before anyone's adaptive samples), ties by the run's seeded rank. At most one
sample per query is in flight, so a query resolved by one sample gets no second one at the same
time. The budget counts samples in flight as spent.

Seeds stay a function of (run seed, query id, sample index); which demonstrations a sample sees
depends on when it was dispatched, so a continuous run is reproducible in its seeds and budget
but not bit for bit. Round mode stays the default for that reason.
"""

from __future__ import annotations

import heapq
from typing import Optional

from .demonstrations import DemonstrationChoice
from .policies import PlanSettings
from .state import Assignment, RunState, sample_seed, tie_break_rank


class ContinuousPlanner:
    def __init__(self, state: RunState, settings: PlanSettings, demonstrations: Optional[DemonstrationChoice] = None):
        self.state, self.settings, self.demonstrations = state, settings, demonstrations
        self.busy: set[int] = set()
        self._reserved: dict[int, float] = {}  # the worst case of each sample in flight (priced budgets)
        self._rank = [tie_break_rank(settings.run_seed, q.id) for q in state.queries]
        self._heap = [(s.samples, self._rank[p], p) for p, s in enumerate(state.status) if self._eligible(p)]
        heapq.heapify(self._heap)

    def _eligible(self, position: int) -> bool:
        status, settings = self.state.status[position], self.settings
        if settings.targets is not None:
            return status.may_sample(settings.targets[position], stop_when_resolved=False)
        return status.may_sample(settings.cap_of(position) if settings.cap_of is not None else settings.cap,
                                 settings.method.early_stop)

    def _warm(self, position: int) -> int:
        settings = self.settings
        return settings.warmup_targets[position] if settings.warmup_targets is not None else settings.warmup

    def phase_of(self, assignment: Assignment) -> str:
        if assignment.sample_index < self._warm(assignment.position):
            return "warmup"
        return self.settings.method.adaptive_phase

    def next(self) -> Optional[Assignment]:
        """The next sample to dispatch, or None while nothing may be (budget spent or all busy).

        With a pricer, samples in flight hold their worst case of the budget until they land."""
        priced = self.settings.pricer is not None
        if not priced and self.state.spent + len(self.busy) >= self.state.total_budget:
            return None
        while self._heap:
            _, _, position = heapq.heappop(self._heap)
            if position in self.busy or not self._eligible(position):
                continue
            assignment = self._assignment(position)
            if priced:
                fits = self.settings.within_budget(self.state, [assignment], sum(self._reserved.values()))
                if not fits:
                    # It does not fit now; with less in flight it may: back in line, stop for now.
                    heapq.heappush(self._heap, (self.state.status[position].samples, self._rank[position], position))
                    return None
                price = self.settings.pricer.price(position, assignment.demonstrations, assignment.engine, assignment.kind)
                self._reserved[position] = price.worst
            self.busy.add(position)
            return assignment
        return None

    def release(self, positions: list[int]) -> None:
        """The samples of these queries were verified and applied: they may queue again."""
        for position in positions:
            self._reserved.pop(position, None)
            self.busy.discard(position)
            if self._eligible(position):
                heapq.heappush(self._heap, (self.state.status[position].samples, self._rank[position], position))

    def _assignment(self, position: int) -> Assignment:
        index = self.state.status[position].samples
        seed = sample_seed(self.settings.run_seed, self.state.queries[position].id, index)
        demos, kind = (), "base"
        engine = self.settings.engine_of(index)
        if self.demonstrations is not None and index >= self._warm(position):
            demos, kind = self.demonstrations.choose([position], [index], [seed], [engine])[0]
        return Assignment(position, index, seed, demos, engine, kind)
