"""Generated code is untrusted: every escape below is contained, gets a fail, and the tool survives.

Each program would *pass* if its escape worked (it asserts the escape's effect), so a pass here
would mean a hole. Every case runs with all layers, again without the in-process audit hook (the
OS layers alone: namespaces, nobody, rlimits), and again without namespaces (the fallback: audit
hook, nobody, rlimits). Process escapes also run with neither, to show the process limit holds by
itself. After each case no process it started is left, and nothing was written outside it.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from adaptive_batch.sandbox import Limits, run_untrusted, sandbox_level

CANARY = "canary-7f3a9"
HAS_NAMESPACES = "namespaces" in sandbox_level()
VARIANTS = {"all-layers": (True, True), "no-audit-hook": (False, True), "no-namespaces": (True, False)}
LAYERS = pytest.mark.parametrize("layers", list(VARIANTS), ids=list(VARIANTS))
PROCESS_LAYERS = pytest.mark.parametrize("layers", [*VARIANTS, "rlimits-only"])


def run(program: str, layers: str, wall_s: float = 5.0, **limits):
    audit_hook, namespaces = VARIANTS.get(layers, (False, False))
    if not audit_hook and not HAS_NAMESPACES and layers != "rlimits-only":
        pytest.skip("no namespaces on this machine: the audit hook cannot be removed")
    return run_untrusted(program, Limits(wall_s=wall_s, cpu_s=5, memory_mb=256, audit_hook=audit_hook,
                                         namespaces=namespaces, **limits))


@pytest.fixture
def outside():
    """A directory anyone may write (so only the sandbox stands between the code and it), and a
    marker the code's processes would carry; on teardown: nothing written, nothing running."""
    directory = Path(tempfile.mkdtemp(prefix="ab-escape-", dir="/tmp"))
    directory.chmod(0o777)
    marker = f"37.{uuid.uuid4().int % 10**9}"
    yield directory, marker
    time.sleep(0.3)  # a process that escaped would have started by now
    left = [pid for pid in os.listdir("/proc") if pid.isdigit() and marker.encode() in _cmdline(pid)]
    written = list(directory.iterdir())
    for pid in left:
        os.kill(int(pid), 9)
    for path in written:
        path.unlink()
    directory.rmdir()
    assert left == [] and written == [], (left, written)


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


# ---- limits -----------------------------------------------------------------------------------

@LAYERS
def test_an_endless_loop_is_killed_at_the_wall_time_limit(layers):
    started = time.monotonic()
    result = run("while True:\n    pass\n", layers, wall_s=2)
    assert not result.passed and result.timed_out
    assert time.monotonic() - started < 10


@LAYERS
def test_unbounded_allocation_hits_the_memory_limit(layers):
    result = run("blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))\n", layers, wall_s=20)
    assert not result.passed and not result.timed_out and "MemoryError" in result.detail


@LAYERS
def test_filling_the_disk_stops_at_the_cap(layers):
    # 25 files of 8 MiB: each under the file-size limit, 200 MiB together against a 64 MiB cap.
    program = ("for i in range(25):\n    open(f'f{i}', 'wb').write(b'x' * (8 << 20))\n"
               "import os\nassert sum(os.path.getsize(f'f{i}') for i in range(25)) >= 200 << 20\n")
    result = run(program, layers, wall_s=20)
    assert not result.passed and not result.timed_out, result.detail


# ---- processes --------------------------------------------------------------------------------

