"""`harness compress`: post-training compression of a checkpoint within a quality and a time budget."""

from __future__ import annotations

import time

from harness.foundation.errors import ConfigError
from harness.foundation.tables import format_table
from harness.tasks import resolve_data_dir
from harness.tasks.eval_data import check_sst2_dir
from harness.workflows.compress import COMPRESS_SETTINGS, DEFAULT_TARGETS, CompressPlan, run_compress

from . import add_command
from .checks import check_inputs, check_replaceable_output, integer, listed, real

EXAMPLE = ("harness compress --checkpoint checkpoints/minilm-sst2 --task sst2 --data ../shared/data/sst2 "
           "--backend openvino,onnxruntime --max-quality-drop 1 --budget-minutes 15 --out out/minilm")


def register(sub):
    d = CompressPlan(checkpoint="", data_dir="")
    p = add_command(
        sub, "compress", "the fastest post-training compression of a checkpoint within a quality budget", EXAMPLE,
        description=(
            "Prune the fine-tuned checkpoint after training (Fisher mask search over heads and FFN neurons, "
            "rearrangement, least-squares reconstruction; no retraining) at several FLOPs targets, with and without "
            "int8 (a sensitivity pass returns layers to fp32 until the drop on held-back training examples is within "
            "budget), measure every candidate on each engine with accuracy on the task's dev split, keep the Pareto "
            "front and choose the fastest candidate within --max-quality-drop of its engine's dense fp32 model. "
            "Speed-ups are against the fastest dense fp32 engine, measured in the same run. Stops at --budget-minutes "
            "(set-up included) with the best found so far; a rerun with the same --out resumes. Writes "
            "OUT/compress.json (`chosen`: variant_dir, backend, precision, speedup, accuracy_drop), "
            "OUT/frontier.md/.png/.json, OUT/variants/ (ordinary variant directories) and OUT/runs/ (the records)."
        ),
    )
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="fine-tuned checkpoint (e.g. from `harness finetune`)")
    p.add_argument("--task", default="sst2", choices=("sst2",), help="the task: calibration and held-back examples from "
                   "its training split, accuracy on its dev split (default sst2)")
    p.add_argument("--data", metavar="DIR", help="the task's data (SST-2 layout); default $HARNESS_DATA_DIR")
    p.add_argument("--backend", type=listed(), default=d.backends, metavar="B[,B...]",
                   help=f"engines to try (default {','.join(d.backends)})")
    p.add_argument("--max-quality-drop", type=real(0, zero=True), default=d.max_quality_drop, metavar="P",
                   help=f"accuracy points a candidate may lose against its engine's dense fp32 model (default {d.max_quality_drop:g})")
    p.add_argument("--budget-minutes", type=real(0), default=d.budget_minutes, metavar="M",
                   help=f"wall-clock budget, set-up included (default {d.budget_minutes:g})")
    p.add_argument("--targets", type=listed(real(0.0, maximum=1.0), "fractions", "0.7,0.5"), default=DEFAULT_TARGETS, metavar="F[,F...]",
                   help=f"kept fractions of the dense head and FFN FLOPs to prune to (default {','.join(map(str, DEFAULT_TARGETS))})")
    p.add_argument("--precision", type=listed(), default=d.precisions, metavar="P[,P]",
                   help="fp32 and/or int8 (default fp32,int8)")
    p.add_argument("--threads", type=integer(1, 1024), default=d.threads, help=f"threads per engine (default {d.threads})")
    p.add_argument("--seq", type=integer(2, 4096), default=d.seq_len, help=f"sequence length (default {d.seq_len})")
    p.add_argument("--calibration-examples", type=integer(8), default=d.calibration_examples, metavar="N",
                   help=f"training examples for the Fisher pass and reconstruction (default {d.calibration_examples})")
    p.add_argument("--heldout-examples", type=integer(16), default=d.heldout_examples, metavar="N",
                   help=f"held-back training examples that judge pruning and int8 (default {d.heldout_examples})")
    p.add_argument("--eval-limit", type=integer(1), default=None, metavar="N", help="evaluate at most N dev examples")
    p.add_argument("--min-duration", type=real(0), default=COMPRESS_SETTINGS.min_duration_s, metavar="S",
                   help=f"time each candidate at least S seconds (default {COMPRESS_SETTINGS.min_duration_s:g})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, metavar="OUT", help="output directory (new, or an earlier run's to resume)")
    p.set_defaults(func=run)


def run(args) -> int:
    import dataclasses

    from harness.models.checkpoint import check_checkpoint

    started = time.monotonic()
    data = resolve_data_dir(args.data)
    if not data:
        raise ConfigError("compress needs --data DIR (the task's data, SST-2 layout) or $HARNESS_DATA_DIR")
    check_inputs(checkpoint=args.checkpoint, data=data)
    check_replaceable_output(args.out, "--out", what="a compression output", owned="compress.json")  # a rerun resumes
    check_checkpoint(args.checkpoint, None, text_task=True)
    check_sst2_dir(data)
    settings = dataclasses.replace(COMPRESS_SETTINGS, min_duration_s=args.min_duration,
                                   warmup_s=min(COMPRESS_SETTINGS.warmup_s, args.min_duration))
    plan = CompressPlan(checkpoint=args.checkpoint, data_dir=data, task=args.task, backends=tuple(args.backend),
                        max_quality_drop=args.max_quality_drop, budget_minutes=args.budget_minutes,
                        targets=tuple(args.targets), precisions=tuple(args.precision), threads=args.threads, seq_len=args.seq,
                        calibration_examples=args.calibration_examples, heldout_examples=args.heldout_examples,
                        eval_limit=args.eval_limit, settings=settings)
    document = run_compress(plan, args.out, progress=not args.no_progress, started=started)
    rows = [{"variant": c["variant"], "engine": c["backend"], "precision": c["precision"], "pareto": "*" if c["pareto"] else "",
             "p50_ms": c["p50_ms"], "speedup": c["speedup"], "same_engine": c["speedup_same_engine"],
             "accuracy": c["accuracy"], "drop_points": c["accuracy_drop"], "status": c["status"]}
            for c in document["candidates"]]
    print(format_table(rows))
    chosen, base = document["chosen"], document["baseline"]
    print(f"\nmachine: {document['machine']['cpu_model']} ({document['machine']['isa']})")
    if base:
        print(f"baseline: dense fp32 on {base['engine']}, p50 {base['p50_ms']:.2f} ms, accuracy {base['accuracy']}")
    if chosen:
        what = f"{chosen['variant']} on {chosen['backend']} {chosen['precision']}"
        print(f"chosen: {what}: {chosen['speedup']:.2f}x the fastest dense fp32 engine "
              f"({chosen['speedup_same_engine']:.2f}x its own engine's), accuracy drop {chosen['accuracy_drop']:.2f} points "
              f"against its engine's dense fp32" if chosen["accuracy_drop"] is not None else f"chosen: {what}")
        print(f"  reproduce: {chosen['bench']}")
    print(f"{document['status']} in {document['elapsed_s'] / 60:.1f} min; {args.out}/compress.json, {args.out}/frontier.md")
    return 0
