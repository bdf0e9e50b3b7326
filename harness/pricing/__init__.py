"""Cloud prices: frozen quotes from dated sources, and the book of quotes in force.

Sources, each returning `PriceQuote` rows that carry their source and as-of date:
  - the bundled dated snapshot (harness/pricing/data/aws-*.json), see `snapshot.py`;
  - user snapshots written by `harness prices refresh` (AWS Price List API + spot), see `aws.py`;
  - a user CSV (`--prices FILE`), see `user_csv.py`.

`load_price_book()` layers them: for each (instance, region, purchase option) the user CSV wins, then
the newest user snapshot that has the cell, then older ones, then the bundled snapshot. Every quote keeps
its own source and date, so a mixed book is still fully attributed.

This module stays light (no boto3, no pandas): the CLI imports it for `--help`.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass, field

from ..errors import ConfigError, choices_error

PURCHASE_OPTIONS = ("on-demand", "spot")

# Dates in sources are as precise as the source is: "2026-09-10", "2026-08", "2026", or an ISO 8601
# interval of years/months/days such as "2025/2026" (a catalogue gathered over two years).
_DATE_PART = r"\d{4}(?:-\d{2}(?:-\d{2})?)?"
_DATE_RE = re.compile(rf"^{_DATE_PART}(?:/{_DATE_PART})?$")
_INSTANCE_RE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
_REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")


def validate_region(region: str, field_name: str = "region") -> str:
    if not isinstance(region, str) or not _REGION_RE.match(region):
        raise ConfigError(f"{field_name}: {region!r} is not an AWS region code; valid form: us-east-2, eu-west-1, ...")
    return region


def validate_instance_name(name: str, field_name: str = "instance") -> str:
    if not isinstance(name, str) or not _INSTANCE_RE.match(name):
        raise ConfigError(f"{field_name}: {name!r} is not an instance type name; valid form: family.size, e.g. c7a.large")
    return name


def current_date() -> _dt.date:
    """Today's date; the one place ages are measured from (tests replace it)."""
    return _dt.date.today()


def parse_source_date(text: str) -> _dt.date:
    """The earliest day a (possibly partial or interval) source date can mean: ages err on the old side."""
    if not isinstance(text, str) or not _DATE_RE.match(text):
        raise ConfigError(f"as_of: {text!r} is not a date; valid forms: YYYY-MM-DD, YYYY-MM, YYYY, or START/END")
    start = text.split("/")[0]
    parts = [int(p) for p in start.split("-")]
    try:
        return _dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        raise ConfigError(f"as_of: {text!r} is not a valid calendar date") from None


