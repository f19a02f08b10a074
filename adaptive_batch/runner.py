"""One run, end to end: load, warm up, adapt, write. The CLI and the Python API both call ``run``."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from .backends import Backend, create_backend
from .cache import ResponseCache, request_key
from .config import RunConfig
from .dataset import dataset_fingerprint, load_queries
from .outputs import RunResult, write_outputs
from .prompts import PromptBuilder, demonstrations_as_examples
from .records import GenerationRequest, SampleRecord, SamplingParams
from .runlog import SampleLog, prepare_run_dir
from .verifiers import create_verifier


@dataclass(frozen=True)
class RoundProgress:
    """Reported after every round, for progress displays."""

    phase: str
    round: int
    spent: int
    total_budget: int
    resolved: int
    n_queries: int
    completion_tokens: int
    elapsed_s: float
    replayed: bool


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def run(
    config: RunConfig,
    progress: Optional[Callable[[RoundProgress], None]] = None,
    backend: Optional[Backend] = None,
    embedder: Any = None,
) -> RunResult:
    """Run the two-phase processor (or a baseline) as ``config`` says, and write the run directory.

    ``backend`` and ``embedder`` may be passed in already built, so that a notebook or a
    benchmark loads the model once for many runs. A run directory that already holds this run's
    log is resumed: logged samples are replayed, not generated again.
    """
    # Imported here: torch, faiss and llama.cpp load only when a run starts.
    from phases import METHODS, RunState, plan_adaptive_round, plan_warmup_round, total_budget, uniform_targets
    from retrieval import DemonstrationPool, create_embedder

    started = time.perf_counter()
    timings = Timings()
    schedule = config.schedule
    method = METHODS[schedule.method]
    verifier = create_verifier(config.verifier.name, extractor=config.verifier.extractor, tolerance=config.verifier.tolerance)
    queries = load_queries(config.data, require_answers=getattr(verifier, "needs_reference", False))
    builder = PromptBuilder(config.prompt)

    with timings.measure("model_load"):
        if backend is None:
            backend = create_backend(
                config.backend.name,
                model=config.backend.model,
                n_ctx=config.backend.n_ctx,
                n_threads=config.backend.n_threads,
                **dict(config.backend.options),
            )
    run_dir = Path(config.output_dir)
    manifest = {
        "config": {k: v for k, v in config.to_dict().items() if k not in ("output_dir", "cache_dir")},
        "dataset_sha256": dataset_fingerprint(config.data.path),
        "model": backend.model_id,
    }
    resuming = prepare_run_dir(run_dir, manifest)
    log = SampleLog(run_dir)
    logged = log.load() if resuming else {}
    cache = ResponseCache(config.cache_dir) if config.cache_dir else None

    pool = None
    embedder_id = None
    if method.demonstrations != "none":
        with timings.measure("embedder_load"):
            if embedder is None:
                embedder = create_embedder(config.retrieval.embedder, config.retrieval.embedder_model)
        embedder_id = embedder.model_id
        with timings.measure("embedding"):
            vectors = embedder.embed([q.question for q in queries])
        with timings.measure("index"):
            pool = DemonstrationPool([q.id for q in queries], [q.question for q in queries], vectors)

    state = RunState(queries, total_budget(schedule, len(queries)))
    params = SamplingParams(
        temperature=config.sampling.temperature,
        top_p=config.sampling.top_p,
        top_k=config.sampling.top_k,
        max_tokens=config.sampling.max_tokens,
        stop=tuple(config.sampling.stop),
    )
    targets = uniform_targets(state, config.seed) if not method.early_stop else None
    cap = schedule.per_query_cap
    counters = {"generated": 0, "replayed": 0, "cached": 0}
    generated_tokens = 0

    def execute(phase: str, round_index: int, assignments) -> None:
        nonlocal generated_tokens
        requests, pending = [], []
        records: list[Optional[SampleRecord]] = []
        for a in assignments:
            query = queries[a.position]
            key = (query.id, a.sample_index)
            if key in logged:
                records.append(logged[key])
                counters["replayed"] += 1
                continue
            prompt = builder.build(query.question, demonstrations_as_examples(a.demonstrations))
            request = GenerationRequest(prompt=prompt, params=params, seed=a.seed)
            cached = cache.get(request_key(backend.model_id, request, 0)) if cache else None
            records.append(None)
            if cached is not None:
                counters["cached"] += 1
                pending.append((len(records) - 1, a, cached, None))
            else:
                pending.append((len(records) - 1, a, None, len(requests)))
                requests.append(request)
        if requests:
            with timings.measure("generation"):
                completions = backend.generate(requests)
            counters["generated"] += len(requests)
            if cache:
                with timings.measure("cache"):
                    cache.put_many([(request_key(backend.model_id, r, 0), c[0]) for r, c in zip(requests, completions)])
        fresh = []
        with timings.measure("verification"):
            for slot, a, completion, request_index in pending:
                if completion is None:
                    completion = completions[request_index][0]
                query = queries[a.position]
                verdict = create_verdict(verifier, query, completion)
                record = SampleRecord(
                    query_id=query.id,
                    sample_index=a.sample_index,
                    phase=phase,
                    round=round_index,
                    seed=a.seed,
                    demo_ids=tuple(d.query_id for d in a.demonstrations),
                    text=completion.text,
                    answer=verdict.answer,
                    passed=verdict.passed,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                    finish_reason=completion.finish_reason,
                    error=completion.error,
                )
                records[slot] = record
                fresh.append(record)
        with timings.measure("logging"):
            log.append(fresh)
        with timings.measure("bookkeeping"):
            for a, record in zip(assignments, records):
                generated_tokens += record.completion_tokens
                if state.apply(a.position, record) and pool is not None:
                    pool.add(a.position, record.text)
        if progress is not None:
            progress(
                RoundProgress(phase, round_index, state.spent, state.total_budget, state.resolved_count,
                              len(queries), generated_tokens, time.perf_counter() - started, not fresh)
            )

    try:
        for round_index in range(schedule.warmup):
            execute("warmup", round_index, plan_warmup_round(state, method, config.seed))
        phase = "adaptive" if method.early_stop else "best-of-n"
        round_index = schedule.warmup
        while schedule.max_rounds is None or round_index - schedule.warmup < schedule.max_rounds:
            with timings.measure("retrieval"):
                assignments = plan_adaptive_round(
                    state, method, config.seed, cap, pool, config.retrieval.k,
                    config.retrieval.min_similarity, targets,
                )
            if not assignments:
                break
            execute(phase, round_index, assignments)
            round_index += 1
    finally:
        log.close()
        if cache:
            cache.close()

    wall = time.perf_counter() - started
    with timings.measure("outputs"):
        result = write_outputs(
            run_dir, config, state, wall_s=wall, timings=timings.seconds, counters=counters,
            model_id=backend.model_id, embedder_id=embedder_id,
            verification=getattr(verifier, "label", config.verifier.name),
        )
    return result


def create_verdict(verifier, query, completion):
    from .records import Verdict

    if completion.error is not None:
        return Verdict(False, None, detail=completion.error)
    return verifier(query, completion.text)
