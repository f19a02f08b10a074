"""Verification against the dataset's reference answer (oracle verification)."""

from __future__ import annotations

import math

from ..errors import UserError
from ..records import Query, Verdict
from ..registry import extractors
from .extractors import parse_reference


class ReferenceVerifier:
    """Passes a response whose extracted answer equals the reference within a relative tolerance."""

    needs_reference = True
    label = "oracle (reference answers)"

    def __init__(self, extractor: str = "expression", tolerance: float = 1e-6):
        self.extractor_name = extractor
        self._extract = extractors.get(extractor)
        self.tolerance = tolerance
        # How a passing response is shown as a demonstration, where the extractor knows.
        self.canonical = getattr(self._extract, "canonical", None)
        self._references: dict[str, float | None] = {}

    def __call__(self, query: Query, response: str) -> Verdict:
        if query.answer is None:
            raise UserError(f"query '{query.id}' has no reference answer, which the reference verifier needs")
        if query.id not in self._references:
            self._references[query.id] = parse_reference(query.answer)
        reference = self._references[query.id]
        answer = self._extract(response)
        if answer is None or reference is None:
            return Verdict(False, answer, detail="no answer found" if answer is None else "unparsable reference")
        value = float(answer)
        passed = math.isclose(value, reference, rel_tol=self.tolerance, abs_tol=self.tolerance)
        return Verdict(passed, answer)
