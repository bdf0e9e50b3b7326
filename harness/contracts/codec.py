"""The generic typed JSON codec every contract class uses: from_json checks each field's type and names the
field path of the first problem; to_json gives plain JSON types (non-finite floats become null)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from typing import Any


class RecordError(ValueError):
    """A JSON document that does not have the shape of the contract; the message names the field path."""


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _decode(tp, value, path: str):
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise RecordError(f"{path}: expected a value, got null")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _decode(arg, value, path)
            except RecordError as exc:
                errors.append(exc)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        return _from_mapping(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise RecordError(f"{path}: expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise RecordError(f"{path}: expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise RecordError(f"{path}: expected a number, got {_describe(value)}")
        return value  # 4 stays 4: identities hash the JSON text, as schema version 1 did
    if tp is str:
        if not isinstance(value, str):
            raise RecordError(f"{path}: expected a string, got {_describe(value)}")
        return value
    if origin is tuple or tp is tuple:
        if not isinstance(value, (list, tuple)):
            raise RecordError(f"{path}: expected a list, got {_describe(value)}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return tuple(_decode(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{path}: expected a mapping, got {_describe(value)}")
        args = typing.get_args(tp)
        item = args[1] if args else Any
        return {str(k): _decode(item, v, f"{path}.{k}") for k, v in value.items()}
    raise TypeError(f"contracts: no decoder for {tp!r}")  # a programming error, not bad data


@typing.no_type_check
def _from_mapping(cls, data, path: str):
    if not isinstance(data, dict):
        raise RecordError(f"{path}: expected a mapping, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in data:
            kwargs[f.name] = _decode(hints[f.name], data[f.name], f"{path}.{f.name}" if path else f.name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecordError(f"{path or cls.__name__}: missing field {f.name!r}")
    try:
        return cls(**kwargs)
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}" if path else str(exc)) from None


def _encode(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no inf or nan; a statistic that is not finite is stored as null
    return value


class Contract:
    """Mixin: to_json() gives plain JSON types; from_json() checks every field's type on the way in."""

    def to_json(self) -> dict:
        return _encode(self)

    @classmethod
    def from_json(cls, data, path: str = ""):
        return _from_mapping(cls, data, path)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def _positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RecordError(f"{name}: expected a positive integer, got {_describe(value)}")


def _finite(name: str, value, *, minimum: float = 0.0, allow_equal: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= minimum if allow_equal else value > minimum)
    if not ok:
        bound = f">= {minimum:g}" if allow_equal else f"> {minimum:g}"
        raise RecordError(f"{name}: expected a finite number {bound}, got {_describe(value)}")


class FutureVersion(RecordError):
    """A line written by a newer harness."""


def stable_hash(obj) -> str:
    """A short hash of a JSON-serialisable object, independent of key order."""
    text = json.dumps(_encode(obj), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _non_default(obj, skip=()) -> dict:
    out = {}
    for f in dataclasses.fields(obj):
        if f.name in skip:
            continue
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if default is dataclasses.MISSING or value != default:
            out[f.name] = _encode(value)
    return out


def check_version(data: dict, where: str, current: int, readable: tuple[int, ...], what: str) -> int:
    """The schema_version of a versioned document or section (`where` prefixes the field name): FutureVersion when
    newer than `current`, RecordError when not one of `readable`."""
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RecordError(f"{where}schema_version: expected an integer, got {_describe(version)}")
    if version > current:
        raise FutureVersion(f"{where}schema_version {version} was written by a newer harness (this one reads {what} "
                            f"versions {', '.join(map(str, readable))}); upgrade the harness")
    if version not in readable:
        raise RecordError(f"{where}schema_version {version} is not supported; valid choices: "
                          f"{', '.join(map(str, readable))}")
    return version


def migrate(data: dict, version: int, current: int, migrations: dict) -> dict:
    """A version-`version` document brought to `current`: migrations[v] turns version v into v + 1."""
    for v in range(version, current):
        data = migrations[v](data)
    return data
