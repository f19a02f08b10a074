"""The code verifier on real HumanEval items: right solutions pass, and no forged pass gets through.

A forged pass is a wrong body plus a trick that made the old verifier (exit code 0 = pass) say PASS:
an exit before the tests run, an always-equal result, or tampering with what the tests call.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow.parquet as pq
import pytest

from adaptive_batch.config import DataConfig, VerifierConfig
from adaptive_batch.dataset import load_queries
from adaptive_batch.errors import UserError
from adaptive_batch.records import Query
from adaptive_batch.verifiers import create_verifier

WRONG = "    return None\n"
FORGERIES = {
    "os._exit(0) at import": WRONG + "\nimport os\nos._exit(0)\n",
    "sys.exit(0) at import": WRONG + "\nimport sys\nsys.exit(0)\n",
    "raise SystemExit at import": WRONG + "\nraise SystemExit\n",
    "atexit os._exit": WRONG + "\nimport atexit, os\natexit.register(lambda: os._exit(0))\n",
    "excepthook os._exit": WRONG + "\nimport sys, os\nsys.excepthook = lambda *a: os._exit(0)\n",
    "always-equal object": ("    class Anything:\n        def __eq__(self, other):\n            return True\n"
                            "        def __ne__(self, other):\n            return False\n    return Anything()\n"),
    "int subclass equal to all": ("    class Zero(int):\n        def __eq__(self, other):\n            return True\n"
                                  "    return Zero(0)\n"),
    "list of always-equal": ("    class Anything:\n        __eq__ = lambda self, other: True\n"
                             "    return [Anything()]\n"),
    "check planted before the tests": WRONG + "\ndef check(candidate):\n    pass\n",
    "os._exit inside the function": "    import os\n    os._exit(0)\n",
}


@pytest.fixture(scope="module")
def humaneval():
    return {q.id: q for q in load_queries(DataConfig(path="", adapter="humaneval"))}


@pytest.fixture(scope="module")
def verify():
    return create_verifier(VerifierConfig(name="code", timeout=10))


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_wrong_body_with_a_trick_is_a_fail_on_humaneval_1_to_3(humaneval, verify, forgery):
    for task_id in ("HumanEval/1", "HumanEval/2", "HumanEval/3"):
        verdict = verify(humaneval[task_id], FORGERIES[forgery])
        assert verdict.passed is False, (task_id, verdict.detail)


TAMPERING = {
    # HumanEval/2 checks abs(candidate(1.33) - 0.33) < 1e-6.
    ("HumanEval/2", "builtins.abs rebound"): "    return 0.5\n\nimport builtins\nbuiltins.abs = lambda x: 0\n",
    ("HumanEval/2", "abs shadowed beside the solution"): "    return 0.5\n\nabs = lambda x: 0\n",
    # HumanEval/32 checks math.fabs(poly(coeffs, candidate(coeffs))) < 1e-4.
    ("HumanEval/32", "the task's helper redefined"): "    return 0.0\n\ndef poly(xs, x):\n    return 0\n",
    ("HumanEval/32", "math.fabs rebound"): "    return 0.0\n\nimport math\nmath.fabs = lambda x: 0\n",
    ("HumanEval/32", "math.fabs rebound during a call"): (
        "    import math\n    math.fabs = lambda x: 0\n    return 0.0\n"),
}


@pytest.mark.parametrize("case", list(TAMPERING), ids=[name for _, name in TAMPERING])
def test_tampering_with_what_the_tests_call_is_a_fail(humaneval, verify, case):
    task_id, _ = case
    verdict = verify(humaneval[task_id], TAMPERING[case])
    assert verdict.passed is False and "sandbox" in (verdict.detail or ""), verdict.detail


def test_every_humaneval_canonical_solution_passes(humaneval):
    verify = create_verifier(VerifierConfig(name="code", timeout=20))
    failures = [(t.id, v.detail) for t in humaneval.values() if not (v := verify(t, t.extra["canonical_solution"])).passed]
    assert len(humaneval) == 164
    assert failures == []


def test_wrong_and_broken_completions_fail(humaneval, verify):
    task = humaneval["HumanEval/0"]
    assert not verify(task, "    return True\n").passed
    assert not verify(task, "    return (\n").passed  # a syntax error
    assert verify(task, task.extra["canonical_solution"]).passed


def test_a_query_without_tests_is_a_clear_error():
    verify = create_verifier(VerifierConfig(name="code"))
    with pytest.raises(UserError, match="entry_point|test"):
        verify(Query(id="q", question="def f():\n", line=3), "    return 1\n")


class ForgingServer:
    """An OpenAI-compatible server on loopback that answers HumanEval/0 with its canonical solution
    and every other task with a wrong body that ends in ``os._exit(0)``."""

    def __init__(self, tasks):
        by_prompt = {t.question: t for t in tasks}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._reply({"object": "list", "data": [{"id": "forger", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                # The prompt ends with the task's own text (demonstrations come before it).
                task = next((t for p, t in by_prompt.items() if body["prompt"].endswith(p)), None)
                if task is not None and task.id == "HumanEval/0":
                    text = task.extra["canonical_solution"]
                else:
                    text = FORGERIES["os._exit(0) at import"]
                self._reply({"choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 10, "completion_tokens": 10}})

            def _reply(self, payload):
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_run_with_the_code_verifier_fails_forged_completions_and_keeps_them_out_of_the_pool(humaneval, tmp_path):
    tasks = [humaneval[f"HumanEval/{i}"] for i in range(4)]
    server = ForgingServer(tasks)
    try:
        out = tmp_path / "run"
        proc = subprocess.run(
            [sys.executable, "-m", "adaptive_batch", "run", "--adapter", "humaneval", "--limit", "4", "--verifier", "code",
             "--backend", "openai", "--openai-base-urls", server.url, "--prompt-style", "raw", "--embedder", "hashing",
             "--budget", "3", "--warmup", "1", "--min-similarity", "-1", "--k", "1", "--output", str(out), "--quiet",
             "--json"],
            capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "x"},
            timeout=300,
        )
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["resolved"] == 1 and summary["coverage"] == 0.25  # only the genuine solution
    samples = pq.read_table(out / "samples.parquet").to_pylist()
    forged = [s for s in samples if "os._exit(0)" in s["text"]]
    assert forged and not any(s["passed"] for s in forged)
    assert {s["detail"] for s in forged} == {"exited before its tests finished (exit code 0 without the harness's proof)"}
    shown = {d for s in samples for d in s["demo_ids"]}
    assert shown == {"HumanEval/0"}  # adaptive prompts showed the genuine solution, never a forged one
