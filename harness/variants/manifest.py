"""The one reader of variant manifests (neural and tree variants alike)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.foundation.errors import HarnessError

MANIFEST_FILE = "manifest.json"


def read_checked_manifest(path, *, what: str, kind: str, versions, payload: str) -> dict:
    """A variant-like directory's manifest.json: present, valid JSON, the expected kind, a readable
    schema_version, and its payload file beside it. Every problem is one HarnessError line."""
    p = Path(path)
    if not p.is_dir():
        raise HarnessError(f"{what} directory {str(p)!r} does not exist")
    mfile = p / MANIFEST_FILE
    if not mfile.is_file():
        raise HarnessError(f"{what} directory {str(p)!r} has no {MANIFEST_FILE}")
    try:
        manifest = json.loads(mfile.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{mfile}: not valid JSON: {getattr(exc, 'msg', exc)}") from None
    found = manifest.get("kind") if isinstance(manifest, dict) else None
    if found != kind:
        raise HarnessError(f"{mfile}: kind is {found!r}, expected {kind!r}")
    version = manifest.get("schema_version")
    if version not in versions:
        raise HarnessError(
            f"{mfile}: schema_version {version!r} is not readable by harness "
            f"(readable: {', '.join(map(str, versions))}); upgrade harness"
        )
    if not (p / payload).is_file():
        raise HarnessError(f"{what} directory {str(p)!r} has no {payload}")
    return manifest


def manifest_kind(path) -> str | None:
    """The `kind` a directory's manifest.json declares, or None when there is no readable one."""
    try:
        data = json.loads((Path(path) / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data.get("kind") if isinstance(data, dict) else None
