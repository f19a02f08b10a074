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


def simulated_adaptive_run(path: Path, output_dir: Path, **retrieval):
    """An adaptive run of the simulator with the hashing embedder (budget 8, warm-up 2), every
    demonstration similar enough to show; ``retrieval`` sets the options under test."""
    from adaptive_batch import RunConfig, run

    return run(RunConfig.from_dict({
        "data": {"path": str(path)},
        "backend": {"name": "simulated"},
        "retrieval": {"embedder": "hashing", "min_similarity": 0.0, **retrieval},
        "schedule": {"method": "adaptive", "budget": 8, "warmup": 2},
        "output_dir": str(output_dir),
    }))


def cut_log_into_adaptive(run_dir: Path, adaptive_samples: int) -> int:
    """Leave a finished run's log as a kill would: its warm-up and first ``adaptive_samples``
    adaptive samples, no outputs. Returns the samples kept, which a resumed run replays."""
    log = run_dir / "samples.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    first_adaptive = next(i for i, line in enumerate(lines) if '"phase": "adaptive"' in line)
    log.write_text("".join(lines[: first_adaptive + adaptive_samples]))
    for name in ("samples.parquet", "results.parquet", "results.jsonl", "summary.json"):
        (run_dir / name).unlink()
    return first_adaptive + adaptive_samples


@pytest.fixture
def synthetic(tmp_path):
    from adaptive_batch.backends.simulated import synthetic_queries

    def make(n: int = 60, seed: int = 0, topics: int = 6) -> Path:
        return write_jsonl(tmp_path / f"synthetic-{n}-{seed}.jsonl", synthetic_queries(n, seed, topics))

    return make


@pytest.fixture(scope="session")
def real_backend():
    from adaptive_batch.backends import create_backend

    return create_backend()


@pytest.fixture(scope="session")
def real_embedder():
    from retrieval import create_embedder

    return create_embedder("sentence-transformers")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server():
    """llama.cpp's own OpenAI-compatible server with the default model, on a loopback port."""
    import subprocess

    url, proc = start_llama_server()
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_llama_server():
    """(base URL, process) of a new llama.cpp server with the default model, once it answers."""
    import subprocess
    import sys
    import time

    import httpx

    from adaptive_batch.backends.llamacpp import default_model_path

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", default_model_path(), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--verbose", "False"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while True:
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("llama.cpp's server did not start")
        time.sleep(0.3)
    return url, proc


# llama.cpp's server defaults min_p and repeat_penalty differently from the in-process backend.
SAME_SAMPLING_AS_IN_PROCESS = {"min_p": 0.0, "repeat_penalty": 1.0}
