"""Runs inside the sandbox: limits, privilege drop, audit hook, the untrusted program, the proof.

Started as ``python -I -S child.py WORKDIR SETTINGS_JSON`` by :mod:`adaptive_batch.sandbox.runner`,
possibly inside fresh namespaces with a new root (see ``runner.ROOT_SCRIPT``). The job (program
and nonce) arrives on stdin, which is then closed, so nothing the program does can read it again.
It imports nothing from adaptive-batch, nor ``subprocess``: the less code runs beside untrusted
code, the better, and ``_posixsubprocess`` must never be loaded (it starts processes without an
audit event).

A pass is proved, never inferred from the exit code: the harness writes the run's nonce to the
result pipe only after the program (and, for unit tests, ``check(candidate)``) returned. An
``os._exit(0)``, ``sys.exit(0)``, an atexit or excepthook trick, an endless loop or a crash all end
the process without the nonce, which the parent reads as a fail.
"""

import builtins
import json
import os
import resource
import sys
import types

NOBODY = 65534
# Imported before privileges are dropped and the hook is installed: the interpreter's own files
# may not be readable by nobody. Sockets and ctypes are loaded only so that the audit hook and the
# namespaces, not a missing module, are what stop them.
PRELOAD = (
    "abc array base64 binascii bisect cmath collections collections.abc contextlib copy dataclasses "
    "datetime decimal enum fractions functools hashlib heapq io itertools json math numbers operator "
    "queue random re statistics string struct textwrap time typing unicodedata zlib socket ctypes "
    "encodings.idna"
).split()
# Modules the program must not get: process creation without an audit event, signal handlers
# (they receive the running frame, the harness's included), and interpreter test hooks.
FORBIDDEN_MODULES = ("_posixsubprocess", "subprocess", "multiprocessing", "signal", "_signal", "pty", "_testcapi",
                     "_testinternalcapi", "_xxsubinterpreters", "_xxinterpchannels", "faulthandler")
# Events that start processes, reach other processes or the network, or let the program look at
# the harness's frames and memory (where the nonce is).
BLOCKED_EVENTS = {
    "os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
    "os.killpg", "os.kill", "os.startfile", "_thread.start_new_thread", "os.putenv", "os.unsetenv",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.call_function", "ctypes.addressof",
    "ctypes.string_at", "ctypes.wstring_at", "ctypes.create_string_buffer",
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
    "sys._current_frames", "sys.settrace", "sys.setprofile", "sys.addaudithook", "sys._getframemodulename",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "code.__new__", "sys.monitoring.register_callback",
    "os.chroot", "os.setuid", "os.setgid", "resource.setrlimit", "resource.prlimit",
}
# The attributes that hand out a frame or a code object and raise "object.__getattr__"; from a
# frame (f_back, f_locals) the rest is unaudited, so the wall is here.
FRAME_ATTRIBUTES = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "gi_code", "cr_code", "ag_code"}
WRITE_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink", "os.link",
                "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.copytree", "shutil.move"}
PLAIN_SCALARS = (int, float, complex, str, bytes, bool, type(None))
PLAIN_CONTAINERS = (list, tuple, set, frozenset, dict)


def _limit(settings):
    cpu = int(settings["cpu_s"])
    memory = int(settings["memory_mb"]) * 1024 * 1024
    files = int(settings["file_mb"]) * 1024 * 1024
    for name, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (memory, memory)),
        (resource.RLIMIT_FSIZE, (files, files)),
        (resource.RLIMIT_NOFILE, (64, 64)),
        # Counted per user: at 0 a process running as nobody (or as an unprivileged user) can start
        # no process or thread at all, whatever path it takes (fork, clone, posix_spawn), and the
        # switch to nobody below marks it over the limit, so execve fails too.
        (resource.RLIMIT_NPROC, (int(settings["processes"]), int(settings["processes"]))),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(name, value)


