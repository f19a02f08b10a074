"""One small error hierarchy. The CLI alone turns these into messages and exit codes."""

from __future__ import annotations


class AdaptiveBatchError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 1


class UserError(AdaptiveBatchError):
    """Something the user can fix: bad input, inconsistent options, a missing extra.

    The message must say what is wrong and where (file, line, field), since the CLI prints it
    as-is, with no traceback, and exits with code 2.
    """

    exit_code = 2


class ConfigError(UserError):
    """An option or config value is invalid or inconsistent with another."""


class DatasetError(UserError):
    """The dataset file cannot be read as queries."""

    def __init__(self, path: str, message: str, line: int | None = None, field: str | None = None):
        where = f"{path}:{line}" if line is not None else str(path)
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.field = path, line, field


class MissingDependencyError(UserError):
    """An optional dependency is not installed; says which extra installs it."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the package '{package}', which is not installed. "
            f"Install it with: pip install 'adaptive-batch[{extra}]'"
        )


class PluginNotFoundError(UserError):
    """No plugin of that kind is registered under that name."""


class PluginContractError(UserError):
    """A plugin does not keep its kind's contract (e.g. a backend that is no BackendBase)."""


class ResumeMismatchError(UserError):
    """A run directory holds a different run than the one asked for."""


class VerifierError(UserError):
    """A verifier could not judge a response (a user's program crashed, timed out, or answered
    nonsense). The run stops with its finished rounds logged; fix the verifier and resume."""


class StorageError(UserError):
    """Writing the run directory failed (most often a full disk); what was logged is kept."""

    def __init__(self, path, exc: OSError):
        import errno

        reason = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            reason += " (the disk or a file-size limit is full)"
        super().__init__(
            f"cannot write {path}: {reason}. Every sample logged before this is kept; "
            "free space and run the same command again to resume."
        )


class BackendError(AdaptiveBatchError):
    """The generation engine failed in a way retries did not fix. The run's log is kept."""

    exit_code = 3


class InternalError(AdaptiveBatchError):
    """A bug in adaptive-batch itself; please report it with the traceback."""

    exit_code = 70
