"""Generated code is untrusted: every escape below is contained, gets a fail, and the tool survives.

Each program would *pass* if its escape worked (it asserts the escape's effect), so a pass here
would mean a hole. Every case runs twice: with all layers, and without the in-process audit hook,
to show the OS layers (namespaces, nobody user, rlimits) hold on their own where the machine has
them.
"""

from __future__ import annotations

import os
import socket
import time

import pytest

from adaptive_batch.config import DataConfig, VerifierConfig
from adaptive_batch.dataset import load_queries
from adaptive_batch.records import Query
from adaptive_batch.sandbox import Limits, run_untrusted, sandbox_level
from adaptive_batch.verifiers import create_verifier

CANARY = "canary-7f3a9"
LAYERS = pytest.mark.parametrize("audit_hook", [True, False], ids=["all-layers", "os-layers-only"])
OS_LAYERS = "namespaces" in sandbox_level()


def run(program: str, audit_hook: bool, wall_s: float = 5.0):
    if not audit_hook and not OS_LAYERS:
        pytest.skip("no namespaces on this machine: the audit hook is the only wall, so it cannot be removed")
    return run_untrusted(program, Limits(wall_s=wall_s, cpu_s=5, memory_mb=256, audit_hook=audit_hook))


@LAYERS
def test_an_endless_loop_is_killed_at_the_wall_time_limit(audit_hook):
    started = time.monotonic()
    result = run("while True:\n    pass\n", audit_hook, wall_s=2)
    assert not result.passed and result.timed_out
    assert time.monotonic() - started < 10


@LAYERS
def test_unbounded_allocation_hits_the_memory_limit(audit_hook):
    result = run("blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))\n", audit_hook, wall_s=20)
    assert not result.passed and not result.timed_out and "MemoryError" in result.detail


@LAYERS
def test_a_fork_bomb_is_contained_and_leaves_no_process_behind(audit_hook):
    program = "import os\nwhile True:\n    os.fork()\n"
    result = run(program, audit_hook, wall_s=5)
    assert not result.passed
    time.sleep(0.5)
    leftovers = [pid for pid in os.listdir("/proc") if pid.isdigit() and _is_sandbox_child(pid)]
    assert leftovers == []


def _is_sandbox_child(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"sandbox/child.py" in handle.read()
    except OSError:
        return False


@LAYERS
def test_writing_outside_its_directory_fails_and_leaves_nothing(tmp_path, audit_hook):
    targets = [tmp_path / "escaped.txt", "/tmp/adaptive-batch-escape-test", "/dev/shm/adaptive-batch-escape-test"]
    for target in targets:
        program = f"with open({str(target)!r}, 'w') as f:\n    f.write('x')\n"
        result = run(program, audit_hook)
        assert not result.passed, target
        assert not os.path.exists(target), target
    # Its own directory stays writable: that is where a solution may keep scratch files.
    assert run("open('scratch.txt', 'w').write('ok')\nassert open('scratch.txt').read() == 'ok'\n", audit_hook).passed


@LAYERS
def test_a_network_connection_fails(audit_hook):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        port = server.getsockname()[1]
        program = (
            "import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
            "s.settimeout(2)\n"
            f"s.connect(('127.0.0.1', {port}))\n"
            "s.sendall(b'escaped')\n"
        )
        result = run(program, audit_hook)
        assert not result.passed
        with pytest.raises(socket.timeout):
            server.accept()


@LAYERS
def test_the_parents_environment_is_out_of_reach(monkeypatch, audit_hook):
    monkeypatch.setenv("ADAPTIVE_BATCH_TEST_SECRET", CANARY)
    program = (
        "import os\n"
        "found = os.environ.get('ADAPTIVE_BATCH_TEST_SECRET', '')\n"
        "for pid in ['1', str(os.getppid()), %r]:\n"
        "    try:\n"
        "        found += open('/proc/%%s/environ' %% pid, errors='replace').read()\n"
        "    except OSError:\n"
        "        pass\n"
        "assert %r in found\n"
    ) % (str(os.getpid()), CANARY)
    result = run(program, audit_hook)
    assert not result.passed


@LAYERS
def test_killing_its_parent_fails_and_the_tool_survives(audit_hook):
    program = (
        "import os, signal\n"
        f"os.kill({os.getpid()}, signal.SIGKILL)\n"
        "os.kill(os.getppid(), signal.SIGKILL)\n"
        "import time\ntime.sleep(1)\n"
        "raise SystemExit('the parent is still alive')\n"
    )
    result = run(program, audit_hook)
    # Getting here at all means this process, the one that started the sandbox, was not killed.
    assert not result.passed
    assert "PermissionError" in result.detail or "ProcessLookupError" in result.detail


def test_the_code_verifier_passes_every_humaneval_canonical_solution():
    tasks = load_queries(DataConfig(path="", adapter="humaneval"))
    verify = create_verifier(VerifierConfig(name="code", timeout=20))
    failures = [(t.id, v.detail) for t in tasks if not (v := verify(t, t.extra["canonical_solution"])).passed]
    assert len(tasks) == 164
    assert failures == []


def test_the_code_verifier_fails_wrong_and_broken_completions():
    task = load_queries(DataConfig(path="", adapter="humaneval", limit=1))[0]
    verify = create_verifier(VerifierConfig(name="code", timeout=5))
    assert not verify(task, "    return True\n").passed
    assert not verify(task, "    return (\n").passed  # a syntax error
    assert verify(task, task.extra["canonical_solution"]).passed


def test_a_query_without_tests_is_a_clear_error():
    from adaptive_batch.errors import UserError

    verify = create_verifier(VerifierConfig(name="code"))
    with pytest.raises(UserError, match="entry_point|test"):
        verify(Query(id="q", question="def f():\n", line=3), "    return 1\n")
