"""Compute in the units users pay for: samples, output tokens, total tokens, FLOPs and money.

Every sample records its prompt tokens, the part of them the engine served from its prefix cache,
and its generated tokens. From those three numbers (and the model's parameter count, and a price
table the user declares) each unit is plain arithmetic, done here and nowhere else:

- ``samples``: 1 per sample the engine served;
- ``output-tokens``: generated tokens;
- ``total-tokens``: prompt + generated tokens (cached prompt tokens included: they are still sent);
- ``flops``: 2 x parameters x tokens the engine evaluated (prompt tokens not from the cache, and
  generated tokens) - the usual forward-pass estimate, attention's own terms left out;
- ``cost``: dollars under the declared price table, per million tokens for input, cached input
  and output. No vendor prices are built in.

A sample the engine refused (``error``) cost nothing in any unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Optional

UNITS = ("samples", "output-tokens", "total-tokens", "flops", "cost")
Unit = Literal["samples", "output-tokens", "total-tokens", "flops", "cost"]
# How each unit's figures are labelled in summaries and displays.
UNIT_LABEL = {"samples": "samples", "output-tokens": "output tokens", "total-tokens": "total tokens",
              "flops": "FLOPs", "cost": "$"}


@dataclass(frozen=True)
class PriceTable:
    """Dollars per million tokens."""

    input: float
    cached_input: float
    output: float

    def dollars(self, prompt_tokens: float, cached_tokens: float, completion_tokens: float) -> float:
        uncached = prompt_tokens - cached_tokens
        return (uncached * self.input + cached_tokens * self.cached_input + completion_tokens * self.output) / 1e6

    def to_dict(self) -> dict[str, float]:
        return {"input": self.input, "cached_input": self.cached_input, "output": self.output}


@dataclass(frozen=True)
class CostModel:
    """What one sample costs in the run's budget unit.

    ``parameters`` holds each engine's parameter count (``"main"``, ``"escalated"``), needed for
    FLOPs; ``prices`` is needed for cost.
    """

    unit: Unit = "samples"
    prices: Optional[PriceTable] = None
    parameters: Mapping[str, Optional[int]] = None  # type: ignore[assignment]

    @property
    def per_sample(self) -> bool:
        """Every sample costs exactly 1: the planners' cheap path."""
        return self.unit == "samples"

    def of(self, prompt_tokens: int, cached_tokens: int, completion_tokens: int, engine: str = "main") -> float:
        """The cost of a served sample."""
        unit = self.unit
        if unit == "samples":
            return 1.0
        if unit == "output-tokens":
            return float(completion_tokens)
        if unit == "total-tokens":
            return float(prompt_tokens + completion_tokens)
        if unit == "flops":
            return 2.0 * self._parameters(engine) * (prompt_tokens - cached_tokens + completion_tokens)
        return self._prices().dollars(prompt_tokens, cached_tokens, completion_tokens)

    def worst(self, prompt_tokens: int, max_tokens: int, engine: str = "main") -> float:
        """The most a planned sample can cost: nothing from the cache, every token generated."""
        return self.of(prompt_tokens, 0, max_tokens, engine)

    def _parameters(self, engine: str) -> int:
        count = (self.parameters or {}).get(engine)
        if not count:
            raise ValueError(f"no parameter count for the {engine} engine")  # checked at the edge
        return count

    def _prices(self) -> PriceTable:
        if self.prices is None:
            raise ValueError("no price table")  # checked at the edge
        return self.prices


def compute_figures(engines: Mapping[str, Mapping[str, float]], parameters: Mapping[str, Optional[int]],
                    prices: Optional[PriceTable]) -> dict:
    """The run's compute in every unit, from per-engine sums of samples and tokens.

    ``engines`` maps an engine to its ``samples``, ``prompt_tokens``, ``cached_tokens``,
    ``completion_tokens`` and ``engine_s``. FLOPs are None where an engine's parameter count is
    unknown, cost is None without a price table.
    """
    def total(key: str) -> float:
        return sum(e.get(key, 0) for e in engines.values())

    prompt, cached, completion = int(total("prompt_tokens")), int(total("cached_tokens")), int(total("completion_tokens"))
    flops: Optional[float] = 0.0
    for name, e in engines.items():
        count = parameters.get(name)
        if not count or flops is None:
            flops = None if e.get("samples") else flops
            continue
        flops += 2.0 * count * (e.get("prompt_tokens", 0) - e.get("cached_tokens", 0) + e.get("completion_tokens", 0))
    return {
        "samples": int(total("samples")),
        "output_tokens": completion,
        "prompt_tokens": prompt,
        "cached_prompt_tokens": cached,
        "uncached_prompt_tokens": prompt - cached,
        "total_tokens": prompt + completion,
        "prompt_cache_share": round(cached / prompt, 4) if prompt else 0.0,
        "flops": flops,
        "cost_usd": float(f"{prices.dollars(prompt, cached, completion):.10g}") if prices is not None else None,
        "engine_s": round(total("engine_s"), 3),
        "parameters": {name: parameters.get(name) for name in engines},
        "prices_per_million_tokens": prices.to_dict() if prices is not None else None,
        "produced_by": "sums over the samples the engines served (errors excluded); cached prompt tokens as each "
                       "engine reported them; FLOPs = 2 x parameters x (uncached prompt + generated tokens); "
                       "cost under the declared price table",
    }


def escalation_weight(given: Optional[float], parameters: Mapping[str, Optional[int]]) -> tuple[float, str]:
    """An escalated sample's cost in main-engine samples, and what it came from: as given, else
    the ratio of the engines' parameter counts (FLOPs per token), else 1."""
    if given is not None:
        return given, "--escalate-cost-weight"
    main, escalated = parameters.get("main"), parameters.get("escalated")
    if main and escalated:
        return round(escalated / main, 4), f"parameter counts: {escalated} / {main}"
    return 1.0, "no parameter count for both engines: 1"


def in_unit(value: float, unit: str) -> str:
    """A figure with its unit: "1.21M total tokens", "$0.2740" (the dollar sign is the unit)."""
    return format_amount(value, unit) if unit == "cost" else f"{format_amount(value, unit)} {UNIT_LABEL[unit]}"


def format_amount(value: float, unit: str) -> str:
    """A figure in a unit, short enough for a progress line."""
    if unit == "cost":
        return f"${value:.4f}" if value < 100 else f"${value:,.0f}"
    if unit == "samples":
        return f"{value:.0f}"
    for scale, suffix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.0f}"
