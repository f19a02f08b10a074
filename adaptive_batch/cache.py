"""An optional response cache keyed by (model, prompt, sampling parameters, seed).

Off by default. With it, re-running a configuration, or a baseline that asks for the same
base-prompt samples as another method, costs nothing for work already done.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import Optional

from .records import Completion, GenerationRequest


def request_key(model_id: str, request: GenerationRequest, index: int) -> str:
    """The cache key of one sample: a hash of the JSON list [model, prompt, params, seed, index]."""
    if isinstance(request.prompt, str) and type(request.seed) is int:
        # The same text json.dumps writes for the whole list, built from its parts: a large run
        # keys millions of samples, and json.dumps with options builds a new encoder per call.
        payload = (f"[{_dumps(model_id)}, {_dumps(request.prompt)}, {_params_json(request.params)}, "
                   f"{request.seed}, {int(index)}]")
    else:
        payload = json.dumps(
            [model_id, request.prompt, request.params.__dict__, request.seed, index], sort_keys=True, default=list
        )
    return hashlib.sha256(payload.encode()).hexdigest()


_dumps = json.JSONEncoder().encode


@lru_cache(maxsize=64)
def _params_json(params) -> str:
    return json.dumps(params.__dict__, sort_keys=True, default=list)


class ResponseCache:
    def __init__(self, directory: str | Path, max_entries: int = 5_000_000):
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(Path(directory) / "responses.sqlite"))
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Optional[Completion]:
        row = self._db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return Completion(**json.loads(row[0]))

    def contains(self, key: str) -> bool:
        """Whether a response is stored, without counting a hit or a miss."""
        return self._db.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone() is not None

    def put_many(self, items: list[tuple[str, Completion]]) -> None:
        rows = [(k, json.dumps(c.__dict__)) for k, c in items if c.error is None]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", rows)
            (count,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
            if count > self.max_entries:
                self._db.execute(
                    "DELETE FROM responses WHERE rowid IN (SELECT rowid FROM responses ORDER BY rowid LIMIT ?)",
                    (count - self.max_entries,),
                )

    def clear(self) -> int:
        with self._db:
            (count,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
            self._db.execute("DELETE FROM responses")
        return count

    def close(self) -> None:
        self._db.close()
