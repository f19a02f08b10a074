"""``plugins``: the installed plugins of every kind, and one backend's or verifier's own options."""

from __future__ import annotations

from typing import Optional

import typer

from ..errors import PluginNotFoundError
from .app import console, handles_errors
from .plugin_options import KINDS, plugin_specs


def plugins_command(
    name: Optional[str] = typer.Argument(
        None, help="A backend or verifier: list its options (flags, defaults, help).", show_default=False),
) -> None:
    """List the installed plugins, or one backend's or verifier's own options."""
    if name:
        _show_options(name)
    else:
        _list_plugins()


def _list_plugins() -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..registry import datasets, embedders, extractors, tasks

    table = Table(show_header=True)
    for column in ("kind", "name", "from", "what it is"):
        table.add_column(column)
    for kind, (registry, default) in KINDS.items():
        for plugin_name, target in sorted(registry.entry_points().items()):
            try:
                summary = registry.plugin(plugin_name).summary
            except Exception as error:  # a broken third-party plugin is listed, not fatal
                summary = f"(cannot be loaded: {error})"
            if plugin_name == default:
                summary += " [default]"
            table.add_row(kind, escape(plugin_name), _origin(target), escape(summary))
    for kind, registry in (("extractor", extractors), ("embedder", embedders), ("dataset adapter", datasets),
                           ("task", tasks)):
        for plugin_name, target in sorted(registry.entry_points().items()):
            table.add_row(kind, escape(plugin_name), _origin(target), "")
    out = console(stderr=False)
    out.print(table)
    out.print("A backend's or verifier's own options: `adaptive-batch plugins NAME`; on the command line they are "
              "--NAME-OPTION, in a config [backend.options] or [verifier.options]. Tasks: `adaptive-batch tasks`.",
              soft_wrap=True, markup=False)


def _origin(target: str) -> str:
    return "built in" if target.startswith("adaptive_batch.") or target.startswith("retrieval.") else target


def _show_options(name: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    found = [kind for kind, (registry, _) in KINDS.items() if name in registry.names()]
    if not found:
        known = ", ".join(n for registry, _ in KINDS.values() for n in registry.names())
        raise PluginNotFoundError(f"no backend or verifier named '{name}' (known: {known})")
    out = console(stderr=False)
    for kind in found:
        specs = plugin_specs(kind, name)
        out.print(f"{kind} {name}: {KINDS[kind][0].plugin(name).summary}", soft_wrap=True)
        if not specs:
            out.print("  no options of its own")
            continue
        table = Table(show_header=True)
        table.add_column("flag", no_wrap=True)
        table.add_column("default")
        table.add_column("what it sets")
        for spec in specs:
            default = "" if spec.default in (None, "", ()) else repr(spec.default)
            table.add_row(spec.flag, escape(default), escape(spec.help))
        out.print(table)
        out.print(f"Used with --{kind} {name}; in a config file [{kind}.options], e.g. {specs[0].field} = ...; shown in "
                  f"`adaptive-batch run --{kind} {name} --help`.", soft_wrap=True, markup=False)


def register(app: typer.Typer) -> None:
    app.command("plugins")(handles_errors(plugins_command))