def _spawners(directory: Path, marker: str) -> dict[str, str]:
    """Programs that start a shell which writes a file outside and leaves a daemon behind."""
    shell = f"echo escaped > {directory}/$$; setsid sleep {marker} & sleep 0.2"
    argv = f"['/bin/sh', '-c', {shell!r}]"
    wait = "\n_, status = os.waitpid(pid, 0)\nassert status == 0\n"
    return {
        "fork": f"import os\npid = os.fork()\nif pid == 0:\n    os.execv('/bin/sh', {argv})\n{wait}",
        "forkpty": f"import os\npid, fd = os.forkpty()\nif pid == 0:\n    os.execv('/bin/sh', {argv})\n{wait}",
        "pty.fork": f"import os, pty\npid, fd = pty.fork()\nif pid == 0:\n    os.execv('/bin/sh', {argv})\n{wait}",
        "pty.spawn": f"import pty\nassert pty.spawn({argv}) == 0\n",
        "posix_spawn": f"import os\npid = os.posix_spawn('/bin/sh', {argv}, {{}})\n{wait}",
        "posix_spawnp": f"import os\npid = os.posix_spawnp('sh', {argv}, {{}})\n{wait}",
        "spawnv": f"import os\nassert os.spawnv(os.P_WAIT, '/bin/sh', {argv}) == 0\n",
        "system": f"import os\nassert os.system({shell!r}) == 0\n",
        "popen": f"import os\nassert os.popen({shell!r}).close() is None\n",
        "subprocess": f"import subprocess\nsubprocess.run({argv}, check=True)\n",
        "multiprocessing": (f"import multiprocessing, os\np = multiprocessing.Process(target=os.execv, args=('/bin/sh', {argv}))"
                            "\np.start()\np.join()\nassert p.exitcode == 0\n"),
        "_posixsubprocess.fork_exec": (
            "import _posixsubprocess, os\nr, w = os.pipe()\n"
            f"pid = _posixsubprocess.fork_exec({argv}, [b'/bin/sh'], True, (w,), None, None, -1, -1, -1, -1, -1, -1, "
            "r, w, True, True, -1, None, None, None, -1, None, False)" + wait),
        "execv": f"import os\nos.execv('/bin/sh', {argv})\n",
        "execve": f"import os\nos.execve('/bin/sh', {argv}, {{}})\n",
        "thread": "import threading\nt = threading.Thread(target=print)\nt.start()\nt.join()\n",
    }


SPAWNERS = list(_spawners(Path("/tmp"), "0"))


@PROCESS_LAYERS
@pytest.mark.parametrize("path", SPAWNERS)
def test_no_way_of_starting_a_process_works_or_leaves_one_behind(outside, layers, path):
    program = _spawners(*outside)[path]
    result = run(program, layers)
    assert not result.passed, result.detail


@LAYERS
def test_a_fork_bomb_is_contained_and_leaves_no_process_behind(layers):
    result = run("import os\nwhile True:\n    os.fork()\n", layers, wall_s=5)
    assert not result.passed
    time.sleep(0.5)
    assert [pid for pid in os.listdir("/proc") if pid.isdigit() and b"sandbox/child.py" in _cmdline(pid)] == []


# ---- writes, reads, network, signals -----------------------------------------------------------

@LAYERS
def test_writing_outside_its_directory_fails_and_leaves_nothing(outside, layers):
    directory, _ = outside
    for target in [directory / "escaped.txt", "/dev/shm/adaptive-batch-escape-test"]:
        result = run(f"with open({str(target)!r}, 'w') as f:\n    f.write('x')\n", layers)
        assert not result.passed, target
        assert not os.path.exists(target), target
    # Its own directory stays writable: that is where a solution may keep scratch files.
    assert run("open('scratch.txt', 'w').write('ok')\nassert open('scratch.txt').read() == 'ok'\n", layers).passed


@pytest.fixture(scope="module")
def secrets_outside():
    """World-readable files holding the canary, where the dataset, a run and the project would be."""
    directory = Path(tempfile.mkdtemp(prefix="ab-secret-", dir="/tmp"))
    directory.chmod(0o755)
    files = {}
    for name, text in {"dataset.jsonl": '{"answer": "%s"}\n', "samples.jsonl": '{"passed": true, "text": "%s"}\n',
                       "run.json": '{"seed": "%s"}'}.items():
        path = directory / name
        path.write_text(text % CANARY)
        path.chmod(0o644)
        files[name] = path
    yield directory, files
    for path in files.values():
        path.unlink()
    directory.rmdir()


READS = ["dataset.jsonl", "samples.jsonl", "run.json", "project source", "shared dataset", "/etc/passwd",
         "/proc/1/environ", "/root"]


