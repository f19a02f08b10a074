"""Verifiers decide what counts as resolved.

A verifier subclasses :class:`VerifierBase` (``base.py``) and is called as ``(query,
response_text) -> Verdict``. It is registered by name in the ``adaptive_batch.verifiers``
entry-point group as a factory taking the run's ``VerifierConfig``. Its optional capabilities are
declared on the base with their defaults: ``needs_reference``, ``label``, ``canonical``,
``max_samples``, ``resolved`` (label-free voting) and ``success_lower_bound`` (calibrated
stopping).

Answer extractors are :class:`Extractor` objects (``text -> answer or None``, with a ``kind`` that
says how answers compare and an optional ``canonical`` form), registered the same way in
``adaptive_batch.extractors``; a plain function registered there is an extractor of kind
"number".
"""

from __future__ import annotations

from ..errors import PluginContractError
from ..records import Verdict
from ..registry import extractors, verifiers
from .base import Extractor, VerifierBase, as_extractor
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

Verifier = VerifierBase


def create_verifier(config) -> Verifier:
    """The verifier that ``config`` (a ``VerifierConfig``) names, built by its registered factory."""
    verifier = verifiers.plugin(config.name).create(config, verifiers.build_options(config.name, config.options))
    if not isinstance(verifier, VerifierBase):
        raise PluginContractError(
            f"the verifier '{config.name}' built a {type(verifier).__name__}, which does not subclass "
            "adaptive_batch.verifiers.VerifierBase (the contract every verifier declares its capabilities on)"
        )
    return verifier


__all__ = [
    "Extractor",
    "Verdict",
    "Verifier",
    "VerifierBase",
    "as_extractor",
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
