"""`harness bench`: measure models x backends x threads x batch x seq and store the records."""

from __future__ import annotations

import argparse

from harness.contracts import INT8_CALIBRATIONS
from harness.foundation.errors import ConfigError
from harness.foundation.validation import short

from . import add_command
from .checks import MAX_REPEATS, check_input_dir, check_inputs, check_results_root, integer, real

OFFLINE_BATCHES = (1, 8, 32)
# matrix keys (and settings) -> the flags that set them, so validation messages name what the user typed
FLAGS = {
    "models": "--model", "backends": "--backend", "threads": "--threads", "batch_sizes": "--batch", "seq_lens": "--seq",
    "precisions": "--precision", "kernels": "--kernel", "variants": "--variant", "scenario": "--scenario",
    "instance_type": "--instance-type", "settings.min_duration_s": "--min-duration", "settings.min_iters": "--min-iters",
    "settings.warmup_iters": "--warmup", "settings.timeout_s": "--timeout", "settings.memory_limit_mb": "--memory-limit-mb",
    "settings.streams": "--streams", "settings.spinning": "--no-spinning", "settings.pinning": "--no-pinning",
    "settings.calibration_examples": "--calibration-examples", "settings.quantizer": "--quantizer",
    "settings.int8_calibration": "--int8-calibration", "settings.smoothquant_alpha": "--smoothquant-alpha",
    "settings.int8_max_drop": "--int8-max-drop", "settings.int8_per_channel": "--int8-per-tensor",
    "settings.heldout_examples": "--heldout-examples",
    "settings.sla_ms": "--sla-ms", "checkpoints": "--checkpoint", "task": "--task",
    "settings.loadgen": "--loadgen", "settings.target_qps": "--target-qps", "settings.max_batch": "--max-batch",
    "settings.max_wait_ms": "--max-wait-ms", "settings.capacity_tolerance": "--capacity-tolerance",
    "settings.capacity_budget_s": "--capacity-budget", "settings.loadgen_min_duration_s": "--loadgen-min-duration",
    "settings.loadgen_min_queries": "--loadgen-min-queries",
}
# --flag -> (settings field, the scenarios it applies to)
LOADGEN_FLAGS = {
    "--sla-ms": ("sla_ms", ("server",)), "--target-qps": ("target_qps", ("server",)),
    "--max-batch": ("max_batch", ("server",)), "--max-wait-ms": ("max_wait_ms", ("server",)),
    "--capacity-tolerance": ("capacity_tolerance", ("server",)), "--capacity-budget": ("capacity_budget_s", ("server",)),
    "--loadgen": ("loadgen", ("server", "offline")), "--loadgen-min-duration": ("loadgen_min_duration_s", ("server", "offline")),
    "--loadgen-min-queries": ("loadgen_min_queries", ("server", "offline")),
}


