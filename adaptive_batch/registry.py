"""Name -> lazy factory registries for every plugin kind.

Built-in plugins and third-party ones are registered the same way: as entry points in a package's
metadata (see ``[project.entry-points]`` in pyproject.toml). Nothing is imported until a plugin is
asked for by name, which keeps ``adaptive-batch --help`` instant. ``Registry.register`` adds one at
run time, for notebooks and tests.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Callable

from .errors import PluginNotFoundError

Factory = Callable[..., Any]


class Registry:
    """Plugins of one kind (backends, verifiers, ...), found by name."""

    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._added: dict[str, Factory | str] = {}

    def register(self, name: str, factory: Factory | str) -> None:
        """Add a plugin: a callable, or a lazy ``"module:attribute"`` reference."""
        self._added[name] = factory

    def _entry_points(self) -> dict[str, str]:
        return {ep.name: ep.value for ep in entry_points(group=self.group)}

    def names(self) -> list[str]:
        return sorted(set(self._entry_points()) | set(self._added))

    def get(self, name: str) -> Factory:
        """The factory registered under ``name``, imported now."""
        target = self._added.get(name) or self._entry_points().get(name)
        if target is None:
            known = ", ".join(self.names()) or "none"
            raise PluginNotFoundError(f"unknown {self.kind} '{name}' (known: {known})")
        if callable(target):
            return target
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        factory = module
        for part in attr.split("."):
            factory = getattr(factory, part)
        return factory

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(name)(*args, **kwargs)


backends = Registry("backend", "adaptive_batch.backends")
verifiers = Registry("verifier", "adaptive_batch.verifiers")
extractors = Registry("extractor", "adaptive_batch.extractors")
embedders = Registry("embedder", "adaptive_batch.embedders")
datasets = Registry("dataset adapter", "adaptive_batch.datasets")
tasks = Registry("task", "adaptive_batch.tasks")
