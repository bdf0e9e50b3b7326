"""`harness bench`: measure models x backends x threads x batch x seq and store the records."""

from __future__ import annotations

from harness.backends.registry import USER_BACKENDS, backend_class
from harness.contracts import KERNELS, PRECISIONS, SCENARIOS, TASKS, BenchConfig
from harness.foundation.errors import ConfigError
from harness.measure.machine_fit import check_machine_fit
from harness.results.report.summary import print_summary
from harness.tasks import resolve_data_dir

from . import add_command
from .checks import (
    MAX_REPEATS,
    add_results_argument,
    check_config_inputs,
    check_input_dir,
    check_inputs,
    check_results_root,
    integer,
    listed,
)
from .flags import (
    add_setting_flags,
    field_default,
    measurement_fields,
    scenario_fields,
    settings_flags,
    settings_from_args,
)

OFFLINE_BATCHES = (1, 8, 32)
# matrix keys -> the flags that set them, so validation messages name what the user typed (the settings' flags
# are generated from the contracts: harness.commands.flags)
FLAGS = {
    "models": "--model", "backends": "--backend", "threads": "--threads", "batch_sizes": "--batch", "seq_lens": "--seq",
    "precisions": "--precision", "kernels": "--kernel", "variants": "--variant", "scenario": "--scenario",
    "instance_type": "--instance-type", "checkpoints": "--checkpoint", "task": "--task",
} | settings_flags()


def add_settings_arguments(p) -> None:
    """The measurement settings' and the engines' flags (every scenario)."""
    add_setting_flags(p.add_argument_group("measurement"), measurement_fields())


def add_loadgen_arguments(p) -> None:
    """The server and offline scenarios' flags."""
    add_setting_flags(p.add_argument_group("server and offline scenarios (MLPerf LoadGen)"), scenario_fields())


def check_static_batching(configs) -> None:
    """Merged server batches need dynamic shapes: an engine with static shapes is refused --max-batch > 1."""
    for c in configs:
        if c.scenario == "server" and c.settings.max_batch > 1 and backend_class(c.backend).static_shapes:
            raise ConfigError(f"--max-batch {c.settings.max_batch}: backend {c.backend!r} runs static shapes (batch "
                              f"{c.batch_size} only) and cannot merge queries; valid: --max-batch 1 for {c.backend}")


def add_force_threads_argument(p) -> None:
    p.add_argument("--force-threads", action="store_true",
                   help="allow more threads than the CPUs this machine gives the harness (oversubscribed; at most 1024)")


def check_before_measuring(configs, args, flags: dict | None = None) -> None:
    """Before any work: the results directory can be written, every file the configurations read is sound, and
    every configuration fits this machine."""
    check_results_root(getattr(args, "results", None))
    for variant in sorted({c.variant for c in configs if c.variant}):
        check_input_dir(variant, (flags or {}).get("variants", "variants"))
    check_config_inputs(configs)
    check_machine_fit(configs, force_threads=getattr(args, "force_threads", False), flags=flags)


# the task's keys -> the quality flags that set them
TASK_FLAGS = {"task": "--task", "task.name": "--task", "task.data": "--data", "task.text_columns": "--text-columns",
              "task.label_column": "--label-column", "task.eval_limit": "--eval-limit"}


def add_task_arguments(p) -> None:
    g = p.add_argument_group("quality (measured on the engine that was timed, after timing)")
    g.add_argument("--task", default=None, help=f"{', '.join(TASKS)} (teacher: agreement with the dense model on "
                                                 "generated inputs)")
    g.add_argument("--data", default=None, help="sst2: the data directory (train.tsv, dev.tsv); "
                                                 "text-classification: a TSV or CSV file")
    g.add_argument("--text-columns", type=listed(), default=None,
                   help="text-classification: the text column, or two for sentence pairs (a,b)")
    g.add_argument("--label-column", default=None, help="text-classification: the label column")
    g.add_argument("--eval-limit", type=int, default=None, metavar="N", help="evaluate at most N examples")


def task_from_args(args) -> dict | None:
    """The `task:` mapping of a matrix, from the quality flags (None when --task is not given)."""
    given = [f for f in ("data", "text_columns", "label_column", "eval_limit") if getattr(args, f, None) is not None]
    if not getattr(args, "task", None):
        if given:
            raise ConfigError(f"--{given[0].replace('_', '-')} needs --task (sst2, text-classification or teacher)")
        return None

    task = {"name": args.task}
    if args.data is not None:
        task["data"] = resolve_data_dir(args.data)
    elif args.task == "sst2" and resolve_data_dir(None):
        task["data"] = resolve_data_dir(None)
    for f in ("text_columns", "label_column", "eval_limit"):
        if getattr(args, f) is not None:
            task[f] = getattr(args, f)
    return task


