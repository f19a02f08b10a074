"""The run directory's durable sample log and manifest.

``samples.jsonl`` gets every verified sample, appended and fsync'ed once per round before the
scheduler acts on the round. Because every decision is a pure function of the config, the data
and the samples so far, replaying the log rebuilds the whole run state (pool included): that is
how a run resumes. ``run.json`` records what the run is, so a resume of a different run is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from .errors import ResumeMismatchError, UserError
from .records import SampleRecord

LOG_NAME = "samples.jsonl"
MANIFEST_NAME = "run.json"


class SampleLog:
    def __init__(self, run_dir: Path):
        self.path = run_dir / LOG_NAME
        self._file = None

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
        lines = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in records)
        if not lines:
            return
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(lines)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def prepare_run_dir(run_dir: Path, manifest: dict[str, Any]) -> bool:
    """Create the run directory or check it holds this same run; True when resuming."""
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


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    if old != new:
        return [f"{prefix.rstrip('.')} was {old!r}, now {new!r}"]
    return []
