"""Round mode's schedule: the warm-up rounds, then adaptive rounds until none is planned.

Every decision of round mode lives here: how many warm-up rounds there are (a learned
allocator's largest budget, or the warm-up; one round when the warm-up is drawn together), the
round limit, each round's phase label and, through the policies, who gets a sample. The run only
executes what this plans. Plans are a pure function of the state, so a resumed run plans every
round, the interrupted one included, exactly as before.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from .adaptive import plan_adaptive_round
from .demonstrations import DemonstrationChoice
from .policies import PlanSettings
from .state import Assignment, RunState
from .warmup import plan_warmup_round


class PlannedRound(NamedTuple):
    phase: str
    index: int
    assignments: list[Assignment]


class RoundPlanner:
    def __init__(self, state: RunState, settings: PlanSettings, demonstrations: DemonstrationChoice,
                 warmup_together: bool = False, max_rounds: Optional[int] = None):
        self.state, self.settings, self.demonstrations, self.max_rounds = state, settings, demonstrations, max_rounds
        rounds = max(settings.warmup_targets, default=0) if settings.warmup_targets else settings.warmup
        self.together = rounds if warmup_together else 1
        self.warmup_rounds = 1 if self.together > 1 else rounds  # the whole warm-up in round 0
        self.next_index = 0

    @property
    def in_warmup(self) -> bool:
        return self.next_index < self.warmup_rounds

    @property
    def round_limit_reached(self) -> bool:
        return (not self.in_warmup and self.max_rounds is not None
                and self.next_index - self.warmup_rounds >= self.max_rounds)

    def next_round(self) -> Optional[PlannedRound]:
        """The next round to run, or None when the schedule is done."""
        if self.round_limit_reached:
            return None
        settings, state = self.settings, self.state
        if self.in_warmup:
            planned = PlannedRound("warmup", self.next_index, settings.with_engines(plan_warmup_round(
                state, settings.method, settings.run_seed, settings.warmup_targets, self.together, settings)))
        else:
            caps = [settings.cap_of(p) for p in range(len(state.status))] if settings.cap_of else None
            assignments = plan_adaptive_round(state, settings.run_seed, settings.cap, self.demonstrations,
                                              settings.targets, caps, settings)
            if not assignments:
                return None
            planned = PlannedRound(settings.method.adaptive_phase, self.next_index, settings.with_engines(assignments))
        self.next_index += 1
        return planned
