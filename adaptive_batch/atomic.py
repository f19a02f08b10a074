"""Replacing a file so that a reader never sees half of it: write beside it, then rename.

Every writer of a whole file in a run directory goes through ``replace_atomically``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .errors import StorageError


def replace_atomically(path: Path, write: Callable[[Path], None], durable: bool = False) -> None:
    """``write(tmp)`` fills a file beside ``path``, which then replaces ``path``. ``durable``
    fsyncs it first (for what a resume depends on). An OSError (a full disk) becomes a
    StorageError naming ``path``; the half-written file is removed."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(path, exc) from None


def write_text_atomically(path: Path, text: str, durable: bool = False) -> None:
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), durable)
