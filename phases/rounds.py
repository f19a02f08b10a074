"""Round mode's schedule: the warm-up rounds, then adaptive rounds until none is planned.

Every decision of round mode lives here: how many warm-up rounds there are (a learned
allocator's largest budget, or the warm-up; one round when the warm-up is drawn together), the
round limit, each round's phase label and, through the policies, who gets a sample. The run only
executes what this plans. Plans are a pure function of the state, so a resumed run plans every
round, the interrupted one included, exactly as before.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

from .adaptive import plan_adaptive_round
from .demonstrations import DemonstrationChoice
from .policies import Method
from .state import Assignment, RunState
from .warmup import plan_warmup_round


class PlannedRound(NamedTuple):
    phase: str
    index: int
    assignments: list[Assignment]


class RoundPlanner:
    def __init__(
        self,
        state: RunState,
        method: Method,
        run_seed: int,
        cap: int,
        warmup: int,
        demonstrations: DemonstrationChoice,
        warmup_together: bool = False,
        max_rounds: Optional[int] = None,
        targets: Optional[list[int]] = None,
        warmup_targets: Optional[list[int]] = None,
        cap_of: Optional[Callable[[int], int]] = None,
    ):
        """``targets``: best-of-N sample counts; ``warmup_targets``: a learned allocator's warm-up
        budgets; ``cap_of(position)``: calibrated stopping's per-query cap."""
        self.state, self.method, self.run_seed, self.cap = state, method, run_seed, cap
        self.demonstrations, self.max_rounds = demonstrations, max_rounds
        self.targets, self.warmup_targets, self.cap_of = targets, warmup_targets, cap_of
        rounds = max(warmup_targets, default=0) if warmup_targets else warmup
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
        if self.in_warmup:
            planned = PlannedRound("warmup", self.next_index, plan_warmup_round(
                self.state, self.method, self.run_seed, self.warmup_targets, self.together))
        else:
            caps = [self.cap_of(p) for p in range(len(self.state.status))] if self.cap_of else None
            assignments = plan_adaptive_round(self.state, self.run_seed, self.cap, self.demonstrations,
                                              self.targets, caps)
            if not assignments:
                return None
            planned = PlannedRound(self.method.adaptive_phase, self.next_index, assignments)
        self.next_index += 1
        return planned
