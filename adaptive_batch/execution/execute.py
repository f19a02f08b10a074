"""Executing samples: prompts, log replay or cache or engine, verification, logging, state.

Samples are verified as the engine hands them over and logged in small batches (every
``log_every_samples`` samples or ``log_every_s`` seconds, whichever comes first, each one fsync'ed),
so a kill in the middle of a long round keeps what finished before it. The state and the pool
change only when the round is whole, so the round's plan, and a resume's plan of it, stay a pure
function of the rounds before it.
"""

from __future__ import annotations

import gc
import time
from typing import Callable, Optional, Sequence

from ..backends import Backend
from ..cache import request_key
from ..records import Completion, GenerationRequest, SampleRecord, Verdict
from ..runlog import SampleLog
from .context import RunContext
from ..errors import ConfigError
from ..events import PROGRESS_EVERY_S, RoundProgress, Status
from .timings import Timings


class SampleExecutor:
    """Turns assignments into verified, logged samples and applies them to the state: a round
    at a time in round mode, a batch of finished samples at a time in continuous mode.

    A sample already in the run's log is replayed, one in the response cache or the pending file
    is reused, and only the rest go to the engine.
    """

    def __init__(self, context: RunContext, progress: Optional[Callable[[RoundProgress], None]] = None):
        self.context = context
        self.progress = progress
        self.counters = {"generated": 0, "replayed": 0, "cached": 0}
        self.generated_tokens = 0
        self.fresh_tokens = 0  # prompt + generated tokens of the samples this process generated
        self._answers_checked = False
        self._round_done = 0
        self._round_sums = [0, 0, 0, 0]  # samples, prompt, cached and generated tokens of the round in flight
        self._round_passed: set[int] = set()
        self._last_report = 0.0
        self.timings = context.timings
        self.cache = context.cache
        self.backend = context.backend
        self._engines = context.engines
        saved = context.pending.load(context.warnings)
        self._unverified = {key: Completion(**value) for key, value in saved.items()}

    def request_for(self, assignment) -> tuple[GenerationRequest, str, str]:
        """The engine request of one assignment, its cache key and the engine it goes to."""
        question = self.context.queries[assignment.position].question
        engine = assignment.engine
        prompt = self.context.builders[engine].prompt_for(question, assignment.demonstrations)
        backend, params = self._engines[engine]
        request = GenerationRequest(prompt=prompt, params=params, seed=assignment.seed)
        return request, request_key(backend.model_id, request, 0), engine

    def backend_for(self, engine: str) -> Backend:
        return self._engines[engine][0]

    def stash(self, completions: dict[str, Completion]) -> None:
        """Keep generated but unverified completions (by cache key) for a resume to verify."""
        if completions:
            saved = self.context.pending.load()
            saved.update({key: c.__dict__ for key, c in completions.items()})
            self.context.pending.save(saved)

    def known(self, assignment, key: str) -> bool:
        """Whether the sample (``key`` from ``request_for``) needs no engine: logged, pending or cached."""
        if (self.context.queries[assignment.position].id, assignment.sample_index) in self.context.logged:
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
        self.fresh_tokens += sum(completions[s].prompt_tokens + completions[s].completion_tokens for s, _ in fresh_keys)
        config = self.context.config
        writer = _LogWriter(self.context.log, config.log_every_samples, config.log_every_s, self.timings)
        label = (lambda slot: phases[slot]) if phases else (lambda slot: phase)
        for slot, record in enumerate(records):
            if record is not None:  # replayed from the log
                self._finished(label(slot), round_index, assignments[slot].position, record)
        try:
            # What needs no engine first: continuous mode's finished samples, cache and pending hits.
            self._cache_fresh([(slot, key, completions[slot]) for slot, key in fresh_keys])
            self._verify(label, round_index, assignments, completions, dict(fresh_keys), records, writer)
            for engine, (backend, _) in self._engines.items():
                batch = [(slot, request, key) for slot, request, key, e in to_generate if e == engine]
                if batch:
                    self._generate(backend, batch, label, round_index, assignments, records, writer)
        finally:
            writer.flush()  # whatever was verified is kept, also when the round stops half-way
        if self._unverified:
            self.context.pending.clear()
            self._unverified = {}
        state, pool = self.context.state, self.context.pool
        self._round_done, self._round_passed, self._round_sums = 0, set(), [0, 0, 0, 0]
        with self.timings.measure("bookkeeping"):
            resolved = []
            for a, record in zip(assignments, records):
                if state.apply(a.position, record):
                    resolved.append(a.position)
        floor = self.context.config.retrieval.pool_min_share
        if floor and resolved:  # label-free: only answers agreed on widely enough become examples
            resolved = [p for p in resolved if not state.status[p].votes or
                        state.status[p].votes[state.status[p].answer] >= floor * sum(state.status[p].votes.values())]
        if pool is not None and resolved:
            # The next round's prompts see every query resolved in this one.
            with self.timings.measure("index"):
                pool.add_many(resolved, [state.status[p].passing_response for p in resolved])
        # What outlives a round (state, pool) lives for the run. The cyclic garbage collector's
        # full passes over millions of such objects cost a quarter of a large run, so ``run``
        # turns automatic collection off: the round's own garbage is collected here, and what
        # survives is frozen (exempt from later passes) until ``run`` hands it back at the end.
        gc.collect(0)
        gc.freeze()
        self._report(phase, round_index, replayed=not fresh_keys and not to_generate and not completions)
        if phase == "warmup" and not self._answers_checked:
            self._check_answers([r for r in records if r is not None and r.error is None])

    def _check_answers(self, records: list[SampleRecord]) -> None:
        """Once, after the first warm-up round: most samples without an answer the extractor can
        read means the prompt and the extractor disagree (a warning; with --strict an error)."""
        self._answers_checked = True
        config = self.context.config
        if config.verifier.name not in ("reference", "consistency") or len(records) < 4:
            return
        missing = [r for r in records if r.answer is None]
        if len(missing) <= len(records) / 2:
            return
        message = (f"{len(missing)} of the first {len(records)} warm-up samples gave no answer the "
                   f"'{config.verifier.extractor}' extractor could read (e.g. {missing[0].text[:80]!r}): the prompt "
                   "and the extractor may disagree (see --extractor, --prompt-style, --template)")
        if config.strict:
            raise ConfigError(message + " (--strict)")
        if message not in self.context.warnings:
            self.context.warnings.append(message)
            if self.progress is not None:
                self.progress(Status(f"warning: {message}"))

    def _report(self, phase: str, round_index: int, replayed: bool = False) -> None:
        if self.progress is None:
            return
        state = self.context.state
        self._last_report = time.monotonic()
        done = self._round_sums
        engines = state.by_engine.values()
        prompt = sum(e["prompt_tokens"] for e in engines) + done[1]
        cached = sum(e["cached_tokens"] for e in engines) + done[2]
        output = sum(e["completion_tokens"] for e in engines) + done[3]
        prices = self.context.config.prices.table
        self.progress(RoundProgress(
            phase, round_index, state.spent + self._round_done, state.total_budget,
            state.resolved_count + len(self._round_passed), len(state.queries), self.generated_tokens,
            time.perf_counter() - self.context.started, replayed, self.counters["generated"], self.fresh_tokens,
            self.context.config.schedule.budget_unit, state.samples_spent + done[0], prompt, cached,
            prices.dollars(prompt, cached, output) if prices is not None else None))

    def _finished(self, phase: str, round_index: int, position: int, record: SampleRecord) -> None:
        """A sample of the round in flight is verified: count it for the progress display."""
        if record.error is None:
            sums = self._round_sums
            sums[0] += 1
            sums[1] += record.prompt_tokens
            sums[2] += record.cached_tokens
            sums[3] += record.completion_tokens
            self._round_done += self.context.state.cost.of(record.prompt_tokens, record.cached_tokens,
                                                           record.completion_tokens, record.engine)
        self.generated_tokens += record.completion_tokens
        if record.passed and not self.context.state.status[position].resolved:
            self._round_passed.add(position)
        if self.progress is not None and time.monotonic() - self._last_report >= PROGRESS_EVERY_S:
            self._report(phase, round_index)

    def _generate(self, backend: Backend, batch, label, round_index: int, assignments, records, writer) -> None:
        """One engine's share of the round, verified and logged as the engine hands it over."""
        requests = [request for _, request, _ in batch]
        finished = backend.stream(requests)
        while True:
            with self.timings.measure("generation"):
                item = next(finished, None)
            if item is None:
                return
            slot, _, key = batch[item[0]]
            self.counters["generated"] += 1
            completion = item[1][0]
            self.fresh_tokens += completion.prompt_tokens + completion.completion_tokens
            self._cache_fresh([(slot, key, completion)])
            self._verify(label, round_index, assignments, {slot: completion}, {slot: key}, records, writer)

    def _cache_fresh(self, fresh: list[tuple[int, str, Completion]]) -> None:
        if fresh and self.cache:
            with self.timings.measure("cache"):
                self.cache.put_many([(key, completion) for _, key, completion in fresh])

    def _verify(self, label, round_index: int, assignments, completions: dict[int, Completion],
                keys: dict[int, str], records, writer) -> None:
        """Verify completions into ``records`` and the log; if the verifier fails, the ones not yet
        verified are kept in the pending file, for the resume to verify instead of generating."""
        done: list[int] = []
        try:
            with self.timings.measure("verification"):
                for slot, completion in sorted(completions.items()):
                    records[slot] = self._verified(label(slot), round_index, assignments[slot], completion)
                    done.append(slot)
                    writer.add(records[slot])
                    self._finished(label(slot), round_index, assignments[slot].position, records[slot])
        except BaseException:
            self.stash({keys[s]: c for s, c in completions.items() if s not in done and s in keys})
            raise

    def _requests(self, assignments, ready, records, to_generate, completions, fresh_keys) -> None:
        """Sort a round's assignments into replayed, ready, cached and to-generate (filling the lists)."""
        for slot, a in enumerate(assignments):
            logged = self.context.logged.get((self.context.queries[a.position].id, a.sample_index))
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
            if (cached is not None and cached.logprob is None and self.context.verifier.wants_logprobs
                    and self._engines[engine][0].reports_logprobs):
                cached = None  # cached without a log-probability (another engine, an older version): votes weigh by it
            if cached is not None:
                completions[slot] = cached
                self.counters["cached"] += 1
            else:
                to_generate.append((slot, request, key, engine))

    def _verified(self, phase: str, round_index: int, a, completion: Completion) -> SampleRecord:
        query = self.context.queries[a.position]
        if completion.error is not None:
            verdict = Verdict(False, None, detail=completion.error)
        else:
            verdict = self.context.verifier(query, completion.text)
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
            engine=a.engine,
            cached_tokens=completion.cached_tokens,
            engine_s=completion.engine_s,
            prompt_kind=a.kind,
            started_at=completion.started_at,
            finished_at=round(time.time(), 3),
            logprob=completion.logprob,
        )


class _LogWriter:
    """Appends verified records to the log in batches: ``every_samples`` records or ``every_s``
    seconds since the last write, whichever comes first; each write is fsync'ed."""

    def __init__(self, log: SampleLog, every_samples: int, every_s: float, timings: Timings):
        self.log, self.every_samples, self.every_s, self.timings = log, every_samples, every_s, timings
        self.buffer: list[SampleRecord] = []
        self.last = time.monotonic()

    def add(self, record: SampleRecord) -> None:
        self.buffer.append(record)
        if len(self.buffer) >= self.every_samples or time.monotonic() - self.last >= self.every_s:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            with self.timings.measure("logging"):
                self.log.append(self.buffer)
            self.buffer = []
        self.last = time.monotonic()
