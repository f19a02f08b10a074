import json

import pytest

from adaptive_batch.config import VerifierConfig
from adaptive_batch.records import Query
from adaptive_batch.verifiers import (
    create_verifier,
    evaluate_arithmetic,
    extract_expression,
    extract_gsm8k,
    extract_last_number,
    parse_reference,
)

from .conftest import shared_dataset


@pytest.mark.parametrize(
    "text, expected",
    [
        (" 30 - 11 = 21", "19"),  # the left side wins: the model's sum is often wrong
        (" 70 – 27", "43"),  # en dash, as the model writes it
        (" 12 ÷ 2 = 4", "6"),
        (" 6 × 4", "24"),
        (" (12 + 8) / 4", "5"),
        (" 1,250 + 750", "2000"),
        (" $ 3.50 * 2", "7"),
        (" 43", "43"),
        (" She gave 70 - 27 shells.", "43"),
        (" 7 / 2", "3.5"),
        (" no idea", None),
        (" 5 / 0", None),
        ("\n\n 8 + 1\nQuestion: 2 + 2", "9"),
    ],
)
def test_expression_extractor(text, expected):
    assert extract_expression(text) == expected


def test_arithmetic_is_evaluated_without_eval():
    assert evaluate_arithmetic("__import__('os').system('true')") is None
    assert evaluate_arithmetic("2 ** 1000000") is None  # power is not arithmetic we accept
    assert evaluate_arithmetic("-(3 - 5) * 2") == 4.0


def test_last_number():
    assert extract_last_number("I had 3 apples, then 1,204.5") == "1204.5"
    assert extract_last_number("none") is None


def test_gsm8k_extractor_on_real_gsm8k_answers():
    lines = shared_dataset("gsm8k_test.jsonl").read_text(encoding="utf-8").splitlines()[:50]
    for line in lines:
        answer = json.loads(line)["answer"]
        expected = answer.rsplit("####", 1)[1].strip().replace(",", "")
        assert extract_gsm8k(answer) == str(int(float(expected)))
        assert parse_reference(answer) == float(expected)


def test_reference_verifier_compares_numerically():
    verify = create_verifier(VerifierConfig(name="reference", extractor="expression", tolerance=1e-6))
    query = Query(id="q", question="?", answer="43")
    assert verify(query, " 70 - 27").passed
    assert verify(query, " 70 - 27 = 44").passed
    assert not verify(query, " 70 + 27").passed
    assert verify(Query(id="f", question="?", answer="2.5"), " 5 / 2").passed
    gsm = Query(id="g", question="?", answer="Janet sells 16 - 3 - 4 = 9 eggs.\n#### 18")
    assert verify(gsm, " 9 * 2").passed
    last = create_verifier(VerifierConfig(name="reference", extractor="last_number"))
    assert last(query, " 70 - 27 = 43").passed and not last(query, " 70 - 27 = 42").passed
