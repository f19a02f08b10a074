"""CLI options generated from the config dataclasses, so each option is declared exactly once.

Every field of the nested ``RunConfig`` becomes a ``--flag`` whose help is the field's declared
help text. Options default to "not given", so only what the user typed overrides the config.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import typing
from typing import Any, Literal

import typer

from ..config_fields import JSONObject
from ..errors import ConfigError
from . import plugin_options
from ..config import (
    BackendConfig,
    DataConfig,
    EscalationConfig,
    PriceConfig,
    PromptConfig,
    RetrievalConfig,
    RunConfig,
    SamplingConfig,
    ScheduleConfig,
    VerifierConfig,
)

SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "backend": BackendConfig,
    "sampling": SamplingConfig,
    "schedule": ScheduleConfig,
    "retrieval": RetrievalConfig,
    "verifier": VerifierConfig,
    "prompt": PromptConfig,
    "escalation": EscalationConfig,
    "prices": PriceConfig,
}
# Flags whose plain field name would be ambiguous or clumsy on the command line.
RENAMES = {
    ("backend", "name"): "backend",
    ("verifier", "name"): "verifier",
    ("prompt", "style"): "prompt-style",
    ("prompt", "template"): "template",
    ("", "output_dir"): "output",
    ("verifier", "timeout"): "verifier-timeout",
    ("escalation", "backend"): "escalate-backend",
    ("escalation", "model"): "escalate-model",
    ("escalation", "temperature"): "escalate-temperature",
    ("escalation", "after"): "escalate-after",
    ("escalation", "prompt_style"): "escalate-prompt-style",
    ("escalation", "cost_weight"): "escalate-cost-weight",
    ("prices", "input"): "price-input",
    ("prices", "cached_input"): "price-cached-input",
    ("prices", "output"): "price-output",
    ("backend", "parameters"): "model-parameters",
}
# Not flags: the data path is the argument; examples are pairs, given in a task, a config file or --fewshot;
# plugins' options have flags of their own (plugin_options).
SKIPPED = {("data", "path"), ("prompt", "examples"), ("backend", "options"), ("verifier", "options"),
           ("escalation", "options")}
# The --help panel of each section's options (RunConfig's own fields are the run's output).
PANELS = {"": "Output", "data": "Data", "backend": "Model and backend", "sampling": "Sampling",
          "schedule": "Schedule and budget", "retrieval": "Retrieval", "verifier": "Verifier", "prompt": "Prompt",
          "escalation": "Escalation", "prices": "Schedule and budget"}
PANEL_OF_FIELD = {("", "seed"): "Sampling"}
# The plugins whose flags --help shows (see plugin_options.selected_plugins); main() sets it from argv.
_selected: dict[str, set[str]] = plugin_options.selected_plugins([])


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    section: str  # "" for top-level RunConfig fields
    field: str
    param: str
    flag: str
    help: str
    annotation: Any
    choices: tuple[str, ...] | None
    multiple: bool
    default_text: str | None  # the declared default as --help shows it; None when there is none


def option_specs(sections: tuple[str, ...] | None = None) -> list[OptionSpec]:
    """One spec per config field; ``sections`` limits them (``""`` is RunConfig's own fields)."""
    specs = []
    owners = [("", RunConfig)] + list(SECTIONS.items())
    if sections is not None:
        owners = [(name, cls) for name, cls in owners if name in sections]
    for section, cls in owners:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]) or (section, f.name) in SKIPPED:
                continue
            flag = RENAMES.get((section, f.name), f.name.replace("_", "-"))
            annotation, choices, multiple = _cli_type(hints[f.name])
            default = f.default if f.default is not dataclasses.MISSING else None
            shown = None if default in (None, "", ()) else _show(default)
            specs.append(
                OptionSpec(section, f.name, flag.replace("-", "_"), f"--{flag}", f.metadata.get("help", ""),
                           annotation, choices, multiple, shown)
            )
    return specs


