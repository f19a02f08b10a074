from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def shared_dataset(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the public datasets must sit in ../shared/datasets beside the repo")
    return path


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def synthetic(tmp_path):
    from adaptive_batch.backends.simulated import synthetic_queries

    def make(n: int = 60, seed: int = 0, topics: int = 6) -> Path:
        return write_jsonl(tmp_path / f"synthetic-{n}-{seed}.jsonl", synthetic_queries(n, seed, topics))

    return make


@pytest.fixture(scope="session")
def real_backend():
    from adaptive_batch.backends import create_backend

    return create_backend("llamacpp")


@pytest.fixture(scope="session")
def real_embedder():
    from retrieval import create_embedder

    return create_embedder("sentence-transformers")
