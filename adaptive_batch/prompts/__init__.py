"""Prompt building: a few-shot completion style for base models, a chat style for instruct models,
and a raw style for code completion (HumanEval: the question is the function's signature and
docstring, continued as is).

The base prompt is the instruction, a few generic worked examples, and the question. Adaptive
prompts add retrieved demonstrations (the run's own solved queries with their passing
responses) after the generic examples, or put them in their place (``demo_mode``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from ..config import PromptConfig
from ..errors import ConfigError
from ..records import Message

# Hand-written, generic examples: one per operation, none taken from any dataset.
GENERIC_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Tom had 12 apples. He gave 5 of them to his sister. How many apples does Tom have now?", "12 - 5"),
    ("A box holds 6 pencils. How many pencils are in 4 boxes?", "6 * 4"),
    ("Sara read 23 pages on Monday and 19 pages on Tuesday. How many pages did she read in all?", "23 + 19"),
    ("36 cookies are shared equally among 9 children. How many cookies does each child get?", "36 / 9"),
)

INSTRUCTION = "Answer each question with the arithmetic expression that computes the answer."

DEFAULT_TEMPLATE = INSTRUCTION + "\n\n{examples}Question: {question}\nAnswer:"
EXAMPLE_FORMAT = "Question: {question}\nAnswer: {answer}\n\n"


@dataclass(frozen=True)
class Example:
    question: str
    answer: str


def first_line(response: str) -> str:
    for line in response.splitlines():
        if line.strip():
            return line.strip()
    return response.strip()


class PromptBuilder:
    """Builds prompts; ``canonical`` (from the extractor, when it has one) cleans demonstrations."""

    def __init__(self, config: PromptConfig, canonical: Optional[Callable[[str], Optional[str]]] = None, k: int = 3):
        self.canonical = canonical
        self.style = config.style
        self.demo_mode = config.demo_mode
        self.k = k  # demonstrations a full prompt shows (auto mode replaces the generic examples then)
        self.instruction = config.instruction if config.instruction is not None else INSTRUCTION
        self.template = self.instruction + "\n\n{examples}Question: {question}\nAnswer:"
        self.whole_demos = config.demo_response == "whole"
        if config.template:
            path = Path(config.template)
            try:
                self.template = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read prompt template {path}: {exc.strerror}") from None
            for placeholder in ("{examples}", "{question}"):
                if placeholder not in self.template:
                    raise ConfigError(f"prompt template {path} lacks the placeholder {placeholder}")
        pairs = read_fewshot(config.fewshot) if config.fewshot else (config.examples or GENERIC_EXAMPLES)
        self.generic = tuple(Example(q, a) for q, a in pairs)
        # A resolved query is shown to many others: clean its response once, not per prompt.
        self._shown = lru_cache(maxsize=200_000)(self._show)
        self._rendered_demo = lru_cache(maxsize=200_000)(self._render_demo)
        self._rendered_generic = "".join(EXAMPLE_FORMAT.format(question=s.question, answer=s.answer)
                                         for s in self.generic)
        # Beside demonstrations, only the first adaptive_examples generic ones (a shared prefix still).
        self.generic_beside = self.generic[: config.adaptive_examples] if config.adaptive_examples is not None \
            else self.generic
        self._rendered_beside = "".join(EXAMPLE_FORMAT.format(question=s.question, answer=s.answer)
                                        for s in self.generic_beside)

    def _show(self, response: str) -> str:
        if self.whole_demos:
            return response.strip()
        shown = self.canonical(response) if self.canonical else None
        return shown or first_line(response)

    def _render_demo(self, question: str, response: str) -> str:
        return EXAMPLE_FORMAT.format(question=question.strip(), answer=self._shown(response))

    def prompt_for(self, question: str, demos: Sequence = ()) -> Union[str, tuple[Message, ...]]:
        """``build(question, demonstration_examples(demos))``, with each demonstration rendered once.

        A large run builds millions of prompts from the same few resolved queries.
        """
        if self.style != "completion":
            return self.build(question, self.demonstration_examples(demos))
        if not demos:
            rendered = self._rendered_generic
        else:
            shown = "".join([self._rendered_demo(d.question, d.response) for d in demos])
            rendered = shown if self._replaces(len(demos)) else self._rendered_beside + shown
        return self.template.replace("{examples}", rendered).replace("{question}", question.strip())

    def demonstration_examples(self, demos: Sequence) -> list[Example]:
        """Retrieved demonstrations as examples: the question, and the response as verified."""
        out = []
        for demo in demos:
            if self.style == "raw":  # code: the whole passing completion is the demonstration
                out.append(Example(demo.question, demo.response))
                continue
            out.append(Example(demo.question.strip(), self._shown(demo.response)))
        return out

    def examples(self, demonstrations: Sequence[Example]) -> list[Example]:
        if self.style == "raw":
            return list(demonstrations)
        if not demonstrations:
            return list(self.generic)
        if self._replaces(len(demonstrations)):
            return list(demonstrations)
        return [*self.generic_beside, *demonstrations]

    def _replaces(self, shown: int) -> bool:
        """Whether demonstrations take the generic examples' place (replace; auto with all k)."""
        return self.demo_mode == "replace" or (self.demo_mode == "auto" and shown >= self.k)

    def build(self, question: str, demonstrations: Sequence[Example] = ()) -> Union[str, tuple[Message, ...]]:
        shots = self.examples(demonstrations)
        if self.style == "raw":
            return "".join(s.question + s.answer.rstrip() + "\n\n\n" for s in shots) + question
        if self.style == "chat":
            messages: list[Message] = [{"role": "system", "content": self.instruction}]
            for shot in shots:
                messages.append({"role": "user", "content": shot.question})
                messages.append({"role": "assistant", "content": shot.answer})
            messages.append({"role": "user", "content": question})
            return tuple(messages)
        rendered = "".join(EXAMPLE_FORMAT.format(question=s.question, answer=s.answer) for s in shots)
        return self.template.replace("{examples}", rendered).replace("{question}", question.strip())


def read_fewshot(path: str) -> tuple[tuple[str, str], ...]:
    """Generic examples from a JSONL file of {"question": ..., "answer": ...} lines."""
    import json

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the few-shot file {path}: {exc.strerror}") from None
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: malformed JSON: {exc.msg} (column {exc.colno})") from None
        for name in ("question", "answer"):
            if not isinstance(record, dict) or not isinstance(record.get(name), (str, int, float)):
                raise ConfigError(f"{path}:{number}: field '{name}': missing or not text")
        pairs.append((str(record["question"]), str(record["answer"])))
    if not pairs:
        raise ConfigError(f"the few-shot file {path} holds no examples")
    return tuple(pairs)


__all__ = ["DEFAULT_TEMPLATE", "Example", "GENERIC_EXAMPLES", "PromptBuilder", "read_fewshot"]
