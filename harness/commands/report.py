"""`harness report cost`: what each configuration costs per million items under an SLA, CPU vs GPU."""

from __future__ import annotations

import argparse

from . import add_command
from .checks import check_inputs, check_path_text, check_report_out, check_results_to_read, real


def register(sub):
    p = add_command(
        sub, "report", "write reports from the stored results",
        "harness report cost --sla-ms 100 --qps 50 --region us-east-2 --out results/reports/cost",
    )
    kinds = p.add_subparsers(dest="report_kind", metavar="KIND", parser_class=type(p))
    c = kinds.add_parser(
        "cost", help="$ per 1M items under a latency SLA, fleet size and CPU-vs-GPU break-even (Markdown, HTML, CSV)",
        description="Join stored run records with prices: capacity under a p99 SLA, $ per 1M items, fleet size at a "
                    "target rate and the break-even rate between the cheapest CPU and GPU options whose accuracy is "
                    "within --max-quality-drop points of the dense fp32 baseline. Writes "
                    "OUT/cost.md, OUT/cost.html (plots embedded) and OUT/cost.csv.",
        epilog="examples:\n  harness report cost --sla-ms 100 --qps 50 --region us-east-2 --out results/reports/cost\n"
               "  harness report cost --max-quality-drop 2 --out results/reports/cost\n"
               "  harness report cost --example seed --out results/reports/seed --project-to t4g.xlarge",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("--sla-ms", type=real(0), default=100.0, help="latency bound on p99, in ms (default 100)")
    c.add_argument("--qps", type=real(0), default=50.0, help="target request rate for fleet sizing (default 50)")
    c.add_argument("--region", default="us-east-2", help="AWS region for prices (default us-east-2)")
    c.add_argument("--out", required=True, help="output directory")
    c.add_argument("--prices", metavar="FILE", help="a user price CSV layered over the snapshots")
    c.add_argument("--snapshot-dir", default="results/prices", help="user price snapshots (default results/prices)")
    c.add_argument("--results", default=None, metavar="DIR",
                   help="results root holding runs/*.jsonl (default $HARNESS_RESULTS_DIR or results)")
    c.add_argument("--gpu-reference", action=argparse.BooleanOptionalAction, default=True,
                   help="use published GPU figures (labelled reference) where no GPU record exists (default on)")
    c.add_argument("--project-to", default="", metavar="TYPES",
                   help="comma-separated CPU instance types to estimate by physical cores (labelled estimates)")
    c.add_argument("--instances", default="", metavar="TYPES", help="only these instance types")
    c.add_argument("--models", default="", metavar="NAMES", help="only these models")
    c.add_argument("--purchase-option", choices=("on-demand", "spot", "both"), default="on-demand",
                   help="price rows with on-demand, spot, or both (default on-demand)")
    c.add_argument("--max-quality-drop", type=float, default=1.0, metavar="POINTS",  # checked by harness.results.cost
                   help="accuracy points a row may lose against the dense fp32 record of the same model, task and split "
                        "and still be chosen (default 1.0); rows beyond it are shown, never chosen")
    c.add_argument("--allow-unknown-quality", action="store_true",
                   help="let rows of unknown quality (no --task accuracy: latency-only, agreement only) be chosen, "
                        "labelled as such; rows beyond --max-quality-drop never are")
    c.add_argument("--example", choices=("seed",), help="a built-in comparison: seed = c7a.large vs t4g.xlarge vs g4dn.xlarge, BERT-base")
    c.set_defaults(func=run_cost)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_cost(args) -> int:
    from harness.pricing import load_price_book
    from harness.pricing.catalog import parse_instance_list
    from harness.results.report.cost_report import write_cost_report, write_seed_example
    from harness.results.store import load_records

    project_to = parse_instance_list(args.project_to, "--project-to")
    instances = parse_instance_list(args.instances, "--instances")
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    options = ("on-demand", "spot") if args.purchase_option == "both" else (args.purchase_option,)
    check_report_out(args.out)
    check_results_to_read(args.results)
    check_inputs(prices=args.prices)
    check_path_text(args.snapshot_dir, "--snapshot-dir")
    book = load_price_book(snapshot_dir=args.snapshot_dir, prices_csv=args.prices)
    quality = dict(max_quality_drop=args.max_quality_drop, allow_unknown_quality=args.allow_unknown_quality)
    records = load_records(args.results)  # every record; the cost join skips failed runs with their reason
    if args.example == "seed":
        paths = write_seed_example(records, args.out, sla_ms=args.sla_ms, qps=args.qps, region=args.region, book=book,
                                   project_to=project_to, gpu_reference=args.gpu_reference, **quality)
    else:
        paths = write_cost_report(records, args.out, args.sla_ms, args.qps, args.region, book=book,
                                  purchase_options=options, gpu_reference=args.gpu_reference, project_to=project_to,
                                  instances=instances or None, models=models or None, **quality)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
