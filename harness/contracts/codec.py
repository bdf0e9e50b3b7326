"""The generic typed JSON codec every contract class uses: from_json checks each field's type and names the
field path of the first problem; to_json gives plain JSON types (non-finite floats become null).

Versioned is the base of every persisted format: a `schema_version` field and the explicit migrations that
read the older versions (as pyperf's _json_load and asv's update_to_N do); the Kinded mixin marks one whose documents
also name what they are in a `kind` field.

A union of several types (`TorchEngine | OrtEngine | dict[str, Any]`) decodes to its first member that
accepts the value; a mapping matches a contract member of such a union only when every key is one of its
fields, so the members' own required fields tell them apart and a mapping of another shape falls through
to the next member (a plain `dict` last keeps any shape readable).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import types
import typing
from typing import Any, Callable, ClassVar


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
        members = [a for a in args if a is not type(None)]
        errors = []
        for arg in members:
            try:
                if len(members) > 1 and dataclasses.is_dataclass(arg):
                    return _from_mapping(arg, value, path, exact=True)
                return _decode(arg, value, path)
            except RecordError as exc:
                errors.append(exc)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        if issubclass(tp, Versioned):  # a persisted format inside another document: migrated like a file of it
            return tp.from_json(value, path)
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
def _from_mapping(cls, data, path: str, exact: bool = False):
    """`cls` from a mapping; keys that are not fields are ignored, unless `exact` (a member of a union)."""
    if not isinstance(data, dict):
        raise RecordError(f"{path}: expected a mapping, got {_describe(data)}")
    hints = _hints(cls)
    if exact:
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        unknown = [k for k in data if k not in names]
        if unknown:
            raise RecordError(f"{path or cls.__name__}: unknown key {unknown[0]!r}; valid: {', '.join(names)}")
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
    except RecordError as exc:  # a check in __post_init__; its message may name the full path already
        text = str(exc)
        named = not path or text.startswith((f"{path}.", f"{path}:", f"{path} "))
        raise RecordError(text if named else f"{path}: {text}") from None


@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _settle(obj, *names: str) -> None:
    """In __post_init__: a mapping given for one of these union fields becomes the typed shape it matches, as
    from_json would make it, so a record built in code equals the same record read back."""
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, dict):
            object.__setattr__(obj, name, _decode(_hints(type(obj))[name], value, name))


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
    def from_json(cls, data, path: str = "", exact: bool = False):
        """`exact`: a key that is not a field is an error (input a person wrote), not ignored (a newer writer's)."""
        return _from_mapping(cls, data, path, exact)

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


def readable_versions(current: int, migrations: dict) -> tuple[int, ...]:
    """The versions a format with these migrations reads: from the oldest migrated one to `current`."""
    return tuple(range(min(migrations, default=current), current + 1))


def document_version(data, unversioned: int | None = None) -> int:
    """The schema_version of a mapping (`unversioned` when it has none and that is allowed)."""
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    if "schema_version" not in data and unversioned is not None:
        return unversioned
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RecordError(f"schema_version: expected an integer, got {_describe(version)}")
    return version


def upgrade(data, version: int, current: int, migrations: dict) -> dict:
    """A version-`version` document brought to version `current` through `migrations` ({v: v -> v + 1}), each
    step stamping its schema_version on a mapping that carries one; FutureVersion for a newer document,
    RecordError for an unknown older one.
    (Versioned.from_json uses it; a format validated elsewhere, such as a pydantic recipe, calls it directly.)"""
    readable = readable_versions(current, migrations)
    names = ", ".join(map(str, readable))
    if version > current:
        raise FutureVersion(f"schema_version {version} was written by a newer harness (this one reads {names}); "
                            "upgrade the harness")
    if version not in readable:
        raise RecordError(f"schema_version {version} is not a version this harness knows (reads {names})")
    for v in range(version, current):
        data = migrations[v](data)
        if isinstance(data, dict) and "schema_version" in data:
            data = {**data, "schema_version": v + 1}
    return data


class Versioned(Contract):
    """A persisted format: a contract with a `schema_version` field, read in any readable version.

    A subclass (a frozen dataclass with `schema_version: int = SCHEMA_VERSION` as a field) sets
      SCHEMA_VERSION  the version this harness writes;
      MIGRATIONS      {v: function(version-v document) -> version-(v+1) document}; the readable versions run
                      from the lowest key (or SCHEMA_VERSION, with none) to SCHEMA_VERSION;
      UNVERSIONED     the version a mapping without schema_version is read as (None: such a mapping is refused);
    and may override version_of() for a version whose documents were not mappings.
    from_json() migrates step by step, then checks every field; the version history belongs in the module
    docstring beside the class.
    """

    SCHEMA_VERSION: ClassVar[int] = 1
    MIGRATIONS: ClassVar[dict[int, Callable[[Any], dict]]] = {}
    UNVERSIONED: ClassVar[int | None] = None

    @classmethod
    def readable_versions(cls) -> tuple[int, ...]:
        return readable_versions(cls.SCHEMA_VERSION, cls.MIGRATIONS)

    @classmethod
    def version_of(cls, data) -> int:
        """The schema version of a stored document (any version, also newer ones)."""
        return document_version(data, cls.UNVERSIONED)

    @classmethod
    def upgrade(cls, data) -> dict:
        """The document in the current version, through MIGRATIONS; FutureVersion for a newer one."""
        return upgrade(data, cls.version_of(data), cls.SCHEMA_VERSION, cls.MIGRATIONS)

    @classmethod
    def from_json(cls, data, path: str = ""):
        """Read a document of any readable version (older ones through MIGRATIONS)."""
        try:
            data = cls.upgrade(data)
        except RecordError as exc:
            raise type(exc)(f"{path}: {exc}" if path else str(exc)) from None
        return _from_mapping(cls, data, path)


class Kinded:
    """Mixin of a persisted format (`class X(Kinded, Versioned)`) whose documents say what they are in a `kind`
    field: the class sets KIND and declares `kind: str = KIND`; a document of another kind is refused, naming the
    field (a class's own __post_init__ calls super().__post_init__() first)."""

    KIND: ClassVar[str] = ""

    def __post_init__(self):
        kind = getattr(self, "kind")
        if kind != self.KIND:
            raise RecordError(f"kind: expected {self.KIND!r}, got {_describe(kind)}")


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
