"""One run, end to end: load, warm up, adapt, write. The CLI and the Python API both call ``run``."""

from __future__ import annotations

import gc
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

from .backends import Backend, create_backend
from .cache import ResponseCache
from .config import RunConfig
from .dataset import dataset_fingerprint, load_queries
from .outputs import RunResult, write_outputs
from .prompts import PromptBuilder
from .records import SamplingParams
from .rounds import RoundExecutor, RoundProgress, Timings
from .errors import AdaptiveBatchError, ConfigError
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
    # Imported here: torch, faiss and llama.cpp load only when a run starts.
    from phases import METHODS, DemonstrationChoice, RunState, calibrated_cap, total_budget, uniform_targets
    from retrieval import DemonstrationPool, create_embedder

    started = time.perf_counter()
    timings = Timings()
    schedule = config.schedule
    method = METHODS[schedule.method]
    verifier = create_verifier(config.verifier)
    queries = load_queries(config.data, require_answers=getattr(verifier, "needs_reference", False))
    cap = min(schedule.per_query_cap, getattr(verifier, "max_samples", schedule.per_query_cap))
    if schedule.stop_confidence is not None and not hasattr(verifier, "success_lower_bound"):
        raise ConfigError(f"--stop-confidence needs a verifier that estimates each query's success probability "
                          f"(consistency); '{config.verifier.name}' does not")
    builder = PromptBuilder(config.prompt, canonical=getattr(verifier, "canonical", None))

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

    state = RunState(queries, total_budget(schedule, len(queries)), vote_rule=getattr(verifier, "resolved", None))
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
            backend_stats=backend.stats() if hasattr(backend, "stats") else None,
            escalation_model=escalated.model_id if escalated is not None else None,
            warnings=executor.warnings,
        )

    targets = uniform_targets(state, config.seed) if not method.early_stop else None
    stopped = should_stop or (lambda: False)

    def calibrated(position: int) -> int:
        s = state.status[position]
        return calibrated_cap(verifier.success_lower_bound([s.votes[a] for a in s.top_answers()]),
                              schedule.stop_confidence, schedule.warmup, cap)

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
            from phases.continuous import ContinuousPlanner

            from .continuous import run_continuous

            planner = ContinuousPlanner(
                state, method, config.seed, cap, schedule.warmup, demonstrations, targets, warmup_targets,
                calibrated if schedule.stop_confidence is not None else None,
            )
            status = run_continuous(executor, planner, stopped)
        else:
            status = _run_rounds(executor, state, method, config, cap, demonstrations, targets, warmup_targets,
                                 calibrated if schedule.stop_confidence is not None else None, stopped)
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


def _run_rounds(executor, state, method, config: RunConfig, cap: int, demonstrations, targets, warmup_targets,
                calibrated, stopped) -> str:
    """Round mode: plan a round, run it whole, repeat. Deterministic given the seeds."""
    from phases import plan_adaptive_round, plan_warmup_round

    schedule = config.schedule
    warmup_rounds = max(warmup_targets, default=0) if warmup_targets else schedule.warmup
    together = warmup_rounds if schedule.warmup_together else 1
    if together > 1:
        warmup_rounds = 1  # the whole warm-up in round 0
    for round_index in range(warmup_rounds):
        if stopped():
            return "interrupted"
        executor.execute("warmup", round_index,
                         plan_warmup_round(state, method, config.seed, warmup_targets, together))
    phase = "adaptive" if method.early_stop else "best-of-n"
    round_index = warmup_rounds
    while True:
        if schedule.max_rounds is not None and round_index - warmup_rounds >= schedule.max_rounds:
            return "complete"
        if stopped():
            return "interrupted"
        query_caps = [calibrated(p) for p in range(len(state.status))] if calibrated else None
        with executor.timings.measure("retrieval"):
            assignments = plan_adaptive_round(state, config.seed, cap, demonstrations, targets, query_caps)
        if not assignments:
            return "complete"
        executor.execute(phase, round_index, assignments)
        round_index += 1


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
    from phases.allocator import Allocator, allocate, query_features
    from phases.state import tie_break_rank
    from retrieval import create_embedder

    allocator = Allocator.load(config.schedule.allocator)
    if embedder is None:
        embedder = create_embedder(config.retrieval.embedder, config.retrieval.embedder_model)
    if embedder.model_id != allocator.embedder:
        raise ConfigError(f"the allocator was trained with the embedder {allocator.embedder}, this run uses "
                          f"{embedder.model_id}; pass the same --embedder/--embedder-model")
    questions = [q.question for q in queries]
    features = query_features(questions, vectors if vectors is not None else embedder.embed(questions))
    p = allocator.success_probability(features)
    ranks = sorted(range(len(queries)), key=lambda i: tie_break_rank(config.seed, queries[i].id))
    order = [0] * len(queries)
    for position, i in enumerate(ranks):
        order[i] = position
    total = min(state.total_budget, config.schedule.warmup * len(queries))
    return allocate(p, total, cap, order)
