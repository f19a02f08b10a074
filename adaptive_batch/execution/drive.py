"""Driving a run: round by round, or continuously, until the planner has nothing left.

Round mode runs each round the ``RoundPlanner`` plans, whole, then plans the next.

Continuous scheduling removes the round barriers between the engine and the tool.

Worker threads hold the engine's slots (``backend.concurrent_requests``, 1 where a backend does
not say), each calling the one-method contract ``generate([request])``; one more request waits
queued, so the engine never waits for the tool to verify, log or retrieve. The main thread
verifies and logs whatever has finished (one fsync per batch of finished samples), updates the
pool, and refills the slots with ``ContinuousPlanner``'s next samples.

An engine with one slot (in-process llama.cpp) is called on this thread instead, one sample at a
time, each verified before the next is planned. llama.cpp's OpenMP build ran the same requests
up to 26% slower from a worker thread than from the main thread (identical outputs;
``benchmarks/thread_penalty.py``), while the tool's work between two samples is under 1% of one.

Nothing is lost on a stop: Ctrl-C (``should_stop``) stops dispatching and lets the samples in
flight finish, then verifies and logs them; an error leaves finished but unverified samples in
the pending file, which a resume verifies instead of generating again.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable

from phases import ContinuousPlanner, RoundPlanner

from .execute import SampleExecutor

# Samples that need no engine (log replay, cache hits) are applied in batches of at most this many.
KNOWN_BATCH = 512


def drive(executor: SampleExecutor, stopped: Callable[[], bool]) -> str:
    """Run the schedule's planner to its end; returns the run status."""
    planner = executor.context.planner()
    if isinstance(planner, RoundPlanner):
        return drive_rounds(executor, planner, stopped)
    return drive_continuous(executor, planner, stopped)


def drive_rounds(executor: SampleExecutor, planner: RoundPlanner, stopped: Callable[[], bool]) -> str:
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


def drive_continuous(executor: SampleExecutor, planner: ContinuousPlanner, stopped: Callable[[], bool]) -> str:
    """Dispatch, verify and apply samples until the planner has none left; returns the run status."""
    slots = max(1, executor.backend.concurrent_requests)
    inline = slots == 1
    workers = _Inline() if inline else ThreadPoolExecutor(max_workers=slots, thread_name_prefix="adaptive-batch-engine")
    queued = 0 if inline else 1  # requests waiting beyond the slots, so a freed slot refills at once
    in_flight: dict[Future, object] = {}
    known: list = []
    # A batch's number is its samples' "round"; a resume numbers on from the log.
    logged = executor.context.logged
    batch_index = 1 + max((record.round for record in logged.values()), default=-1)
    status = "complete"
    try:
        while True:
            if status == "complete" and stopped():
                status = "interrupted"  # dispatch nothing more; what is in flight still lands
            if status == "complete":
                with executor.timings.measure("planning"):
                    while len(in_flight) < slots + queued and len(known) < KNOWN_BATCH:
                        assignment = planner.next()
                        if assignment is None:
                            break
                        request, key, engine = executor.request_for(assignment)
                        if executor.known(assignment, key):
                            known.append(assignment)
                            continue
                        if known:
                            # Replayed samples are applied first: this sample's demonstrations must
                            # be chosen from the pool as it was when the run first drew it. It goes
                            # back in line and is planned again once they are in.
                            planner.release([assignment.position])
                            break
                        future = workers.submit(executor.backend_for(engine).generate, [request])
                        in_flight[future] = assignment
            if not in_flight and not known:
                break
            if known:
                done = [f for f in in_flight if f.done()]
            else:
                with executor.timings.measure("waiting_for_engine"):
                    done = list(wait(in_flight, return_when=FIRST_COMPLETED)[0])
            finished = [in_flight.pop(f) for f in done]
            ready = _results(executor, done, finished)
            batch = finished + known
            known = []
            executor.execute("continuous", batch_index, batch, ready=ready,
                             phases=[planner.phase_of(a) for a in batch])
            planner.release([a.position for a in batch])
            queries = executor.context.queries
            if not all((queries[a.position].id, a.sample_index) in logged for a in batch):
                batch_index += 1  # a batch that only replayed the log numbers nothing
    finally:
        if in_flight:
            _stash(executor, in_flight)
        workers.shutdown(wait=True, cancel_futures=True)
    return status


class _Inline:
    """An executor that runs each call where it is submitted: the engine on the calling thread."""

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # handed over like a worker thread's error
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def _results(executor: SampleExecutor, done, finished: list) -> dict:
    """Each finished future's completion by slot; on an engine error the others are stashed first."""
    failed = next((f.exception() for f in done if f.exception() is not None), None)
    if failed is not None:
        _stash(executor, dict(zip(done, finished)))
        raise failed
    return {slot: f.result()[0][0] for slot, f in enumerate(done)}


def _stash(executor: SampleExecutor, in_flight: dict[Future, object]) -> None:
    """After an error: keep what the engine finished, for the resume to verify."""
    for future in in_flight:
        future.cancel()  # not started yet: nothing to keep
    wait(list(in_flight))
    finished = {}
    for future, assignment in in_flight.items():
        if future.cancelled() or future.exception() is not None:
            continue
        _, key, _ = executor.request_for(assignment)
        finished[key] = future.result()[0][0]
    executor.stash(finished)
