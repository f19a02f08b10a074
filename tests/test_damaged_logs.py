"""A damaged run directory never gives a traceback: each case of the corpus in
``tests/data/damaged-logs`` (made by its ``make_corpus.py``) gets its exact message, and
``--repair`` ends identical to an uninterrupted run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from adaptive_batch.records import without_measurements
import pytest

from adaptive_batch import run
from adaptive_batch.errors import UserError

CORPUS = Path(__file__).parent / "data" / "damaged-logs"
CASES = json.loads((CORPUS / "cases.json").read_text())
sys.path.insert(0, str(CORPUS))
from make_corpus import reference_config, write_data  # noqa: E402


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("damaged")
    data = write_data(base / "data.jsonl")
    run(reference_config(data, base / "reference"))
    return data, base / "reference"


def tables(run_dir: Path) -> tuple[list, list]:
    samples = sorted((without_measurements(r) for r in pq.read_table(run_dir / "samples.parquet").to_pylist()),
                     key=lambda r: (r["query_id"], r["sample_index"]))
    return samples, [without_measurements(r) for r in pq.read_table(run_dir / "results.parquet").to_pylist()]


def damaged_copy(reference, case: dict, where: Path) -> Path:
    """A run directory holding the reference's manifest and the case's damaged file."""
    where.mkdir()
    shutil.copy(reference / "run.json", where / "run.json")
    if "log" in case:
        shutil.copy(CORPUS / case["log"], where / "samples.jsonl")
    if case["source"] is None:
        (where / case["file"]).unlink()
    else:
        shutil.copy(CORPUS / case["source"], where / case["file"])
    return where


def test_the_corpus_is_made_of_the_reference_runs_records(reference):
    """Guards the corpus against drift: its intact lines are the reference's lines."""
    def sample(line: bytes):  # what was sampled, without how the engine served it (differs run to run)
        try:
            return json.dumps(without_measurements(json.loads(line)), sort_keys=True)
        except ValueError:
            return line

    logged = {sample(line) for line in (reference[1] / "samples.jsonl").read_bytes().splitlines()}
    intact = (CORPUS / "garbage-line.jsonl").read_bytes().splitlines()
    assert [line for line in intact if sample(line) not in logged] == [b"this is not a sample"]


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c["exit"] == 2])
def test_damage_is_a_clear_error_and_repair_ends_identical(reference, tmp_path, name):
    data, ref = reference
    case = CASES[name]
    run_dir = damaged_copy(ref, case, tmp_path / name)
    with pytest.raises(UserError) as error:
        run(reference_config(data, run_dir))
    assert str(error.value) == case["message"].format(run=run_dir)
    damaged = run_dir / case["file"]
    before = damaged.read_bytes() if case["source"] else None
    assert before == ((CORPUS / case["source"]).read_bytes() if case["source"] else None)  # the error changed nothing
    repaired = run(reference_config(data, run_dir), repair=True)
    assert repaired.summary["samples_replayed_from_log"] == case["kept"]
    assert tables(run_dir) == tables(ref)
    if case["file"] == "samples.jsonl":  # the cut-off part is set aside, not deleted
        assert before is not None
        assert (run_dir / "samples.jsonl.damaged").read_bytes() == before[-len((run_dir / "samples.jsonl.damaged").read_bytes()):]


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c["exit"] == 0])
def test_damage_that_loses_nothing_is_mended_with_a_warning(reference, tmp_path, name):
    data, ref = reference
    case = CASES[name]
    run_dir = damaged_copy(ref, case, tmp_path / name)
    result = run(reference_config(data, run_dir))
    expected = [case["warning"].format(run=run_dir)] if case.get("warning") else []
    assert result.summary["warnings"] == expected
    assert tables(run_dir) == tables(ref)
    assert pq.read_metadata(run_dir / "samples.parquet").num_rows == result.summary["samples"]


def test_the_cli_exits_2_without_a_traceback_and_repairs(reference, tmp_path):
    data, ref = reference
    run_dir = damaged_copy(ref, CASES["invalid-utf8"], tmp_path / "cli")
    command = [sys.executable, "-m", "adaptive_batch", "run", str(data), "--output", str(run_dir), "--backend",
               "simulated", "--embedder", "hashing", "--budget", "3", "--warmup", "1", "--retire-after", "0",
               "--demo-order", "similarity", "--base-every", "0", "--quiet"]
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "COLUMNS": "300"}
    failed = subprocess.run(command, capture_output=True, text=True, env=env)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert CASES["invalid-utf8"]["message"].format(run=run_dir) in failed.stderr.replace("\n", "")
    repaired = subprocess.run(command + ["--repair"], capture_output=True, text=True, env=env)
    assert repaired.returncode == 0, repaired.stderr
    assert tables(run_dir) == tables(ref)
