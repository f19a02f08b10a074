"""The run directory's durable sample log and manifest.

``samples.jsonl`` gets every verified sample, appended and fsync'ed in small batches while a round
runs (see ``execution.execute``), so a kill loses at most the last second or so of work. Because
every decision is a pure function of the config, the data and the samples so far, replaying the
log rebuilds the whole run state (pool included): that is how a run resumes, and an interrupted
round is planned again exactly as before, its logged samples replayed and only the missing ones
generated. ``run.json`` records what the run is, so a resume of a different run is refused.

Damage: a torn last line (a kill mid-write) is cut off silently. Any other damaged line stops the
run with the file, line and byte offset named; ``--repair`` keeps every record before the first
damaged line (the rest is moved to ``samples.jsonl.damaged``) and the run generates the rest
again, deterministically. Duplicate records (same query and sample index) are collapsed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from .atomic import write_text_atomically
from .errors import ResumeMismatchError, StorageError, UserError
from .records import SampleRecord

LOG_NAME = "samples.jsonl"
# One encoder for every record: json.dumps with an option builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False).encode
MANIFEST_NAME = "run.json"


class LogDamagedError(UserError):
    """A run-directory file is damaged in a way that is not a torn last line."""


# Each field of a logged record and the JSON types it may hold.
_RECORD_FIELDS: dict[str, tuple[type, ...]] = {
    "query_id": (str,), "sample_index": (int,), "phase": (str,), "round": (int,), "seed": (int,),
    "demo_ids": (list,), "text": (str,), "answer": (str, type(None)), "passed": (bool, type(None)),
    "prompt_tokens": (int,), "completion_tokens": (int,), "finish_reason": (str,), "error": (str, type(None)),
    "score": (float, int, type(None)), "detail": (str, type(None)), "engine": (str,),
    "cached_tokens": (int,), "engine_s": (float, int), "prompt_kind": (str,), "started_at": (float, int), "finished_at": (float, int),
    "logprob": (float, int, type(None)),
}
# Fields with a default may be absent (logs of earlier versions lack them).
_OPTIONAL_FIELDS = {f.name for f in dataclasses.fields(SampleRecord) if f.default is not dataclasses.MISSING}


assert set(_RECORD_FIELDS) == {f.name for f in dataclasses.fields(SampleRecord)}, "the log's fields follow SampleRecord"


def parse_record(line: bytes) -> SampleRecord:
    """One log line as a record; ValueError says what is wrong with it."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 ({exc.reason} at byte {exc.start} of the line)") from None
    if not text.strip():
        raise ValueError("an empty line")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"a JSON {type(data).__name__}, not a sample record")
    unknown = sorted(set(data) - set(_RECORD_FIELDS))
    missing = sorted(set(_RECORD_FIELDS) - set(data) - _OPTIONAL_FIELDS)
    if unknown or missing:
        parts = ([f"unknown field(s) {', '.join(unknown)}"] if unknown else []) + (
            [f"missing field(s) {', '.join(missing)}"] if missing else [])
        raise ValueError("not a sample record: " + "; ".join(parts))
    for name, value in data.items():
        kinds = _RECORD_FIELDS[name]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ValueError(f"field '{name}' holds {type(value).__name__} {json.dumps(value)[:40]}")
    if not all(isinstance(d, str) for d in data["demo_ids"]):
        raise ValueError("field 'demo_ids' holds something other than strings")
    if data["sample_index"] < 0:
        raise ValueError(f"field 'sample_index' is negative ({data['sample_index']})")
    return SampleRecord.from_json(data)


