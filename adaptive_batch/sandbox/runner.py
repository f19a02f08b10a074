"""Running untrusted code: a separate process, under limits, seeing only a read-only runtime.

Layers, strongest first, each used where the machine allows:

1. Linux namespaces through ``unshare`` (as root, or with user namespaces): no network interface
   but a down loopback; a private PID space (killing the namespace's first process kills every
   process the code started, even ones that called ``setsid``); and a new root (``pivot_root``)
   holding only the interpreter, its standard library and the system libraries, read-only, and a
   size-capped tmpfs as the work directory. The dataset, run directories, the project, home
   directories, ``/tmp`` and ``/proc`` are not there at all.
2. As root, the code runs as ``nobody``: it can neither signal the tool nor read its files.
3. Kernel limits: a seccomp filter that refuses fork, vfork, clone, clone3, execve and execveat;
   no further process for the user (RLIMIT_NPROC 0); CPU seconds, address space, file size, open
   files, no core dumps; a wall-clock timeout after which the whole process group is killed.
4. An empty environment, ``python -I -S``, and a Python audit hook that refuses process
   creation, signals, sockets, ``ctypes``, frame introspection, reads outside the runtime and the
   work directory, writes outside the work directory, and more than a few new files.

A pass is proved by a per-run nonce that the harness writes only once the program (and its
tests) returned (see ``child.py``); the exit code alone never counts.

``sandbox_level()`` says which of these this machine gives; the summary of a code run records it.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

CHILD = str(Path(__file__).with_name("child.py"))
_NAMESPACES = ["--net", "--mount", "--pid", "--fork", "--kill-child"]


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 1024
    file_mb: int = 16
    # The whole work directory: a tmpfs of this size with namespaces; without them the audit
    # hook allows disk_mb / file_mb new files of at most file_mb each.
    disk_mb: int = 64
    # RLIMIT_NPROC, counted per user. At 0 no fork, thread or spawn can succeed, and since the
    # switch to nobody then exceeds it, the kernel refuses an exec as well (PF_NPROC_EXCEEDED).
    processes: int = 0
    # Off only to show, in tests, that the other layers hold on their own.
    audit_hook: bool = True
    namespaces: bool = True


@dataclass(frozen=True)
class Program:
    """What to run: ``source`` whole, and optionally the unit tests to call when it has run.

    With ``tests`` set, the harness calls ``tests(candidate)`` (HumanEval's ``check(entry_point)``)
    after the source ran; ``test_source`` is the source's closing part that defines the tests, and
    ``prompt`` its opening part that the task wrote (its helper functions must stay the task's).
    """

    source: str
    prompt: str = ""
    test_source: str = ""
    tests: Optional[str] = None
    candidate: Optional[str] = None


@dataclass(frozen=True)
class Execution:
    passed: bool
    returncode: Optional[int]
    timed_out: bool
    stderr_tail: str
    wall_s: float
    proved: bool = False  # the harness's nonce came back: the program and its tests returned

    @property
    def detail(self) -> str:
        if self.passed:
            return "passed"
        if self.timed_out:
            return "timed out"
        if self.returncode is not None and self.returncode < 0:
            return f"killed by signal {signal.Signals(-self.returncode).name}"
        last = self.stderr_tail.strip().splitlines()[-1:]
        if last:
            return last[0][:300]
        if self.returncode == 0 and not self.proved:
            return "exited before its tests finished (exit code 0 without the harness's proof)"
        return f"exit code {self.returncode}"


@lru_cache(maxsize=1)
def _namespace_prefix() -> tuple[str, ...]:
    if shutil.which("unshare") is None or shutil.which("pivot_root") is None:
        return ()
    candidates = [["unshare", *_NAMESPACES]] if os.geteuid() == 0 else []
    candidates.append(["unshare", "--user", "--map-root-user", *_NAMESPACES])
    for prefix in candidates:
        probe = prefix + ["sh", "-c", "mount --make-rprivate / && mount -t tmpfs tmpfs /tmp"]
        try:
            if subprocess.run(probe, capture_output=True, timeout=10).returncode == 0:
                return tuple(prefix)
        except (OSError, subprocess.TimeoutExpired):
            continue
    return ()


@lru_cache(maxsize=1)
def _seccomp_holds() -> bool:
    """Whether the child's seccomp filter installs here and then refuses an exec."""
    try:
        return subprocess.run([sys.executable, "-I", "-S", CHILD, "--probe-seccomp"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def sandbox_level() -> str:
    """What isolation this machine gives untrusted code (see the module docstring)."""
    prefix = _namespace_prefix()
    kernel = "seccomp + rlimits" if _seccomp_holds() else "rlimits (no seccomp on this machine)"
    if prefix and "--user" not in prefix:
        return f"namespaces (network, mount with a read-only runtime root, pid) + nobody user + {kernel} + audit hook"
    if prefix:
        return f"user namespaces (network, mount with a read-only runtime root, pid) + {kernel} + audit hook"
    return (f"{kernel} + audit hook only (no namespaces on this machine: weaker isolation; reads are not "
            "confined at the OS level, only by the audit hook)")


def _runtime_paths() -> list[str]:
    """What the new root shows: the system libraries and the interpreter with its stdlib."""
    paths = ["/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.isdir(top) and not os.path.islink(top):
            paths.append(top)
    for path in {os.path.realpath(sys.base_prefix), os.path.dirname(os.path.realpath(sys.executable))}:
        if not any((path + "/").startswith(p + "/") for p in paths):
            paths.append(path)
    return paths


def _root_script(root: Path, disk_mb: int, settings: str) -> str:
    """The shell run as the namespaces' first process: build the new root, enter it, exec Python."""
    q = shlex.quote
    r = q(str(root))
    lines = ["set -e", "mount --make-rprivate /", f"mount -t tmpfs -o size=2m,mode=755 tmpfs {r}",
             f"mkdir -p {r}/work {r}/dev {r}/old {r}/etc {r}/proc"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64"):
        if os.path.islink(f"/{top}"):
            lines.append(f"ln -s {q(os.readlink('/' + top))} {r}/{top}")
    for path in _runtime_paths():
        target = q(str(root) + path)
        lines += [f"mkdir -p {target}", f"mount --bind {q(path)} {target}", f"mount -o remount,bind,ro {target}"]
    if os.path.isfile("/etc/ld.so.cache"):
        lines += [f"touch {r}/etc/ld.so.cache", f"mount --bind /etc/ld.so.cache {r}/etc/ld.so.cache"]
    lines += [
        f"touch {r}/dev/null", f"mount --bind /dev/null {r}/dev/null",
        f"cp {q(CHILD)} {r}/child.py",
        f"mount -t tmpfs -o size={int(disk_mb)}m,mode=700 tmpfs {r}/work",
        # umount reads /proc/self/mountinfo: a proc of the new PID namespace, mounted only for it.
        f"mount -t proc proc {r}/proc",
        f"cd {r}", "pivot_root . old", "umount -l /old", "rmdir /old", "umount /proc", "rmdir /proc",
        "mount -o remount,bind,ro /",
        "cd /work",
        f"exec {q(os.path.realpath(sys.executable))} -I -S /child.py /work {q(settings)}",
    ]
    return "\n".join(lines)


def run_untrusted(program: Union[str, Program], limits: Limits = Limits()) -> Execution:
    """Run ``program`` (Python source, or a :class:`Program` with tests) in the sandbox.

    It passes when the harness's nonce comes back, which it sends only after the program (and
    its tests) returned normally, and the process exited with code 0.
    """
    job = program if isinstance(program, Program) else Program(source=program)
    prefix = _namespace_prefix() if limits.namespaces else ()
    nonce = secrets.token_hex(16)
    read_end, write_end = os.pipe()
    with tempfile.TemporaryDirectory(prefix="adaptive-batch-") as private:
        # Without namespaces the work directory sits inside a directory only we can enter: the
        # code's output files (stderr) live beside it, out of its reach.
        os.chmod(private, 0o711)
        settings = json.dumps({
            "cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb, "file_mb": min(limits.file_mb, limits.disk_mb),
            "processes": limits.processes, "audit_hook": limits.audit_hook, "result_fd": write_end,
            "max_files": max(1, limits.disk_mb // max(1, min(limits.file_mb, limits.disk_mb))),
        })
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        if prefix:
            root = Path(private) / "root"
            root.mkdir()
            argv = [*prefix, "sh", "-c", _root_script(root, limits.disk_mb, settings)]
            if "--user" in prefix:
                env["ADAPTIVE_BATCH_SANDBOX_USERNS"] = "1"
        else:
            workdir = Path(private) / "work"
            workdir.mkdir(mode=0o700)
            argv = [sys.executable, "-I", "-S", CHILD, str(workdir), settings]
        payload = json.dumps({**job.__dict__, "nonce": nonce}).encode("utf-8")
        try:
            returncode, timed_out, wall, tail = _execute(argv, env, private, payload, write_end, limits.wall_s)
        finally:
            os.close(write_end)
            proof = _read_available(read_end)
            os.close(read_end)
    proved = proof == nonce.encode("ascii")
    return Execution(proved and returncode == 0 and not timed_out, returncode, timed_out, tail, wall, proved)


def _execute(argv, env, cwd, payload: bytes, write_end: int, wall_s: float):
    with open(Path(cwd) / "stderr", "w+b") as err:
        started = time.monotonic()
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                   cwd=cwd, start_new_session=True, pass_fds=(write_end,))
        timed_out = False
        try:
            try:
                process.stdin.write(payload)
                process.stdin.close()
            except BrokenPipeError:
                pass  # it died before reading its job: the exit code and stderr say why
            returncode: Optional[int] = process.wait(timeout=wall_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            returncode = None
        finally:
            _kill_group(process)
        wall = time.monotonic() - started
        err.seek(max(0, err.seek(0, os.SEEK_END) - 2000))
        tail = err.read().decode("utf-8", "replace")
    return returncode, timed_out, wall, tail


def _read_available(fd: int) -> bytes:
    # Non-blocking: a process that escaped the group could hold the write end open forever.
    os.set_blocking(fd, False)
    chunks = []
    try:
        while len(b"".join(chunks)) <= 4096:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks)


def _kill_group(process: subprocess.Popen) -> None:
    # Also after a normal exit: background children the code left behind die with the group.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
