import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adaptive_batch import DataConfig, DatasetError
from adaptive_batch.dataset import load_queries

from .conftest import shared_dataset


def load(path, **kwargs):
    return load_queries(DataConfig(path=str(path), **kwargs), require_answers=kwargs.pop("_req", False))


def write(tmp_path, content: bytes, name="data.jsonl"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


BAD_INPUTS = Path(__file__).parent / "data" / "bad_inputs"
EXPECTED = json.loads((BAD_INPUTS / "expected.json").read_text())


def test_the_corpus_has_one_file_per_expected_error():
    assert sorted(p.name for p in BAD_INPUTS.glob("*.jsonl")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_input_corpus_through_the_cli(name, tmp_path):
    """Each case: exit code 2, one readable message with file, line and field, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "adaptive_batch", "run", str(BAD_INPUTS / name), "--backend", "simulated",
         "--output", str(tmp_path / "run")],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "400"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {BAD_INPUTS}/{EXPECTED[name]}"
    assert not (tmp_path / "run" / "samples.jsonl").exists()  # refused before any generation


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load(tmp_path / "nope.jsonl")


def test_missing_answer_is_an_error_only_when_answers_are_needed(tmp_path):
    path = write(tmp_path, b'{"id": "a", "question": "q"}\n')
    assert load_queries(DataConfig(path=str(path)))[0].answer is None
    with pytest.raises(DatasetError, match=r"data.jsonl:1: field 'answer': missing field"):
        load_queries(DataConfig(path=str(path)), require_answers=True)


def test_ids_from_line_numbers_and_configurable_fields(tmp_path):
    path = write(tmp_path, b'{"q": "first", "a": 3}\n\n{"q": "second", "a": "4"}\n')
    queries = load_queries(DataConfig(path=str(path), question_field="q", answer_field="a"))
    assert [(q.id, q.question, q.answer) for q in queries] == [("line-1", "first", "3"), ("line-3", "second", "4")]


def test_real_datasets_load():
    svamp = load(shared_dataset("svamp.jsonl"))
    assert len(svamp) == 1000 and svamp[0].id == "chal-1"
    gsm = load(shared_dataset("gsm8k_test.jsonl"), limit=10)
    assert len(gsm) == 10 and gsm[0].id == "line-1" and gsm[0].answer.endswith("#### 18")


def test_skip_and_limit_split_a_file_into_disjoint_parts(tmp_path):
    addsub = shared_dataset("addsub.jsonl")
    first = load(addsub, limit=200)
    rest = load(addsub, skip=200)
    assert len(first) == 200 and len(first) + len(rest) == len(load(addsub))
    assert not {q.id for q in first} & {q.id for q in rest}
    assert [q.id for q in load(addsub, skip=10, limit=3)] == [q.id for q in first[10:13]]
    # Line numbers in ids and errors stay those of the file, not of the part.
    path = write(tmp_path, b'{"question": "a", "answer": "1"}\n{"question": "b", "answer": "2"}\n')
    assert [q.id for q in load(path, skip=1)] == ["line-2"]
    with pytest.raises(DatasetError, match="no queries are left after skipping the first 2"):
        load(path, skip=2)
