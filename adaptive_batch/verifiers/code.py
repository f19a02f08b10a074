"""Unit-test verification of generated code, HumanEval style, in the sandbox.

The program run is ``prompt + completion + test + check(entry_point)``; it passes when it exits
cleanly within the limits. Generated code never runs in the tool's own process: see
:mod:`adaptive_batch.sandbox` for the isolation.
"""

from __future__ import annotations

import math

from ..errors import UserError
from ..records import Query, Verdict
from ..sandbox import Limits, run_untrusted, sandbox_level


def humaneval_program(query: Query, completion: str) -> str:
    try:
        test, entry_point = query.extra["test"], query.extra["entry_point"]
    except KeyError as missing:
        raise UserError(
            f"query '{query.id}' (line {query.line}) has no {missing} field, which the code verifier needs "
            "(use --adapter humaneval, or JSONL lines with 'test' and 'entry_point')"
        ) from None
    return f"{query.question}{completion}\n\n{test}\n\ncheck({entry_point})\n"


class CodeVerifier:
    needs_reference = True  # the unit tests are labels: a code run is oracle-verified

    def __init__(self, timeout_s: float = 10.0, memory_mb: int = 1024):
        self.limits = Limits(wall_s=timeout_s, cpu_s=max(1, math.ceil(timeout_s)), memory_mb=memory_mb)
        self.label = f"oracle (unit tests, sandbox: {sandbox_level()})"

    def __call__(self, query: Query, response: str) -> Verdict:
        result = run_untrusted(humaneval_program(query, response), self.limits)
        return Verdict(result.passed, None, detail=result.detail)


def from_config(config) -> CodeVerifier:
    return CodeVerifier(config.timeout, config.memory_mb)
