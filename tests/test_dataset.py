import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adaptive_batch import DataConfig, DatasetError
from adaptive_batch.dataset import load_queries

from .conftest import shared_dataset


def load(path, **kwargs):
    required = kwargs.pop("_req", False)
    return load_queries(DataConfig(path=str(path), **kwargs), require_answers=required)


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


def test_jsonl_csv_and_parquet_give_the_same_queries(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [{"id": "007", "question": "What is 2 + 3, exactly?", "answer": "5"},
               {"id": "q2", "question": 'Tom says "4 apples"', "answer": "1/2"}]
    jsonl = write(tmp_path, "".join(json.dumps(r) + "\n" for r in records).encode())
    csv_path = write(tmp_path, b'id,question,answer\n007,"What is 2 + 3, exactly?",5\nq2,"Tom says ""4 apples""",1/2\n',
                     "data.csv")
    parquet = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(records), parquet)
    expected = [(q.id, q.question, q.answer) for q in load(jsonl)]
    for path in (csv_path, parquet):
        assert [(q.id, q.question, q.answer) for q in load(path)] == expected  # ids like 007 stay text
    assert [q.id for q in load(csv_path, skip=1, limit=1)] == ["q2"]  # the same selection options


def test_table_formats_name_the_line_and_field_of_a_bad_record(tmp_path):
    csv_path = write(tmp_path, b"id,question,answer\na,What is 1 + 1?,2\nb,,3\n", "data.csv")
    with pytest.raises(DatasetError, match=r"data.csv:3: field 'question': missing field"):
        load(csv_path)
    with pytest.raises(DatasetError, match=r"noanswer.csv:2: field 'answer': missing field"):
        load(write(tmp_path, b"id,question,answer\na,What is 1 + 1?,\n", "noanswer.csv"), _req=True)


def test_a_file_that_is_plainly_not_jsonl_says_what_it_looks_like(tmp_path):
    with pytest.raises(DatasetError, match="looks like a CSV header: name the file .csv or pass --format csv"):
        load(write(tmp_path, b"id,question,answer\na,What is 1 + 1?,2\n"))
    with pytest.raises(DatasetError, match="this is a Parquet file"):
        load(write(tmp_path, b"PAR1\x00\x00garbage"))
    # Named for what it is, the CSV reads.
    assert load(write(tmp_path, b"id,question,answer\na,What is 1 + 1?,2\n"), format="csv")[0].id == "a"


def test_an_id_field_that_names_no_field_is_an_error(tmp_path):
    path = write(tmp_path, b'{"id": "a", "question": "What is 1 + 1?", "answer": "2"}\n')
    with pytest.raises(DatasetError, match="no record has the id field 'uid'"):
        load(path, id_field="uid")
    assert load(path)[0].id == "a"


HF = Path(__file__).parent / "data" / "hf"  # written by datasets' save_to_disk (see its README)


def test_a_datasets_save_to_disk_directory_reads_offline_with_its_splits(tmp_path):
    single = load(HF / "single")
    assert [(q.id, q.answer) for q in single][:2] == [("q0", "1"), ("q1", "3")] and len(single) == 6
    assert [q.id for q in load(HF / "dict", split="test")] == ["q4", "q5"]
    assert [q.id for q in load(HF / "dict", split="train", skip=1, limit=2)] == ["q1", "q2"]  # the same options
    assert [q.question for q in load(HF / "single", format="hf-disk")] == [q.question for q in single]
    from adaptive_batch.dataset import dataset_fingerprint

    train, test = (dataset_fingerprint(DataConfig(path=str(HF / "dict"), split=s)) for s in ("train", "test"))
    assert len(train) == 64 and train != test  # a resume can tell the data changed


@pytest.mark.parametrize("where, options, message", [
    ("dict", {}, "dict: holds the splits train, test: choose one with --split"),
    ("dict", {"split": "dev"}, "dict: has no split 'dev' (it has: train, test)"),
    ("single", {"split": "test"}, "--split test was given, but this directory holds one dataset"),
    ("missing-question", {}, "missing-question:2: field 'question': missing field"),
])
def test_save_to_disk_errors_name_the_directory_row_and_field(where, options, message):
    with pytest.raises(DatasetError, match=re.escape(message)):
        load(HF / where, **options)


def test_a_damaged_save_to_disk_directory_names_the_file(tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(HF / "single", copy)
    (copy / "data-00000-of-00001.arrow").write_bytes(b"not arrow at all")
    with pytest.raises(DatasetError, match=r"data-00000-of-00001.arrow: cannot be read as an Arrow stream"):
        load(copy)
    (copy / "state.json").write_text("{broken")
    with pytest.raises(DatasetError, match=r"state.json: cannot be read"):
        load(copy)
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(DatasetError, match="is a directory, not a data file .a directory written by datasets"):
        load(plain)
