"""Answer extractors: response text -> a canonical numeric answer string, or None.

Each is a plain function registered by name (entry-point group ``adaptive_batch.extractors``).
"""

from __future__ import annotations

import ast
import math
import operator
import re
from typing import Optional

from .base import Extractor

_NUMBER = r"-?\d+(?:\.\d+)?"
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_EXPRESSION_RUN = re.compile(r"[\d.\s+\-*/()]+")
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_MAX_MAGNITUDE = 1e15


def format_number(value: float) -> str:
    """Canonical text of a number: integers without a decimal point, others to 10 places."""
    if math.isfinite(value) and abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    return f"{value:.10g}"


def _normalise(text: str) -> str:
    text = _THOUSANDS.sub("", text)
    return text.replace("×", "*").replace("÷", "/").replace("−", "-").replace("–", "-").replace("$", "")


# The shape most answers take, numbers joined by operators without brackets, is evaluated without
# building an AST: a large run verifies millions of samples. Anything else goes through ``ast``.
_FLAT_NUMBER = r"-?(?:0|[1-9]\d*)(?:\.\d+)?"
_FLAT = re.compile(rf"\s*{_FLAT_NUMBER}(?:[ \t]*[-+*/][ \t]*{_FLAT_NUMBER})*\s*")
_FLAT_TOKEN = re.compile(r"(\d+(?:\.\d+)?)|([-+*/])")
_HAS_DIGIT = re.compile(r"\d")


def _evaluate_flat(expression: str) -> Optional[float]:
    """``evaluate_arithmetic`` of a bracket-free expression: the AST's precedence, order and checks."""
    values: list[float] = []
    operators: list[str] = []
    negative = False
    for number, op in _FLAT_TOKEN.findall(expression):
        if number:
            values.append(-float(number) if negative else float(number))
            negative = False
        elif len(values) == len(operators):  # an operand was due: this is its sign
            negative = True
        else:
            operators.append(op)
    total, term, additive = 0.0, values[0], ""
    for op, value in zip(operators, values[1:]):
        if op in "*/":
            if op == "/" and value == 0:
                return None
            term = term / value if op == "/" else term * value
            if abs(term) > _MAX_MAGNITUDE:
                return None
            continue
        if additive:
            total = total + term if additive == "+" else total - term
            if abs(total) > _MAX_MAGNITUDE:
                return None
        else:
            total = term
        additive, term = op, value
    if not additive:
        return term
    total = total + term if additive == "+" else total - term
    return None if abs(total) > _MAX_MAGNITUDE else total


def evaluate_arithmetic(expression: str) -> Optional[float]:
    """Value of + - * / arithmetic on numbers, through the AST (never ``eval``); None if invalid."""
    if _FLAT.fullmatch(expression):
        return _evaluate_flat(expression)
    return evaluate_arithmetic_ast(expression)


def evaluate_arithmetic_ast(expression: str) -> Optional[float]:
    """``evaluate_arithmetic`` for any expression, by walking its Python AST."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return None

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            value = _BINARY[type(node.op)](walk(node.left), walk(node.right))
            if abs(value) > _MAX_MAGNITUDE:
                raise OverflowError
            return value
        raise ValueError(type(node).__name__)

    try:
        return walk(tree)
    except (ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None


def _balance(candidate: str) -> str:
    candidate = candidate.strip().rstrip("+-*/. ").lstrip("*/). ")
    while candidate.count(")") > candidate.count("(") and candidate.endswith(")"):
        candidate = candidate[:-1].rstrip()
    while candidate.count("(") > candidate.count(")") and candidate.startswith("("):
        candidate = candidate[1:].lstrip()
    return candidate


def find_expression(text: str) -> Optional[tuple[str, float]]:
    """The first arithmetic expression in the answer's first line (else anywhere), and its value."""
    for chunk in (_first_line(text), text):
        for run in _EXPRESSION_RUN.findall(_normalise(chunk)):
            candidate = _balance(run)
            if not _HAS_DIGIT.search(candidate):
                continue
            value = evaluate_arithmetic(candidate)
            if value is not None:
                return " ".join(candidate.split()), value
    return None


def extract_expression(text: str) -> Optional[str]:
    """The value of the first arithmetic expression in the answer's first line.

    The left side of an equation wins, so ``30 - 11 = 21`` gives 19: a small model writes the
    right expression far more often than the right sum.
    """
    found = find_expression(text)
    return format_number(found[1]) if found else None


def _canonical_expression(text: str) -> Optional[str]:
    found = find_expression(text)
    return found[0] if found else None




def extract_last_number(text: str) -> Optional[str]:
    """The last number in the text."""
    numbers = re.findall(_NUMBER, _normalise(text))
    return format_number(float(numbers[-1])) if numbers else None


def extract_gsm8k(text: str) -> Optional[str]:
    """The number after GSM8K's ``####`` marker."""
    match = re.search(r"####\s*(" + _NUMBER + ")", _normalise(text))
    return format_number(float(match.group(1))) if match else None


def extract_gsm8k_flexible(text: str) -> Optional[str]:
    """GSM8K's ``#### N`` where the response has it, else the number after its last "the answer is",
    else its last number (lm-evaluation-harness's "strict-match" falling back to "flexible-extract")."""
    strict = extract_gsm8k(text)
    if strict is not None:
        return strict
    said = re.findall(r"answer is\s*:?\s*\$?\s*(" + _NUMBER + ")", _normalise(text), flags=re.IGNORECASE)
    return format_number(float(said[-1])) if said else extract_last_number(text)


def parse_reference(answer: str) -> Optional[float]:
    """A dataset's reference answer as a number: plain, GSM8K ``#### N``, or its last number."""
    text = _normalise(str(answer)).strip()
    for found in (extract_gsm8k(text), text if re.fullmatch(_NUMBER, text) else None, extract_last_number(text)):
        if found is not None:
            return float(found)
    return None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def find_boxed(text: str) -> Optional[str]:
    r"""The contents of the last ``\boxed{...}`` (or ``\fbox{...}``), braces matched; None if absent."""
    found = None
    for match in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, start = 1, match.end()
        for position in range(start, len(text)):
            char = text[position]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    found = text[start:position].strip()
                    break
    return found or None


def extract_boxed(text: str) -> Optional[str]:
    r"""The last ``\boxed{...}`` answer as LaTeX (compared symbolically by the math verifier)."""
    return find_boxed(text)



_CHOICE = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-J])\)?(?![A-Za-z])|^\s*\(?([A-J])(?:[).:]|\s*$)",
    re.IGNORECASE | re.MULTILINE,
)


def extract_choice(text: str) -> Optional[str]:
    """A multiple-choice letter A-J: after "answer is"/"answer:", else a letter opening a line."""
    matches = list(_CHOICE.finditer(text))
    anchored = [m.group(1) for m in matches if m.group(1)]
    if anchored:
        return anchored[-1].upper()
    bare = [m.group(2) for m in matches if m.group(2)]
    return bare[0].upper() if bare else None


# The registered extractors (entry points name these). ``expression`` shows a passing response in
# its canonical form, so a lucky pass like "Dan - $ 4 + $ 5" is shown as the arithmetic that was
# checked, not as noise for the model to imitate.
EXPRESSION = Extractor(extract_expression, canonical=_canonical_expression)
LAST_NUMBER = Extractor(extract_last_number)
GSM8K = Extractor(extract_gsm8k)
GSM8K_FLEXIBLE = Extractor(extract_gsm8k_flexible)
BOXED = Extractor(extract_boxed, kind="latex")
CHOICE = Extractor(extract_choice, kind="choice")
