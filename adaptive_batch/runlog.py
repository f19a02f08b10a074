"""The run directory's durable sample log and manifest.

``samples.jsonl`` gets every verified sample, appended and fsync'ed once per round before the
scheduler acts on the round. Because every decision is a pure function of the config, the data
and the samples so far, replaying the log rebuilds the whole run state (pool included): that is
how a run resumes. ``run.json`` records what the run is, so a resume of a different run is refused.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any, Iterable

from .errors import ResumeMismatchError, UserError
from .records import SampleRecord

LOG_NAME = "samples.jsonl"
# One encoder for every record: json.dumps with an option builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False).encode
MANIFEST_NAME = "run.json"


class SampleLog:
    def __init__(self, run_dir: Path):
        self.path = run_dir / LOG_NAME
        self._fd: int | None = None

    def load(self) -> dict[tuple[str, int], SampleRecord]:
        """Every complete record; a torn last line (a kill mid-write) is cut off the file."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        good_end = data.rfind(b"\n") + 1
        records: dict[tuple[str, int], SampleRecord] = {}
        for line in data[:good_end].splitlines():
            record = SampleRecord.from_json(json.loads(line))
            records[(record.query_id, record.sample_index)] = record
        if good_end != len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(good_end)
                os.fsync(handle.fileno())
        return records

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


class StorageError(UserError):
    """Writing the run directory failed (most often a full disk); what was logged is kept."""

    def __init__(self, path: Path, exc: OSError):
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            reason += " (the disk or a file-size limit is full)"
        super().__init__(
            f"cannot write {path}: {reason}. Every round finished before this is kept in the log; "
            "free space and run the same command again to resume."
        )


def prepare_run_dir(run_dir: Path, manifest: dict[str, Any], defaults: dict[str, Any] | None = None) -> bool:
    """Create the run directory or check it holds this same run; True when resuming.

    ``defaults`` (the manifest of a default config) fills keys an older manifest lacks, so an
    option added in a later version, left at its default, does not block a resume.
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to the output directory {run_dir}: {exc.strerror}") from None
    path = run_dir / MANIFEST_NAME
    if path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if defaults:
            previous = _with_defaults(previous, defaults)
        differences = _differences(previous, manifest)
        if differences:
            raise ResumeMismatchError(
                f"{run_dir} holds a different run, so it cannot be resumed: "
                + "; ".join(differences)
                + ". Use another --output directory, or delete this one."
            )
        return (run_dir / LOG_NAME).exists()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return False


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


class PendingRound:
    """A round's generated but not yet verified completions, saved before verification.

    If verification fails (a user's verifier crashes, the tool is killed while a slow verifier
    runs), the resumed run verifies these instead of generating them again. The file is removed
    once the round is in the log.
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / PENDING_NAME

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def save(self, completions: dict[str, dict[str, Any]]) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(completions), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            # Only an optimisation for resumes: a full disk shows up in the log write instead.
            tmp.unlink(missing_ok=True)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
