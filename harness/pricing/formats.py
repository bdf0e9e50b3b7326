"""The persisted price formats as typed contracts, each reading its older versions through explicit migrations
(as harness.contracts reads RunRecord): MIGRATIONS[v] turns a version-v document into a version-(v+1) one.

SNAPSHOT_SCHEMA_VERSION history (aws-YYYY-MM-DD[-N].json: the bundled one, and those `prices refresh` writes):
  1 - schema_version, provider, as_of, created_at, description, rows (instance, region, purchase_option,
      usd_per_hour, source, source_date, grade, notes).
  2 - `source` and `source_date` for the whole snapshot, inherited by rows that do not give their own (a public
      catalogue read once); `hardware`: instance-type facts read with the prices (EC2 DescribeInstanceTypes:
      vCPUs, cores, memory, architecture, GPUs), layered over the bundled instance catalogue. A version-1 file
      reads with no hardware and no snapshot-wide source.

PRICES_CSV_SCHEMA_VERSION history (`--prices FILE`, a CSV the user keeps):
  1 - columns instance, region, purchase_option, usd_per_hour, source, as_of (optional grade, notes); the version
      in a first comment line `# schema_version: 1` or in a schema_version column.
  2 - the columns of a snapshot row, schema_version first, so that the header is the first line and spreadsheets
      and pandas open the file with no options: schema_version, instance, region, purchase_option, usd_per_hour,
      source, source_date, grade, notes (`as_of` became `source_date`).

Stdlib and harness.contracts only: records do no I/O; snapshot.py and user_csv.py read and write the files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from harness.contracts import Contract, RecordError
from harness.contracts.codec import upgrade
from harness.foundation.errors import ConfigError

from .quotes import PriceQuote

SNAPSHOT_SCHEMA_VERSION = 2
PRICES_CSV_SCHEMA_VERSION = 2
QUOTE_FIELDS = ("instance", "region", "purchase_option", "usd_per_hour", "source", "source_date", "grade", "notes")
PRICES_CSV_COLUMNS = ("schema_version",) + QUOTE_FIELDS
PRICES_CSV_V1_REQUIRED = ("instance", "region", "purchase_option", "usd_per_hour", "source", "as_of")
PRICES_CSV_V1_OPTIONAL = ("grade", "notes", "schema_version")


def migrate(data, version, current: int, migrations: Mapping[int, Callable], where: str):
    """`data` of schema `version` brought to `current` through migrations[v] for v = version .. current-1
    (harness.contracts.codec.upgrade, as every persisted format); a version that is not an integer, newer than
    `current`, or has no migration path is one ConfigError line naming `where`."""
    try:
        if not isinstance(version, int) or isinstance(version, bool):
            raise RecordError(f"schema_version: expected an integer, got {version!r}")
        return upgrade(data, version, current, migrations)
    except RecordError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def decode(cls, data: dict, where: str):
    """cls.from_json(data), a shape problem as one ConfigError line naming `where` and the field."""
    try:
        return cls.from_json(data)
    except RecordError as exc:
        raise ConfigError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class QuoteRow(Contract):
    """One priced cell as a file holds it (a snapshot row, a user CSV row): the one place a PriceQuote is built."""

    instance: str
    region: str
    purchase_option: str
    usd_per_hour: float
    source: str
    source_date: str
    grade: str | None = None
    notes: str | None = None

    def quote(self, origin: str, where: str) -> PriceQuote:
        """The PriceQuote this row gives; a bad value is one ConfigError line starting with `where`."""
        try:
            return PriceQuote(instance=self.instance, region=self.region, purchase_option=self.purchase_option,
                              usd_per_hour=self.usd_per_hour, source=self.source, as_of=self.source_date,
                              grade=self.grade, notes=self.notes, origin=origin)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    @classmethod
    def of(cls, q: PriceQuote) -> "QuoteRow":
        return cls(instance=q.instance, region=q.region, purchase_option=q.purchase_option,
                   usd_per_hour=q.usd_per_hour, source=q.source, source_date=q.as_of, grade=q.grade, notes=q.notes)


def quotes_of(located, origin: str) -> list[PriceQuote]:
    """PriceQuotes from (QuoteRow, where) pairs, `where` naming the row in messages; a repeated (instance, region,
    purchase option) is an error naming both rows."""
    quotes: list[PriceQuote] = []
    seen: dict[tuple, str] = {}
    for row, where in located:
        q = row.quote(origin, where)
        if q.key in seen:
            raise ConfigError(f"{where}: duplicate {'/'.join(q.key)} (also {seen[q.key]})")
        seen[q.key] = where
        quotes.append(q)
    return quotes


@dataclass(frozen=True)
class HardwareRow(Contract):
    """What an instance type is, as EC2 DescribeInstanceTypes says (no CPU model or ISA: those are per family)."""

    instance: str
    vcpu: int
    physical_cores: int
    memory_gib: float
    architecture: str
    gpu_model: str | None = None
    gpu_count: int = 0
    gpu_memory_gib: float | None = None
    clock_ghz: float | None = None
    manufacturer: str | None = None


@dataclass(frozen=True)
class SnapshotDoc(Contract):
    """A price snapshot file (schema version 2; older ones through SNAPSHOT_MIGRATIONS)."""

    as_of: str
    rows: tuple[QuoteRow, ...]
    provider: str = "aws"
    created_at: str | None = None
    description: str = ""
    source: str | None = None  # inherited by rows without a source of their own
    source_date: str | None = None
    hardware: tuple[HardwareRow, ...] = ()
    schema_version: int = SNAPSHOT_SCHEMA_VERSION

    @classmethod
    def read(cls, data, name: str) -> "SnapshotDoc":
        """A parsed JSON document of any readable version; problems are one ConfigError line starting with name."""
        if not isinstance(data, dict):
            raise ConfigError(f"{name}: expected a JSON object with schema_version, as_of and rows")
        data = migrate(data, data.get("schema_version"), SNAPSHOT_SCHEMA_VERSION, SNAPSHOT_MIGRATIONS, name)
        rows = data.get("rows")
        if not isinstance(rows, list):
            raise ConfigError(f"{name}: rows: expected a list, got {type(rows).__name__}")
        inherited = {k: data[k] for k in ("source", "source_date") if data.get(k) is not None}
        filled = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ConfigError(f"{name}: rows[{i}]: expected an object")
            row = {**inherited, **{k: v for k, v in row.items() if v is not None or k not in inherited}}
            missing = [k for k in QUOTE_FIELDS[:6] if k not in row]
            if missing:
                raise ConfigError(f"{name}: rows[{i}]: missing field {missing[0]!r}")
            filled.append(decode(QuoteRow, row, f"{name}: rows[{i}]"))
        rest = {k: v for k, v in data.items() if k != "rows"}
        doc = decode(cls, {**rest, "rows": []}, name)
        return dataclasses.replace(doc, rows=tuple(filled))

    def to_json(self) -> dict:
        """The version-2 document; a row's source and source_date are left out when the snapshot's are the same."""
        encoded = super().to_json()
        for row in encoded["rows"]:
            for k in ("source", "source_date"):
                if self.source is not None and getattr(self, k) == row[k]:
                    del row[k]
        first = ("schema_version", "provider", "as_of", "created_at", "description", "source", "source_date")
        return {k: encoded[k] for k in first} | {k: v for k, v in encoded.items() if k not in first}


def _snapshot_v1_to_v2(data: dict) -> dict:
    """v1 rows carry their own source and date; v1 has no hardware facts."""
    return {**data, "hardware": [], "source": None, "source_date": None, "schema_version": 2}


SNAPSHOT_MIGRATIONS = {1: _snapshot_v1_to_v2}


def _prices_csv_v1_to_v2(row: dict) -> dict:
    """One v1 CSV row (a dict of cells) as a v2 row: as_of becomes source_date."""
    out = {k: v for k, v in row.items() if k not in ("as_of", "schema_version")}
    out["source_date"] = row.get("as_of")
    out["schema_version"] = "2"
    return out


PRICES_CSV_MIGRATIONS = {1: _prices_csv_v1_to_v2}


def quote_row_from_cells(cells: dict, where: str) -> QuoteRow:
    """A QuoteRow from a version-2 CSV row (strings): the price parsed, an empty grade 'user', empty notes None."""
    raw = (cells.get("usd_per_hour") or "").strip()
    try:
        price = float(raw)
    except ValueError:
        raise ConfigError(f"{where}: field usd_per_hour {raw!r} is not a number; valid: a number > 0") from None
    text = {k: (cells.get(k) or "").strip() for k in QUOTE_FIELDS if k != "usd_per_hour"}
    return decode(QuoteRow, {**text, "usd_per_hour": price, "grade": text["grade"] or "user",
                             "notes": text["notes"] or None}, where)
