"""Dated price snapshots: the bundled one (read-only) and user snapshots written by `prices refresh`.

SNAPSHOT_SCHEMA_VERSION history (aws-YYYY-MM-DD[-N].json):
  1 - first version: schema_version, provider, as_of, created_at, description, grades, rows with
      instance, region, purchase_option, usd_per_hour, source, source_date, grade, notes.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path

from harness.foundation.errors import ConfigError, HarnessError

from .quotes import PriceLayer, PriceQuote, parse_source_date

SNAPSHOT_SCHEMA_VERSION = 1
READABLE_SNAPSHOT_VERSIONS = (1,)

DATA_DIR = Path(__file__).resolve().parent / "data"
BUNDLED_SNAPSHOT = DATA_DIR / "aws-2026-11-24.json"


@dataclass(frozen=True)
class Snapshot:
    """One snapshot file's content: a date, and the quotes it holds."""

    path: str
    as_of: str
    created_at: str
    provider: str
    quotes: tuple[PriceQuote, ...]
    schema_version: int = SNAPSHOT_SCHEMA_VERSION
    description: str = ""

    def layer(self, kind: str) -> PriceLayer:
        return PriceLayer(kind=kind, path=self.path, as_of=self.as_of, n_quotes=len(self.quotes))


def snapshot_from_dict(data: dict, path: str = "<memory>") -> Snapshot:
    name = Path(path).name
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: expected a JSON object with schema_version, as_of and rows")
    version = data.get("schema_version")
    if version not in READABLE_SNAPSHOT_VERSIONS:
        raise ConfigError(
            f"{name}: schema_version {version!r} is not readable; valid choices: "
            + ", ".join(str(v) for v in READABLE_SNAPSHOT_VERSIONS)
        )
    as_of = data.get("as_of")
    try:
        parse_source_date(as_of)
    except ConfigError:
        raise ConfigError(f"{name}: as_of {as_of!r} is not a date; valid form: YYYY-MM-DD") from None
    rows = data.get("rows")
    if not isinstance(rows, list):
        raise ConfigError(f"{name}: rows: expected a list, got {type(rows).__name__}")
    quotes = []
    seen: dict[tuple, int] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ConfigError(f"{name}: rows[{i}]: expected an object")
        missing = [k for k in ("instance", "region", "purchase_option", "usd_per_hour", "source", "source_date") if k not in row]
        if missing:
            raise ConfigError(f"{name}: rows[{i}]: missing field {missing[0]!r}")
        try:
            q = PriceQuote(
                instance=row["instance"],
                region=row["region"],
                purchase_option=row["purchase_option"],
                usd_per_hour=row["usd_per_hour"],
                source=row["source"],
                as_of=row["source_date"],
                grade=row.get("grade"),
                notes=row.get("notes"),
                origin=str(path),
            )
        except ConfigError as exc:
            raise ConfigError(f"{name}: rows[{i}]: {exc}") from None
        if q.key in seen:
            raise ConfigError(f"{name}: rows[{i}]: duplicate {'/'.join(q.key)} (also rows[{seen[q.key]}])")
        seen[q.key] = i
        quotes.append(q)
    return Snapshot(
        path=str(path),
        as_of=as_of,
        created_at=str(data.get("created_at") or as_of),
        provider=str(data.get("provider") or "aws"),
        quotes=tuple(quotes),
        schema_version=version,
        description=str(data.get("description") or ""),
    )


def snapshot_to_dict(snap: Snapshot) -> dict:
    return {
        "schema_version": SNAPSHOT_SCHEMA_VERSION,
        "provider": snap.provider,
        "as_of": snap.as_of,
        "created_at": snap.created_at,
        "description": snap.description,
        "rows": [q.to_dict() for q in snap.quotes],
    }


def load_snapshot(path) -> Snapshot:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"price snapshot {str(path)!r} not found") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return snapshot_from_dict(data, str(path))


def bundled_snapshot() -> Snapshot:
    return load_snapshot(BUNDLED_SNAPSHOT)


def find_snapshots(snapshot_dir) -> list[Snapshot]:
    """User snapshots in a directory, oldest first (by as_of, then created_at); a missing dir is empty."""
    d = Path(snapshot_dir)
    if not d.is_dir():
        return []
    snaps = [load_snapshot(p) for p in sorted(d.glob("*.json"))]
    return sorted(snaps, key=lambda s: (parse_source_date(s.as_of), s.created_at, s.path))


def save_snapshot(
    quotes,
    snapshot_dir="results/prices",
    provider: str = "aws",
    now: _dt.datetime | None = None,
    description: str = "",
) -> Path:
    """Write quotes as a NEW dated snapshot file (never overwriting any file) and return its path."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    d = Path(snapshot_dir)
    if d.resolve() == DATA_DIR:
        raise HarnessError(f"refusing to write into the bundled snapshot directory {str(DATA_DIR)!r}; use results/prices")
    quotes = tuple(quotes)
    if not quotes:
        raise HarnessError("refusing to save an empty price snapshot")
    d.mkdir(parents=True, exist_ok=True)
    day = now.date().isoformat()
    snap = Snapshot(
        path="",
        as_of=day,
        created_at=now.isoformat(timespec="microseconds"),
        provider=provider,
        quotes=quotes,
        description=description,
    )
    text = json.dumps(snapshot_to_dict(snap), indent=1) + "\n"
    n = 1
    while True:
        path = d / (f"{provider}-{day}.json" if n == 1 else f"{provider}-{day}-{n}.json")
        try:
            with open(path, "x", encoding="utf-8") as f:  # "x": fail rather than overwrite
                f.write(text)
            return path
        except FileExistsError:
            n += 1
