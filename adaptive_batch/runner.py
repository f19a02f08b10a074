"""One run, end to end: load, warm up, adapt, write. The CLI and the Python API both call ``run``."""

from __future__ import annotations

import gc
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

from phases import (
    METHODS,
    ContinuousPlanner,
    DemonstrationChoice,
    RoundPlanner,
    RunState,
    calibrated_caps,
    total_budget,
    uniform_targets,
)
from phases.allocator import Allocator, warmup_budgets
from retrieval import DemonstrationPool, create_embedder

from .backends import Backend, create_backend
from .cache import ResponseCache
from .config import RunConfig
from .continuous import run_continuous
from .dataset import dataset_fingerprint, load_queries
from .errors import AdaptiveBatchError, ConfigError
from .outputs import RunResult, write_outputs
from .prompts import PromptBuilder
from .records import SamplingParams
from .rounds import RoundExecutor, RoundProgress, Timings
from .runlog import PendingRound, SampleLog, prepare_run_dir
from .verifiers import create_verifier

__all__ = ["RoundProgress", "run"]

# Settings that say where a run writes, or how often it logs, not what it computes: a resume
# may change them.
UNCHECKED_ON_RESUME = ("output_dir", "cache_dir", "log_every_samples", "log_every_s")


def run(
    config: RunConfig,
    progress: Optional[Callable[[RoundProgress], None]] = None,
    backend: Optional[Backend] = None,
    embedder: Any = None,
    should_stop: Optional[Callable[[], bool]] = None,
    escalation_backend: Optional[Backend] = None,
    repair: bool = False,
) -> RunResult:
    """Run the two-phase processor (or a baseline) as ``config`` says, and write the run directory.

    ``backend`` and ``embedder`` may be passed in already built, so that a notebook or a
    benchmark loads the model once for many runs. A run directory that already holds this run's
    log is resumed: logged samples are replayed, not generated again. ``should_stop`` is asked
    between rounds; when it says so the run writes what it has and returns with status
    "interrupted" (the CLI's Ctrl-C). ``repair`` resumes from a damaged log: the records before its
    first damaged line are kept and the rest is generated again (see ``runlog``).

    Python's automatic garbage collection is paused while the run lasts (process-wide): each
    round collects its own garbage instead (see ``RoundExecutor.execute``), and the previous
    setting is restored on return.
    """
    started = time.perf_counter()
    timings = Timings()
    schedule = config.schedule
    method = METHODS[schedule.method]
    verifier = create_verifier(config.verifier)
    queries = load_queries(config.data, require_answers=verifier.needs_reference)
    cap = verifier.sample_cap(schedule.per_query_cap)
    if schedule.stop_confidence is not None and verifier.success_lower_bound is None:
        raise ConfigError(f"--stop-confidence needs a verifier that estimates each query's success probability "
                          f"(consistency); '{config.verifier.name}' does not")
    builder = PromptBuilder(config.prompt, canonical=verifier.canonical)

    with timings.measure("model_load"):
        if backend is None:
            backend = create_backend(config.backend)
        escalated = _escalation_backend(config, backend, escalation_backend)
    run_dir = Path(config.output_dir)
    manifest = {
        "config": {k: v for k, v in config.to_dict().items() if k not in UNCHECKED_ON_RESUME},
        "dataset_sha256": dataset_fingerprint(config.data),
        "model": backend.model_id,
    }
    if escalated is not None:
        manifest["escalation_model"] = escalated.model_id
    defaults = {"config": type(config)(data=config.data).to_dict()}
    for key in UNCHECKED_ON_RESUME:
        defaults["config"].pop(key, None)
    resuming = prepare_run_dir(run_dir, manifest, defaults, repair=repair)
    log = SampleLog(run_dir)
    logged = log.load(repair=repair) if resuming else {}

    pool = None
    embedder_id = None
    vectors = None
    if method.demonstrations != "none":
        with timings.measure("embedder_load"):
            if embedder is None:
                embedder = create_embedder(config.retrieval.embedder, config.retrieval.embedder_model)
        embedder_id = embedder.model_id
        with timings.measure("embedding"):
            vectors = embedder.embed([q.question for q in queries])
        with timings.measure("index"):
            pool = DemonstrationPool([q.id for q in queries], [q.question for q in queries], vectors)

    state = RunState(queries, total_budget(schedule, len(queries)), vote_rule=verifier.resolved)
    warmup_targets = None
    if schedule.allocator:
        with timings.measure("allocation"):
            warmup_targets = _learned_warmup(config, queries, state, cap, embedder, vectors)
    sampling = config.sampling
    params = SamplingParams(sampling.temperature, sampling.top_p, sampling.top_k, sampling.max_tokens,
                            tuple(sampling.stop))
    escalation = config.escalation
    executor = RoundExecutor(
        queries=queries,
        state=state,
        pool=pool,
        backend=backend,
        builder=builder,
        params=params,
        verifier=verifier,
        log=log,
        logged=logged,
        cache=ResponseCache(config.cache_dir) if config.cache_dir else None,
        timings=timings,
        progress=progress,
        started=started,
        pending=PendingRound(run_dir),
        escalated_backend=escalated,
        escalated_params=replace(params, temperature=escalation.temperature)
        if escalation.temperature is not None else params,
        escalate_after=escalation.after,
        log_every_samples=config.log_every_samples,
        log_every_s=config.log_every_s,
    )
    if log.duplicates_dropped:
        executor.warnings.append(f"{log.path}: {log.duplicates_dropped} duplicate record(s) collapsed")

    def finish(status: str, error: Optional[str] = None) -> RunResult:
        return write_outputs(
            run_dir, config, state, wall_s=time.perf_counter() - started, timings=timings.seconds,
            counters=executor.counters, model_id=backend.model_id, embedder_id=embedder_id,
            verifier=verifier, status=status, error=error,
            backend_stats=backend.stats(),
            escalation_model=escalated.model_id if escalated is not None else None,
            warnings=executor.warnings,
        )

    targets = uniform_targets(state, config.seed) if not method.early_stop else None
    stopped = should_stop or (lambda: False)
    cap_of = (calibrated_caps(state, verifier.success_lower_bound, schedule.stop_confidence, schedule.warmup, cap)
              if schedule.stop_confidence is not None else None)
    demonstrations = DemonstrationChoice(
        pool, method.demonstrations, config.retrieval.k, config.retrieval.min_similarity,
        config.retrieval.rotate_among, schedule.warmup, warmup_targets,
    )
    status = "complete"
    # See the docstring and RoundExecutor.execute.
    collecting = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        if schedule.continuous:
            planner = ContinuousPlanner(state, method, config.seed, cap, schedule.warmup, demonstrations, targets,
                                        warmup_targets, cap_of)
            status = run_continuous(executor, planner, stopped)
        else:
            planner = RoundPlanner(state, method, config.seed, cap, schedule.warmup, demonstrations,
                                   schedule.warmup_together, schedule.max_rounds, targets, warmup_targets, cap_of)
            status = _run_rounds(executor, planner, stopped)
    except AdaptiveBatchError as error:
        # Finished rounds are in the log; write the tables for them too, then report the error.
        log.close()
        try:
            finish(status="failed", error=str(error))
        except AdaptiveBatchError:
            pass
        raise
    finally:
        gc.unfreeze()
        if collecting:
            gc.enable()
        log.close()
        if executor.cache:
            executor.cache.close()
    return finish(status=status)


