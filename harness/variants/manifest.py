"""The one reader of variant manifests (neural and tree variants alike): the file as stored (what a variant's id
hashes) and its typed form (harness.contracts.manifest: what every reader uses)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.contracts import RecordError
from harness.foundation.errors import HarnessError

MANIFEST_FILE = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 2**20  # a manifest is a few kB; per-layer figures of a large model stay far below this


def read_stored_manifest(path, *, what: str = "variant") -> dict:
    """A variant-like directory's manifest.json as stored: present, not huge, UTF-8 JSON, an object."""
    p = Path(path)
    if not p.is_dir():
        raise HarnessError(f"{what} directory {str(p)!r} does not exist")
    mfile = p / MANIFEST_FILE
    if not mfile.is_file():
        raise HarnessError(f"{what} directory {str(p)!r} has no {MANIFEST_FILE}")
    if mfile.stat().st_size > MAX_MANIFEST_BYTES:
        raise HarnessError(f"{mfile}: {mfile.stat().st_size:,} bytes is larger than a manifest can be "
                           f"({MAX_MANIFEST_BYTES:,})")
    try:
        data = json.loads(mfile.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{mfile}: not a UTF-8 text file (byte {exc.start})") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise HarnessError(f"{mfile}: not valid JSON: {getattr(exc, 'msg', 'nested too deep')}") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{mfile}: expected a JSON object, got {type(data).__name__}")
    return data


def read_checked_manifest(path, *, what: str, cls, payload: str):
    """(stored manifest, typed manifest of class `cls`) of a variant-like directory, with its payload file beside it.
    Every problem is one HarnessError line naming the file and the field."""
    p = Path(path)
    stored = read_stored_manifest(p, what=what)
    expected = getattr(cls, "kind", None)
    if isinstance(expected, str) and stored.get("kind") != expected:
        raise HarnessError(f"{p / MANIFEST_FILE}: kind: expected {expected!r}, got {stored.get('kind')!r}: "
                           f"not a {what} directory")
    try:
        typed = cls.from_json(stored)
    except RecordError as exc:
        raise HarnessError(f"{p / MANIFEST_FILE}: {exc}") from None
    if not (p / payload).is_file():
        raise HarnessError(f"{what} directory {str(p)!r} has no {payload}")
    return stored, typed


def manifest_kind(path) -> str | None:
    """The `kind` a directory's manifest.json declares, or None when there is no readable one."""
    try:
        data = json.loads((Path(path) / MANIFEST_FILE).read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return data.get("kind") if isinstance(data, dict) else None
