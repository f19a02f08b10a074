"""Running untrusted code: a separate process, in a fresh directory, under limits, with no network.

Layers, strongest first, each used where the machine allows:

1. Linux namespaces through ``unshare`` (as root, or with user namespaces): no network interface
   but a down loopback, a private PID space (killing the namespace's first process kills every
   process the code started, even ones that called ``setsid``), and a mount namespace in which
   every mount is read-only except the work directory.
2. As root, the code runs as ``nobody``: it can neither signal the tool nor read its
   ``/proc/PID/environ``, and the process limit applies.
3. Resource limits: CPU seconds, address space, file size, open files, processes, no core dumps;
   a wall-clock timeout after which the whole process group is killed.
4. An empty environment, ``python -I -S``, and a Python audit hook that refuses forks, sockets,
   signals to other processes, ``ctypes`` and writes outside the work directory.

``sandbox_level()`` says which of these this machine gives; the summary of a code run records it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

CHILD = str(Path(__file__).with_name("child.py"))
_NAMESPACES = ["--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 1024
    file_mb: int = 16
    processes: int = 64
    # Off only to show, in tests, that the other layers hold on their own.
    audit_hook: bool = True


@dataclass(frozen=True)
class Execution:
    passed: bool
    returncode: Optional[int]
    timed_out: bool
    stderr_tail: str
    wall_s: float

    @property
    def detail(self) -> str:
        if self.passed:
            return "passed"
        if self.timed_out:
            return "timed out"
        if self.returncode is not None and self.returncode < 0:
            return f"killed by signal {signal.Signals(-self.returncode).name}"
        last = self.stderr_tail.strip().splitlines()[-1:] or [f"exit code {self.returncode}"]
        return last[0][:300]


@lru_cache(maxsize=1)
def _namespace_prefix() -> tuple[str, ...]:
    if shutil.which("unshare") is None:
        return ()
    candidates = [["unshare", *_NAMESPACES]] if os.geteuid() == 0 else []
    candidates.append(["unshare", "--user", "--map-root-user", *_NAMESPACES])
    for prefix in candidates:
        probe = prefix + ["sh", "-c", "mount --bind / / 2>/dev/null; exit 0"]
        try:
            if subprocess.run(probe, capture_output=True, timeout=10).returncode == 0:
                return tuple(prefix)
        except (OSError, subprocess.TimeoutExpired):
            continue
    return ()


def sandbox_level() -> str:
    """What isolation this machine gives untrusted code (see the module docstring)."""
    prefix = _namespace_prefix()
    if prefix and "--user" not in prefix:
        return "namespaces (network, mount, pid) + nobody user + rlimits + audit hook"
    if prefix:
        return "user namespaces (network, mount, pid) + rlimits + audit hook"
    return "rlimits + audit hook only (no namespaces on this machine: weaker isolation)"


def run_untrusted(program: str, limits: Limits = Limits()) -> Execution:
    """Run ``program`` (Python source) in the sandbox; it passes when it exits with code 0."""
    prefix = _namespace_prefix()
    with tempfile.TemporaryDirectory(prefix="adaptive-batch-") as private:
        # The work directory sits inside a directory only we can enter: the code's output files
        # (stdout, stderr) live beside it, out of its reach.
        os.chmod(private, 0o711)
        workdir = Path(private) / "work"
        workdir.mkdir(mode=0o700)
        (workdir / "program.py").write_text(program, encoding="utf-8")
        settings = {"cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb, "file_mb": limits.file_mb,
                    "processes": limits.processes, "mount_namespace": bool(prefix),
                    "audit_hook": limits.audit_hook}
        argv = [*prefix, sys.executable, "-I", "-S", CHILD, str(workdir), json.dumps(settings)]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        with open(Path(private) / "stderr", "w+b") as err:
            started = time.monotonic()
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                       env=env, cwd=private, start_new_session=True)
            timed_out = False
            try:
                returncode: Optional[int] = process.wait(timeout=limits.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                returncode = None
            finally:
                _kill_group(process)
            wall = time.monotonic() - started
            err.seek(max(0, err.seek(0, os.SEEK_END) - 2000))
            tail = err.read().decode("utf-8", "replace")
    return Execution(not timed_out and returncode == 0, returncode, timed_out, tail, wall)


def _kill_group(process: subprocess.Popen) -> None:
    # Also after a normal exit: background children the code left behind die with the group.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
