"""Symbolic answer comparison with HF's math-verify (``\\frac{1}{2}`` equals ``0.5``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

from ..errors import MissingDependencyError
from .worker import TIMED_OUT, IsolatedWorker


def _wrap(latex: str) -> str:
    latex = latex.strip()
    return latex if latex.startswith("$") or "\\boxed" in latex else f"${latex}$"


def equivalent_in_process(gold: str, answer: str) -> bool:
    """math-verify's verdict, with its SIGALRM timeouts off (the caller enforces a time limit)."""
    import logging

    from math_verify import parse, verify

    # It warns on every call that its timeouts are off; they are, on purpose.
    logging.getLogger("math_verify").setLevel(logging.ERROR)

    gold_parsed = parse(_wrap(gold), parsing_timeout=None)
    answer_parsed = parse(_wrap(answer), parsing_timeout=None)
    if not gold_parsed or not answer_parsed:
        return False
    return bool(verify(gold_parsed, answer_parsed, timeout_seconds=None))


class MathEquivalence:
    """Compares LaTeX answers in a child process, killed after ``timeout_s`` seconds."""

    def __init__(self, timeout_s: float = 5.0):
        try:
            import math_verify  # noqa: F401  (fail now, with the fix, rather than in the child)
        except ImportError:
            raise MissingDependencyError("math-verify", "math", "Comparing LaTeX answers") from None
        self.timeout_s = timeout_s
        self._worker = IsolatedWorker("adaptive_batch.verifiers.math_equivalence:equivalent_in_process")
        self.timeouts = 0
        self._cached = lru_cache(maxsize=100_000)(self._compare)

    def __call__(self, gold: str, answer: str) -> Optional[bool]:
        """True or False; None when the comparison ran past the time limit."""
        return self._cached(gold, answer)

    def _compare(self, gold: str, answer: str) -> Optional[bool]:
        result = self._worker.call((gold, answer), self.timeout_s)
        if result is TIMED_OUT:
            self.timeouts += 1
            return None
        return result

    def close(self) -> None:
        self._worker.close()