@LAYERS
@pytest.mark.parametrize("what", READS)
def test_reading_what_the_code_does_not_need_fails(secrets_outside, layers, what):
    directory, files = secrets_outside
    project = Path(__file__).resolve().parents[1] / "adaptive_batch" / "__init__.py"
    shared = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "addsub.jsonl"
    if what in files:
        program = f"assert {CANARY!r} in open({str(files[what])!r}).read()\n"
    elif what == "project source":
        program = f"assert 'def run' in open({str(project)!r}).read()\n"
    elif what == "shared dataset":
        if not shared.exists():
            pytest.skip("no ../shared beside the repository")
        program = f"assert 'answer' in open({str(shared)!r}).read()\n"
    elif what == "/root":
        program = "import os\nos.listdir('/root')\nassert os.listdir('/tmp')\n"
    else:
        program = f"assert len(open({what!r}).read()) > 0\n"
    result = run(program, layers)
    assert not result.passed, result.detail
    # Listing the directories is refused or shows nothing of them.
    listing = run(f"import os\nassert 'dataset.jsonl' in os.listdir({str(directory)!r})\n", layers)
    assert not listing.passed


@LAYERS
def test_a_network_connection_fails(layers):
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
        result = run(program, layers)
        assert not result.passed
        with pytest.raises(socket.timeout):
            server.accept()


@LAYERS
def test_the_parents_environment_is_out_of_reach(monkeypatch, layers):
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
    assert not run(program, layers).passed


@LAYERS
def test_killing_its_parent_fails_and_the_tool_survives(layers):
    program = (
        "import os, signal\n"
        f"os.kill({os.getpid()}, signal.SIGKILL)\n"
        "os.kill(os.getppid(), signal.SIGKILL)\n"
        "import time\ntime.sleep(1)\n"
        "raise SystemExit('the parent is still alive')\n"
    )
    result = run(program, layers)
    # Getting here at all means this process, the one that started the sandbox, was not killed.
    assert not result.passed
    assert any(e in result.detail for e in ("PermissionError", "ProcessLookupError", "ModuleNotFoundError",
                                           "ImportError")), result.detail


# ---- the proof of a pass ------------------------------------------------------------------------

@LAYERS
def test_a_program_that_returns_normally_passes_and_an_early_exit_does_not(layers):
    assert run("x = 1\n", layers).passed
    for early in ("import os\nos._exit(0)\n", "import sys\nsys.exit(0)\n", "raise SystemExit\n",
                  "import atexit, os\natexit.register(lambda: os._exit(0))\nraise ValueError\n",
                  "import sys, os\nsys.excepthook = lambda *a: os._exit(0)\nraise ValueError\n"):
        result = run(early + "x = 1\n", layers)
        assert not result.passed and not result.proved, early


@LAYERS
def test_writing_a_guessed_proof_to_every_descriptor_is_a_fail(layers):
    program = ("import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'0' * 32)\n"
               "    except OSError:\n        pass\nos._exit(0)\n")
    assert not run(program, layers).passed


FRAME_REACHES = {
    "sys._getframe": "import sys\nframe = sys._getframe(1)\n",
    "traceback": "try:\n    raise ValueError\nexcept ValueError as e:\n    frame = e.__traceback__.tb_frame\n",
    "generator": "def g():\n    yield\nframe = g().gi_frame\n",
    "gc": "import gc\nframe = gc.get_referrers(gc)\n",
    "settrace": "import sys\nframe = sys.settrace(lambda *a: None)\n",
    "signal handler": "import signal\nframe = signal.signal(signal.SIGALRM, lambda s, f: None)\n",
    "harness module": "import __main__\nframe = __main__._guarded\n",
}


@pytest.mark.parametrize("reach", list(FRAME_REACHES))
def test_looking_into_the_harness_where_the_proof_is_kept_is_refused(reach):
    """Only the audit hook closes this: the harness and the code share one interpreter, so the
    code could otherwise find the nonce in the harness's frames (see the README)."""
    result = run_untrusted(FRAME_REACHES[reach] + "x = 1\n", Limits(wall_s=5))
    assert not result.passed and "sandbox" in result.detail or "has no attribute" in result.detail, result.detail