def register(sub):
    p = add_command(
        sub, "bench", "measure models on backends and store one record per configuration",
        "harness bench --model bert-base,distilbert --backend torch,onnxruntime,openvino --threads 1,2 --batch 1 --seq 128",
    )
    p.add_argument("--model", type=listed(), default=None,
                   help="model name(s), comma-separated (see `harness models`); optional with --checkpoint")
    p.add_argument("--backend", required=True, type=listed(), help=f"{', '.join(USER_BACKENDS)}, comma-separated")
    p.add_argument("--threads", type=listed(int, "integers"), default=[field_default(BenchConfig, "threads")],
                   help=f"thread count(s), e.g. 1,2 (default {field_default(BenchConfig, 'threads')})")
    p.add_argument("--batch", type=listed(int, "integers"), default=[field_default(BenchConfig, "batch_size")],
                   help=f"batch size(s) (default {field_default(BenchConfig, 'batch_size')}; the offline scenario sweeps "
                        f"{','.join(map(str, OFFLINE_BATCHES))} unless given)")
    p.add_argument("--seq", type=listed(int, "integers"), default=None, help="sequence length(s) (image side for resnet50); default per model")
    p.add_argument("--precision", type=listed(), default=[field_default(BenchConfig, "precision")],
                   help=f"{', '.join(PRECISIONS)} (default {field_default(BenchConfig, 'precision')}); int8 is static "
                        "(calibrated where the engine has it), int8-dynamic ONNX Runtime's dynamic quantization")
    p.add_argument("--kernel", type=listed(), default=[field_default(BenchConfig, "kernel")],
                   help=f"{' or '.join(KERNELS)} (default {field_default(BenchConfig, 'kernel')})")
    p.add_argument("--variant", type=listed(), default=[None], help="variant directory(ies) from `harness prune`; `dense` (or none) for the model itself, e.g. dense,DIR")
    p.add_argument("--checkpoint", default=None,
                   help="local Hugging Face checkpoint directory (config.json + weights; nothing is downloaded); "
                        "without --model its config.json says the architecture (bert, distilbert, roberta, resnet)")
    p.add_argument("--allow-pickle", action="store_true", help="trust a pickled pytorch_model.bin that needs more than tensors")
    p.add_argument("--scenario", default=field_default(BenchConfig, "scenario"),
                   help=f"{', '.join(SCENARIOS)} (default {field_default(BenchConfig, 'scenario')})")
    p.add_argument("--instance-type", default=None, help="the cloud instance type this machine is (e.g. c7a.large)")
    p.add_argument("--repeat", type=integer(1, MAX_REPEATS), default=1, help="run the whole list N times, interleaved")
    add_force_threads_argument(p)
    add_task_arguments(p)
    add_results_argument(p)
    p.add_argument("--skip-recorded", action="store_true", help="skip configurations already recorded for this machine and commit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_settings_arguments(p)
    add_loadgen_arguments(p)
    p.set_defaults(func=run)


def configs_from_args(args):
    """The configurations a bench command line asks for, validated like a matrix file."""
    import dataclasses

    from harness.measure.matrix import expand, validate_matrix

    if not args.model and not args.checkpoint:
        raise ConfigError("give --model NAME[,NAME...] or --checkpoint DIR (or both: a zoo family loading the checkpoint)")
    if args.scenario == "offline" and args.batch == [1]:
        args.batch = list(OFFLINE_BATCHES)  # the offline scenario is a batch-size sweep
    settings = settings_from_args(args)
    matrix = {
        "backends": args.backend, "threads": args.threads, "batch_sizes": args.batch, "precisions": args.precision,
        "kernels": args.kernel, "variants": [None if v in (None, "dense", "none") else v for v in args.variant], "scenario": args.scenario, "settings": settings,
    }
    if args.model:
        matrix["models"] = args.model
    elif args.checkpoint:
        matrix["checkpoints"] = [args.checkpoint]
    if args.seq:  # else each model's own default sequence length or image side
        matrix["seq_lens"] = args.seq
    if args.instance_type:
        matrix["instance_type"] = args.instance_type
    task = task_from_args(args)
    if task:
        matrix["task"] = task
    if args.allow_pickle:
        import os

        os.environ["HARNESS_ALLOW_PICKLE"] = "1"  # inherited by the workers that load it
    configs = expand(validate_matrix(matrix, None, FLAGS | TASK_FLAGS))
    if args.checkpoint and args.model:  # a zoo family loading the checkpoint's weights
        from harness.models.checkpoint import checkpoint_id

        checkpoint_id(args.checkpoint)  # a missing directory fails here, before any worker starts
        configs = [dataclasses.replace(c, checkpoint=args.checkpoint) for c in configs]
    check_static_batching(configs)
    return configs


def run(args) -> int:
    from harness.measure.bench import run_configs

    check_inputs(checkpoint=args.checkpoint)
    configs = configs_from_args(args)
    check_before_measuring(configs, args, FLAGS)
    records = run_configs(configs, root=args.results, force=not args.skip_recorded, repeats=args.repeat, progress=not args.quiet)
    print_summary(records)
    return 0 if any(r.ok for r in records) or not records else 1
