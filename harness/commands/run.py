"""`harness run MATRIX.yaml`: a matrix of configurations, resumable and shardable."""

from __future__ import annotations

from pathlib import Path

from harness.foundation.errors import ConfigError
from harness.foundation.tables import print_table
from harness.measure.machine_fit import check_machine_fit
from harness.results.report.summary import print_summary

from . import add_command
from .bench import TASK_FLAGS, add_force_threads_argument, add_task_arguments, check_before_measuring, task_from_args
from .checks import MAX_REPEATS, add_results_argument, check_config_inputs, check_input_dir, integer


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
    add_results_argument(p)
    p.add_argument("--dry-run", action="store_true",
                   help="check the matrix's files and list its configurations, each with whether it fits this machine")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_task_arguments(p)  # overrides the matrix's own task:
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.measure.bench import run_configs
    from harness.measure.matrix import expand, load_matrix, parse_shard, shard, validate_matrix

    matrix = load_matrix(args.matrix)
    task = task_from_args(args)
    if task:
        matrix = validate_matrix(matrix.to_mapping() | {"task": task}, None, TASK_FLAGS)
    configs = shard(expand(matrix), parse_shard(args.shard))
    where = Path(args.matrix).name
    named = ("threads", "batch_sizes", "variants", "settings.memory_limit_mb")
    if args.dry_run:
        return dry_run(configs, args, {k: f"{where}: {k}" for k in named})
    check_before_measuring(configs, args, {k: f"{where}: {k}" for k in named})
    records = run_configs(configs, root=args.results, force=args.force, repeats=args.repeat, progress=not args.quiet)
    print_summary(records)
    return 0


def dry_run(configs, args, flags: dict) -> int:
    """List the configurations a run would measure; the files they read are checked as a run would (a bad one is
    one line), and each row says whether its threads and memory fit this machine (a fleet's matrix is planned
    for bigger ones, so a misfit is named, not refused)."""
    import sys



    for variant in sorted({c.variant for c in configs if c.variant}):
        check_input_dir(variant, flags.get("variants", "variants"))
    check_config_inputs(configs)
    hidden = ("settings", "backend_settings", "task")
    rows, misfits, verdicts = [], 0, {}
    for c in configs:
        key = (c.model, c.checkpoint, c.variant is None, c.threads, c.batch_size, c.seq_len, c.settings.memory_limit_mb,
               c.settings.max_batch)
        if key not in verdicts:
            try:
                check_machine_fit([c], force_threads=args.force_threads, flags=flags)
                verdicts[key] = "yes"
            except ConfigError as exc:
                verdicts[key] = f"no: {str(exc).split(': ', 1)[-1][:90]}"
        here = verdicts[key]
        misfits += here != "yes"
        rows.append({**{k: v for k, v in c.to_json().items() if k not in hidden}, "runs_here": here})
    print_table(rows)
    if misfits:
        print(f"harness: {misfits} of {len(configs)} configuration(s) do not fit this machine (runs_here); a run here "
              "refuses them before measuring", file=sys.stderr)
    return 0
