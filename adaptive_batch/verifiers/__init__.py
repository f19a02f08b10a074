"""Verifiers decide what counts as resolved.

A verifier is a callable ``(query, response_text) -> Verdict``, registered by name in the
``adaptive_batch.verifiers`` entry-point group. Optional attributes: ``needs_reference`` (it
reads the dataset's answers, so the run is oracle-verified) and ``label`` (shown in summaries).
Answer extractors are registered the same way in ``adaptive_batch.extractors``.
"""

from __future__ import annotations

from typing import Callable

from ..records import Query, Verdict
from ..registry import extractors, verifiers
from .extractors import (
    evaluate_arithmetic,
    extract_expression,
    extract_gsm8k,
    extract_last_number,
    format_number,
    parse_reference,
)

Verifier = Callable[[Query, str], Verdict]


def create_verifier(name: str, **options) -> Verifier:
    return verifiers.create(name, **options)


__all__ = [
    "Verdict",
    "Verifier",
    "create_verifier",
    "evaluate_arithmetic",
    "extract_expression",
    "extract_gsm8k",
    "extract_last_number",
    "extractors",
    "format_number",
    "parse_reference",
    "verifiers",
]
