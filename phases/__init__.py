"""The two phases of a run and the allocation methods that drive them."""

from .adaptive import plan_adaptive_round
from .continuous import ContinuousPlanner
from .demonstrations import DemonstrationChoice
from .policies import (
    METHODS,
    Method,
    PlanSettings,
    calibrated_cap,
    calibrated_caps,
    choose_within_budget,
    total_budget,
    uniform_targets,
)
from .rounds import PlannedRound, RoundPlanner
from .state import Assignment, QueryStatus, RunState, sample_seed
from .warmup import plan_warmup_round

__all__ = [
    "METHODS",
    "Assignment",
    "ContinuousPlanner",
    "DemonstrationChoice",
    "Method",
    "QueryStatus",
    "RunState",
    "PlanSettings",
    "PlannedRound",
    "RoundPlanner",
    "calibrated_cap",
    "calibrated_caps",
    "choose_within_budget",
    "plan_adaptive_round",
    "plan_warmup_round",
    "sample_seed",
    "total_budget",
    "uniform_targets",
]