class SampleLog:
    def __init__(self, run_dir: Path):
        self.path = run_dir / LOG_NAME
        self._fd: int | None = None
        self.duplicates_dropped = 0

    def load(self, repair: bool = False) -> dict[tuple[str, int], SampleRecord]:
        """Every complete record; a torn last line (a kill mid-write) is cut off the file.

        A damaged line elsewhere raises LogDamagedError naming it, unless ``repair``: then the
        log keeps the records before it, and the rest is moved to ``samples.jsonl.damaged``.
        Duplicate records are collapsed (the first kept) and the log rewritten without them.
        """
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        good_end = data.rfind(b"\n") + 1
        records: dict[tuple[str, int], SampleRecord] = {}
        offset, duplicates = 0, 0
        for number, line in enumerate(data[:good_end].split(b"\n")[:-1], start=1):
            try:
                record = parse_record(line)
            except ValueError as why:
                if not repair:
                    raise LogDamagedError(
                        f"{self.path}: line {number} (byte {offset}) is damaged: {why}. Run the same command with "
                        f"--repair to keep the {len(records)} records before it and generate the rest again."
                    ) from None
                self._set_aside(data[offset:], offset)
                good_end = len(data)  # nothing of the tail stays to be cut again below
                break
            key = (record.query_id, record.sample_index)
            if key in records:
                duplicates += 1
            else:
                records[key] = record
            offset += len(line) + 1
        if good_end != len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(good_end)
                os.fsync(handle.fileno())
        if duplicates:
            self._rewrite(records.values())
            self.duplicates_dropped = duplicates
        return records

    def _set_aside(self, damaged: bytes, offset: int) -> None:
        """--repair: move everything from the first damaged line on beside the log, then cut it."""
        aside = self.path.with_name(LOG_NAME + ".damaged")
        with open(aside, "ab") as handle:
            handle.write(damaged)
            os.fsync(handle.fileno())
        with open(self.path, "r+b") as handle:
            handle.truncate(offset)
            os.fsync(handle.fileno())

    def _rewrite(self, records: Iterable[SampleRecord]) -> None:
        text = "".join(_encode(r.to_json()) + "\n" for r in records)
        write_text_atomically(self.path, text, durable=True)

    def append(self, records: Iterable[SampleRecord]) -> None:
        """Append one round's records and fsync; all of them are on disk, or none."""
        data = "".join(_encode(r.to_json()) + "\n" for r in records).encode("utf-8")
        if not data:
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        start = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            # Take the round back out whole: a resume regenerates it, bit for bit.
            os.ftruncate(self._fd, start)
            raise StorageError(self.path, exc) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def prepare_run_dir(run_dir: Path, manifest: dict[str, Any], defaults: dict[str, Any] | None = None,
                    repair: bool = False, upgrade: Callable[[dict], dict] | None = None,
                    hints: dict[str, str] | None = None) -> bool:
    """Create the run directory or check it holds this same run; True when resuming.

    ``defaults`` (the manifest of a default config) fills keys an older manifest lacks, so an
    option added in a later version, left at its default, does not block a resume; ``upgrade`` brings an
    older manifest's config to today's layout before the comparison; ``hints`` (a setting's dotted path ->
    a sentence) say how to resume when that setting differs. A damaged
    ``run.json`` is an error, or with ``repair`` is written again from this run's manifest.
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to the output directory {run_dir}: {exc.strerror}") from None
    path = run_dir / MANIFEST_NAME
    previous = _read_manifest(path, repair)
    if previous is not None:
        if upgrade is not None and isinstance(previous.get("config"), dict):
            previous = {**previous, "config": upgrade(previous["config"])}
        if defaults:
            previous = _with_defaults(previous, defaults)
        differences = _differences(previous, manifest)
        if differences:
            advice = [hints[key] for key in sorted(hints or {}) if any(d.startswith(f"{key} ") for d in differences)]
            raise ResumeMismatchError(
                f"{run_dir} holds a different run, so it cannot be resumed: "
                + "; ".join(differences)
                + ". " + "".join(f"{line} " for line in advice)
                + "Otherwise use another --output directory, or delete this one."
            )
        return (run_dir / LOG_NAME).exists()
    if (run_dir / LOG_NAME).exists() and not repair:
        raise LogDamagedError(
            f"{run_dir / LOG_NAME} exists but {path} is missing, so what run it belongs to is unknown. Run the same "
            "command with --repair to adopt the log for this command's settings (only if it really is this run)."
        )
    write_text_atomically(path, json.dumps(manifest, indent=2, sort_keys=True), durable=True)
    return (run_dir / LOG_NAME).exists()


def _read_manifest(path: Path, repair: bool) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(previous, dict):
            raise ValueError(f"a JSON {type(previous).__name__}, not an object")
        return previous
    except (UnicodeDecodeError, ValueError) as exc:
        if repair:
            return None  # written again from this run's manifest
        raise LogDamagedError(
            f"{path} is damaged ({exc}). Run the same command with --repair to write it again from this command's "
            "settings (only if this directory really holds this run)."
        ) from None


def _with_defaults(old: Any, defaults: Any) -> Any:
    if isinstance(old, dict) and isinstance(defaults, dict):
        return {**defaults, **{k: _with_defaults(v, defaults.get(k)) for k, v in old.items()}}
    return old


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    if old != new:
        return [f"{prefix.rstrip('.')} was {old!r}, now {new!r}"]
    return []


PENDING_NAME = "pending-round.json"


# Completion fields a pending file may hold besides the required ones (older files lack them).
_PENDING_OPTIONAL = {"error", "cached_tokens", "engine_s", "started_at", "logprob"}


class PendingRound:
    """A round's generated but not yet verified completions, saved before verification.

    If verification fails (a user's verifier crashes, the tool is killed while a slow verifier
    runs), the resumed run verifies these instead of generating them again. The file is removed
    once the round is in the log.
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / PENDING_NAME

    def load(self, warnings: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """The saved completions by cache key; a damaged file is discarded (it only saves work)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (UnicodeDecodeError, ValueError) as exc:
            return self._discard(warnings, f"not valid JSON ({exc})")
        fields = {"text": str, "prompt_tokens": int, "completion_tokens": int, "finish_reason": str}
        if not isinstance(data, dict):
            return self._discard(warnings, f"a JSON {type(data).__name__}, not an object")
        for key, value in data.items():
            shaped = isinstance(value, dict) and set(fields) <= set(value) <= set(fields) | _PENDING_OPTIONAL
            if not shaped or not all(isinstance(value[f], t) for f, t in fields.items()):
                return self._discard(warnings, f"entry {key[:16]} is not a completion")
        return data

    def _discard(self, warnings: list[str] | None, why: str) -> dict[str, dict[str, Any]]:
        if warnings is not None:
            warnings.append(f"{self.path} is damaged ({why}) and was discarded: its samples will be generated again")
        self.path.unlink(missing_ok=True)
        return {}

    def save(self, completions: dict[str, dict[str, Any]]) -> None:
        try:
            write_text_atomically(self.path, json.dumps(completions))
        except StorageError:
            pass  # only an optimisation for resumes: a full disk shows up in the log write instead

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