def csv_list(kind: str, cast=str):
    def parse(text: str):
        items = [x.strip() for x in text.split(",") if x.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {short(text)}")
        try:
            return [cast(x) for x in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected integers, got {short(text)}") from None

    return parse


def add_settings_arguments(p) -> None:
    g = p.add_argument_group("measurement")
    g.add_argument("--min-duration", type=float, default=None, metavar="S", help="time at least S seconds per configuration (default 5)")
    g.add_argument("--min-iters", type=int, default=None, metavar="N", help="and at least N timed calls (default 30)")
    g.add_argument("--warmup", type=int, default=None, metavar="N", help="warm-up calls before timing (default 5)")
    g.add_argument("--timeout", type=float, default=None, metavar="S", help="kill a worker after S seconds (default 900)")
    g.add_argument("--memory-limit-mb", type=int, default=None, metavar="MB", help="address-space limit of each worker")
    g.add_argument("--no-spinning", action="store_true", help="ONNX Runtime: threads sleep instead of spinning")
    g.add_argument("--streams", type=int, default=None, help="OpenVINO NUM_STREAMS (default 1)")
    g.add_argument("--no-pinning", action="store_true", help="do not pin worker threads to CPUs")
    g.add_argument("--calibration-examples", type=int, default=None, metavar="N",
                   help="--precision int8: examples that calibrate activation ranges (default 128; the task's "
                        "training split, or generated inputs without a task)")
    g.add_argument("--quantizer", choices=("nncf", "qdq"), default=None,
                   help="OpenVINO --precision int8: NNCF post-training quantization (default) or the ONNX QDQ graph")
    g.add_argument("--int8-calibration", choices=INT8_CALIBRATIONS, default=None,
                   help="--precision int8: how activation ranges are calibrated (default minmax)")
    g.add_argument("--smoothquant-alpha", type=real(0, zero=True, maximum=1.0), default=None, metavar="A",
                   help="--precision int8: SmoothQuant's migration strength before quantizing (default off; NNCF: 0.95)")
    g.add_argument("--int8-max-drop", type=real(0, zero=True), default=None, metavar="P",
                   help="--precision int8: return layers to fp32, most harmful first, until the accuracy drop on "
                        "held-back training examples is at most P points (default: no sensitivity pass)")
    g.add_argument("--heldout-examples", type=integer(1), default=None, metavar="N",
                   help="--int8-max-drop: held-back training examples it judges on (default 512)")
    g.add_argument("--int8-per-tensor", action="store_true", help="--precision int8: one weight scale per tensor")


def settings_from_args(args, base=None) -> dict:
    """The `settings:` mapping (measurement settings and backend knobs) the measurement flags ask for."""
    values = dict(base or {})
    for arg, field in (("min_duration", "min_duration_s"), ("min_iters", "min_iters"), ("warmup", "warmup_iters"),
                       ("timeout", "timeout_s"), ("memory_limit_mb", "memory_limit_mb"), ("streams", "streams"),
                       ("calibration_examples", "calibration_examples"), ("quantizer", "quantizer"),
                       ("int8_calibration", "int8_calibration"), ("smoothquant_alpha", "smoothquant_alpha"),
                       ("int8_max_drop", "int8_max_drop"), ("heldout_examples", "heldout_examples")):
        if getattr(args, arg, None) is not None:
            values[field] = getattr(args, arg)
    if getattr(args, "no_spinning", False):
        values["spinning"] = False
    if getattr(args, "no_pinning", False):
        values["pinning"] = False
    if getattr(args, "int8_per_tensor", False):
        values["int8_per_channel"] = False
    return values


def add_loadgen_arguments(p) -> None:
    g = p.add_argument_group("server and offline scenarios (MLPerf LoadGen)")
    g.add_argument("--sla-ms", type=real(0), default=None, metavar="MS", help="server: the p99 latency target")
    g.add_argument("--target-qps", type=real(0), default=None, metavar="QPS",
                   help="server: one LoadGen run at this rate instead of a capacity search")
    g.add_argument("--max-batch", type=integer(1), default=None, metavar="N",
                   help="server: merge up to N queued queries into one engine call (default 1)")
    g.add_argument("--max-wait-ms", type=real(0, zero=True), default=None, metavar="MS",
                   help="server: how long a query waits for others to join its batch (default 0)")
    g.add_argument("--capacity-tolerance", type=real(0, maximum=0.5), default=None, metavar="F",
                   help="server: stop the capacity search within this relative width (quick 0.1, full 0.05)")
    g.add_argument("--capacity-budget", type=real(0), default=None, metavar="S",
                   help="server: wall-clock budget of the capacity search (quick 120 s, full 3 h)")
    g.add_argument("--loadgen", choices=("quick", "full"), default=None,
                   help="LoadGen durations: quick (default; valid but short) or full (MLPerf's 600 s minimum)")
    g.add_argument("--loadgen-min-duration", type=real(0), default=None, metavar="S", help="instead of the preset's minimum duration")
    g.add_argument("--loadgen-min-queries", type=integer(1), default=None, metavar="N",
                   help="instead of the preset's minimum query count")


def loadgen_settings_from_args(args) -> dict:
    """The LoadGen settings the flags ask for; a flag of another scenario, or a server run without its p99
    target, is one line."""
    values = {}
    for flag, (field, scenarios) in LOADGEN_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value is None:
            continue
        if args.scenario not in scenarios:
            raise ConfigError(f"{flag} applies to --scenario {' or '.join(scenarios)}, not {args.scenario}")
        values[field] = value
    if args.scenario == "server" and args.sla_ms is None:
        raise ConfigError("--scenario server needs --sla-ms (the p99 latency target)")
    if values.get("max_wait_ms") and values.get("max_batch", 1) == 1:
        raise ConfigError("--max-wait-ms needs --max-batch above 1 (a query waits only for others to batch with)")
    return values


def check_static_batching(configs) -> None:
    """Merged server batches need dynamic shapes: an engine with static shapes is refused --max-batch > 1."""
    from harness.backends.registry import backend_class

    for c in configs:
        if c.scenario == "server" and c.settings.max_batch > 1 and backend_class(c.backend).static_shapes:
            raise ConfigError(f"--max-batch {c.settings.max_batch}: backend {c.backend!r} runs static shapes (batch "
                              f"{c.batch_size} only) and cannot merge queries; valid: --max-batch 1 for {c.backend}")


def add_force_threads_argument(p) -> None:
    p.add_argument("--force-threads", action="store_true",
                   help="allow more threads than the CPUs this machine gives the harness (oversubscribed; at most 1024)")


def check_before_measuring(configs, args, flags: dict | None = None) -> None:
    """Before any work: the results directory can be written and every configuration fits this machine."""
    from harness.measure.machine_fit import check_machine_fit

    check_results_root(getattr(args, "results", None))
    for variant in sorted({c.variant for c in configs if c.variant}):
        check_input_dir(variant, (flags or {}).get("variants", "variants"))
    check_machine_fit(configs, force_threads=getattr(args, "force_threads", False), flags=flags)


# the task's keys -> the quality flags that set them
TASK_FLAGS = {"task": "--task", "task.name": "--task", "task.data": "--data", "task.text_columns": "--text-columns",
              "task.label_column": "--label-column", "task.eval_limit": "--eval-limit"}


def add_task_arguments(p) -> None:
    g = p.add_argument_group("quality (measured on the engine that was timed, after timing)")
    g.add_argument("--task", default=None, help="sst2, text-classification or teacher (agreement with the dense model)")
    g.add_argument("--data", default=None, help="sst2: the data directory (train.tsv, dev.tsv); "
                                                 "text-classification: a TSV or CSV file")
    g.add_argument("--text-columns", type=csv_list("text column"), default=None,
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
        from harness.tasks import resolve_data_dir

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
    p.add_argument("--model", type=csv_list("model"), default=None,
                   help="model name(s), comma-separated (see `harness models`); optional with --checkpoint")
    p.add_argument("--backend", required=True, type=csv_list("backend"), help="torch, onnxruntime, openvino, deepsparse")
    p.add_argument("--threads", type=csv_list("threads", int), default=[1], help="thread count(s), e.g. 1,2")
    p.add_argument("--batch", type=csv_list("batch", int), default=[1], help="batch size(s); the offline scenario sweeps 1,8,32 unless given")
    p.add_argument("--seq", type=csv_list("seq", int), default=None, help="sequence length(s) (image side for resnet50); default per model")
    p.add_argument("--precision", type=csv_list("precision"), default=["fp32"], help="fp32 (default), bf16, int8 (static, calibrated where the engine has it) or int8-dynamic (ONNX Runtime)")
    p.add_argument("--kernel", type=csv_list("kernel"), default=["dense"], help="dense (default) or sparse")
    p.add_argument("--variant", type=csv_list("variant"), default=[None], help="variant directory(ies) from `harness prune`; `dense` (or none) for the model itself, e.g. dense,DIR")
    p.add_argument("--checkpoint", default=None,
                   help="local Hugging Face checkpoint directory (config.json + weights; nothing is downloaded); "
                        "without --model its config.json says the architecture (bert, distilbert, roberta, resnet)")
    p.add_argument("--allow-pickle", action="store_true", help="trust a pickled pytorch_model.bin that needs more than tensors")
    p.add_argument("--scenario", default="single-stream", help="single-stream (default), offline or server")
    p.add_argument("--instance-type", default=None, help="the cloud instance type this machine is (e.g. c7a.large)")
    p.add_argument("--repeat", type=integer(1, MAX_REPEATS), default=1, help="run the whole list N times, interleaved")
    add_force_threads_argument(p)
    add_task_arguments(p)
    p.add_argument("--results", default=None, help="results directory (default results/ or $HARNESS_RESULTS_DIR)")
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
    settings = settings_from_args(args, loadgen_settings_from_args(args))
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
    from harness.results.report.summary import print_summary

    check_inputs(checkpoint=args.checkpoint)
    configs = configs_from_args(args)
    check_before_measuring(configs, args, FLAGS)
    records = run_configs(configs, root=args.results, force=not args.skip_recorded, repeats=args.repeat, progress=not args.quiet)
    print_summary(records)
    return 0 if any(r.ok for r in records) or not records else 1
