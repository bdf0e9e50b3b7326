"""`harness sweep`: magnitude-pruned variants at several sparsities, run per backend/kernel, crossover table."""

from __future__ import annotations

from harness.contracts import RecordError, TaskSpec
from harness.foundation.errors import ConfigError
from harness.foundation.fsutil import atomic_write_text
from harness.measure.machine_fit import check_machine_fit
from harness.models.registry import model_family
from harness.variants.neural import is_variant
from harness.workflows import sweep
from harness.workflows.sweep import SweepSpec, format_sweep, result_to_dict, sweep_configs, variant_path

from . import add_command
from .bench import FLAGS, add_force_threads_argument, add_settings_arguments, add_task_arguments, task_from_args
from .checks import (
    MAX_REPEATS,
    add_results_argument,
    check_out_file,
    check_output_dir,
    check_replaceable_output,
    check_results_root,
    integer,
    listed,
)
from .flags import settings_from_args


def register(sub):
    p = add_command(
        sub, "sweep", "find where sparse kernels start to win: prune at several sparsities, run, tabulate",
        "harness sweep --model bert-base --sparsities 0,0.5,0.7,0.8,0.9,0.95,0.97 "
        "--backend torch,onnxruntime,openvino,deepsparse --kernel dense,sparse --repeat 3",
    )
    p.add_argument("--model", required=True, help="model name (see `harness models`)")
    p.add_argument("--sparsities", type=listed(float, "fractions", "0,0.5,0.9"), default=[0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97],
                   help="target unstructured sparsities in [0, 1), comma-separated; 0 is the dense model")
    p.add_argument("--backend", type=listed(), default=["torch"], help="torch, onnxruntime, openvino, deepsparse")
    p.add_argument("--kernel", type=listed(), default=["dense", "sparse"], help="dense, sparse or both")
    p.add_argument("--threads", type=integer(1), default=1, help="threads per run (default 1)")
    add_force_threads_argument(p)
    p.add_argument("--batch", type=integer(1), default=1, help="batch size (default 1)")
    p.add_argument("--seq", type=integer(1), default=None, help="sequence length (default: the model's own)")
    p.add_argument("--scope", default="global", help="magnitude ranking: global (default) or per-layer")
    p.add_argument("--repeat", type=integer(1, MAX_REPEATS), default=1, help="run every configuration N times, interleaved round-robin")
    p.add_argument("--variants-dir", default=None, help="where the pruned variants go (default .cache/sweep-variants)")
    p.add_argument("--instance-type", default=None, help="the cloud instance type this machine is (e.g. c7a.large)")
    p.add_argument("--prepare-only", action="store_true", help="make the variants, print their paths and stop")
    p.add_argument("--out", default=None, help="also write the table to OUT.md and a summary to OUT.json")
    add_results_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_settings_arguments(p)
    add_task_arguments(p)
    p.set_defaults(func=run)


def spec_from_args(args):
    from harness.measure.matrix import split_settings

    settings, knobs = split_settings(settings_from_args(args), args.backend, None, FLAGS)
    task = task_from_args(args)
    if task:
        from harness.measure.matrix import check_task

        try:
            task = TaskSpec.from_json(task, "task")
        except RecordError as exc:
            raise ConfigError(str(exc)) from None
        check_task(task, model_family(args.model))
    return SweepSpec(
        model=args.model, sparsities=tuple(args.sparsities), backends=tuple(args.backend), kernels=tuple(args.kernel),
        threads=args.threads, batch_size=args.batch, seq_len=args.seq, scope=args.scope, repeats=args.repeat,
        variants_dir=args.variants_dir, instance_type=args.instance_type, settings=settings, knobs=knobs, task=task,
    )


def run(args) -> int:
    import json
    import sys
    from pathlib import Path


    spec = spec_from_args(args)
    check_before_work(spec, args)
    echo = (lambda msg: print(f"harness: {msg}", file=sys.stderr))
    if args.prepare_only:
        for s, path in sweep.ensure_variants(spec, echo=echo).items():
            print(f"{s:g}\t{path or 'dense (no variant)'}")
        return 0
    result = sweep.run_sweep(spec, root=args.results, progress=not args.quiet, echo=echo)
    table = format_sweep(result.rows, result.crossovers)
    print(table)
    failed = [r for r in result.rows if r.status != "ok"]
    for r in failed:
        print(f"{r.label} at {r.sparsity:.0%}: {r.status}: {r.reason}", file=sys.stderr)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        for suffix, text in ((".md", table + "\n"), (".json", json.dumps(result_to_dict(result), indent=1) + "\n")):
            atomic_write_text(out.with_name(out.name + suffix), text)
    return 0 if len(failed) < len(result.rows) else 1


def check_before_work(spec, args) -> None:
    """Before any variant is made: the output paths can be written, and the runs fit this machine."""
    longest = model_family(spec.model).max_seq_len()
    if spec.seq_len is not None and longest is not None and spec.seq_len > longest:
        raise ConfigError(f"--seq: {spec.seq_len} is longer than model {spec.model!r} accepts ({longest} positions)")

    pruned = [s for s in spec.sparsities if s]
    if pruned:
        check_output_dir(variant_path(spec, pruned[0]).parent, "--variants-dir")
    for s in pruned:  # a variant the sweep made before is reused or remade; anything else there is the user's
        check_replaceable_output(variant_path(spec, s), "--variants-dir", what="a variant directory", owned=is_variant)
    if args.prepare_only:
        return
    check_results_root(args.results)
    if args.out is not None:
        for suffix in (".md", ".json"):
            check_out_file(f"{args.out}{suffix}", "--out")
    dense = sweep_configs(spec, {s: None for s in spec.sparsities})  # the dense model bounds every variant
    check_machine_fit(dense, force_threads=args.force_threads, flags=FLAGS)
