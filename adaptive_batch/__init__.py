"""adaptive-batch: process a whole LLM test set under one compute budget.

    from adaptive_batch import RunConfig, DataConfig, run
    result = run(RunConfig(data=DataConfig(path="examples/arithmetic.jsonl")))
    print(result.coverage)

The public API is this module's ``__all__``; heavy engines load only when a run starts.
"""

from __future__ import annotations

from .config import (
    BackendConfig,
    DataConfig,
    PromptConfig,
    RetrievalConfig,
    RunConfig,
    SamplingConfig,
    ScheduleConfig,
    VerifierConfig,
)
from .errors import AdaptiveBatchError, ConfigError, DatasetError, UserError
from .outputs import RunResult

__version__ = "0.1.0"


def run(config: RunConfig, progress=None, backend=None, embedder=None) -> RunResult:
    """Run the two-phase processor; see :func:`adaptive_batch.runner.run`."""
    from .runner import run as _run

    return _run(config, progress=progress, backend=backend, embedder=embedder)


__all__ = [
    "AdaptiveBatchError",
    "BackendConfig",
    "ConfigError",
    "DataConfig",
    "DatasetError",
    "PromptConfig",
    "RetrievalConfig",
    "RunConfig",
    "RunResult",
    "SamplingConfig",
    "ScheduleConfig",
    "UserError",
    "VerifierConfig",
    "run",
]
