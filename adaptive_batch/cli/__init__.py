"""The command line: a thin layer over the library. ``app`` holds every command on import.

Each command module adds its commands through ``register(app)``, called here and only here;
errors become messages and exit codes in :mod:`adaptive_batch.cli.app` alone.
"""

from . import after, plugins, run
from .app import EXIT_BELOW_THRESHOLD, app, main

run.register(app)
after.register(app)
plugins.register(app)

__all__ = ["EXIT_BELOW_THRESHOLD", "app", "main"]
