"""`harness results`: read the store as a table, CSV or JSON."""

from __future__ import annotations

import json
import sys

from harness.foundation.errors import ConfigError, choices_error
from harness.foundation.tables import print_table
from harness.results import sync as store_sync
from harness.results.report.flat import to_frame
from harness.results.report.summary import SUMMARY_COLUMNS, summary_rows
from harness.results.store import load_records

from . import add_command
from .checks import add_results_argument, check_results_root, check_results_to_read, integer

FORMATS = ("table", "csv", "json")


def register(sub):
    p = add_command(
        sub, "results", "show stored records (table, csv or json); push/pull them to a shared S3 store",
        "harness results --format csv > results.csv\n  harness results push s3://bench-results/nightly",
    )
    p.add_argument("action", nargs="?", default="show", help="show (default), push or pull")
    p.add_argument("url", nargs="?", default=None, help="push/pull: s3://bucket/prefix")
    p.add_argument("--endpoint-url", default=None, help="push/pull: S3-compatible endpoint (default: boto3 configuration)")
    p.add_argument("--format", default="table", help="table (default), csv, or json (a list of records)")
    add_results_argument(p)
    p.add_argument("--model", default=None, help="only this model")
    p.add_argument("--backend", default=None, help="only this backend")
    p.add_argument("--status", default=None, help="only records with this status (ok, error, timeout, ...)")
    p.add_argument("--last", type=integer(1), default=None, help="only the newest N records")
    p.set_defaults(func=run)


def select(records, args):
    out = [
        r for r in records
        if (not args.model or r.config.model == args.model)
        and (not args.backend or r.config.backend == args.backend)
        and (not args.status or r.status == args.status)
    ]
    out.sort(key=lambda r: r.created_at or "")
    return out[-args.last:] if args.last else out


ACTIONS = ("show", "push", "pull")


def run(args) -> int:
    if args.action not in ACTIONS:
        raise choices_error("action", args.action, ACTIONS)
    if args.action != "pull":  # show and push read the store
        check_results_to_read(args.results)
    if args.action != "show":
        return sync(args)

    if args.format not in FORMATS:
        raise choices_error("format", args.format, FORMATS)
    records = select(load_records(args.results), args)
    if args.format == "json":
        json.dump([r.to_json() for r in records], sys.stdout, indent=1)
        print()
    elif args.format == "csv":
        to_frame(records).to_csv(sys.stdout, index=False)
    else:
        if not records:
            print("no records yet: run `harness bench` or `harness demo`", file=sys.stderr)
            return 0
        print_table(summary_rows(records), SUMMARY_COLUMNS)
    warn_non_finite(records)
    return 0


STATISTICS = ("p50", "p90", "p99", "mean", "std", "min", "max")


def warn_non_finite(records) -> None:
    """One line on stderr when stored statistics are not finite (NaN or infinity, from a store written by hand or
    another tool): the table shows them as "-", and the line says so instead of passing over it."""
    import math

    bad = [(r.record_id, name) for r in records for name in STATISTICS
           if isinstance(getattr(r.latency, name), float) and not math.isfinite(getattr(r.latency, name))]
    if bad:
        rid, name = bad[0]
        print(f"harness: warning: {len(bad)} latency statistic(s) in {len({b[0] for b in bad})} record(s) are not finite "
              f"(NaN or infinity; shown as '-'), e.g. record {rid[:16]} {name}; `harness results --format json` shows "
              f"them as null", file=sys.stderr)


def sync(args) -> int:
    if not args.url:
        raise ConfigError(f"results {args.action} needs an s3://bucket/prefix URL")
    if args.action == "pull":  # records are appended to the local store
        check_results_root(args.results)
    move = store_sync.push if args.action == "push" else store_sync.pull
    moved = move(args.url, args.results, endpoint_url=args.endpoint_url)
    total = sum(moved.values())
    verb = "uploaded" if args.action == "push" else "downloaded"
    print(f"{verb} {total} new record(s) in {len(moved)} file(s) ({args.url})")
    return 0
