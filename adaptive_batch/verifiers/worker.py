"""A child process that runs one kind of slow, possibly hanging call, with a hard time limit.

Why not math-verify's own timeouts: they use SIGALRM, which works only in the main thread of the
main interpreter. Here the call runs in a spawned child; on timeout the child is killed and a fresh
one is started for the next call, so the tool itself never hangs.
"""

from __future__ import annotations

import importlib
import multiprocessing
from typing import Any

TIMED_OUT = object()
_READY_TIMEOUT_S = 120.0  # importing sympy and friends, once per child


def _serve(connection, target: str) -> None:
    module_name, _, attribute = target.partition(":")
    function = getattr(importlib.import_module(module_name), attribute)
    connection.send(("ready", None))
    while True:
        try:
            args = connection.recv()
        except EOFError:
            return
        try:
            connection.send(("ok", function(*args)))
        except Exception as exc:  # reported back: a bad input must not kill the worker
            connection.send(("error", f"{type(exc).__name__}: {exc}"))


class IsolatedWorker:
    """Calls ``target`` (a ``"module:function"`` reference) in a spawned child with a time limit."""

    def __init__(self, target: str):
        self.target = target
        self._process = None
        self._connection = None
        self.restarts = 0

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self.target), daemon=True)
        self._process.start()
        child.close()
        if not self._connection.poll(_READY_TIMEOUT_S):
            self.close()
            raise RuntimeError(f"worker for {self.target} did not start within {_READY_TIMEOUT_S:.0f} s")
        self._connection.recv()

    def call(self, args: tuple, timeout_s: float) -> Any:
        """The function's result; ``TIMED_OUT`` if it ran too long; raises RuntimeError on its errors."""
        if self._process is None or not self._process.is_alive():
            self._start()
        self._connection.send(args)
        if not self._connection.poll(timeout_s):
            self.close()
            self.restarts += 1
            return TIMED_OUT
        try:
            status, value = self._connection.recv()
        except EOFError:
            self.close()
            raise RuntimeError(f"worker for {self.target} died") from None
        if status == "error":
            raise RuntimeError(value)
        return value

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None

    def __del__(self) -> None:  # best effort; daemon children die with the tool anyway
        try:
            self.close()
        except Exception:
            pass