@dataclass(frozen=True)
class PriceQuote:
    """One hourly price for one instance type, region and purchase option, with where it came from."""

    instance: str
    region: str
    purchase_option: str  # "on-demand" | "spot"
    usd_per_hour: float
    source: str  # who said so, in words
    as_of: str  # when the source said so: YYYY-MM-DD, YYYY-MM, YYYY or START/END
    grade: str | None = None  # prices.md source grade (E, S, S-d, d, C, seed) or "live"
    notes: str | None = None
    origin: str | None = None  # the file or API this row was read from

    def __post_init__(self):
        validate_instance_name(self.instance)
        validate_region(self.region)
        if self.purchase_option not in PURCHASE_OPTIONS:
            raise choices_error("purchase_option", self.purchase_option, PURCHASE_OPTIONS)
        price = self.usd_per_hour
        if isinstance(price, bool) or not isinstance(price, (int, float)) or not math.isfinite(price) or price <= 0:
            raise ConfigError(
                f"usd_per_hour: {price!r} for {self.instance} in {self.region} is not a usable price; valid: a number > 0"
            )
        if not self.source or not isinstance(self.source, str):
            raise ConfigError(f"source: {self.source!r} for {self.instance} in {self.region}; valid: a non-empty string")
        parse_source_date(self.as_of)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.instance, self.region, self.purchase_option)

    @property
    def as_of_date(self) -> _dt.date:
        return parse_source_date(self.as_of)

    def age_days(self, today: _dt.date | None = None) -> int:
        return ((today or current_date()) - self.as_of_date).days

    def to_dict(self) -> dict:
        return {
            "instance": self.instance,
            "region": self.region,
            "purchase_option": self.purchase_option,
            "usd_per_hour": self.usd_per_hour,
            "source": self.source,
            "source_date": self.as_of,
            "grade": self.grade,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class PriceLayer:
    """One source of quotes in a book: a snapshot file or a CSV, with its own date."""

    kind: str  # "bundled" | "snapshot" | "csv" | "live"
    path: str
    as_of: str  # the date the layer was assembled (snapshot as_of; for a CSV its newest row date)
    n_quotes: int

    def age_days(self, today: _dt.date | None = None) -> int:
        return ((today or current_date()) - parse_source_date(self.as_of)).days


@dataclass(frozen=True)
class PriceBook:
    """The quotes in force: one per (instance, region, purchase option), each with its source."""

    quotes: tuple[PriceQuote, ...]
    layers: tuple[PriceLayer, ...] = field(default=())

    @classmethod
    def from_layers(cls, layered: list[tuple[PriceLayer, list[PriceQuote]]]) -> "PriceBook":
        """Build from layers given lowest priority first; a later layer's quote replaces an earlier one."""
        cells: dict[tuple[str, str, str], PriceQuote] = {}
        for _layer, quotes in layered:
            for q in quotes:
                cells[q.key] = q
        ordered = tuple(sorted(cells.values(), key=lambda q: (q.region, q.purchase_option, q.instance)))
        return cls(quotes=ordered, layers=tuple(layer for layer, _ in layered))

    def get(self, instance: str, region: str, purchase_option: str = "on-demand") -> PriceQuote | None:
        for q in self.quotes:
            if q.instance == instance and q.region == region and q.purchase_option == purchase_option:
                return q
        return None

    def in_region(self, region: str | None) -> tuple[PriceQuote, ...]:
        return tuple(q for q in self.quotes if region is None or q.region == region)

    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({q.region for q in self.quotes}))


def load_price_book(
    snapshot_dir: str | None = "results/prices",
    prices_csv: str | None = None,
    include_bundled: bool = True,
) -> PriceBook:
    """The book in force: bundled snapshot < user snapshots (oldest to newest) < user CSV."""
    from .snapshot import bundled_snapshot, find_snapshots

    layered: list[tuple[PriceLayer, list[PriceQuote]]] = []
    if include_bundled:
        snap = bundled_snapshot()
        layered.append((snap.layer("bundled"), list(snap.quotes)))
    if snapshot_dir:
        for snap in find_snapshots(snapshot_dir):
            layered.append((snap.layer("snapshot"), list(snap.quotes)))
    if prices_csv:
        from .user_csv import load_prices_csv

        quotes = load_prices_csv(prices_csv)
        newest = max((q.as_of_date for q in quotes), default=current_date()).isoformat()
        layered.append((PriceLayer("csv", str(prices_csv), newest, len(quotes)), quotes))
    return PriceBook.from_layers(layered)


def stale_warnings(book: PriceBook, max_age_days: int, today: _dt.date | None = None, region: str | None = None) -> list[str]:
    """One-line warnings for a book whose newest layer, or some quotes (of `region`), are older than max_age_days."""
    today = today or current_date()
    out = []
    if book.layers:
        newest = max(book.layers, key=lambda layer: parse_source_date(layer.as_of))
        age = newest.age_days(today)
        if age > max_age_days:
            out.append(
                f"warning: the newest price snapshot in force ({newest.kind} {newest.path}, as of {newest.as_of}) "
                f"is {age} days old (> {max_age_days}); run `harness prices refresh`"
            )
    quotes = book.in_region(region)
    old = [q for q in quotes if q.age_days(today) > max_age_days]
    if old:
        oldest = max(old, key=lambda q: q.age_days(today))
        out.append(
            f"warning: {len(old)} of {len(quotes)} quotes in force have a source date older than "
            f"{max_age_days} days (oldest: {oldest.instance} {oldest.region} as of {oldest.as_of})"
        )
    return out
