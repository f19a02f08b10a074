"""Running untrusted, generated code: a separate process, limits, no network, nothing written
outside its own directory. See :mod:`adaptive_batch.sandbox.runner` for the layers."""

from .runner import Execution, Limits, run_untrusted, sandbox_level

__all__ = ["Execution", "Limits", "run_untrusted", "sandbox_level"]