def _json_object(flag: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{flag} must be a JSON object: {exc.msg} at column {exc.colno}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{flag} must be a JSON object, got {type(value).__name__}")
    return value


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(repr(v) for v in value)
    return str(value)


def _cli_type(hint: Any) -> tuple[Any, tuple[str, ...] | None, bool]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union:
        return _cli_type(next(a for a in args if a is not type(None)))
    if origin is Literal:
        return str, tuple(args), False
    if origin is tuple:
        return list[str], None, True
    return hint, None, False


def _parameter(param: str, flag: str, help: str, annotation: Any, choices: tuple[str, ...] | None,
               default_text: str | None, panel: str, hidden: bool = False, negatable: bool = True) -> inspect.Parameter:
    """One typer option that defaults to "not given" (None), the declared default shown as text; a
    boolean is a plain ``--flag/--no-flag`` pair (or ``--flag`` alone), without a metavar."""
    declaration = flag
    extra: dict[str, Any] = {}
    if annotation is bool:
        declaration, extra["metavar"] = f"{flag}/--no-{flag[2:]}" if negatable else flag, ""
    option = typer.Option(None, declaration, help=help, show_default=default_text or False, rich_help_panel=panel,
                          hidden=hidden, **extra)
    if choices:
        # typer turns an Enum into a click.Choice; values come back as members.
        annotation = enum.Enum(param, {c: c for c in choices}, type=str)
    return inspect.Parameter(param, inspect.Parameter.KEYWORD_ONLY, default=option,
                             annotation=typing.Optional[annotation])


def parameters(panel: str | None = None, sections: tuple[str, ...] | None = None) -> list[inspect.Parameter]:
    """typer parameters, one per config field, in its section's --help panel (or ``panel``), then one
    per option of the plugins of those sections (shown for the selected plugins only)."""
    order = list(PANELS.values())
    order.append(order.pop(0))  # the run's output last

    def panel_of(spec: OptionSpec) -> str:
        return panel or PANEL_OF_FIELD.get((spec.section, spec.field)) or PANELS[spec.section]

    # typer lays out panels in the order their first option comes, so the options go panel by panel.
    out = [_parameter(spec.param, spec.flag, spec.help, spec.annotation, spec.choices, spec.default_text, panel_of(spec))
           for spec in sorted(option_specs(sections), key=lambda spec: order.index(panel_of(spec)) if not panel else 0)]
    for spec, shown in _plugin_specs(sections):
        annotation, choices, _ = (str, None, False) if spec.is_json else _cli_type(spec.hint)
        default = None if spec.default in (None, "", ()) else _show(spec.default)
        # A plugin's switches are off by default and say so by their name: the flag alone, so its panel stays narrow.
        out.append(_parameter(spec.param, spec.flag, spec.help, annotation, choices, default, panel or spec.panel,
                              hidden=not shown, negatable=False))
    return out


def _plugin_specs(sections: tuple[str, ...] | None) -> list[tuple["plugin_options.PluginOptionSpec", bool]]:
    return [(spec, shown) for spec, shown in plugin_options.all_specs(_selected)
            if sections is None or spec.kind in sections]


def overrides(values: dict[str, Any], sections: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Nested config data holding only the options the user gave (plugins' options apart: ``place``)."""
    nested: dict[str, Any] = {}
    for spec in option_specs(sections):
        value = _given(values.get(spec.param), spec.flag, spec.multiple, False)
        if value is None:
            continue
        if spec.section:
            nested.setdefault(spec.section, {})[spec.field] = value
        else:
            nested[spec.field] = value
    return nested


def place_plugin_options(merged: dict[str, Any], values: dict[str, Any], sections: tuple[str, ...] | None = None) -> None:
    """The plugins' options the user gave, put under the plugin (main or escalation) that takes them."""
    specs = [spec for spec, _ in _plugin_specs(sections)]
    given = {spec.param: _given(values.get(spec.param), spec.flag, not spec.is_json and _cli_type(spec.hint)[2],
                                spec.is_json) for spec in specs}
    plugin_options.place(merged, given, specs)


def _given(value: Any, flag: str, multiple: bool, is_json: bool) -> Any:
    """A flag's value as config data; None when it was not given."""
    if value is None or (multiple and not value):
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    if is_json:
        value = _json_object(flag, value)
    if multiple:
        # Let "--stop '\\n'" mean a newline, as users of other tools expect.
        value = [v.encode().decode("unicode_escape") for v in value]
    return value


_WRAPPED: list[tuple[Any, tuple[str, ...] | None, str | None, list[inspect.Parameter]]] = []


def with_options(function, sections: tuple[str, ...] | None = None, panel: str | None = None):
    """Replace ``function``'s ``**options`` catch-all, for typer, with one option per config field."""
    declared = inspect.signature(function)
    fixed = [p for p in declared.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    function.__signature__ = declared.replace(parameters=fixed + parameters(panel, sections))
    _WRAPPED.append((function, sections, panel, fixed))
    return function


def select_plugins(argv: list[str]) -> None:
    """Show the flags of the plugins ``argv`` selects (called before the app parses it)."""
    global _selected
    selected = plugin_options.selected_plugins(argv)
    if selected == _selected:
        return
    _selected = selected
    for function, sections, panel, fixed in _WRAPPED:
        function.__signature__ = inspect.signature(function).replace(parameters=fixed + parameters(panel, sections))
