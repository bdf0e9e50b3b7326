"""The price book in force: the bundled snapshot, layered under user snapshots and a user CSV."""

from __future__ import annotations

import datetime as _dt

import harness.pricing.quotes as _quotes  # current_date through the module: tests replace it there

from .quotes import PriceBook, PriceLayer, PriceQuote, parse_source_date
from .snapshot import bundled_snapshot, find_snapshots
from .user_csv import load_prices_csv


def load_price_book(
    snapshot_dir: str | None = "results/prices",
    prices_csv: str | None = None,
    include_bundled: bool = True,
) -> PriceBook:
    """The book in force: bundled snapshot < user snapshots (oldest to newest) < user CSV; the hardware facts of
    the newest snapshot that has each instance type."""
    layered: list[tuple[PriceLayer, list[PriceQuote]]] = []
    hardware = []
    if include_bundled:
        snap = bundled_snapshot()
        layered.append((snap.layer("bundled"), list(snap.quotes)))
        hardware += snap.hardware
    if snapshot_dir:
        for snap in find_snapshots(snapshot_dir):
            layered.append((snap.layer("snapshot"), list(snap.quotes)))
            hardware += snap.hardware
    if prices_csv:
        quotes = load_prices_csv(prices_csv)
        newest = max((q.as_of_date for q in quotes), default=_quotes.current_date()).isoformat()
        layered.append((PriceLayer("csv", str(prices_csv), newest, len(quotes)), quotes))
    return PriceBook.from_layers(layered, hardware)


def stale_warnings(book: PriceBook, max_age_days: int, today: _dt.date | None = None, region: str | None = None) -> list[str]:
    """One-line warnings for a book whose newest layer, or some quotes (of `region`), are older than max_age_days."""
    today = today or _quotes.current_date()
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
