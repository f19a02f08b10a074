"""Verification against the dataset's reference answer (oracle verification)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config_fields import PluginOptions, doc, require
from ..errors import UserError
from ..records import Query, Verdict
from ..registry import Plugin, extractors
from .base import VerifierBase, as_extractor
from .extractors import extract_choice, find_boxed, parse_reference


class ReferenceVerifier(VerifierBase):
    """Passes a response whose extracted answer equals the reference.

    How answers compare follows the extractor's kind: numbers within a relative tolerance,
    multiple-choice letters exactly, LaTeX (``boxed``) symbolically with math-verify in a child
    process that is killed after ``timeout`` seconds.
    """

    needs_reference = True
    label = "oracle (reference answers)"

    def __init__(self, extractor: str = "expression", tolerance: float = 1e-6, timeout: float = 5.0):
        self.extractor_name = extractor
        self._extract = as_extractor(extractors.get(extractor))
        self.kind = self._extract.kind
        self.tolerance = tolerance
        # How a passing response is shown as a demonstration, where the extractor knows.
        self.canonical = self._extract.canonical
        self._references: dict[str, object] = {}
        self._math = None
        if self.kind == "latex":
            from .math_equivalence import MathEquivalence

            self._math = MathEquivalence(timeout_s=timeout)

    def __call__(self, query: Query, response: str) -> Verdict:
        answer = self._extract(response)
        if answer is None:
            self._reference_of(query)  # a query without a reference is an error either way
            return Verdict(False, None, detail="no answer found")
        return self.judge(query, answer)

    def judge(self, query: Query, answer: str) -> Verdict:
        """Compare an already extracted answer with the query's reference (``score`` uses this)."""
        reference = self._reference_of(query)
        if reference is None:
            return Verdict(False, answer, detail="unparsable reference")
        if self.kind == "choice":
            return Verdict(answer.strip().upper() == reference, answer)
        if self.kind == "latex":
            same = self._math(reference, answer)
            if same is None:
                return Verdict(False, answer, detail=f"comparison timed out after {self._math.timeout_s:g} s")
            return Verdict(same, answer)
        try:
            value = float(answer)
        except ValueError:
            return Verdict(False, answer, detail="answer is not a number")
        passed = math.isclose(value, reference, rel_tol=self.tolerance, abs_tol=self.tolerance)
        return Verdict(passed, answer)

    def _reference_of(self, query: Query):
        if query.answer is None:
            raise UserError(f"query '{query.id}' has no reference answer, which the reference verifier needs")
        if query.id not in self._references:
            self._references[query.id] = self._reference(query.answer)
        return self._references[query.id]

    def _reference(self, answer: str):
        if self.kind == "choice":
            text = answer.strip()
            return text.upper() if len(text) == 1 else extract_choice(text)
        if self.kind == "latex":
            return find_boxed(answer) or answer.strip() or None
        return parse_reference(answer)


@dataclass(frozen=True)
class ReferenceOptions(PluginOptions):
    tolerance: float = doc(1e-6, "Relative (and absolute) tolerance of numeric comparison.")

    def __post_init__(self) -> None:
        require(self.tolerance >= 0, f"tolerance must be >= 0, got {self.tolerance}")


def from_config(config, options: ReferenceOptions) -> ReferenceVerifier:
    return ReferenceVerifier(config.extractor, tolerance=options.tolerance, timeout=config.timeout)


PLUGIN = Plugin(from_config, ReferenceOptions, "oracle: the dataset's reference answers")
