"""A budget forecast before anything is spent (``run --dry-run``).

It loads the data and the model, counts the base prompt's tokens for every query, draws a few
calibration samples to measure the backend's speed on this machine, and reports the planned
samples, tokens and time. Demonstrations make adaptive prompts longer: their tokens are estimated
from the questions' own lengths. Nothing is written to the run directory.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Optional

from phases import METHODS, total_budget

from .backends import Backend, create_backend
from .config import RunConfig
from .costs import CostModel
from .errors import ConfigError
from .dataset import load_queries
from .prompts import PromptBuilder
from .records import GenerationRequest, SamplingParams
from .verifiers import create_verifier


def forecast(config: RunConfig, backend: Optional[Backend] = None, calibration_samples: int = 3) -> dict[str, Any]:
    verifier = create_verifier(config.verifier)
    queries = load_queries(config.data, require_answers=verifier.needs_reference)
    schedule, method = config.schedule, METHODS[config.schedule.method]
    n = len(queries)
    budget = total_budget(schedule, n)
    cap = verifier.sample_cap(schedule.per_query_cap)
    warmup = min(n * min(schedule.warmup, cap), budget)
    adaptive_max = min(budget, n * cap) - warmup if method.early_stop else budget - warmup

    backend = backend or create_backend(config.backend)
    builder = PromptBuilder(config.prompt, canonical=verifier.canonical, k=config.retrieval.k)

    def count(text: str) -> int:
        counted = backend.count_tokens(text)
        return counted if counted is not None else max(1, len(text) // 4)  # about 4 characters a token
    prompts = [builder.build(q.question) for q in queries]
    base_tokens = [count(p if isinstance(p, str) else "\n".join(m["content"] for m in p)) for p in prompts]
    # One demonstration is about one question plus a short answer.
    demo_tokens = statistics.fmean(count(q.question) for q in queries[:200]) + 8
    k = config.retrieval.k if method.demonstrations != "none" else 0
    mean_base = statistics.fmean(base_tokens)

    sampling = config.sampling
    params = SamplingParams(sampling.temperature, sampling.top_p, sampling.top_k, sampling.max_tokens,
                            tuple(sampling.stop))
    requests = [GenerationRequest(prompts[i % n], params, seed=1_000_003 + i) for i in range(calibration_samples)]
    started = time.perf_counter()
    completions = [c for out in backend.generate(requests) for c in out] if requests else []
    elapsed = time.perf_counter() - started
    per_sample = elapsed / len(completions) if completions else None
    generated = statistics.fmean(c.completion_tokens for c in completions) if completions else sampling.max_tokens

    unit_plan = None
    if schedule.budget_unit != "samples":
        unit_plan = _in_unit(config, backend, budget, n, mean_base, mean_base + k * demo_tokens, generated)
        warmup, adaptive_max = unit_plan.pop("warmup_samples"), unit_plan.pop("adaptive_samples_max")
    prompt_tokens = warmup * mean_base + adaptive_max * (mean_base + k * demo_tokens)
    planned = warmup + adaptive_max
    return {
        "n_queries": n,
        "method": schedule.method,
        "budget": unit_plan or {"unit": "samples", "total": budget, "per_query": schedule.budget,
                                "per_query_cap": schedule.unit_cap},
        "budget_samples": budget if unit_plan is None else None,
        "planned_samples_max": planned,
        "warmup_samples": warmup,
        "adaptive_samples_max": adaptive_max,
        "per_query_cap": cap,
        "prompt_tokens_est": round(prompt_tokens),
        "generated_tokens_est": round(planned * generated),
        "generated_tokens_max": planned * sampling.max_tokens,
        "mean_base_prompt_tokens": round(mean_base, 1),
        "calibration_samples": len(completions),
        "seconds_per_sample": float(f"{per_sample:.4g}") if per_sample else None,
        "time_s_est_max": round(planned * per_sample, 1) if per_sample else None,
        "model": backend.model_id,
        "note": "maxima: early-stopping methods stop sampling resolved queries and usually spend less; "
        "speed measured on base prompts (demonstrations make later prompts longer)"
        + ("; in a unit other than samples the samples are estimated from the mean cost of a sample, no prefix "
           "cache assumed" if unit_plan else ""),
    }


def _in_unit(config: RunConfig, backend: Backend, budget: float, n: int, base_tokens: float, demo_tokens: float,
             generated: float) -> dict[str, Any]:
    """The budget in its unit, and the samples it buys: warm-up first, then samples with demonstrations."""
    schedule = config.schedule
    parameters = {"main": config.backend.parameters or backend.parameter_count()}
    if schedule.budget_unit == "flops" and not parameters["main"]:
        raise ConfigError(f"--budget-unit flops needs the model's parameter count, which {backend.model_id} does "
                          "not report: pass --model-parameters")
    cost = CostModel(schedule.budget_unit, config.prices.table, parameters)
    base = cost.of(round(base_tokens), 0, round(generated))
    demo = cost.of(round(demo_tokens), 0, round(generated))
    warmup = min(n * schedule.warmup, int(budget // base)) if base > 0 else n * schedule.warmup
    left = budget - warmup * base
    return {"unit": schedule.budget_unit, "total": budget, "per_query": schedule.budget,
            "per_query_cap": schedule.unit_cap, "base_sample": base, "demo_sample": demo,
            "warmup_samples": warmup, "adaptive_samples_max": max(0, int(left // demo)) if demo > 0 else 0}
