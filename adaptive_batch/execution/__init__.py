"""Running: ``prepare`` builds the run context, ``drive`` runs the schedule's planner through the
sample executor (``execute``), and :func:`adaptive_batch.runner.run` ties them to the outputs."""

from .context import UNCHECKED_ON_RESUME, RunContext, prepare
from .drive import drive
from ..events import RoundProgress, Status
from .execute import SampleExecutor
from .timings import Timings

__all__ = ["UNCHECKED_ON_RESUME", "RoundProgress", "RunContext", "SampleExecutor", "Status", "Timings", "drive",
           "prepare"]
