"""`harness prices show|refresh`: the prices in force, and a live refresh from AWS."""

from __future__ import annotations

import sys

from harness.foundation.errors import ConfigError
from harness.foundation.tables import print_table
from harness.pricing import aws, load_price_book, stale_warnings, validate_region
from harness.pricing.catalog import parse_instance_list

from . import add_actions, add_command
from .checks import check_inputs, check_out_dirs, check_path_text

DEFAULT_SNAPSHOT_DIR = "results/prices"


def register(sub):
    p = add_command(
        sub, "prices", "show the cloud prices in force, or refresh them from AWS",
        "harness prices show --region us-east-2\n  harness prices refresh --region us-east-2 --instances c7a.large,g4dn.xlarge",
    )
    actions = add_actions(p, "prices_action")

    show = add_command(
        actions, "show", "list the prices in force (instance, region, option, $/h, source, as-of, age)",
        "harness prices show --region us-east-2 --max-age-days 30",
        description="List the prices in force: user CSV > newest user snapshot > bundled snapshot, per cell.",
    )
    show.add_argument("--region", help="only this region, e.g. us-east-2")
    show.add_argument("--max-age-days", type=int, default=90, help="warn when prices are older than this (default 90)")
    show.add_argument("--snapshot-dir", default=DEFAULT_SNAPSHOT_DIR, help=f"user snapshots (default {DEFAULT_SNAPSHOT_DIR})")
    show.add_argument("--prices", metavar="FILE", help="a user price CSV layered over the snapshots")
    show.set_defaults(func=run_show)

    ref = add_command(
        actions, "refresh", "fetch live prices (AWS Price List API + spot) and instance facts into a new dated snapshot",
        "harness prices refresh --region us-east-2 --instances c7a.large,t4g.xlarge,g4dn.xlarge",
        description="Fetch on-demand (AWS Price List API) and spot (EC2 spot price history) prices and the types' "
                    "hardware facts (EC2 DescribeInstanceTypes) and save them as a new dated snapshot. On an API or "
                    "network error, fall back to the snapshot in force with a warning.",
    )
    ref.add_argument("--region", required=True, help="AWS region code, e.g. us-east-2")
    ref.add_argument("--instances", required=True, help="comma-separated instance types")
    ref.add_argument("--snapshot-dir", default=DEFAULT_SNAPSHOT_DIR, help=f"where to write (default {DEFAULT_SNAPSHOT_DIR})")
    ref.add_argument("--no-spot", action="store_true", help="skip spot prices")
    ref.set_defaults(func=run_refresh)


def _quote_rows(quotes, today=None) -> list[dict]:
    return [
        {"instance": q.instance, "region": q.region, "option": q.purchase_option, "usd_per_hour": f"{q.usd_per_hour:.6g}",
         "grade": q.grade or "-", "as_of": q.as_of, "age_days": q.age_days(today), "source": q.source}
        for q in quotes
    ]


def run_show(args) -> int:
    check_inputs(prices=args.prices)
    check_path_text(args.snapshot_dir, "--snapshot-dir")
    if args.max_age_days < 0:
        raise ConfigError(f"--max-age-days: {args.max_age_days}; valid: a number of days >= 0")
    if args.region:
        validate_region(args.region, "--region")
    book = load_price_book(snapshot_dir=args.snapshot_dir, prices_csv=args.prices)
    quotes = book.in_region(args.region)
    if args.region and not quotes:
        raise ConfigError(f"--region: no prices for {args.region[:60]!r}; regions with prices: {', '.join(book.regions())}")
    for layer in book.layers:
        print(f"# {layer.kind}: {layer.path} (as of {layer.as_of}, {layer.n_quotes} quotes)")
    print_table(_quote_rows(quotes))
    for w in stale_warnings(book, args.max_age_days, region=args.region):
        print(w, file=sys.stderr)
    return 0


def run_refresh(args) -> int:
    instances = parse_instance_list(args.instances)
    check_out_dirs(snapshot_dir=args.snapshot_dir)
    result = aws.refresh(args.region, instances, snapshot_dir=args.snapshot_dir, spot=not args.no_spot)
    print_table(_quote_rows(result.quotes))
    if result.path:
        print(f"saved {result.path}")
    return 0
