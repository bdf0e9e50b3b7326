"""`harness fleet plan|submit|collect|worker`: a matrix on many machines through AWS Batch or Kubernetes."""

from __future__ import annotations

import dataclasses
import sys

from harness.foundation.errors import HarnessError
from harness.pricing import load_price_book, validate_region
from harness.workflows.fleet import collect as fleet_collect

from . import add_actions, add_command
from .checks import (
    check_input_dir,
    check_inputs,
    check_out_dirs,
    check_path_text,
    check_replaceable_output,
    check_report_out,
    check_results_root,
    real,
)

PLAN_EXAMPLE = ("harness fleet plan matrices/demo.yaml --instance-types c7a.large,c7i.xlarge,c7g.xlarge --shards 4 "
                "--results s3://bench-results/nightly --out fleet/")


def register(sub):
    p = add_command(
        sub, "fleet", "run a matrix on a fleet of instance types through AWS Batch array jobs or Kubernetes Indexed Jobs",
        f"{PLAN_EXAMPLE}\n  harness fleet submit fleet/\n"
        "  harness fleet collect --results s3://bench-results/nightly --out results/reports/fleet --plan fleet/",
    )
    kinds = add_actions(p, "fleet_action")
    _plan_parser(kinds)
    _submit_parser(kinds)
    _collect_parser(kinds)
    _worker_parser(kinds)


def _plan_parser(kinds):
    c = add_command(kinds, "plan", "write AWS Batch job definitions and array submissions and Kubernetes Indexed Jobs, "
             "one per instance type, each child measuring one shard on a machine of its own", PLAN_EXAMPLE)
    c.add_argument("matrix", help="matrix YAML file (its instance_type, if any, is replaced per job)")
    c.add_argument("--instance-types", required=True, metavar="T1,T2", help="instance types from the catalogue")
    c.add_argument("--shards", required=True, type=int, metavar="N", help="machines per instance type (1..10000)")
    c.add_argument("--results", required=True, metavar="s3://BUCKET/PREFIX", help="where every child pushes its records")
    c.add_argument("--out", required=True, metavar="DIR", help="directory for fleet.json, batch/ and kubernetes/")
    c.add_argument("--image", default="harness:latest", help="container image built from the Dockerfile (default harness:latest)")
    c.add_argument("--gpu-image", default=None, help="image for GPU instance types (default --image)")
    c.add_argument("--job-queue", default="harness-{instance}",
                   help="AWS Batch job queue; {instance} becomes e.g. c7a-large (default harness-{instance})")
    c.add_argument("--job-role-arn", default=None, help="IAM role the Batch container runs as (S3 access, docs/fleet.md)")
    c.add_argument("--name", default=None, help="job name prefix (default harness-<matrix name>)")
    c.add_argument("--retries", type=int, default=1, help="retries per child (default 1)")
    c.add_argument("--timeout-min", type=real(0, zero=True), default=360,
                   help="minutes per attempt before the scheduler stops it; 0: none")
    c.add_argument("--namespace", default="default", help="Kubernetes namespace (default default)")
    c.add_argument("--service-account", default=None, help="Kubernetes service account with S3 access (IRSA / workload identity)")
    c.set_defaults(func=run_plan)


def _submit_parser(kinds):
    c = add_command(kinds, "submit", "register the planned AWS Batch job definitions, submit the array jobs and follow them",
             "harness fleet submit fleet/ --region us-east-2")
    c.add_argument("plan", metavar="DIR", help="directory written by `harness fleet plan`")
    c.add_argument("--region", default=None, help="AWS region of the job queues (default boto3's configuration)")
    c.add_argument("--endpoint-url", default=None, help="AWS Batch endpoint (default boto3's configuration)")
    c.add_argument("--no-wait", action="store_true", help="print the job ids and exit")
    c.add_argument("--poll-s", type=real(0), default=30.0, help="seconds between status checks (default 30)")
    c.add_argument("--timeout-min", type=real(0), default=None, help="stop waiting (jobs keep running) after this long")
    c.set_defaults(func=run_submit)


