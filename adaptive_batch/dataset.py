"""Reading queries from JSONL, CSV or Parquet, with errors that name the file, line (or row) and field."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Iterator, Optional

from .config import DataConfig
from .errors import DatasetError, PluginContractError
from .hf_disk import data_files, hf_disk_rows, is_hf_disk, split_dir
from .records import Query
from .registry import DatasetAdapter, datasets


def load_queries(config: DataConfig, require_answers: bool = False) -> list[Query]:
    """Every query of the dataset, validated before any generation starts.

    With the default ``jsonl`` adapter: ids come from ``id_field`` or, where a line has none,
    from its line number; numbers are accepted as ids and answers and kept as text. Another
    adapter (``humaneval``, or one registered in ``adaptive_batch.datasets``) is a
    ``DatasetAdapter`` whose ``load(DataConfig)`` gives the queries.
    """
    if config.adapter != "jsonl":
        return _adapter(config.adapter).load(config)
    path = Path(config.path)
    kind = table_format(path, config.format)
    if kind == "hf-disk":
        path = split_dir(path, config.split)  # errors name the split's directory and its row
        rows = _selected(hf_disk_rows(path), config)
    else:
        rows = _jsonl_rows(path, config) if kind == "jsonl" else _table_rows(path, config, kind)
    queries: list[Query] = []
    seen: dict[str, int] = {}
    for number, record in rows:
        query = _record_query(path, number, record, config, require_answers)
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
    if config.id_field != "id" and all(q.id == f"line-{q.line}" for q in queries):
        raise DatasetError(str(path), f"no record has the id field '{config.id_field}' (--id-field)", field=config.id_field)
    return queries


def table_format(path: Path, declared: str = "auto") -> str:
    """jsonl, csv, parquet or hf-disk: as declared, else a save_to_disk directory, else by the file's
    suffix (JSONL unless .csv or .parquet)."""
    if declared != "auto":
        return declared
    if is_hf_disk(path):
        return "hf-disk"
    suffix = path.suffix.lower()
    return {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(suffix, "jsonl")


def _jsonl_rows(path: Path, config: DataConfig) -> Iterator[tuple[int, dict]]:
    raw = _read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DatasetError(str(path), f"invalid UTF-8 at byte column {column} ({exc.reason})", line=line) from None
    if raw.startswith(b"PAR1"):
        raise DatasetError(str(path), "this is a Parquet file, not JSONL: name it .parquet or pass --format parquet")
    for number, line in selected_lines(text.splitlines(), config):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = ""
            if number == 1 and "," in line and not line.lstrip().startswith(("{", "[")):
                hint = "; it looks like a CSV header: name the file .csv or pass --format csv"
            raise DatasetError(str(path), f"malformed JSON: {exc.msg} (column {exc.colno}){hint}", number) from None
        if not isinstance(record, dict):
            raise DatasetError(str(path), f"expected a JSON object, got {type(record).__name__}", number)
        yield number, record


def _table_rows(path: Path, config: DataConfig, kind: str) -> Iterator[tuple[int, dict]]:
    """CSV rows (numbered by the line they start on, the header being line 1; every cell text, an
    empty one missing) or Parquet rows (numbered from 1), as records, through the same skip and
    limit."""
    raw = _read_bytes(path)
    if kind == "csv":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DatasetError(str(path), f"invalid UTF-8 ({exc.reason})", line=raw[: exc.start].count(b"\n") + 1) from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames:
            raise DatasetError(str(path), "the file holds no queries (it is empty)")

        def rows() -> Iterator[tuple[int, dict]]:
            start = 2
            try:
                for record in reader:
                    yield start, {k: (v if v != "" else None) for k, v in record.items() if k is not None}
                    start = reader.line_num + 1
            except csv.Error as exc:
                raise DatasetError(str(path), f"malformed CSV: {exc}", reader.line_num) from None

        yield from _selected(rows(), config)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(str(path), f"cannot be read as Parquet: {str(exc).splitlines()[0]}") from None
    yield from _selected(((i + 1, record) for i, record in enumerate(table.to_pylist())), config)


def _selected(rows, config: DataConfig) -> Iterator[tuple[int, Any]]:
    """The first ``skip`` rows left out, then at most ``limit``."""
    taken, to_skip = 0, config.skip
    for number, record in rows:
        if to_skip:
            to_skip -= 1
            continue
        if config.limit is not None and taken >= config.limit:
            return
        taken += 1
        yield number, record


def selected_lines(lines: list[str], config: DataConfig) -> Iterator[tuple[int, str]]:
    """(line number, text) of the lines this run takes: blank lines left out, then the first
    ``skip``, then at most ``limit``. Skipped lines are not parsed, so their errors are not this
    run's either. Every dataset reader goes through here (or ``_selected``, its rule for rows)."""
    return _selected(((n, line) for n, line in enumerate(lines, start=1) if line.strip()), config)


def dataset_fingerprint(config: DataConfig) -> str:
    """SHA-256 of the dataset file, recorded so a resume can tell the data changed."""
    path = Path(config.path)
    if config.adapter != "jsonl":
        resolve = _adapter(config.adapter).resolve_path
        if resolve is not None:
            path = resolve(config.path)
        elif not config.path:
            return ""
    if table_format(path, config.format) == "hf-disk":
        digest = hashlib.sha256()
        for file in data_files(split_dir(path, config.split)):
            digest.update(_read_bytes(file))
        return digest.hexdigest()
    return hashlib.sha256(_read_bytes(path)).hexdigest()


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(str(path), "no such file") from None
    except IsADirectoryError:
        raise DatasetError(str(path), "is a directory, not a data file (a directory written by datasets' "
                           "save_to_disk holds state.json or dataset_dict.json)") from None
    except PermissionError:
        raise DatasetError(str(path), "permission denied") from None


def _record_query(path: Path, number: int, record: dict, config: DataConfig, require_answers: bool) -> Query:
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


def _adapter(name: str) -> DatasetAdapter:
    found = datasets.get(name)
    if not isinstance(found, DatasetAdapter):
        raise PluginContractError(f"the dataset adapter '{name}' is registered as a {type(found).__name__}, not an "
                                  "adaptive_batch.registry.DatasetAdapter (its load and resolve_path)")
    return found
