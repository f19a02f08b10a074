"""Executing one round: prompts, log replay or cache or engine, verification, logging, state."""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Sequence

from .backends import Backend
from .cache import ResponseCache, request_key
from .prompts import PromptBuilder
from .records import Completion, GenerationRequest, Query, SampleRecord, SamplingParams, Verdict
from .runlog import PendingRound, SampleLog


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


@dataclass
class RoundExecutor:
    """Turns a round's assignments into verified, logged samples and applies them to the state.

    A sample already in the run's log is replayed, one in the response cache is reused, and only
    the rest go to the engine, in one batch per round.
    """

    queries: Sequence[Query]
    state: object  # phases.RunState
    pool: object  # retrieval.DemonstrationPool or None
    backend: Backend
    builder: PromptBuilder
    params: SamplingParams
    verifier: Callable[[Query, str], Verdict]
    log: SampleLog
    logged: dict[tuple[str, int], SampleRecord]
    cache: Optional[ResponseCache]
    timings: Timings
    progress: Optional[Callable[[RoundProgress], None]] = None
    started: float = field(default_factory=time.perf_counter)
    counters: dict[str, int] = field(default_factory=lambda: {"generated": 0, "replayed": 0, "cached": 0})
    generated_tokens: int = 0
    pending: Optional[PendingRound] = None
    # Escalation: samples with index >= escalate_after go to this backend, with these parameters.
    escalated_backend: Optional[Backend] = None
    escalated_params: Optional[SamplingParams] = None
    escalate_after: int = 0

    def __post_init__(self) -> None:
        saved = self.pending.load() if self.pending else {}
        self._unverified = {key: Completion(**value) for key, value in saved.items()}
        self._engines = {"main": (self.backend, self.params)}
        if self.escalated_backend is not None:
            self._engines["escalated"] = (self.escalated_backend, self.escalated_params or self.params)

    def _engine(self, assignment) -> str:
        escalates = self.escalated_backend is not None and assignment.sample_index >= self.escalate_after
        return "escalated" if escalates else "main"

    def request_for(self, assignment) -> tuple[GenerationRequest, str, str]:
        """The engine request of one assignment, its cache key and the engine it goes to."""
        question = self.queries[assignment.position].question
        prompt = self.builder.prompt_for(question, assignment.demonstrations)
        engine = self._engine(assignment)
        backend, params = self._engines[engine]
        request = GenerationRequest(prompt=prompt, params=params, seed=assignment.seed)
        return request, request_key(backend.model_id, request, 0), engine

    def backend_for(self, engine: str) -> Backend:
        return self._engines[engine][0]

    def stash(self, completions: dict[str, Completion]) -> None:
        """Keep generated but unverified completions (by cache key) for a resume to verify."""
        if self.pending is not None and completions:
            saved = self.pending.load()
            saved.update({key: c.__dict__ for key, c in completions.items()})
            self.pending.save(saved)

    def known(self, assignment, key: str) -> bool:
        """Whether the sample (``key`` from ``request_for``) needs no engine: logged, pending or cached."""
        if (self.queries[assignment.position].id, assignment.sample_index) in self.logged:
            return True
        return key in self._unverified or (self.cache is not None and self.cache.contains(key))

    def execute(self, phase: str, round_index: int, assignments: Sequence,
                ready: Optional[dict[int, Completion]] = None, phases: Optional[Sequence[str]] = None) -> None:
        """Generate (or replay) the assignments' samples, verify, log and apply them.

        ``ready`` holds completions already generated elsewhere (the continuous scheduler's
        workers), by slot; ``phases`` gives each assignment its own phase label.
        """
        records: list[Optional[SampleRecord]] = [None] * len(assignments)
        to_generate: list[tuple[int, GenerationRequest, str, str]] = []  # (slot, request, cache key, engine)
        completions: dict[int, Completion] = {}
        fresh_keys: list[tuple[int, str]] = []
        with self.timings.measure("prompts"):
            self._requests(assignments, ready, records, to_generate, completions, fresh_keys)
        self.counters["generated"] += len(fresh_keys)
        if to_generate:
            for engine, (backend, _) in self._engines.items():
                batch = [(slot, request) for slot, request, _, e in to_generate if e == engine]
                if not batch:
                    continue
                with self.timings.measure("generation"):
                    generated = backend.generate([request for _, request in batch])
                for (slot, _), outputs in zip(batch, generated):
                    completions[slot] = outputs[0]
            self.counters["generated"] += len(to_generate)
            fresh_keys.extend((slot, key) for slot, _, key, _ in to_generate)
        if fresh_keys:
            with self.timings.measure("cache"):
                if self.cache:
                    self.cache.put_many([(key, completions[slot]) for slot, key in fresh_keys])
                if self.pending is not None:
                    self.pending.save({key: completions[slot].__dict__ for slot, key in fresh_keys})
        with self.timings.measure("verification"):
            fresh = [self._verified(phases[s] if phases else phase, round_index, assignments[s], c)
                     for s, c in sorted(completions.items())]
        for (slot, _), record in zip(sorted(completions.items()), fresh):
            records[slot] = record
        with self.timings.measure("logging"):
            self.log.append(fresh)
        if self.pending is not None and (fresh_keys or self._unverified):
            self.pending.clear()
            self._unverified = {}
        with self.timings.measure("bookkeeping"):
            resolved = []
            for a, record in zip(assignments, records):
                self.generated_tokens += record.completion_tokens
                if self.state.apply(a.position, record):
                    resolved.append(a.position)
        if self.pool is not None and resolved:
            # The next round's prompts see every query resolved in this one.
            with self.timings.measure("index"):
                self.pool.add_many(resolved, [self.state.status[p].passing_response for p in resolved])
        # What outlives a round (state, pool) lives for the run. The cyclic garbage collector's
        # full passes over millions of such objects cost a quarter of a large run, so ``run``
        # turns automatic collection off: the round's own garbage is collected here, and what
        # survives is frozen (exempt from later passes) until ``run`` hands it back at the end.
        gc.collect(0)
        gc.freeze()
        if self.progress is not None:
            s = self.state
            self.progress(
                RoundProgress(phase, round_index, s.spent, s.total_budget, s.resolved_count, len(self.queries),
                              self.generated_tokens, time.perf_counter() - self.started, not fresh)
            )

    def _requests(self, assignments, ready, records, to_generate, completions, fresh_keys) -> None:
        """Sort a round's assignments into replayed, ready, cached and to-generate (filling the lists)."""
        for slot, a in enumerate(assignments):
            logged = self.logged.get((self.queries[a.position].id, a.sample_index))
            if logged is not None:
                records[slot] = logged
                self.counters["replayed"] += 1
                continue
            request, key, engine = self.request_for(a)
            if ready is not None and slot in ready:
                completions[slot] = ready[slot]
                fresh_keys.append((slot, key))
                continue
            cached = self._unverified.get(key) or (self.cache.get(key) if self.cache else None)
            if cached is not None:
                completions[slot] = cached
                self.counters["cached"] += 1
            else:
                to_generate.append((slot, request, key, engine))

    def _verified(self, phase: str, round_index: int, a, completion: Completion) -> SampleRecord:
        query = self.queries[a.position]
        if completion.error is not None:
            verdict = Verdict(False, None, detail=completion.error)
        else:
            verdict = self.verifier(query, completion.text)
        return SampleRecord(
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
            score=verdict.score,
            detail=verdict.detail,
            engine=self._engine(a),
        )
