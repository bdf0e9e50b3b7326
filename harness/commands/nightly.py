"""`harness nightly`: run the asv suites for the current commit on this machine, then publish the site."""

from __future__ import annotations

from harness.workflows.nightly import driver

from . import add_command
from .checks import add_results_argument, check_input_dir, check_regex, check_results_root


def register(sub):
    p = add_command(
        sub, "nightly",
        "run the asv suites (latency, throughput, size, quality, $/1M) for HEAD here, then publish results/html",
        "harness nightly --instance-type c7a.large   # from cron; then: harness regressions",
    )
    p.add_argument("--quick", action="store_true", help="the tiny CI suite (bert-tiny, torch + onnxruntime, seconds per configuration)")
    p.add_argument("--suite", default=None, help="suite name: nightly (default) or quick")
    add_results_argument(p, "asv/, runs/ and html/ go under it")
    p.add_argument("--repo", default=None, help="git repository whose HEAD the results are filed under (default: this checkout)")
    p.add_argument("--python", default=None, help="the existing environment's interpreter asv runs the suites with (default: this one)")
    p.add_argument("--machine", default=None, help="asv machine name (default: HOST-ID, the host name beside the machine id, which "
                        "names the CPU's family, model, stepping and ISA)")
    p.add_argument("--instance-type", default=None, help="the cloud instance type this machine is (needed for the $/1M track)")
    p.add_argument("--region", default=None, help="region whose price the $/1M track uses (default us-east-2)")
    p.add_argument("--bench", default=None, help="only benchmarks matching this regular expression (asv --bench)")
    p.add_argument("--no-publish", action="store_true", help="run and record only; do not rebuild results/html")
    p.add_argument("--no-fetch", action="store_true", help="keep the site's CDN links instead of the copies vendored in the repository")
    p.set_defaults(func=run)


def run(args) -> int:
    check_results_root(args.results)
    check_regex(args.bench, "--bench")
    if args.repo is not None:
        check_input_dir(args.repo, "--repo")
    result = driver.run_nightly(
        quick=args.quick, suite=args.suite, repo=args.repo, results=args.results, python=args.python,
        machine=args.machine, instance_type=args.instance_type, region=args.region, bench=args.bench,
        publish=not args.no_publish, vendor_assets=not args.no_fetch,
    )
    return 0 if result.asv_returncode == 0 else 1
