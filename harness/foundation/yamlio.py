"""Reading the project's YAML inputs (matrices, recipes) with one-line errors, safe against hostile files.

Before anything is built from a file: its size is capped (harness.foundation.limits.MAX_INPUT_FILE_BYTES), and one
pass over the parser's events refuses aliases (`*name`: a few lines of them expand to gigabytes, the
"billion laughs") and nesting deeper than MAX_INPUT_DEPTH (which would exhaust the recursion of the
composer). Only then is the document loaded, with the safe loader (libyaml's when installed).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError
from .limits import MAX_INPUT_DEPTH, MAX_INPUT_FILE_BYTES

MAX_PROBLEM_CHARS = 160


def _loader():
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _line(event) -> str:
    mark = getattr(event, "start_mark", None)
    return f" at line {mark.line + 1}" if mark is not None else ""


def check_events(text: str, name: str) -> None:
    """Refuse aliases and nesting deeper than MAX_INPUT_DEPTH, from the parser's events alone."""
    import yaml

    depth = 0
    for event in yaml.parse(text, Loader=_loader()):
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(f"{name}: YAML aliases (*name) are not allowed{_line(event)}; write the value out")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_INPUT_DEPTH:
                raise ConfigError(f"{name}: nested more than {MAX_INPUT_DEPTH} levels deep{_line(event)}")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def read_yaml(path: str | Path, kind: str):
    """Parse a YAML file; a missing, oversized, undecodable, malformed or hostile file is a one-line ConfigError."""
    import yaml

    p = Path(path)
    shown = repr(str(path)[:MAX_PROBLEM_CHARS])
    try:
        size = os.stat(p).st_size
    except (OSError, ValueError) as exc:  # missing, a name too long, a NUL byte
        why = getattr(exc, "strerror", None) or exc
        gone = isinstance(exc, (FileNotFoundError, NotADirectoryError))
        problem = "does not exist" if gone else f"cannot be read ({why})"
        raise ConfigError(f"{kind} file {shown} {problem}") from None
    if not p.is_file():
        raise ConfigError(f"{kind} file {shown} is not a regular file")
    if size > MAX_INPUT_FILE_BYTES:
        raise ConfigError(f"{p.name}: {size:,} bytes is larger than the {MAX_INPUT_FILE_BYTES:,}-byte limit "
                          f"for a {kind} file")
    try:
        with open(p, "rb") as fh:
            text = fh.read(MAX_INPUT_FILE_BYTES + 1).decode("utf-8")
        if len(text.encode("utf-8")) > MAX_INPUT_FILE_BYTES:  # grew while being read
            raise ConfigError(f"{p.name}: larger than the {MAX_INPUT_FILE_BYTES:,}-byte limit for a {kind} file")
        check_events(text, p.name)
        return yaml.load(text, Loader=_loader())  # noqa: S506 - the safe loader (CSafeLoader or SafeLoader)
    except OSError as exc:
        raise ConfigError(f"{p.name}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p.name}: not a UTF-8 text file (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())[:MAX_PROBLEM_CHARS]
        raise ConfigError(f"{p.name}: not valid YAML{where}: {problem}") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. an integer of more digits than Python converts
        problem = " ".join(str(exc).split())[:MAX_PROBLEM_CHARS]
        raise ConfigError(f"{p.name}: a value cannot be read: {problem}") from None
