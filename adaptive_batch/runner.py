"""One run, end to end: prepare, drive, write. The CLI and the Python API both call ``run``."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Union

from .backends import Backend
from .config import RunConfig
from .errors import AdaptiveBatchError
from .execution import RoundProgress, SampleExecutor, Status, drive, prepare
from .outputs import RunResult, write_outputs

__all__ = ["RoundProgress", "run"]


def run(
    config: RunConfig,
    progress: Optional[Callable[[Union[Status, RoundProgress]], None]] = None,
    backend: Optional[Backend] = None,
    embedder: Any = None,
    should_stop: Optional[Callable[[], bool]] = None,
    escalation_backend: Optional[Backend] = None,
    repair: bool = False,
) -> RunResult:
    """Run the two-phase processor (or a baseline) as ``config`` says, and write the run directory.

    ``backend`` and ``embedder`` may be passed in already built, so that a notebook or a
    benchmark loads the model once for many runs. ``progress`` hears a ``Status`` at each step of
    the preparation and a ``RoundProgress`` as samples finish. A run directory that already holds this run's
    log is resumed: logged samples are replayed, not generated again. ``should_stop`` is asked
    between rounds; when it says so the run writes what it has and returns with status
    "interrupted" (the CLI's Ctrl-C). ``repair`` resumes from a damaged log: the records before its
    first damaged line are kept and the rest is generated again (see ``runlog``).

    Python's automatic garbage collection is paused while the run lasts (process-wide): each
    round collects its own garbage instead (see ``SampleExecutor.execute``), and the previous
    setting is restored on return.
    """
    context = prepare(config, backend, embedder, escalation_backend, repair, notify=progress)
    executor = SampleExecutor(context, progress)
    try:
        with _collection_by_round():
            status = drive(executor, should_stop or (lambda: False))
    except AdaptiveBatchError as error:
        # What was logged stays; write the tables for it too, then report the error.
        context.log.close()
        try:
            write_outputs(context, executor.counters, status="failed", error=str(error))
        except AdaptiveBatchError:
            pass
        raise
    finally:
        context.log.close()
        if context.cache:
            context.cache.close()
    return write_outputs(context, executor.counters, status=status)


@contextmanager
def _collection_by_round() -> Iterator[None]:
    """Automatic collection off, what exists now frozen; restored afterwards (see ``run``)."""
    collecting = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if collecting:
            gc.enable()
