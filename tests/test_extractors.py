import json

import pytest

from adaptive_batch.config import VerifierConfig
from adaptive_batch.records import Query
from adaptive_batch.verifiers import (
    create_verifier,
    evaluate_arithmetic,
    extract_choice,
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
    verify = create_verifier(VerifierConfig(name="reference", extractor="expression", options={"tolerance": 1e-6}))
    query = Query(id="q", question="?", answer="43")
    assert verify(query, " 70 - 27").passed
    assert verify(query, " 70 - 27 = 44").passed
    assert not verify(query, " 70 + 27").passed
    assert verify(Query(id="f", question="?", answer="2.5"), " 5 / 2").passed
    gsm = Query(id="g", question="?", answer="Janet sells 16 - 3 - 4 = 9 eggs.\n#### 18")
    assert verify(gsm, " 9 * 2").passed
    last = create_verifier(VerifierConfig(name="reference", extractor="last_number"))
    assert last(query, " 70 - 27 = 43").passed and not last(query, " 70 - 27 = 42").passed


# Hand-written LaTeX cases, MATH-style: (reference, response, same?)
LATEX_CASES = [
    (r"\frac{1}{2}", r"So the answer is $\boxed{0.5}$.", True),
    (r"0.5", r"Thus \boxed{\frac{1}{2}}", True),
    (r"\frac{\sqrt{2}}{2}", r"\boxed{\sqrt{2}/2}", True),
    (r"(x+1)^2", r"\boxed{x^2+2x+1}", True),
    (r"\{1, 2\}", r"\boxed{\{2,1\}}", True),
    (r"\dfrac{3}{4}", r"we get \boxed{\tfrac34}", True),
    (r"3", r"\boxed{4}", False),
    (r"\frac{1}{3}", r"\boxed{0.33}", False),
    (r"2\pi", r"\boxed{2\pi}", True),
]


@pytest.mark.parametrize("reference, response, same", LATEX_CASES)
def test_boxed_answers_compare_symbolically_with_math_verify(reference, response, same):
    verify = create_verifier(VerifierConfig(name="reference", extractor="boxed"))
    verdict = verify(Query(id="m", question="?", answer=reference), response)
    assert verdict.passed is same, (reference, response, verdict)


def test_boxed_extraction_matches_braces_and_takes_the_last_box():
    from adaptive_batch.verifiers import extract_boxed

    assert extract_boxed(r"first \boxed{1} then \boxed{\frac{a}{b^{2}}}") == r"\frac{a}{b^{2}}"
    assert extract_boxed(r"\fbox{7}") == "7"
    assert extract_boxed("no box here") is None
    assert extract_boxed(r"\boxed{unclosed") is None


def test_a_reference_given_as_a_boxed_solution_is_reduced_to_its_box():
    verify = create_verifier(VerifierConfig(name="reference", extractor="boxed"))
    query = Query(id="m", question="?", answer=r"Adding, we find $1+1=\boxed{2}$.")
    assert verify(query, r"\boxed{2}").passed and not verify(query, r"\boxed{3}").passed


def test_a_hanging_call_is_killed_at_its_time_limit_and_the_next_call_gets_a_fresh_worker():
    import time

    from adaptive_batch.verifiers.worker import TIMED_OUT, IsolatedWorker

    worker = IsolatedWorker("time:sleep")
    started = time.monotonic()
    assert worker.call((30,), timeout_s=0.5) is TIMED_OUT
    assert time.monotonic() - started < 10
    assert worker.call((0,), timeout_s=10) is None and worker.restarts == 1
    worker.close()


def test_math_comparison_runs_outside_the_main_thread():
    # math-verify's own timeouts use SIGALRM, which fails off the main thread; ours do not.
    import threading

    from adaptive_batch.verifiers.math_equivalence import MathEquivalence

    compare, out = MathEquivalence(timeout_s=30), []
    thread = threading.Thread(target=lambda: out.append(compare(r"\frac{1}{2}", "0.5")))
    thread.start()
    thread.join()
    compare.close()
    assert out == [True]


@pytest.mark.parametrize(
    "text, letter",
    [
        ("The answer is (C).", "C"),
        ("answer: d", "D"),
        ("B) because the others are wrong", "B"),
        ("(E)", "E"),
        ("A cat sat on the mat.", None),
        ("I think option A, no wait, the answer is B", "B"),
    ],
)
def test_choice_letters(text, letter):
    assert extract_choice(text) == letter


def test_choice_verifier_accepts_a_letter_or_a_worded_reference():
    verify = create_verifier(VerifierConfig(name="reference", extractor="choice"))
    assert verify(Query(id="c1", question="?", answer="c"), "The answer is (C)").passed
    assert verify(Query(id="c2", question="?", answer="The answer is B"), "B.").passed
    assert not verify(Query(id="c3", question="?", answer="A"), "The answer is (C)").passed


def test_every_extractor_is_registered_by_name():
    from adaptive_batch.registry import extractors

    assert {"expression", "last_number", "gsm8k", "boxed", "choice"} <= set(extractors.names())


def test_flat_arithmetic_shortcut_agrees_with_the_ast_on_random_expressions():
    """Bracket-free expressions skip the AST; on any string both ways must give the same value."""
    import random

    from adaptive_batch.verifiers import extractors

    rng = random.Random(0)
    pieces = ["0", "1", "7", "12", "05", "3.5", "0.25", "99999999999999999", "1e3", ".5", "2.",
              " ", "  ", "\t", "\n", "+", "-", "--", "*", "/", "**", "//", "(", ")"]
    flat = 0
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 9)))
        flat += bool(extractors._FLAT.fullmatch(text))
        assert extractors.evaluate_arithmetic(text) == extractors.evaluate_arithmetic_ast(text), repr(text)
    assert flat > 1000  # the shortcut was exercised, not only the AST


def test_the_flexible_gsm8k_extractor_prefers_the_marker_then_a_stated_answer_then_the_last_number():
    from adaptive_batch.verifiers.extractors import extract_gsm8k_flexible

    assert extract_gsm8k_flexible("3 + 4 = 7, and 2 more\n#### 9") == "9"  # the marker wins
    assert extract_gsm8k_flexible("The answer is 20. Then 5 more cakes.") == "20"  # a stated answer next
    assert extract_gsm8k_flexible("The answer is: $1,200.") == "1200"
    assert extract_gsm8k_flexible("16 * 3 = 48 eggs, so 48 - 7 = 41") == "41"  # else the last number
    assert extract_gsm8k_flexible("I cannot tell.") is None and extract_gsm8k("The answer is 20.") is None
