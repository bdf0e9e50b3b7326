"""`harness report cost`: what each configuration costs per million items under an SLA, CPU vs GPU."""

from __future__ import annotations

import argparse

from harness.pricing.catalog import parse_instance_list
from harness.results.cost.query import DEFAULT_QUERY, CostQuery
from harness.results.report import cost_report
from harness.results.store import load_records

from . import add_actions, add_command
from .checks import add_results_argument, check_inputs, check_path_text, check_report_out, check_results_to_read, real


def register(sub):
    p = add_command(
        sub, "report", "write reports from the stored results",
        "harness report cost --sla-ms 100 --qps 50 --region us-east-2 --out results/reports/cost",
    )
    kinds = add_actions(p, "report_kind", "KIND")
    c = add_command(
        kinds, "cost", "$ per 1M items under a latency SLA, fleet size and CPU-vs-GPU break-even (Markdown, HTML, CSV)",
        "harness report cost --sla-ms 100 --qps 50 --region us-east-2 --out results/reports/cost\n"
        "  harness report cost --max-quality-drop 2 --out results/reports/cost\n"
        "  harness report cost --example seed --out results/reports/seed --project-to t4g.xlarge",
        description="Join stored run records with prices: capacity under a p99 SLA, $ per 1M items, fleet size at a "
                    "target rate and the break-even rate between the cheapest CPU and GPU options whose accuracy is "
                    "within --max-quality-drop points of the dense fp32 baseline. Writes "
                    "OUT/cost.md, OUT/cost.html (plots embedded) and OUT/cost.csv.",
    )
    d = DEFAULT_QUERY
    c.add_argument("--sla-ms", type=real(0), default=d.sla_ms, help=f"latency bound on p99, in ms (default {d.sla_ms:g})")
    c.add_argument("--qps", type=real(0), default=d.qps,
                   help=f"target request rate for fleet sizing (default {d.qps:g})")
    c.add_argument("--region", default=d.region, help=f"AWS region for prices (default {d.region})")
    c.add_argument("--out", required=True, help="output directory")
    c.add_argument("--prices", metavar="FILE", help="a user price CSV layered over the snapshots")
    c.add_argument("--snapshot-dir", default=d.snapshot_dir,
                   help=f"user price snapshots (default {d.snapshot_dir})")
    add_results_argument(c, "the run records (runs/*.jsonl)")
    c.add_argument("--gpu-reference", action=argparse.BooleanOptionalAction, default=d.gpu_reference,
                   help="use published GPU figures, or figures derived from the model family's by GFLOPs (labelled), "
                        "where no GPU record exists (default on)")
    c.add_argument("--project-to", default="", metavar="TYPES",
                   help="comma-separated CPU instance types to estimate by physical cores (labelled estimates)")
    c.add_argument("--instances", default="", metavar="TYPES", help="only these instance types")
    c.add_argument("--models", default="", metavar="NAMES", help="only these models")
    c.add_argument("--purchase-option", choices=("on-demand", "spot", "both"), default=d.purchase_options[0],
                   help=f"price rows with on-demand, spot, or both (default {d.purchase_options[0]})")
    c.add_argument("--max-quality-drop", type=float, default=d.max_quality_drop, metavar="POINTS",
                   help="accuracy points a row may lose against the dense fp32 record of the same model, task and split "
                        f"and still be chosen (default {d.max_quality_drop:g}); rows beyond it are shown, never chosen")
    c.add_argument("--allow-unknown-quality", action="store_true",
                   help="let rows of unknown quality (no --task accuracy: latency-only, agreement only) be chosen, "
                        "labelled as such; rows beyond --max-quality-drop never are")
    c.add_argument("--example", choices=("seed",), help="a built-in comparison: seed = BERT-base on the CPU types its "
                   "records declare vs t4g.xlarge vs g4dn.xlarge")
    c.set_defaults(func=run_cost)


def cost_query(args) -> CostQuery:
    """The one CostQuery the flags describe (checked on construction and against the instance catalogue)."""
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    options = ("on-demand", "spot") if args.purchase_option == "both" else (args.purchase_option,)
    check_inputs(prices=args.prices)
    check_path_text(args.snapshot_dir, "--snapshot-dir")
    return CostQuery(sla_ms=args.sla_ms, qps=args.qps, region=args.region, purchase_options=options,
                     max_quality_drop=args.max_quality_drop, allow_unknown_quality=args.allow_unknown_quality,
                     gpu_reference=args.gpu_reference, project_to=parse_instance_list(args.project_to, "--project-to"),
                     instances=parse_instance_list(args.instances, "--instances") or None, models=models or None,
                     prices_csv=args.prices, snapshot_dir=args.snapshot_dir)


def run_cost(args) -> int:
    query = cost_query(args)
    check_report_out(args.out)
    check_results_to_read(args.results)
    records = load_records(args.results)  # every record; the cost join skips failed runs with their reason
    if args.example == "seed":
        paths, verdict = cost_report.write_seed_example(records, args.out, query)
        print(verdict.lines[1])
    else:
        paths = cost_report.write_cost_report(records, args.out, query, echo=print)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
