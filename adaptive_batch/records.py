"""The data model shared by every part of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

Message = dict[str, str]


@dataclass(frozen=True)
class Query:
    """One item of the test set."""

    id: str
    question: str
    answer: Optional[str] = None
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class SamplingParams:
    temperature: float
    top_p: float
    top_k: int
    max_tokens: int
    stop: tuple[str, ...]


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to sample ``n`` completions from. ``prompt`` is text or chat messages."""

    prompt: Union[str, tuple[Message, ...]]
    params: SamplingParams
    seed: int
    n: int = 1


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    # Set when the engine could not serve this request (e.g. the prompt exceeds the context):
    # recorded as a per-query error, and the run goes on.
    error: Optional[str] = None
    # Of the prompt tokens, those the engine served from its prefix cache (KV reuse), as the
    # engine reports them; and the engine's own seconds for this completion.
    cached_tokens: int = 0
    engine_s: float = 0.0
    started_at: float = 0.0  # Unix time the engine started on it (0: not reported)
    # The sampled tokens' summed log-probability under the model's own distribution (temperature
    # 1, before top-k/top-p), where the engine reports it (``BackendBase.reports_logprobs``).
    logprob: Optional[float] = None


@dataclass(frozen=True)
class Verdict:
    """What a verifier says about one response.

    ``passed`` is None when the verifier judges no single response, only counts it as a vote
    (label-free consistency); the query's resolution is then decided over its votes.
    """

    passed: Optional[bool]
    answer: Optional[str] = None
    score: Optional[float] = None
    detail: Optional[str] = None


@dataclass(frozen=True)
class SampleRecord:
    """One generated and verified sample, as logged and written to samples.parquet.

    The prompt itself is not stored (it would repeat on every row); it is rebuilt from the
    query, the prompt template and ``demo_ids``.
    """

    query_id: str
    sample_index: int
    phase: str
    round: int
    seed: int
    demo_ids: tuple[str, ...]
    text: str
    answer: Optional[str]
    passed: Optional[bool]
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    error: Optional[str] = None
    score: Optional[float] = None
    detail: Optional[str] = None
    engine: str = "main"  # "escalated" for samples from the escalation backend
    cached_tokens: int = 0  # prompt tokens the engine served from its prefix cache
    engine_s: float = 0.0  # the engine's seconds for this sample (a measurement, not a result)
    # Which kind of prompt drew it: base, nearest, rotated or random (demonstrations); "" in logs
    # written before the field existed.
    prompt_kind: str = ""
    started_at: float = 0.0  # Unix time the engine started on it; 0 in older logs
    finished_at: float = 0.0  # Unix time it was verified; 0 in older logs
    logprob: Optional[float] = None  # Completion.logprob; None where the engine does not report it

    def to_json(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "sample_index": self.sample_index,
            "phase": self.phase,
            "round": self.round,
            "seed": self.seed,
            "demo_ids": list(self.demo_ids),
            "text": self.text,
            "answer": self.answer,
            "passed": self.passed,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "finish_reason": self.finish_reason,
            "error": self.error,
            "score": self.score,
            "detail": self.detail,
            "engine": self.engine,
            "cached_tokens": self.cached_tokens,
            "engine_s": self.engine_s,
            "prompt_kind": self.prompt_kind,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "logprob": self.logprob,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SampleRecord":
        return cls(**{**data, "demo_ids": tuple(data["demo_ids"])})


def mean_token_logprob(logprob: Optional[float], completion_tokens: int) -> Optional[float]:
    """A sample's confidence: its log-probability per generated token (None without one)."""
    return None if logprob is None else logprob / max(1, completion_tokens)


# How the engine served a sample, not what was sampled: a sample's prefix-cache hit depends on the
# request before it and its seconds on the machine, so an interrupted and resumed run, or a
# response-cache replay, reproduces every other field but not these.
MEASUREMENTS = ("cached_tokens", "engine_s", "started_at", "finished_at")


def without_measurements(row: dict[str, Any]) -> dict[str, Any]:
    """A sample (or per-query result) row without the fields a reproduction need not repeat."""
    return {k: v for k, v in row.items() if k not in MEASUREMENTS and k != "cost"}