def _collect_parser(kinds):
    c = add_command(kinds, "collect", "pull a fleet's records, write the merged cost report and what the fleet run cost",
             "harness fleet collect --results s3://bench-results/nightly --out results/reports/fleet --region us-east-2")
    c.add_argument("--results", required=True, metavar="s3://BUCKET/PREFIX", help="where the fleet pushed its records")
    c.add_argument("--out", required=True, metavar="DIR", help="report directory (cost.*, fleet-cost.md, fleet-cost.csv)")
    c.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint (default boto3's configuration)")
    c.add_argument("--into", default=None, metavar="DIR", help="keep the pulled records in this results directory")
    c.add_argument("--sla-ms", type=real(0), default=100.0, help="latency bound on p99, in ms (default 100)")
    c.add_argument("--qps", type=real(0), default=50.0, help="target request rate for fleet sizing (default 50)")
    c.add_argument("--region", default="us-east-2", help="AWS region for prices, and of the Batch jobs with --plan")
    c.add_argument("--prices", metavar="FILE", help="a user price CSV layered over the snapshots")
    c.add_argument("--snapshot-dir", default="results/prices", help="user price snapshots (default results/prices)")
    c.add_argument("--purchase-option", choices=("on-demand", "spot"), default="on-demand", help="price with (default on-demand)")
    c.add_argument("--plan", default=None, metavar="DIR",
                   help="a submitted plan: price the fleet from its AWS Batch child job times instead of record times")
    c.set_defaults(func=run_collect)


def _worker_parser(kinds):
    c = add_command(kinds, "worker", "inside a scheduled job: run this child's shard of the matrix, then push the records",
             "harness fleet worker --shard auto --instance-type c7a.large --results s3://bench-results/nightly")
    c.add_argument("matrix", nargs="?", default=None, help="matrix file (default: $HARNESS_FLEET_MATRIX, set by the plan)")
    c.add_argument("--instance-type", required=True, help="the instance type this job runs on")
    c.add_argument("--results", required=True, metavar="s3://BUCKET/PREFIX", help="where to push the records")
    c.add_argument("--shard", default="auto", help="auto (default: from the scheduler) or i/n")
    c.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint (default boto3's configuration)")
    c.add_argument("--results-dir", default=None, help="local results directory (default $HARNESS_RESULTS_DIR or results)")
    c.set_defaults(func=run_worker)


def run_plan(args) -> int:
    from harness.measure.matrix import load_matrix
    from harness.workflows.fleet.plan import PLAN_FILE, write_plan
    from harness.workflows.fleet.spec import FleetSpec, default_name, parse_instance_types

    matrix = load_matrix(args.matrix)
    check_replaceable_output(args.out, "--out", what="a fleet plan directory", owned=PLAN_FILE)
    if matrix.instance_type:
        print("harness: note: the matrix's instance_type is replaced by each job's instance type", file=sys.stderr)
        matrix = dataclasses.replace(matrix, instance_type=None)
    spec = FleetSpec(
        name=args.name or default_name(matrix), matrix=matrix, instance_types=parse_instance_types(args.instance_types),
        shards=args.shards, results=args.results, image=args.image, gpu_image=args.gpu_image, job_queue=args.job_queue,
        job_role_arn=args.job_role_arn, retries=args.retries, timeout_s=int(args.timeout_min * 60) or None,
        namespace=args.namespace, service_account=args.service_account,
    )
    paths = write_plan(spec, args.out)  # written beside --out and renamed into place: an earlier plan goes whole
    print(f"planned {len(spec.instance_types)} instance type(s) x {spec.shards} shard(s) = "
          f"{len(spec.instance_types) * spec.shards} machine(s), results to {spec.results}")
    for label, path in paths.items():
        print(f"  {label}: {path}")
    print(f"next: harness fleet submit {args.out}   (or: kubectl apply -f {args.out}/kubernetes/)")
    return 0


def run_submit(args) -> int:
    from harness.workflows.fleet import submit
    from harness.workflows.fleet.plan import read_batch_plan

    check_input_dir(args.plan, "PLAN")
    jobs = read_batch_plan(args.plan)  # everything is checked before the first call
    try:
        client = submit.batch_client(args.region, args.endpoint_url)
    except Exception as exc:  # botocore's NoRegionError and friends
        raise HarnessError(f"cannot create an AWS Batch client: {exc}") from None
    submitted = submit.submit_plan(client, jobs)
    path = submit.save_submitted(args.plan, submitted)
    for s in submitted:
        print(f"submitted {s.instance_type}: {s.job_name} {s.job_id} ({s.size} child job(s)) on {s.job_queue}")
    print(f"job ids saved to {path}")
    if args.no_wait:
        return 0
    timeout = args.timeout_min * 60 if args.timeout_min else None
    states = submit.wait(client, submitted, poll_s=args.poll_s, timeout_s=timeout)
    failed = [k for k, v in states.items() if v != "SUCCEEDED"]
    summary = f"{len(states) - len(failed)} of {len(states)} array job(s) succeeded"
    print(summary + (f"; not succeeded: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def run_collect(args) -> int:
    validate_region(args.region, "--region")
    check_report_out(args.out)
    check_out_dirs(into=args.into)
    check_inputs(plan=args.plan, prices=args.prices)
    check_path_text(args.snapshot_dir, "--snapshot-dir")
    book = load_price_book(snapshot_dir=args.snapshot_dir, prices_csv=args.prices)
    children = _batch_children(args.plan, args.region) if args.plan else None
    paths = fleet_collect.collect(args.results, args.out, sla_ms=args.sla_ms, qps=args.qps, region=args.region,
                                  book=book, into=args.into, endpoint_url=args.endpoint_url,
                                  purchase_option=args.purchase_option, batch_children=children)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def _batch_children(plan_dir, region):
    from pathlib import Path

    from harness.workflows.fleet import submit

    submitted = submit.load_submitted(Path(plan_dir) / submit.SUBMITTED_FILE)
    return submit.child_times(submit.batch_client(region), submitted)


def run_worker(args) -> int:
    from harness.workflows.fleet.worker import check_instance_env, matrix_from, run_shard

    check_instance_env(args.instance_type)
    check_results_root(args.results_dir)
    matrix = matrix_from(args.matrix)
    run_shard(matrix, args.instance_type, args.results, shard_text=args.shard, root=args.results_dir,
              endpoint_url=args.endpoint_url)
    return 0
