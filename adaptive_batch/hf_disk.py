"""Hugging Face ``datasets`` directories written by ``save_to_disk``, read offline with pyarrow.

A ``Dataset`` directory holds ``state.json`` (its Arrow files, in order, under ``_data_files``)
beside those files, each an Arrow IPC stream; a ``DatasetDict`` directory holds
``dataset_dict.json`` (``{"splits": [...]}``) and one such directory per split. The ``datasets``
library is not needed, and nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Optional

from .errors import DatasetError


def is_hf_disk(path: Path) -> bool:
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


def split_dir(path: Path, split: Optional[str]) -> Path:
    """The directory of the split to read: ``path`` itself for a single dataset."""
    if (path / "state.json").is_file():
        if split is not None:
            raise DatasetError(str(path), f"--split {split} was given, but this directory holds one dataset, not splits")
        return path
    splits = _json(path / "dataset_dict.json").get("splits")
    if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
        raise DatasetError(str(path / "dataset_dict.json"), "expected {\"splits\": [names]}")
    if split is None:
        if len(splits) != 1:
            raise DatasetError(str(path), f"holds the splits {', '.join(splits)}: choose one with --split")
        split = splits[0]
    if split not in splits:
        raise DatasetError(str(path), f"has no split '{split}' (it has: {', '.join(splits)})")
    return path / split


def data_files(directory: Path) -> list[Path]:
    """The split's Arrow files, in order (what a fingerprint of the data hashes)."""
    state = _json(directory / "state.json")
    files = state.get("_data_files")
    if not isinstance(files, list) or not all(isinstance(f, dict) and isinstance(f.get("filename"), str) for f in files):
        raise DatasetError(str(directory / "state.json"), "expected \"_data_files\": [{\"filename\": ...}]")
    return [directory / f["filename"] for f in files]


def hf_disk_rows(directory: Path) -> Iterator[tuple[int, dict]]:
    """(row number from 1, record) over the Arrow files of one split's directory (``split_dir``)."""
    import pyarrow as pa

    number = 0
    for file in data_files(directory):
        try:
            with pa.memory_map(str(file)) as source:
                table = pa.ipc.open_stream(source).read_all()
        except FileNotFoundError:
            raise DatasetError(str(file), "listed in state.json but missing") from None
        except (pa.ArrowInvalid, OSError) as exc:
            raise DatasetError(str(file), f"cannot be read as an Arrow stream: {str(exc).splitlines()[0]}") from None
        for record in table.to_pylist():
            number += 1
            yield number, record


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(str(path), "missing: this is not a directory written by datasets' save_to_disk") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(str(path), f"cannot be read: {exc}") from None
    if not isinstance(value, dict):
        raise DatasetError(str(path), f"expected a JSON object, got {type(value).__name__}")
    return value
