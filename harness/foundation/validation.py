"""User input files and options validated through pydantic models, with the harness's one-line messages.

    validate(MatrixModel, data, "m.yaml")  ->  the model, or ConfigError
        "m.yaml: threads[1]: expected a positive integer, got 'two'"
        "m.yaml: unknown key 'modles'; valid keys: models, backends, ..."

Messages name the field path, the value (shortened: a message never formats an unbounded value) and
what is allowed. Models use strict types (no "3" for 3) and forbid unknown keys.
"""

from __future__ import annotations

import typing

from pydantic import BaseModel, ValidationError

from .errors import ConfigError

MAX_VALUE_CHARS = 60


def short(value) -> str:
    """repr() of a value, cut to MAX_VALUE_CHARS (containers are summarised before they are formatted)."""
    if isinstance(value, (list, tuple, dict, set)) and len(value) > 20:
        return f"<{type(value).__name__} of {len(value)} items>"
    try:
        text = repr(value)
    except RecursionError:
        return f"<deeply nested {type(value).__name__}>"
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def field_path(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(model: type[BaseModel], loc) -> type[BaseModel] | None:
    """The nested pydantic model that holds the field at `loc` (for listing its valid keys)."""
    current = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        current = nested[0]
    return current


def describe_error(model: type[BaseModel], error: dict, label=None) -> str:
    """One line for one pydantic error; `label(loc)` may name the field differently (a command-line flag)."""
    loc = tuple(error.get("loc") or ())
    path = (label(loc) if label else None) or field_path(loc)
    kind = error.get("type", "")
    value = error.get("input")
    prefix = f"{path}: " if path else ""
    if kind == "extra_forbidden":
        holder = _model_at(model, loc)
        valid = ", ".join(holder.model_fields) if holder else "see the documentation"
        if len(loc) > 1 or path != field_path(loc):
            what = "setting" if "settings" in path else "key"
            return f"{path}: unknown {what}; valid: {valid}"
        return f"unknown key {str(loc[-1])!r}; valid keys: {valid}"
    if kind == "missing":
        holder = _model_at(model, loc) or model
        required = ", ".join(n for n, f in holder.model_fields.items() if f.is_required())
        return f"missing key {str(loc[-1])!r} (required: {required})"
    if kind in ("int_type", "int_parsing", "int_from_float") or (kind == "greater_than" and error.get("ctx", {}).get("gt") == 0
                                                                   and isinstance(value, int)):
        return f"{prefix}expected a positive integer, got {short(value)}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"{prefix}expected a finite number, got {short(value)}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        (op, bound), = error.get("ctx", {}).items()
        symbol = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[op]
        return f"{prefix}expected a number {symbol} {bound}, got {short(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"{prefix}expected true or false, got {short(value)}"
    if kind in ("string_type",):
        return f"{prefix}expected a string, got {short(value)}"
    if kind in ("list_type", "too_short"):
        return f"{prefix}expected a non-empty list, got {short(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "dataclass_type"):
        return f"{prefix}expected a mapping, got {short(value)}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        valid = ", ".join(p.strip(" '") for p in expected.replace(" or ", ", ").split(","))
        return f"{prefix}unknown value {short(value)}; valid: {valid}"
    if kind == "value_error":
        message = str(error.get("ctx", {}).get("error") or error.get("msg", ""))
        return f"{prefix}{message}"
    return f"{prefix}{error.get('msg', 'invalid value')}, got {short(value)}"


def validate(model: type[BaseModel], data, where: str | None = None, label=None):
    """An instance of `model` from `data`; a ConfigError of one line (the first problem) otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        message = describe_error(model, errors[0], label) if errors else "invalid"
        raise ConfigError(f"{where}: {message}" if where else message) from None
