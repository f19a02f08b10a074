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


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"id": "a", "question": "q", "answer": "1"}\n{"id": "b", "question": "q"\n', r"data.jsonl:2: malformed JSON: Expecting ',' delimiter"),
        (b'{"id": "a", "answer": "1"}\n', r"data.jsonl:1: field 'question': missing field"),
        (b'{"id": "a", "question": "q"}\n{"id": "a", "question": "r"}\n', r"data.jsonl:2: field 'id': duplicate id 'a' \(first on line 1\)"),
        (b"", r"data.jsonl: the file holds no queries \(it is empty\)"),
        (b"\n  \n", r"data.jsonl: the file holds no queries"),
        (b'{"id": "a", "question": "q"}\n{"id": "b", "question": "caf\xe9"}\n', r"data.jsonl:2: invalid UTF-8"),
        (b'{"id": "a", "question": ["not", "text"]}\n', r"data.jsonl:1: field 'question': expected text, got list"),
        (b'[1, 2]\n', r"data.jsonl:1: expected a JSON object, got list"),
    ],
)
def test_bad_input_names_file_line_and_field(tmp_path, content, message):
    with pytest.raises(DatasetError, match=message):
        load(write(tmp_path, content))


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
