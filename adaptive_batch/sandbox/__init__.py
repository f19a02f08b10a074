"""Running untrusted, generated code: a separate process, limits, no network, a read-only runtime
as its whole file system, and a pass only when the harness proves its tests finished. See
:mod:`adaptive_batch.sandbox.runner` for the layers."""

from .runner import Execution, Limits, Program, run_untrusted, sandbox_level

__all__ = ["Execution", "Limits", "Program", "run_untrusted", "sandbox_level"]
