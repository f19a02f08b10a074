"""Runs inside the sandbox: limits, privilege drop, audit hook, then the untrusted program.

Started as ``python -I -S child.py WORKDIR LIMITS_JSON`` by :mod:`adaptive_batch.sandbox.runner`,
possibly inside fresh network, mount and PID namespaces (``unshare``). It imports nothing from
adaptive-batch: the less code runs beside untrusted code, the better.
"""

import json
import os
import resource
import subprocess
import sys

NOBODY = 65534
# Imported before privileges are dropped: the interpreter's own files may not be readable by
# nobody (a Python under /root, say). Generated solutions use these; sockets and ctypes are loaded
# only so that the audit hook and the namespaces, not a missing module, are what stop them.
PRELOAD = (
    "abc array base64 binascii bisect cmath collections collections.abc contextlib copy dataclasses "
    "datetime decimal enum fractions functools hashlib heapq io itertools json math numbers operator "
    "queue random re statistics string struct textwrap time traceback typing unicodedata zlib socket ctypes "
    "encodings.idna"
).split()


def _isolate_filesystem(workdir):
    # In our own mount namespace: every mount read-only except the work directory, and a private,
    # empty /dev/shm. Writes anywhere else fail; nothing outside the namespace ever sees them.
    commands = [
        ["mount", "--make-rprivate", "/"],
        ["mount", "--bind", workdir, workdir],
        ["mount", "-o", "remount,bind,ro", "/"],
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=755", "tmpfs", "/dev/shm"],
    ]
    for command in commands:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={})


def _limit(limits):
    cpu = int(limits["cpu_s"])
    memory = int(limits["memory_mb"]) * 1024 * 1024
    files = int(limits["file_mb"]) * 1024 * 1024
    for name, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (memory, memory)),
        (resource.RLIMIT_FSIZE, (files, files)),
        (resource.RLIMIT_NOFILE, (64, 64)),
        (resource.RLIMIT_NPROC, (int(limits["processes"]), int(limits["processes"]))),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(name, value)


def _drop_privileges(workdir):
    if os.getuid() != 0:
        return
    os.chown(workdir, NOBODY, NOBODY)
    for entry in os.listdir(workdir):
        os.chown(os.path.join(workdir, entry), NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _install_audit_hook(workdir):
    """A second wall, for machines without namespaces: refuse the obvious escapes in Python."""
    root = os.path.realpath(workdir) + os.sep
    me = os.getpid()
    blocked = {"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
               "os.killpg", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "socket.__new__", "socket.connect",
               "socket.bind", "socket.getaddrinfo", "os.putenv", "os.unsetenv"}
    writes = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink", "os.link",
              "os.truncate", "os.utime", "shutil.rmtree"}

    def inside(path):
        if isinstance(path, int):
            return True
        path = os.fsdecode(path)
        return os.path.realpath(os.path.join(root, path)).startswith(root)

    def hook(event, args):
        if event in blocked:
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "os.kill" and args[0] not in (me, 0):
            raise PermissionError("sandbox: signalling other processes is not allowed")
        if event == "open" and isinstance(args[0], (str, bytes)):
            target = os.fsdecode(args[0])
            if target.startswith("/proc/") and not target.startswith(("/proc/self/", "/proc/thread-self/")):
                # Other processes' /proc entries (their environment, memory maps) are out of bounds.
                raise PermissionError(f"sandbox: reading {target} is not allowed")
        if event == "open" and args[0] is not None:
            mode = args[1] or "r"
            flags = args[2] or 0
            writing = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            if writing and not inside(args[0]):
                raise PermissionError(f"sandbox: writing outside the work directory is not allowed: {args[0]}")
        if event in writes and not all(inside(a) for a in args[:2] if isinstance(a, (str, bytes, int))):
            raise PermissionError(f"sandbox: {event} outside the work directory is not allowed")

    sys.addaudithook(hook)


def _preload():
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def main():
    workdir, limits = sys.argv[1], json.loads(sys.argv[2])
    _preload()
    if limits.get("mount_namespace"):
        _isolate_filesystem(workdir)
    os.chdir(workdir)
    _limit(limits)
    _drop_privileges(workdir)
    os.environ.clear()
    sys.dont_write_bytecode = True
    program = os.path.join(workdir, "program.py")
    with open(program, encoding="utf-8") as handle:
        code = compile(handle.read(), program, "exec")
    if limits.get("audit_hook", True):
        _install_audit_hook(workdir)
    sys.argv = [program]
    exec(code, {"__name__": "__main__", "__file__": program})


if __name__ == "__main__":
    main()
