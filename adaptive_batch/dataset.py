"""Reading queries from JSONL, with errors that name the file, line and field."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator, Optional

from .config import DataConfig
from .errors import DatasetError
from .records import Query
from .registry import datasets


def load_queries(config: DataConfig, require_answers: bool = False) -> list[Query]:
    """Every query of the dataset, validated before any generation starts.

    With the default ``jsonl`` adapter: ids come from ``id_field`` or, where a line has none,
    from its line number; numbers are accepted as ids and answers and kept as text. Another
    adapter (``humaneval``, or one registered in ``adaptive_batch.datasets``) is a callable
    ``(DataConfig) -> list[Query]``.
    """
    if config.adapter != "jsonl":
        return datasets.create(config.adapter, config)
    path = Path(config.path)
    raw = _read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DatasetError(str(path), f"invalid UTF-8 at byte column {column} ({exc.reason})", line=line) from None
    queries: list[Query] = []
    seen: dict[str, int] = {}
    for number, line in selected_lines(text.splitlines(), config):
        query = _parse_line(path, number, line, config, require_answers)
        if query.id in seen:
            raise DatasetError(
                str(path), f"duplicate id '{query.id}' (first on line {seen[query.id]})", number, config.id_field
            )
        seen[query.id] = number
        queries.append(query)
    if not queries:
        if config.skip:
            raise DatasetError(str(path), f"no queries are left after skipping the first {config.skip}")
        raise DatasetError(str(path), "the file holds no queries (it is empty)")
    return queries


def selected_lines(lines: list[str], config: DataConfig) -> Iterator[tuple[int, str]]:
    """(line number, text) of the lines this run takes: blank lines left out, then the first
    ``skip``, then at most ``limit``. Skipped lines are not parsed, so their errors are not this
    run's either. Every dataset reader goes through here."""
    taken, to_skip = 0, config.skip
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if to_skip:
            to_skip -= 1
            continue
        if config.limit is not None and taken >= config.limit:
            return
        taken += 1
        yield number, line


def dataset_fingerprint(config: DataConfig) -> str:
    """SHA-256 of the dataset file, recorded so a resume can tell the data changed."""
    path = Path(config.path)
    if config.adapter != "jsonl":
        resolve = getattr(datasets.get(config.adapter), "resolve_path", None)
        if resolve is not None:
            path = resolve(config.path)
        elif not config.path:
            return ""
    return hashlib.sha256(_read_bytes(path)).hexdigest()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(str(path), "no such file") from None
    except IsADirectoryError:
        raise DatasetError(str(path), "is a directory, not a JSONL file") from None
    except PermissionError:
        raise DatasetError(str(path), "permission denied") from None


def _parse_line(path: Path, number: int, line: str, config: DataConfig, require_answers: bool) -> Query:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(str(path), f"malformed JSON: {exc.msg} (column {exc.colno})", number) from None
    if not isinstance(record, dict):
        raise DatasetError(str(path), f"expected a JSON object, got {type(record).__name__}", number)
    question = _text_field(path, number, record, config.question_field, required=True)
    answer: Optional[str] = None
    if config.answer_field:
        answer = _text_field(path, number, record, config.answer_field, required=require_answers)
    query_id = _text_field(path, number, record, config.id_field, required=False) or f"line-{number}"
    used = {config.question_field, config.answer_field, config.id_field}
    extra = {k: v for k, v in record.items() if k not in used}
    return Query(id=query_id, question=question, answer=answer, line=number, extra=extra)


def _text_field(path: Path, number: int, record: dict, name: str, required: bool) -> Optional[str]:
    if name not in record or record[name] is None:
        if required:
            raise DatasetError(str(path), "missing field", number, name)
        return None
    value = record[name]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DatasetError(str(path), f"expected text, got {type(value).__name__}", number, name)
    text = str(value)
    if required and not text.strip():
        raise DatasetError(str(path), "empty text", number, name)
    return text
