"""`harness finetune`: a model fine-tuned on SST-2, saved as a local checkpoint directory."""

from __future__ import annotations

from harness.foundation.errors import ConfigError
from harness.models.registry import MODELS, family_for
from harness.tasks import resolve_data_dir
from harness.tasks.eval_data import check_sst2_dir

from . import add_command
from .checks import check_inputs, check_replaceable_output, integer, real


def register(sub):
    p = add_command(
        sub, "finetune", "fine-tune a model on SST-2 and save it as a checkpoint directory (bench it, prune it)",
        "harness finetune minilm --data ../shared/data/sst2 --steps 300 --out checkpoints/minilm-sst2\n"
        "  harness bench --checkpoint checkpoints/minilm-sst2 --backend onnxruntime --task sst2 --data ../shared/data/sst2",
    )
    p.add_argument("model", metavar="MODEL", nargs="?", default=None, help="model family (default: from --checkpoint)")
    p.add_argument("--checkpoint", metavar="DIR", help="start from a local checkpoint instead of a zoo model")
    p.add_argument("--data", metavar="DIR", help="SST-2 directory (train.tsv, dev.tsv); default $HARNESS_DATA_DIR")
    p.add_argument("--steps", type=integer(1), default=300, help="AdamW steps (default 300)")
    p.add_argument("--lr", type=real(0, maximum=1.0), default=5e-5, help="peak learning rate, decayed linearly (default 5e-5)")
    p.add_argument("--batch-size", type=integer(1, 65536), default=32, help="examples per step (default 32)")
    p.add_argument("--max-train", type=integer(1), default=None, help="train on a seeded subset of this many examples")
    p.add_argument("--seq", type=integer(2), default=None, help="truncate sentences to this many tokens (default 64)")
    p.add_argument("--seed", type=integer(0, 2**32 - 1), default=0, help="seed for the head, data order and dropout")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="checkpoint directory to write: new, empty, or one finetune wrote before (replaced whole, "
                        "atomically); any other directory is refused")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.workflows.finetune import finetune

    data = resolve_data_dir(args.data)
    if not data:
        raise ConfigError("finetune needs --data DIR (SST-2 layout: train.tsv, dev.tsv) or $HARNESS_DATA_DIR")
    if not args.model and not args.checkpoint:
        raise ConfigError("give MODEL (see `harness models`) or --checkpoint DIR")
    check_inputs(checkpoint=args.checkpoint, data=data)
    model = args.model
    if model is None:
        from harness.models.checkpoint import checkpoint_family

        model = checkpoint_family(args.checkpoint).name
    check_before_training(model, args, data)
    path, d = finetune(model, data, args.out, steps=args.steps, lr=args.lr, batch_size=args.batch_size,
                       max_train=args.max_train, seq_len=args.seq, seed=args.seed, checkpoint=args.checkpoint)
    before, after = d.quality.before, d.quality.after
    print(f"checkpoint: {path}")
    print(f"  dev accuracy {before.accuracy:.4f} -> {after.accuracy:.4f} ({after.n} examples), "
          f"{args.steps} steps in {d.wall_time_s:.0f} s")
    return 0


def check_before_training(model: str, args, data: str) -> None:
    """Before training: --seq fits the model's positions, --out is new, empty or a checkpoint finetune wrote, the
    checkpoint loads (weights against its config, its tokenizer), and the data reads (both splits)."""
    from harness.models.checkpoint import check_checkpoint
    from harness.workflows.finetune import DESCRIPTION_FILE

    family = family_for(model, args.checkpoint)
    if family.kind != "text":
        raise ConfigError(f"finetune: {family.name} is an {family.kind} model; fine-tuning takes a text task (SST-2)")
    longest = family.max_seq_len()
    if args.seq is not None and longest is not None and args.seq > longest:
        raise ConfigError(f"--seq: {args.seq} is longer than model {family.name!r} accepts ({longest} positions)")
    check_replaceable_output(args.out, "--out", what="a checkpoint finetune wrote", owned=DESCRIPTION_FILE)
    if args.checkpoint:
        check_checkpoint(args.checkpoint, family if model in MODELS else None, text_task=True)
    check_sst2_dir(data)
