"""Reading the project's YAML inputs (matrices, recipes) with one-line errors."""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError


def read_yaml(path: str | Path, kind: str):
    """Parse a YAML file; a missing, undecodable or malformed file is a one-line ConfigError."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{kind} file {str(path)!r} does not exist")
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p.name}: not a UTF-8 text file (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{p.name}: not valid YAML{where}: {problem}") from None