def _run_rounds(executor: RoundExecutor, planner: RoundPlanner, stopped: Callable[[], bool]) -> str:
    """Round mode: run each round the planner plans, whole, until it plans none."""
    while True:
        if planner.round_limit_reached:
            return "complete"
        if stopped():
            return "interrupted"
        with executor.timings.measure("planning" if planner.in_warmup else "retrieval"):
            planned = planner.next_round()
        if planned is None:
            return "complete"
        executor.execute(planned.phase, planned.index, planned.assignments)


def _escalation_backend(config: RunConfig, backend: Backend, given: Optional[Backend]) -> Optional[Backend]:
    """The backend escalated samples go to: given, the main one (same engine and model), or a new one."""
    escalation = config.escalation
    if not escalation.enabled:
        return None
    if given is not None:
        return given
    name = escalation.backend or config.backend.name
    model = escalation.model or config.backend.model
    if name == config.backend.name and model == config.backend.model:
        return backend  # same model: only the sampling differs (--escalate-temperature)
    return create_backend(replace(config.backend, name=name, model=model))


def _learned_warmup(config: RunConfig, queries, state, cap: int, embedder, vectors) -> list[int]:
    """Warm-up budgets from a learned allocator: warmup x queries samples, by the Lagrangian rule.

    ``vectors`` are the questions' embeddings where the pool already computed them.
    """
    allocator = Allocator.load(config.schedule.allocator)
    if embedder is None:
        embedder = create_embedder(config.retrieval.embedder, config.retrieval.embedder_model)
    if embedder.model_id != allocator.embedder:
        raise ConfigError(f"the allocator was trained with the embedder {allocator.embedder}, this run uses "
                          f"{embedder.model_id}; pass the same --embedder/--embedder-model")
    questions = [q.question for q in queries]
    total = min(state.total_budget, config.schedule.warmup * len(queries))
    return warmup_budgets(allocator, [q.id for q in queries], questions,
                          vectors if vectors is not None else embedder.embed(questions), config.seed, total, cap)
