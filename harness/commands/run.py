"""`harness run MATRIX.yaml`: a matrix of configurations, resumable and shardable."""

from __future__ import annotations

from pathlib import Path

from . import add_command
from .bench import TASK_FLAGS, add_force_threads_argument, add_task_arguments, check_before_measuring, task_from_args
from .checks import MAX_REPEATS, integer


def register(sub):
    p = add_command(
        sub, "run", "run a matrix file (resumable: recorded configurations are skipped)",
        "harness run matrices/default.yaml --shard 1/2",
    )
    p.add_argument("matrix", help="YAML matrix file (keys: models, backends, threads, batch_sizes, seq_lens, ...)")
    p.add_argument("--shard", default=None,
                   help="i/n: run only this machine's deterministic share of the matrix; auto: i/n from the AWS Batch "
                        "array index or Kubernetes Indexed Job completion index and HARNESS_SHARD_COUNT")
    p.add_argument("--force", action="store_true", help="rerun configurations already recorded for this machine and commit")
    p.add_argument("--repeat", type=integer(1, MAX_REPEATS), default=1, help="run the whole matrix N times, interleaved")
    add_force_threads_argument(p)
    p.add_argument("--results", default=None, help="results directory (default results/)")
    p.add_argument("--dry-run", action="store_true", help="check the matrix as a run would (files, threads, memory) and list its configurations")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_task_arguments(p)  # overrides the matrix's own task:
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.foundation.tables import print_table
    from harness.measure.bench import run_configs
    from harness.measure.matrix import expand, load_matrix, parse_shard, shard, validate_matrix
    from harness.results.report.summary import print_summary

    matrix = load_matrix(args.matrix)
    task = task_from_args(args)
    if task:
        matrix = validate_matrix(matrix.to_mapping() | {"task": task}, None, TASK_FLAGS)
    configs = shard(expand(matrix), parse_shard(args.shard))
    where = Path(args.matrix).name
    named = ("threads", "batch_sizes", "variants", "settings.memory_limit_mb")
    check_before_measuring(configs, args, {k: f"{where}: {k}" for k in named})  # a dry run lists what would run
    if args.dry_run:
        hidden = ("settings", "backend_settings", "task")
        print_table([{k: v for k, v in c.to_json().items() if k not in hidden} for c in configs])
        return 0
    records = run_configs(configs, root=args.results, force=args.force, repeats=args.repeat, progress=not args.quiet)
    print_summary(records)
    return 0
