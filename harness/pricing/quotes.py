"""Price quotes, the layers they come from, and the book of quotes in force (frozen records, no I/O)."""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass, field

from harness.foundation.errors import ConfigError, choices_error

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
    hardware: tuple = field(default=())  # formats.HardwareRow facts read with prices, newest per instance type

    @classmethod
    def from_layers(cls, layered: list[tuple[PriceLayer, list[PriceQuote]]], hardware=()) -> "PriceBook":
        """Build from layers given lowest priority first; a later layer's quote replaces an earlier one (and a later
        hardware row an earlier one of the same instance type)."""
        cells: dict[tuple[str, str, str], PriceQuote] = {}
        for _layer, quotes in layered:
            for q in quotes:
                cells[q.key] = q
        ordered = tuple(sorted(cells.values(), key=lambda q: (q.region, q.purchase_option, q.instance)))
        facts = {h.instance: h for h in hardware}
        return cls(quotes=ordered, layers=tuple(layer for layer, _ in layered), hardware=tuple(facts.values()))

    def get(self, instance: str, region: str, purchase_option: str = "on-demand") -> PriceQuote | None:
        for q in self.quotes:
            if q.instance == instance and q.region == region and q.purchase_option == purchase_option:
                return q
        return None

    def in_region(self, region: str | None) -> tuple[PriceQuote, ...]:
        return tuple(q for q in self.quotes if region is None or q.region == region)

    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({q.region for q in self.quotes}))