def _drop_privileges(workdir):
    if os.getuid() != 0 or os.environ.get("ADAPTIVE_BATCH_SANDBOX_USERNS"):
        return
    os.chown(workdir, NOBODY, NOBODY)
    for entry in os.listdir(workdir):
        os.chown(os.path.join(workdir, entry), NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


# seccomp: per architecture, its audit id and the system calls that create a process or run a
# program. Anything else passes; a call made through another ABI (i386, x32) is refused whole.
_SECCOMP_CALLS = {
    "x86_64": (0xC000003E, (56, 57, 58, 59, 322, 435)),  # clone fork vfork execve execveat clone3
    "aarch64": (0xC00000B7, (220, 221, 281, 435)),  # clone execve execveat clone3
}


def _forbid_new_processes():
    """A seccomp filter: fork, clone, spawn and exec fail with EPERM, from Python or native code.

    The kernel wall for processes that holds without namespaces and without the audit hook
    (RLIMIT_NPROC stops forks, but not an exec that replaces the sandboxed process). True when the
    filter is in place; machines without seccomp keep the other layers.
    """
    import ctypes

    arch = _SECCOMP_CALLS.get(os.uname().machine)
    if arch is None:
        return False
    audit_arch, calls = arch
    load, jump_eq, jump_ge, ret = 0x20, 0x15, 0x35, 0x06
    deny, allow = 0x00050000 | 1, 0x7FFF0000  # SECCOMP_RET_ERRNO | EPERM, SECCOMP_RET_ALLOW
    n = len(calls)
    program = [(load, 0, 0, 4), (jump_eq, 1, 0, audit_arch), (ret, 0, 0, deny), (load, 0, 0, 0),
               (jump_ge, n + 1, 0, 0x40000000)]
    program += [(jump_eq, n - i, 0, call) for i, call in enumerate(calls)]
    program += [(ret, 0, 0, allow), (ret, 0, 0, deny)]

    class Instruction(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Instruction))]

    filters = (Instruction * len(program))(*[Instruction(*i) for i in program])
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS: required to filter without privileges
        return False
    fprog = Program(len(program), filters)
    return libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


def _forget_forbidden_modules():
    # A module already imported is handed out again with no audit event; forgetting it makes the
    # next import go through the hook, which refuses it.
    for name in FORBIDDEN_MODULES:
        sys.modules.pop(name, None)


def _readable_roots(workdir):
    import sysconfig

    roots = {os.path.realpath(workdir)}
    for key in ("stdlib", "platstdlib"):
        roots.add(os.path.realpath(sysconfig.get_paths()[key]))
    return tuple(sorted(r + os.sep for r in roots))


def _install_audit_hook(workdir, readable, max_files):
    """The in-process wall: processes, signals, network, frames, reads and writes outside its room.

    On a machine with namespaces it stands behind them; without, it is the only wall for reads,
    and it caps how many files the program may create (the total disk it can fill is then at most
    that many times the file-size limit).
    """
    root = os.path.realpath(workdir) + os.sep
    devices = ("/dev/null", "/dev/urandom", "/dev/zero")
    created = set()
    realpath, fsdecode, forbidden = os.path.realpath, os.fsdecode, frozenset(FORBIDDEN_MODULES)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def resolved(path):
        return realpath(fsdecode(path))

    def inside(path):
        return isinstance(path, int) or (resolved(path) + os.sep).startswith(root)

    def may_read(path):
        if isinstance(path, int):
            return True
        target = resolved(path)
        return target in devices or (target + os.sep).startswith(readable)

    def creating(path):
        if isinstance(path, int):
            return
        target = resolved(path)
        if target not in created and not os.path.exists(target):
            created.add(target)
            if len(created) > max_files:
                raise PermissionError(f"sandbox: at most {max_files} files may be created")

    def hook(event, args):
        if event in BLOCKED_EVENTS:
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "sys._getframe":
            # ValueError, not PermissionError: the standard library's own callers (namedtuple,
            # TypeVar, Enum) catch it and fall back to a default module name.
            raise ValueError("sandbox: frame introspection is not allowed")
        if event == "object.__getattr__" and len(args) > 1 and args[1] in FRAME_ATTRIBUTES:
            raise PermissionError(f"sandbox: reading {args[1]} is not allowed")
        if event == "import" and (args[0] in forbidden or args[0].partition(".")[0] in forbidden):
            raise ImportError(f"sandbox: the module {args[0]} is not available")
        if event == "open" and args[0] is not None:
            mode, flags = str(args[1] or "r"), args[2] or 0
            writing = any(c in mode for c in "wax+") or flags & write_flags
            if writing:
                if not inside(args[0]):
                    raise PermissionError(f"sandbox: writing outside the work directory is not allowed: {args[0]}")
                creating(args[0])
            elif not may_read(args[0]):
                raise PermissionError(f"sandbox: reading {args[0]} is not allowed")
        if event in ("os.listdir", "os.scandir") and args and args[0] is not None and not may_read(args[0]):
            raise PermissionError(f"sandbox: listing {args[0]} is not allowed")
        if event in WRITE_EVENTS:
            paths = [a for a in args[:2] if isinstance(a, (str, bytes, int))]
            if not all(inside(a) for a in paths):
                raise PermissionError(f"sandbox: {event} outside the work directory is not allowed")
            if event == "os.mkdir":
                creating(args[0])

    sys.addaudithook(hook)


def _preload():
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


