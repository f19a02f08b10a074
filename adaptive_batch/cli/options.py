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

from ..errors import ConfigError
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
    ("backend", "options"): "engine-args",
    ("verifier", "options"): "verifier-args",
    ("verifier", "command"): "verifier-command",
    ("verifier", "timeout"): "verifier-timeout",
    ("escalation", "backend"): "escalate-backend",
    ("escalation", "model"): "escalate-model",
    ("escalation", "temperature"): "escalate-temperature",
    ("escalation", "after"): "escalate-after",
    ("escalation", "cost_weight"): "escalate-cost-weight",
    ("prices", "input"): "price-input",
    ("prices", "cached_input"): "price-cached-input",
    ("prices", "output"): "price-output",
    ("backend", "parameters"): "model-parameters",
}
# Not flags: the data path is the argument; examples are pairs, given in a task, a config file or --fewshot.
SKIPPED = {("data", "path"), ("prompt", "examples")}
# The --help panel of each section's options (RunConfig's own fields are the run's output).
PANELS = {"": "Output", "data": "Data", "backend": "Model and backend", "sampling": "Sampling",
          "schedule": "Schedule and budget", "retrieval": "Retrieval", "verifier": "Verifier", "prompt": "Prompt",
          "escalation": "Escalation", "prices": "Schedule and budget"}
PANEL_OF_FIELD = {("", "seed"): "Sampling"}
JSON_OBJECT_OPTIONS = {("backend", "options"), ("verifier", "options")}


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
            if (section, f.name) in JSON_OBJECT_OPTIONS:
                annotation, choices, multiple = str, None, False
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


def parameters(panel: str | None = None, sections: tuple[str, ...] | None = None) -> list[inspect.Parameter]:
    """typer parameters, one per config field, in its section's --help panel (or ``panel``).

    Options default to "not given" (None), so the declared default is shown as text; a boolean
    is a plain ``--flag/--no-flag`` pair, without a metavar.
    """
    out = []
    order = list(PANELS.values())
    order.append(order.pop(0))  # the run's output last

    def panel_of(spec: OptionSpec) -> str:
        return panel or PANEL_OF_FIELD.get((spec.section, spec.field)) or PANELS[spec.section]

    # typer lays out panels in the order their first option comes, so the options go panel by panel.
    for spec in sorted(option_specs(sections), key=lambda spec: order.index(panel_of(spec)) if not panel else 0):
        where = panel_of(spec)
        declaration = spec.flag
        extra: dict[str, Any] = {}
        if spec.annotation is bool:
            declaration, extra["metavar"] = f"{spec.flag}/--no-{spec.flag[2:]}", ""
        option = typer.Option(None, declaration, help=spec.help, show_default=spec.default_text or False,
                              rich_help_panel=where, **extra)
        annotation = spec.annotation
        if spec.choices:
            # typer turns an Enum into a click.Choice; values come back as members.
            annotation = enum.Enum(spec.param, {c: c for c in spec.choices}, type=str)
        annotation = typing.Optional[annotation]
        out.append(inspect.Parameter(spec.param, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation))
    return out


def overrides(values: dict[str, Any], sections: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Nested config data holding only the options the user gave."""
    nested: dict[str, Any] = {}
    for spec in option_specs(sections):
        value = values.get(spec.param)
        if value is None or (spec.multiple and not value):
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        if (spec.section, spec.field) in JSON_OBJECT_OPTIONS:
            value = _json_object(spec.flag, value)
        if spec.multiple:
            # Let "--stop '\\n'" mean a newline, as users of other tools expect.
            value = [v.encode().decode("unicode_escape") for v in value]
        if spec.section:
            nested.setdefault(spec.section, {})[spec.field] = value
        else:
            nested[spec.field] = value
    return nested


def with_options(function, sections: tuple[str, ...] | None = None, panel: str | None = None):
    """Replace ``function``'s ``**options`` catch-all, for typer, with one option per config field."""
    declared = inspect.signature(function)
    fixed = [p for p in declared.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    function.__signature__ = declared.replace(parameters=fixed + parameters(panel, sections))
    return function
