"""adaptive-batch: process a whole LLM test set under one compute budget.

    from adaptive_batch import RunConfig, DataConfig, run
    result = run(RunConfig(data=DataConfig(path="examples/arithmetic.jsonl")))
    print(result.coverage)
    table = result.results_table()          # pyarrow; result.to_pandas() with pandas

After a run: ``score_run`` (accuracy of a label-free run against references), ``export_run``
(leaderboard files, with the leakage guard) and ``write_report`` (HTML with plots).

The public API is this module's ``__all__``; heavy engines load only when a run starts.
"""

from __future__ import annotations

from .config import (
    BackendConfig,
    DataConfig,
    EscalationConfig,
    PromptConfig,
    RetrievalConfig,
    RunConfig,
    SamplingConfig,
    ScheduleConfig,
    VerifierConfig,
)
from .errors import AdaptiveBatchError, ConfigError, DatasetError, UserError

__version__ = "0.1.0"

# The run layer's names, imported on first use (PEP 562): importing a core module
# (``adaptive_batch.config``, ``records``, ``errors``, ``registry``) runs this file, and it must not
# pull in the layers above core, which import core themselves.
_RUN_LAYER = {
    "RunResult": "outputs",
    "write_report": "report",
    "LeakageError": "scoring",
    "export_run": "scoring",
    "score_run": "scoring",
    "verify_responses": "scoring",
}


def __getattr__(name: str):
    if name in _RUN_LAYER:
        import importlib

        return getattr(importlib.import_module(f".{_RUN_LAYER[name]}", __name__), name)
    raise AttributeError(f"module 'adaptive_batch' has no attribute {name!r}")


def run(config: RunConfig, progress=None, backend=None, embedder=None, should_stop=None,
        escalation_backend=None, repair: bool = False):
    """Run the two-phase processor; see :func:`adaptive_batch.runner.run`. Returns a RunResult."""
    from .runner import run as _run

    return _run(config, progress=progress, backend=backend, embedder=embedder, should_stop=should_stop,
                escalation_backend=escalation_backend, repair=repair)


__all__ = [
    "AdaptiveBatchError",
    "BackendConfig",
    "ConfigError",
    "DataConfig",
    "DatasetError",
    "EscalationConfig",
    "PromptConfig",
    "RetrievalConfig",
    "RunConfig",
    "RunResult",
    "SamplingConfig",
    "ScheduleConfig",
    "UserError",
    "VerifierConfig",
    "LeakageError",
    "export_run",
    "run",
    "score_run",
    "verify_responses",
    "write_report",
]
