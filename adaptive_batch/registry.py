"""Name -> lazy factory registries for every plugin kind.

Built-in plugins and third-party ones are registered the same way: as entry points in a package's
metadata (see ``[project.entry-points]`` in pyproject.toml). Nothing is imported until a plugin is
asked for by name, which keeps ``adaptive-batch --help`` instant. ``Registry.register`` adds one at
run time, for notebooks and tests.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

from .config_fields import NoOptions, PluginOptions
from .errors import PluginContractError, PluginNotFoundError

Factory = Callable[..., Any]


@dataclass(frozen=True)
class Plugin:
    """A backend or verifier as its entry point names it: how to build it, and its own options.

    ``create(section, options)`` gets the config section (``BackendConfig`` or ``VerifierConfig``)
    and the plugin's ``options`` class built from that section's ``options`` table.
    """

    create: Callable[[Any, Any], Any]
    options: type[PluginOptions] = NoOptions
    summary: str = ""
    #: Verifiers only: it decides without the dataset's answers (majority vote, a judge); read by
    #: ``config.default_method``.
    label_free: bool = False


class Registry:
    """Plugins of one kind (backends, verifiers, ...), found by name."""

    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._added: dict[str, Any] = {}

    def register(self, name: str, factory: Any) -> None:
        """Add a plugin: the object itself (a ``Plugin``, a factory, an extractor), or a lazy
        ``"module:attribute"`` reference."""
        self._added[name] = factory

    def entry_points(self) -> dict[str, str]:
        """Installed plugins of this kind: name -> "module:attribute" (nothing imported)."""
        return {ep.name: ep.value for ep in entry_points(group=self.group)}

    def names(self) -> list[str]:
        return sorted(set(self.entry_points()) | set(self._added))

    def get(self, name: str) -> Factory:
        """The factory registered under ``name``, imported now."""
        target = self._added.get(name) or self.entry_points().get(name)
        if target is None:
            known = ", ".join(self.names()) or "none"
            raise PluginNotFoundError(f"unknown {self.kind} '{name}' (known: {known})")
        if not isinstance(target, str):  # registered at run time as the object itself
            return target
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        factory = module
        for part in attr.split("."):
            factory = getattr(factory, part)
        return factory

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(name)(*args, **kwargs)

    def plugin(self, name: str) -> Plugin:
        """The ``Plugin`` registered under ``name`` (backends and verifiers register one)."""
        found = self.get(name)
        if not isinstance(found, Plugin):
            raise PluginContractError(
                f"the {self.kind} '{name}' is registered as a {type(found).__name__}, not an "
                "adaptive_batch.registry.Plugin (its factory and its options class)")
        return found

    def build_options(self, name: str, table: Any) -> PluginOptions:
        """The options of plugin ``name`` from a config's ``options`` table; unknown keys are errors."""
        return self.plugin(name).options.from_dict(dict(table), f"{self.kind} {name} options")


@dataclass(frozen=True)
class DatasetAdapter:
    """A dataset adapter as its entry point names it: ``load(data_config) -> list[Query]``, and where
    its data lies (``resolve_path(path)``, for the run's fingerprint) when it ships the data itself."""

    load: Callable[[Any], list]
    resolve_path: Callable[[str], Any] | None = None


backends = Registry("backend", "adaptive_batch.backends")
verifiers = Registry("verifier", "adaptive_batch.verifiers")
extractors = Registry("extractor", "adaptive_batch.extractors")
embedders = Registry("embedder", "adaptive_batch.embedders")
datasets = Registry("dataset adapter", "adaptive_batch.datasets")
tasks = Registry("task", "adaptive_batch.tasks")
