"""Saved KV states of prompt prefixes, for a one-sequence engine that would otherwise keep only the
last prompt's.

A query's retries with the same demonstrations share a long prefix, but on a one-slot engine the
next query's prompt overwrites it. Servers keep many prefixes (vLLM's automatic prefix caching,
llama.cpp server's ``--cache-ram``); this store does the same for the in-process llama.cpp
backend: after each prompt it keeps the sequence's state up to the prompt's last aligned chunk,
and a later prompt restores the longest one it shares. Entries are evicted least recently used
first, within a byte cap.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np


class PrefixStore:
    def __init__(self, capacity_bytes: int):
        self.capacity_bytes = capacity_bytes
        # prefix tokens -> (the same tokens as an array, for fast comparison; the saved state), oldest use first
        self._entries: OrderedDict[tuple[int, ...], tuple[np.ndarray, bytes]] = OrderedDict()
        self.bytes = self.peak_bytes = 0
        self.restores = self.saves = self.evictions = 0

    def __contains__(self, key: tuple[int, ...]) -> bool:
        return key in self._entries

    def longest(self, tokens: Sequence[int]) -> tuple[Optional[tuple[int, ...]], int]:
        """The entry sharing the longest prefix with ``tokens``, and how many tokens it shares."""
        probe = np.asarray(tokens)
        best_key, best = None, 0
        for key, (saved, _) in self._entries.items():
            n = min(len(saved), len(probe))
            if n <= best:
                continue
            differ = np.flatnonzero(saved[:n] != probe[:n])
            common = int(differ[0]) if differ.size else n
            if common > best:
                best_key, best = key, common
        return best_key, best

    def worth_restoring(self, tokens: Sequence[int], live: int, chunk: int) -> tuple[Optional[tuple[int, ...]], int]:
        """The entry to restore for ``tokens`` and the tokens it shares: the one sharing the longest
        prefix, if that gives more whole ``chunk``s of reuse than the ``live`` cache's ``live`` common
        tokens do (the prompt's last token is always evaluated); else ``(None, live)``."""
        key, stored = self.longest(tokens)
        last = len(tokens) - 1
        return (key, stored) if key is not None and min(stored, last) // chunk > min(live, last) // chunk else (None, live)

    def get(self, key: tuple[int, ...]) -> bytes:
        self._entries.move_to_end(key)
        self.restores += 1
        return self._entries[key][1]

    def put(self, key: tuple[int, ...], state: bytes) -> None:
        if key in self._entries or len(state) > self.capacity_bytes:
            return
        self._entries[key] = (np.asarray(key), state)
        self.bytes += len(state)
        self.saves += 1
        while self.bytes > self.capacity_bytes:
            _, (_, old) = self._entries.popitem(last=False)
            self.bytes -= len(old)
            self.evictions += 1
        self.peak_bytes = max(self.peak_bytes, self.bytes)

    def stats(self) -> dict:
        return {"entries": len(self._entries), "bytes": self.bytes, "peak_bytes": self.peak_bytes,
                "capacity_bytes": self.capacity_bytes, "saves": self.saves, "restores": self.restores,
                "evictions": self.evictions}
