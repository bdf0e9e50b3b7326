"""Dated price snapshots: the bundled one (read-only) and user snapshots written by `prices refresh`.

The file format (schema versions and their migrations) is harness.pricing.formats.SnapshotDoc.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path

from harness.foundation.errors import ConfigError, HarnessError

from .formats import SNAPSHOT_SCHEMA_VERSION, HardwareRow, QuoteRow, SnapshotDoc, quotes_of
from .quotes import PriceLayer, PriceQuote, parse_source_date

DATA_DIR = Path(__file__).resolve().parent / "data"
BUNDLED_SNAPSHOT = DATA_DIR / "aws-2026-12-05.json"


@dataclass(frozen=True)
class Snapshot:
    """One snapshot file's content: a date, the quotes it holds and the hardware facts read with them."""

    path: str
    as_of: str
    created_at: str
    provider: str
    quotes: tuple[PriceQuote, ...]
    schema_version: int = SNAPSHOT_SCHEMA_VERSION
    description: str = ""
    hardware: tuple[HardwareRow, ...] = ()
    source: str | None = None
    source_date: str | None = None

    def layer(self, kind: str) -> PriceLayer:
        return PriceLayer(kind=kind, path=self.path, as_of=self.as_of, n_quotes=len(self.quotes))


def snapshot_from_dict(data: dict, path: str = "<memory>") -> Snapshot:
    name = Path(path).name
    doc = SnapshotDoc.read(data, name)
    try:
        parse_source_date(doc.as_of)
    except ConfigError:
        raise ConfigError(f"{name}: as_of {doc.as_of!r} is not a date; valid form: YYYY-MM-DD") from None
    quotes = quotes_of(((row, f"{name}: rows[{i}]") for i, row in enumerate(doc.rows)), str(path))
    version = data.get("schema_version")
    return Snapshot(path=str(path), as_of=doc.as_of, created_at=doc.created_at or doc.as_of, provider=doc.provider,
                    quotes=tuple(quotes), schema_version=version, description=doc.description,
                    hardware=doc.hardware, source=doc.source, source_date=doc.source_date)


def snapshot_to_dict(snap: Snapshot) -> dict:
    """The current schema version's document for a snapshot."""
    return SnapshotDoc(as_of=snap.as_of, rows=tuple(QuoteRow.of(q) for q in snap.quotes), provider=snap.provider,
                       created_at=snap.created_at, description=snap.description, source=snap.source,
                       source_date=snap.source_date, hardware=tuple(snap.hardware)).to_json()


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
    hardware=(),
) -> Path:
    """Write quotes (and the hardware facts read with them) as a NEW dated snapshot file (never overwriting any
    file) and return its path."""
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
        hardware=tuple(hardware),
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
