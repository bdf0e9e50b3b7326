"""The speed/quality frontier benchmark (harness.workflows.frontier): one interleaved run per model, results under OUT.

    .venv/bin/python benchmarks/frontier.py --model minilm --data ../shared/data/sst2 --out results/frontier/minilm
    .venv/bin/python benchmarks/frontier.py --model bert-base --out results/frontier/bert-base   # agreement
    .venv/bin/python benchmarks/frontier.py --model minilm-tiny --data ../shared/data/sst2 --quick --out /tmp/f

--quick is a smoke run, not a measurement: tiny settings and training, and unless given, ONNX Runtime alone and
two variants (QUICK_VARIANTS).

Writes OUT/frontier.{md,json,png}, OUT/runs/*.jsonl (every record) and OUT/models/ (the fine-tuned checkpoint
and the variants, reused on a rerun).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.contracts import Settings  # noqa: E402
from harness.workflows.frontier import BERT_BASE_VARIANTS, MINILM_VARIANTS, frontier_plan, run_frontier, variant_recipes  # noqa: E402


ENGINES = "torch,onnxruntime,openvino,deepsparse"
QUICK_ENGINES = "onnxruntime"
QUICK_VARIANTS = ("layers-50-kd", "obert-80-oneshot")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm")
    p.add_argument("--data", default=None, help="SST-2 directory: accuracy (default: agreement with the dense model)")
    p.add_argument("--out", required=True)
    p.add_argument("--engines", default=None, help=f"comma-separated (default {ENGINES}; {QUICK_ENGINES} with --quick)")
    p.add_argument("--variants", default=None,
                   help=f"comma-separated, of: {', '.join(variant_recipes())} (default: the model's frontier set)")
    p.add_argument("--repeat", type=int, default=2, help="interleaved rounds (default 2)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seq", type=int, default=None)
    p.add_argument("--max-train", type=int, default=None, help="train on a seeded subset of SST-2")
    p.add_argument("--finetune-steps", type=int, default=300)
    p.add_argument("--scale", type=float, default=1.0, help="multiply every pruning/recovery step count")
    p.add_argument("--eval-limit", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="tiny settings: a smoke run, not a measurement")
    args = p.parse_args(argv)
    settings = Settings(warmup_iters=5, min_iters=30, min_duration_s=3.0)  # p99 target: 368 samples per round
    extra = {}
    if args.quick:
        settings = Settings(warmup_iters=1, warmup_s=0.0, min_iters=5, min_duration_s=0.05, percentile_target=None,
                            calibration_examples=8)
        extra = {"scale": 0.02, "finetune_steps": 10, "max_train": 64, "eval_limit": 32, "calibration_examples": 32,
                 "heldout_examples": 32}
    default = QUICK_VARIANTS if args.quick else MINILM_VARIANTS if args.data else BERT_BASE_VARIANTS
    variants = tuple(args.variants.split(",")) if args.variants else default
    engines = args.engines or (QUICK_ENGINES if args.quick else ENGINES)
    plan = frontier_plan(args.model, args.data, engines=tuple(engines.split(",")),
                         variants=variants, threads=args.threads, seq_len=args.seq,
                         settings=settings, **({"scale": args.scale, "finetune_steps": args.finetune_steps,
                                                 "max_train": args.max_train, "eval_limit": args.eval_limit} | extra))
    rows = run_frontier(plan, out_dir=args.out, repeats=1 if args.quick else args.repeat)
    print(Path(args.out, "frontier.md").read_text())
    return 0 if any(r.status == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