class _Snapshot:
    """Which object every name of builtins and of every loaded module is bound to, at the start.

    A program that rebinds one (``builtins.abs``, ``math.isclose``) could make the tests compare
    nothing; a changed binding is a fail.
    """

    def __init__(self):
        self.bindings = {name: (module, dict(vars(module))) for name, module in list(sys.modules.items())
                         if name not in ("sys", "__main__") and isinstance(module, types.ModuleType)}
        self.bindings["builtins"] = (builtins, dict(vars(builtins)))

    def verify(self):
        for name, (module, before) in self.bindings.items():
            now = vars(module)
            for key, value in before.items():
                if now.get(key, value) is not value or key not in now:
                    raise RuntimeError(f"sandbox: the program rebound {name}.{key}")


def _require_plain(value, depth=0):
    """Results must be plain values: an object of its own class could compare equal to anything."""
    kind = type(value)
    if kind in PLAIN_SCALARS:
        return
    if kind not in PLAIN_CONTAINERS or depth > 50:
        raise TypeError(f"sandbox: the function under test returned a {kind.__name__} object, not a plain value")
    items = value.items() if kind is dict else ((v, None) for v in value)
    for key, item in items:
        _require_plain(key, depth + 1)
        _require_plain(item, depth + 1)


def _guarded(function, snapshot):
    require_plain, verify = _require_plain, snapshot.verify

    def candidate(*args, **kwargs):
        value = function(*args, **kwargs)
        require_plain(value)
        verify()
        return value

    return candidate


def _helpers_unchanged(prompt_source, namespace, candidate):
    """The task's own functions (HumanEval/32's ``poly``) must still be the task's: a completion
    that redefines one the tests call could make any answer pass."""
    if not prompt_source:
        return
    task = {"__name__": "__task__"}
    try:
        exec(compile(prompt_source, "prompt.py", "exec"), task)
    except Exception:  # the task's code does not run on its own: nothing to compare against
        return
    for name, original in task.items():
        if name == candidate or not isinstance(original, types.FunctionType):
            continue
        current = namespace.get(name)
        same = isinstance(current, types.FunctionType) and (
            current.__code__.co_code, current.__code__.co_consts) == (original.__code__.co_code,
                                                                      original.__code__.co_consts)
        if not same:
            raise RuntimeError(f"sandbox: the program redefines {name}, which the task's own code defines")


def _names_used(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_used(const)
    return names


def _builtins_unshadowed(check, namespace):
    """``abs = lambda x: 0`` beside the solution would make ``abs(candidate(x) - y) < 1e-6`` true."""
    for name in _names_used(check.__code__) & set(vars(builtins)):
        if name in namespace and namespace[name] is not vars(builtins)[name]:
            raise RuntimeError(f"sandbox: the program rebinds the builtin {name}, which its tests use")


def _run(job):
    """Run the program (and its tests); True only when everything returned normally."""
    snapshot = _Snapshot()
    program = types.ModuleType("__main__")
    program.__file__ = "program.py"
    sys.modules["__main__"] = program  # ``import __main__`` gives the program, never the harness
    namespace = vars(program)
    tests, candidate = job.get("tests"), job.get("candidate")
    try:
        code = compile(job["source"], "program.py", "exec")
        test_from_line = job["source"].count("\n", 0, len(job["source"]) - len(job.get("test_source") or "")) + 1
        exec(code, namespace)
        if tests is not None:
            check = namespace.get(tests)
            # The test function must be the one the tests define, not one the completion planted.
            if not isinstance(check, types.FunctionType) or check.__code__.co_firstlineno < test_from_line:
                raise RuntimeError(f"sandbox: {tests} is not the test function the tests define")
            _helpers_unchanged(job.get("prompt"), namespace, candidate)
            _builtins_unshadowed(check, namespace)
            check(_guarded(namespace[candidate], snapshot))
        snapshot.verify()
    except BaseException:  # SystemExit too: only a normal return proves that the tests finished
        sys.__excepthook__(*sys.exc_info())
        return False
    return True


def main():
    if sys.argv[1:] == ["--probe-seccomp"]:  # the runner asks once whether this kernel takes the filter
        installed = _forbid_new_processes()
        try:
            os.execv(sys.executable, [sys.executable, "-c", ""])  # must now fail
        except OSError:
            os._exit(0 if installed else 1)
        os._exit(1)
    workdir, settings = sys.argv[1], json.loads(sys.argv[2])
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # the job cannot be read again
    nonce = job.pop("nonce").encode("ascii")
    result_fd = int(settings["result_fd"])
    _preload()
    readable = _readable_roots(workdir)  # while the interpreter's own files can still be read
    os.chdir(workdir)
    _limit(settings)
    _drop_privileges(workdir)
    if settings.get("seccomp", True):
        _forbid_new_processes()
    os.environ.clear()
    sys.dont_write_bytecode = True
    _forget_forbidden_modules()
    if settings.get("audit_hook", True):
        _install_audit_hook(workdir, readable, int(settings["max_files"]))
    finished = _run(job)
    sys.stderr.flush()
    if finished:
        os.write(result_fd, nonce)
    os._exit(0 if finished else 1)


if __name__ == "__main__":
    main()
