"""Command-line flags generated from the settings contracts: the measurement Settings (harness.contracts.config)
and each user backend's own Settings (harness.backends). A field whose Option names a flag becomes one argparse
option; its help ends with the field's default (or the LoadGen presets' values), so no default is written twice.

The flag only parses (an integer, a number, a choice); the range is checked where the contract is built, once,
and the message names the flag (SETTINGS_FLAGS maps settings.<field> to it):

    g = p.add_argument_group("measurement")
    add_setting_flags(g, measurement_fields())
    values = settings_from_args(args)          # {"min_duration_s": 0.5, ...}: the settings: mapping of a matrix
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import typing

from harness.backends.registry import USER_BACKENDS, backend_class
from harness.contracts import Option, Settings, options
from harness.foundation.errors import ConfigError
from harness.runner.loadgen_run import PRESETS

from .checks import _shown


@dataclasses.dataclass(frozen=True)
class SettingFlag:
    field: dataclasses.Field
    option: Option
    kind: type  # int, float, bool or str, from the field's annotation

    @property
    def name(self) -> str:
        return self.field.name


def _kind(cls, f: dataclasses.Field) -> type:
    hint = typing.get_type_hints(cls)[f.name]
    kinds = [k for k in (typing.get_args(hint) or (hint,)) if k is not type(None)]
    return kinds[0]


def _flags_of(cls) -> list[SettingFlag]:
    return [SettingFlag(f, opt, _kind(cls, f)) for f, opt in options(cls) if opt.flag]


@functools.lru_cache(maxsize=1)
def all_flags() -> tuple[SettingFlag, ...]:
    """Every generated flag: the measurement Settings', then each user backend's knobs (once per name)."""
    out = {s.name: s for s in _flags_of(Settings)}
    for backend in USER_BACKENDS:
        for s in _flags_of(backend_class(backend).Settings):
            out.setdefault(s.name, s)
    return tuple(out.values())


def measurement_fields() -> tuple[SettingFlag, ...]:
    """Flags every scenario reads (measurement settings and engine knobs)."""
    return tuple(s for s in all_flags() if not s.option.scenarios)


def scenario_fields() -> tuple[SettingFlag, ...]:
    """Flags of the LoadGen scenarios (server, offline)."""
    return tuple(s for s in all_flags() if s.option.scenarios)


def settings_flags() -> dict[str, str]:
    """{"settings.<field>": "--flag"}: what validation messages call a field that a flag set."""
    return {f"settings.{s.name}": s.option.flag for s in all_flags()}


def field_default(cls, name: str):
    """The default of a contract's field (what a flag left out means)."""
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def _number(kind: type):
    """An argparse type that only parses (the contract checks the range): a bad token is argparse's one line."""
    what = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {_shown(text)}") from None

    return parse


def _default(s: SettingFlag) -> str | None:
    """The default as the help shows it ("5", "quick 0.1, full 0.05"), or None when there is none to show."""
    opt, default = s.option, s.field.default
    if opt.preset:  # None: the LoadGen preset in force decides
        def by_preset(attribute: str) -> str:
            return ", ".join(f"{name} {getattr(p, attribute):g}" for name, p in PRESETS.items())

        if "{scenario}" not in opt.preset:
            return by_preset(opt.preset)
        return "; ".join(f"{sc} {by_preset(opt.preset.format(scenario=sc))}" for sc in opt.scenarios)
    if opt.default_text is not None or default is None:
        return opt.default_text
    return f"{default:g}" if isinstance(default, float) else str(default)


def help_text(s: SettingFlag) -> str:
    opt = s.option
    scope = f"{' and '.join(opt.scenarios)}: " if opt.scenarios else ""
    if s.kind is bool:  # a --no-X flag turns a default-true setting off
        return f"{scope}do not {opt.help}"
    notes = [f"default {shown}" for shown in (_default(s),) if shown is not None]
    if opt.maximum is not None and opt.maximum != 1:  # a fraction's 1 goes without saying
        notes.append(f"at most {opt.maximum:g}")
    return f"{scope}{opt.help}" + (f" ({'; '.join(notes)})" if notes else "")


def add_setting_flags(group, fields) -> None:
    for s in fields:
        opt = s.option
        if s.kind is bool:
            group.add_argument(opt.flag, dest=s.name, action="store_const", const=not s.field.default, default=None,
                               help=help_text(s))
        elif opt.choices:
            group.add_argument(opt.flag, dest=s.name, choices=opt.choices, default=None, help=help_text(s))
        else:
            group.add_argument(opt.flag, dest=s.name, type=_number(s.kind), default=None, metavar=opt.metavar,
                               help=help_text(s))


def settings_from_args(args, fields=None, base: dict | None = None) -> dict:
    """The `settings:` mapping (measurement settings and backend knobs) the given flags ask for; a LoadGen flag
    of another scenario than args.scenario is one line."""
    values = dict(base or {})
    for s in fields if fields is not None else all_flags():
        value = getattr(args, s.name, None)
        if value is None:
            continue
        scenarios = s.option.scenarios
        if scenarios and getattr(args, "scenario", None) not in scenarios:
            raise ConfigError(f"{s.option.flag} applies to --scenario {' or '.join(scenarios)}, not {args.scenario}")
        values[s.name] = value
    return values
