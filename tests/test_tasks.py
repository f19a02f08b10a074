"""Tasks: bundles of settings under the config file and the flags, built in or a TOML file."""

from __future__ import annotations

import json
import subprocess
import sys

from adaptive_batch.config import PromptConfig
from adaptive_batch.prompts import PromptBuilder
from adaptive_batch.tasks import load_task


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "adaptive_batch", *args], capture_output=True, text=True, cwd=cwd)


def test_a_task_sits_under_the_config_file_and_the_flags(tmp_path):
    shown = cli("config", "data.jsonl", "--task", "gsm8k", "--show")
    assert shown.returncode == 0, shown.stderr
    assert 'extractor = "gsm8k_flexible"' in shown.stdout and "max_tokens = 192" in shown.stdout
    assert "step by step" in shown.stdout  # the instruction
    (tmp_path / "run.toml").write_text('task = "gsm8k"\n[sampling]\nmax_tokens = 100\n')
    layered = cli("config", "data.jsonl", "--config", str(tmp_path / "run.toml"), "--extractor", "last_number")
    assert "max_tokens = 100" in layered.stdout  # the file over the task
    assert 'extractor = "last_number"' in layered.stdout  # the flag over both
    assert "step by step" in layered.stdout  # what neither says, the task does


def test_a_task_file_brings_its_own_fewshot_file(tmp_path):
    (tmp_path / "shots.jsonl").write_text(json.dumps({"question": "What is 6 x 7?", "answer": "#### 42"}) + "\n")
    (tmp_path / "mine.toml").write_text('description = "mine"\n[prompt]\ninstruction = "Think."\nfewshot = "shots.jsonl"\n'
                                        '[verifier]\nextractor = "gsm8k"\n')
    task = load_task(str(tmp_path / "mine.toml"))
    prompt = PromptBuilder(PromptConfig.from_dict(task.settings["prompt"])).build("What is 2 x 3?")
    assert prompt.startswith("Think.\n\nQuestion: What is 6 x 7?\nAnswer: #### 42\n\nQuestion: What is 2 x 3?")
    shown = cli("config", "d.jsonl", "--task", str(tmp_path / "mine.toml"), "--instruction", "Be brief.")
    assert 'instruction = "Be brief."' in shown.stdout and "shots.jsonl" in shown.stdout


def test_the_tasks_are_listed_and_an_unknown_one_is_a_clear_error():
    listed = cli("tasks")
    for name in ("arithmetic", "gsm8k", "math", "multiple-choice", "humaneval"):
        assert name in listed.stdout
    unknown = cli("config", "d.jsonl", "--task", "gsm9k")
    assert unknown.returncode == 2 and "unknown task 'gsm9k'" in unknown.stderr


def test_chain_of_thought_demonstrations_are_shown_whole():
    builder = PromptBuilder(PromptConfig.from_dict(load_task("gsm8k").settings["prompt"]))

    class Demo:
        question, response = "Q?", " 2 + 2 = 4.\n#### 4"

    prompt = builder.prompt_for("Next?", [Demo()])
    assert "Answer: 2 + 2 = 4.\n#### 4\n\nQuestion: Next?" in prompt
