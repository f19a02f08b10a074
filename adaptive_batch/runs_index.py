"""The runs under a directory, for ``adaptive-batch list``: what each is and how far it got."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

from .outputs import SUMMARY_NAME
from .runlog import LOG_NAME, MANIFEST_NAME


def list_runs(directory: str | Path) -> list[dict[str, Any]]:
    """Every run directory below ``directory`` (a folder holding ``run.json``), newest first."""
    root = Path(directory)
    rows = [_describe(path.parent) for path in sorted(root.rglob(MANIFEST_NAME))]
    return sorted(rows, key=lambda r: r["updated"], reverse=True)


def _describe(run_dir: Path) -> dict[str, Any]:
    manifest = _read(run_dir / MANIFEST_NAME) or {}
    summary = _read(run_dir / SUMMARY_NAME)
    config = manifest.get("config", {})
    log = run_dir / LOG_NAME
    logged = _count_lines(log)
    status = summary.get("status") if summary else ("in progress or killed" if logged else "not started")
    if summary and log.exists() and log.stat().st_mtime > (run_dir / SUMMARY_NAME).stat().st_mtime + 1:
        status = "in progress or killed"  # the log has grown since the summary was written
    updated = max((p.stat().st_mtime for p in (run_dir / MANIFEST_NAME, log, run_dir / SUMMARY_NAME) if p.exists()))
    return {
        "run_dir": str(run_dir),
        "method": config.get("schedule", {}).get("method"),
        "dataset": config.get("data", {}).get("path") or config.get("data", {}).get("adapter"),
        "model": manifest.get("model"),
        "status": status,
        "coverage": summary.get("coverage") if summary else None,
        "samples": summary.get("samples") if summary else logged,
        "budget_samples": summary.get("budget_samples") if summary else None,
        "updated": updated,
        "updated_at": time.strftime("%Y-%m-%d %H:%M", time.localtime(updated)),
    }


def _read(path: Path) -> Optional[dict[str, Any]]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return 0
