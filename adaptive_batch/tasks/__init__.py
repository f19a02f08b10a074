"""Tasks: a named bundle of settings for a kind of test set (``--task NAME`` or ``--task FILE.toml``).

A task is plain config data: the instruction, the generic few-shot examples, the prompt style,
the extractor and verifier, the stop sequences and ``max_tokens`` (any config key may appear).
It sits under everything the user says: a config file's keys override the task's, and flags
override both, so ``adaptive-batch config --task gsm8k --show`` prints what a run will use.

Built-in tasks are entry points in the ``adaptive_batch.tasks`` group like third-party ones. A
user's own task is a TOML file with an optional top-level ``description`` and the same tables as
a run config::

    description = "Grade-school word problems, chain of thought"
    [prompt]
    instruction = "Solve the problem step by step."
    fewshot = "my_examples.jsonl"
    [verifier]
    extractor = "gsm8k"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config_file import load_toml
from ..errors import ConfigError
from ..registry import tasks as registry


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    settings: dict[str, Any] = field(default_factory=dict)  # nested config data, as in a TOML run config


def load_task(name: str) -> Task:
    """A registered task by name, or a task file (``.toml``)."""
    if name.endswith(".toml"):
        path = Path(name)
        data = load_toml(path)
        description = data.pop("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"task file {path}: description must be text")
        return Task(path.stem, description, _relative_to(data, path.parent))
    task = registry.get(name)
    if not isinstance(task, Task):
        raise ConfigError(f"the task entry point '{name}' is not an adaptive_batch.tasks.Task")
    return task


def _relative_to(settings: dict[str, Any], where: Path) -> dict[str, Any]:
    """A task file's few-shot file is found beside the task file."""
    prompt = settings.get("prompt")
    if isinstance(prompt, dict) and isinstance(prompt.get("fewshot"), str) and not Path(prompt["fewshot"]).is_absolute():
        settings = {**settings, "prompt": {**prompt, "fewshot": str(where / prompt["fewshot"])}}
    return settings


def task_names() -> list[str]:
    return registry.names()


from .builtin import ARITHMETIC, GSM8K, HUMANEVAL, MATH, MULTIPLE_CHOICE  # noqa: E402  (they need Task)

__all__ = ["ARITHMETIC", "GSM8K", "HUMANEVAL", "MATH", "MULTIPLE_CHOICE", "Task", "load_task", "task_names"]
