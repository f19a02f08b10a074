"""Unit-test verification of generated code, HumanEval style, in the sandbox.

The program run is ``prompt + completion + test``, after which the sandbox's harness calls
``check(entry_point)``. It passes only when the harness proves that ``check`` returned (a per-run
nonce, see :mod:`adaptive_batch.sandbox.child`): an early ``os._exit(0)`` or ``sys.exit(0)`` is a
fail, and so is a result that is not a plain value (an object whose ``__eq__`` is always true).
Generated code never runs in the tool's own process: see :mod:`adaptive_batch.sandbox` for the
isolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config_fields import PluginOptions, doc, require
from ..errors import UserError
from ..records import Query, Verdict
from ..registry import Plugin
from ..sandbox import Limits, Program, run_untrusted, sandbox_level
from .base import VerifierBase


def humaneval_program(query: Query, completion: str) -> Program:
    try:
        test, entry_point = query.extra["test"], query.extra["entry_point"]
    except KeyError as missing:
        raise UserError(
            f"query '{query.id}' (line {query.line}) has no {missing} field, which the code verifier needs "
            "(use --adapter humaneval, or JSONL lines with 'test' and 'entry_point')"
        ) from None
    test_source = f"\n\n{test}\n"
    return Program(source=f"{query.question}{completion}{test_source}", prompt=query.question,
                   test_source=test_source, tests="check", candidate=entry_point)


class CodeVerifier(VerifierBase):
    needs_reference = True  # the unit tests are labels: a code run is oracle-verified

    def __init__(self, timeout_s: float = 10.0, memory_mb: int = 1024):
        self.limits = Limits(wall_s=timeout_s, cpu_s=max(1, math.ceil(timeout_s)), memory_mb=memory_mb)
        self.label = f"oracle (unit tests, sandbox: {sandbox_level()})"

    def __call__(self, query: Query, response: str) -> Verdict:
        result = run_untrusted(humaneval_program(query, response), self.limits)
        return Verdict(result.passed, None, detail=result.detail)


@dataclass(frozen=True)
class CodeOptions(PluginOptions):
    memory_mb: int = doc(1024, "Address-space limit of the sandboxed process, in MiB.")

    def __post_init__(self) -> None:
        require(self.memory_mb >= 64, f"memory_mb must be >= 64, got {self.memory_mb}")


def from_config(config, options: CodeOptions) -> CodeVerifier:
    return CodeVerifier(config.timeout, options.memory_mb)


PLUGIN = Plugin(from_config, CodeOptions, "oracle: the dataset's unit tests, run in the sandbox")
