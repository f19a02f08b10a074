"""Verifiers decide what counts as resolved.

A verifier is a callable ``(query, response_text) -> Verdict``. It is registered by name in the
``adaptive_batch.verifiers`` entry-point group as a factory taking the run's ``VerifierConfig``.
Optional attributes:

- ``needs_reference``: it reads the dataset's answers, so the run is oracle-verified (and
  ``export`` refuses it as a leaderboard submission);
- ``label``: how summaries name the kind of coverage;
- ``canonical(text)``: how a passing response is shown as a demonstration;
- ``resolved(counts)`` and ``max_samples``: label-free voting; verdicts with ``passed=None`` are
  votes, and the query is resolved when ``resolved`` says so of its vote counts.

Answer extractors (``text -> answer or None``) are registered the same way in
``adaptive_batch.extractors``; an extractor's ``kind`` ("number", "choice", "latex") says how its
answers compare.
"""

from __future__ import annotations

from typing import Callable

from ..records import Query, Verdict
from ..registry import extractors, verifiers
from .extractors import (
    evaluate_arithmetic,
    extract_boxed,
    extract_choice,
    extract_expression,
    extract_gsm8k,
    extract_last_number,
    format_number,
    parse_reference,
)

Verifier = Callable[[Query, str], Verdict]


def create_verifier(config) -> Verifier:
    """The verifier that ``config`` (a ``VerifierConfig``) names, built by its registered factory."""
    return verifiers.create(config.name, config)


__all__ = [
    "Verdict",
    "Verifier",
    "create_verifier",
    "evaluate_arithmetic",
    "extract_boxed",
    "extract_choice",
    "extract_expression",
    "extract_gsm8k",
    "extract_last_number",
    "extractors",
    "format_number",
    "parse_reference",
    "verifiers",
]
