"""How busy an engine was: time integrals of the requests in flight at it.

A backend wraps each request (or each sequential call) in ``activity.request()`` and reports
``activity.stats()`` in its ``stats()``. Measured from the first request's start to the last
one's end, so model loading and the tool's start-up do not count as idle:

- ``idle_share``: the share of that span with no request in flight (the engine waited on the tool);
- ``slot_occupancy``: mean requests in flight over the engine's slots (a round barrier shows up
  here: the slots empty while the round's slowest samples finish).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator


class EngineActivity:
    def __init__(self, slots: int = 1):
        self.slots = max(1, slots)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._last = 0.0
        self._first: float | None = None
        self.busy_s = 0.0
        self.slot_s = 0.0
        self.requests = 0

    def _advance(self, now: float) -> None:
        if self._in_flight:
            dt = now - self._last
            self.busy_s += dt
            self.slot_s += dt * min(self._in_flight, self.slots)
        self._last = now

    @contextmanager
    def request(self) -> Iterator[None]:
        with self._lock:
            now = time.perf_counter()
            if self._first is None:
                self._first = now
            self._advance(now)
            self._in_flight += 1
            self.requests += 1
        try:
            yield
        finally:
            with self._lock:
                self._advance(time.perf_counter())
                self._in_flight -= 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            span = (self._last - self._first) if self._first is not None else 0.0
            return {
                "requests": self.requests,
                "slots": self.slots,
                "span_s": round(span, 4),
                "busy_s": round(self.busy_s, 4),
                "idle_share": round(1 - self.busy_s / span, 4) if span > 0 else None,
                "slot_occupancy": round(self.slot_s / (self.slots * span), 4) if span > 0 else None,
            }
