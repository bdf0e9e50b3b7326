"""What a settings field means to a person: its help, its command-line flag, its unit and its bounds, kept on
the field itself (dataclass field metadata), so that the flag, its help text, its default and its limits are
written once.

    warmup_iters: int = option(5, "warm-up calls before timing", flag="--warmup", metavar="N", minimum=0)

check_options() is the one place those bounds are checked (a contract's __post_init__ calls it); the command
line's generator (harness.commands.flags) adds an argparse option per field with a flag, whose help ends with
the field's default, and names the flag in the error when the value is out of bounds.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass

from .codec import Contract, RecordError, _describe, _hints

OPTION = "harness.option"  # the metadata key


@dataclass(frozen=True)
class Option:
    help: str
    flag: str | None = None  # the command-line flag; None: set in a matrix file's settings only
    metavar: str | None = None  # the unit, as the help shows it: S (seconds), MS, N, QPS, F (a fraction)
    minimum: float | None = None
    maximum: float | None = None
    above: bool = False  # the minimum itself is excluded (> rather than >=)
    choices: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()  # the scenarios that read it; empty: every scenario
    default_text: str | None = None  # the default in words, where the field's own default (None) says nothing
    preset: str | None = None  # None means: this field of the LoadGen preset in force (harness.runner.loadgen_run;
    # "{scenario}_..." names one field per scenario)

    def describe_number(self) -> str:
        """"a fraction in [0, 1]", "a fraction > 0 and <= 0.5", "a finite number >= 0", ..."""
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None and 0 <= lo and hi <= 1:
            return f"a fraction > {lo:g} and <= {hi:g}" if self.above else f"a fraction in [{lo:g}, {hi:g}]"
        return f"a finite number {self.bounds()}".strip()

    def bounds(self) -> str:
        """"> 0 and <= 0.5", ">= 0", ""."""
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.above else '>='} {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        return " and ".join(parts)


def option(default, help: str, **kwargs) -> dataclasses.Field:
    """A dataclass field with a default and an Option."""
    return dataclasses.field(default=default, metadata={OPTION: Option(help, **kwargs)})


def option_of(f: dataclasses.Field) -> Option | None:
    return f.metadata.get(OPTION)


def options(cls) -> list[tuple[dataclasses.Field, Option]]:
    """The fields of `cls` that carry an Option, in declaration order."""
    return [(f, option_of(f)) for f in dataclasses.fields(cls) if option_of(f) is not None]


def check_options(obj, prefix: str = "") -> None:
    """Every Option field of `obj` within its type, bounds and choices; None passes where the type admits it.
    The first problem is a RecordError naming `prefix`.field, the value and what is allowed."""
    hints = _hints(type(obj))
    for f, opt in options(type(obj)):
        value, kinds = getattr(obj, f.name), set(typing.get_args(hints[f.name])) or {hints[f.name]}
        nullable = type(None) in kinds
        if value is None and nullable:
            continue
        name = f"{prefix}.{f.name}" if prefix else f.name
        if opt.choices:
            if value not in opt.choices:
                valid = ", ".join(opt.choices) + (" or null" if nullable else "")
                raise RecordError(f"{name}: unknown value {_describe(value)}; valid: {valid}")
        elif bool in kinds:
            if not isinstance(value, bool):
                raise RecordError(f"{name}: expected true or false, got {_describe(value)}")
        elif int in kinds:
            _check_int(name, value, opt)
        else:
            _check_number(name, value, opt)


def _check_int(name: str, value, opt: Option) -> None:
    low = opt.minimum if opt.minimum is not None else -math.inf
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if not ok or (opt.maximum is not None and value > opt.maximum):
        what = "a positive integer" if opt.minimum == 1 and opt.maximum is None else f"an integer {opt.bounds()}".strip()
        raise RecordError(f"{name}: expected {what}, got {_describe(value)}")


def _check_number(name: str, value, opt: Option) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and opt.minimum is not None:
        ok = value > opt.minimum if opt.above else value >= opt.minimum
    if ok and opt.maximum is not None:
        ok = value <= opt.maximum
    if not ok:
        raise RecordError(f"{name}: expected {opt.describe_number()}, got {_describe(value)}")


class EngineOptions(Contract):
    """Base of an engine's own settings (a backend's Settings: a frozen dataclass of option() fields), checked on
    construction; the problem names the field (Backend.parse_settings adds where it was set)."""

    def __post_init__(self):
        check_options(self, "")
