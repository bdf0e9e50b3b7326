"""`harness regressions`: latest results vs the previous ones per benchmark; exits 1 on a regression."""

from __future__ import annotations

import json
import sys

from harness.foundation.errors import choices_error
from harness.results.regressions import DEFAULT_ALPHA, DEFAULT_THRESHOLD, find_regressions, render, resolve_rev
from harness.results.store import load_records

from . import add_command
from .checks import add_results_argument, check_input_dir, check_results_to_read

FORMATS = ("table", "json")


def register(sub):
    p = add_command(
        sub, "regressions",
        "compare the latest run of each benchmark with the previous one (raw samples); exit 1 on a regression",
        "harness regressions --since main~1 --threshold 1.10",
    )
    p.add_argument("--since", default=None, help="baseline commit for every benchmark (hash, branch, tag, HEAD~1); default: each one's previous commit")
    p.add_argument("--commit", default=None, help="the commit to check (default: the commit of the newest record)")
    p.add_argument("--threshold", type=float, default=None, help="flag a median ratio above this (default 1.10 = 10%% slower)")
    p.add_argument("--alpha", type=float, default=None, help="and a Mann-Whitney p-value below this (default 0.01)")
    add_results_argument(p)
    p.add_argument("--repo", default=None, help="git repository used to resolve --since/--commit names (default: the current directory)")
    p.add_argument("--all", action="store_true", help="list every comparison, not only the flagged ones")
    p.add_argument("--format", default="table", help="table (default) or json")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.format not in FORMATS:
        raise choices_error("format", args.format, FORMATS)
    check_results_to_read(args.results)
    if args.repo is not None:
        check_input_dir(args.repo, "--repo")
    since = resolve_rev(args.since, args.repo) if args.since else None
    commit = resolve_rev(args.commit, args.repo) if args.commit else None
    report = find_regressions(
        load_records(args.results), since=since, latest=commit,
        threshold=DEFAULT_THRESHOLD if args.threshold is None else args.threshold,
        alpha=DEFAULT_ALPHA if args.alpha is None else args.alpha,
    )
    if args.format == "json":
        json.dump({
            "latest_commit": report.latest_commit, "since": report.since, "threshold": report.threshold,
            "alpha": report.alpha, "regressions": len(report.regressions), "improvements": len(report.improvements),
            "comparisons": [c.to_dict() for c in report.comparisons], "without_baseline": list(report.without_baseline),
            "machine_note": report.machine_note,
        }, sys.stdout, indent=1)
        print()
    else:
        print(render(report, show_all=args.all))
    return 1 if report.regressions else 0
