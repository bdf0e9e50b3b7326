"""`harness prune`: make a pruned variant (weights + manifest) from a model family and a recipe."""

from __future__ import annotations

from harness.backends.registry import backend_class
from harness.foundation.errors import ConfigError, HarnessError
from harness.foundation.validation import short
from harness.models.registry import MODELS, family_for
from harness.pruning import (
    LAYER_SELECTS,
    METHODS,
    MOVEMENT_VARIANTS,
    SCHEDULE_KINDS,
    SCOPES,
    STRUCTURES,
    UNIT_STRUCTURES,
)
from harness.pruning.recipes import Recipe, load_recipe
from harness.tasks import resolve_data_dir
from harness.tasks.eval_data import check_sst2_dir
from harness.variants.identify import variant_id
from harness.variants.neural import check_variant, is_variant, read_manifest
from harness.workflows.latency_table import post_training_variant

from . import add_command
from .checks import check_inputs, check_path_text, check_replaceable_output, integer, real

POST_TRAINING = "post-training"  # heads and neurons after training, no retraining (harness.pruning.post_training)

EXAMPLE = "harness prune minilm --method second-order --sparsity 0.8 --structure unstructured --data data/sst2 --out variants/minilm-obert-80"


def register(sub):
    p = add_command(
        sub, "prune", "prune a model into a variant directory (weights + manifest)", EXAMPLE,
        description=(
            "Prune MODEL with a criterion (--method), a structure and a schedule, optionally with recovery "
            "fine-tuning and distillation from the dense model, and write DIR/model.safetensors + DIR/manifest.json. "
            "Flags override the fields of --recipe (the first stage of a recipe with `then:`); without --structure "
            "the recipe's structure applies (default unstructured). With --data (or $HARNESS_DATA_DIR) text models are "
            "first fine-tuned densely on SST-2 (cached under $HARNESS_CACHE_DIR/finetune, default .cache/finetune); "
            "without data, randomly initialised models learn from generated inputs labelled by the dense model. "
            "--from prunes an existing variant again (e.g. unstructured sparsity on a layer-dropped model). "
            "More examples: harness prune bert-base --method magnitude --sparsity 0.9 --out variants/bert-base-mag-90; "
            "harness prune bert-base --method magnitude --structure layers --keep-layers 0,2,4,6,8,10 --out variants/bert-base-l6; "
            "harness prune --checkpoint checkpoints/minilm-sst2 --method post-training --target-flops 0.6 --data data/sst2 "
            "--out variants/minilm-pt-60 (heads and FFN neurons of a fine-tuned checkpoint, no retraining; "
            "--target-latency-ms X --backend B instead prunes to a latency measured on that engine)"
        ),
    )
    p.add_argument("model", metavar="MODEL", nargs="?", default=None,
                   help="model family (see `harness models`); optional with --checkpoint")
    p.add_argument("--checkpoint", metavar="DIR",
                   help="prune a local checkpoint (config.json + weights; e.g. from `harness finetune`); its own "
                        "classifier is kept, so no dense fine-tuning runs first")
    p.add_argument("--method", choices=METHODS + (POST_TRAINING,), help="criterion: what to remove")
    p.add_argument("--sparsity", type=float, metavar="S",
                   help="fraction of prunable weights to remove (of units for heads/neurons/channels/layers; 2:4 is 0.5)")
    p.add_argument("--structure", choices=STRUCTURES, help="shape of what is removed (default: the recipe's, else unstructured)")
    p.add_argument("--recipe", metavar="FILE", help="recipe YAML (see recipes/); flags override its fields")
    p.add_argument("--data", metavar="DIR", help="SST-2 directory (train.tsv, dev.tsv); default $HARNESS_DATA_DIR")
    p.add_argument("--scope", choices=SCOPES, help="rank weights across all prunable layers or within each")
    p.add_argument("--schedule", choices=SCHEDULE_KINDS, help="prune at once, or gradually on the cubic schedule")
    p.add_argument("--steps", type=int, metavar="N",
                   help="training steps: the cubic schedule's span, or recovery fine-tuning steps after a one-shot prune")
    p.add_argument("--keep-layers", metavar="I,J,...",
                   help="structure layers: the encoder layers that stay, e.g. 0,2,4 (instead of --sparsity)")
    p.add_argument("--layer-select", choices=LAYER_SELECTS,
                   help="structure layers without --keep-layers: which layers stay (default alternate)")
    p.add_argument("--movement", choices=MOVEMENT_VARIANTS,
                   help="method movement on a cubic schedule: hard (top-k of accumulated scores) or soft (learned, thresholded)")
    p.add_argument("--from", dest="start_from", metavar="VARIANT_DIR",
                   help="start from this variant of MODEL instead of the dense model (prune it again)")
    p.add_argument("--seed", type=int, metavar="N", help="seed for weights, data order and gradients")
    g = p.add_argument_group("--method post-training (a fine-tuned --checkpoint, --data for calibration)")
    g.add_argument("--target-flops", type=real(0.0, maximum=1.0), metavar="F",
                   help="keep this fraction of the dense model's head and FFN FLOPs")
    g.add_argument("--target-latency-ms", type=real(0.0), metavar="X",
                   help="prune to this latency on --backend (a per-layer latency table is measured there first)")
    g.add_argument("--backend", metavar="B", help="--target-latency-ms: the engine")
    g.add_argument("--threads", type=integer(1, 1024), default=2, help="threads of the latency table and of the pruning (default 2)")
    g.add_argument("--seq", type=integer(2, 4096), default=64, help="sequence length of the FLOPs and latency models (default 64)")
    g.add_argument("--calibration-examples", type=integer(8), metavar="N",
                   help="training examples for the Fisher pass and reconstruction (default 512)")
    g.add_argument("--heldout-examples", type=integer(8), metavar="N",
                   help="held-back training examples that judge the pruned model (default 512)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, metavar="DIR", help="variant directory to write (replaced if it holds a variant)")
    p.set_defaults(func=run)


def _layer_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"--keep-layers: expected comma-separated layer indices such as 0,2,4, got {short(text)}") from None


def recipe_from_args(args):
    """The recipe of --recipe (or an empty one) with the command-line flags merged in."""
    recipe = load_recipe(args.recipe) if args.recipe else Recipe()
    keep = _layer_list(args.keep_layers)
    if keep is not None and args.sparsity is None:  # --keep-layers replaces the recipe's sparsity ...
        recipe = recipe.model_copy(update={"sparsity": None})
    if args.sparsity is not None and keep is None:  # ... and --sparsity the recipe's list of layers
        recipe = recipe.model_copy(update={"layers": recipe.layers.model_copy(update={"keep": None})})
    schedule = args.schedule or recipe.schedule.kind
    steps_field = None
    if args.steps is not None:
        steps_field = "schedule.steps" if schedule == "cubic" else "finetune.steps"
    overrides = {
        "method": args.method, "structure": args.structure, "sparsity": args.sparsity, "scope": args.scope,
        "schedule.kind": args.schedule, "seed": args.seed, "layers.keep": keep,
        "layers.select": args.layer_select, "movement.variant": args.movement,
    }
    if steps_field:
        overrides[steps_field] = args.steps
    return recipe.with_overrides(overrides, source="command line")


def run(args) -> int:
    from harness.pruning.pruner import make_variant

    if args.method == POST_TRAINING:
        return run_post_training(args)
    for flag in ("target_flops", "target_latency_ms", "backend", "calibration_examples", "heldout_examples"):
        if getattr(args, flag) is not None:
            raise ConfigError(f"--{flag.replace('_', '-')} applies to --method {POST_TRAINING} only")
    if not args.model and not args.checkpoint:
        raise ConfigError("give MODEL (see `harness models`) or --checkpoint DIR")
    check_inputs(checkpoint=args.checkpoint)
    if args.start_from is not None:
        check_path_text(args.start_from, "--from")  # whether it is a variant: check_before_pruning
    model = args.model
    if model is None:
        from harness.models.checkpoint import checkpoint_family

        model = checkpoint_family(args.checkpoint).name
    recipe = recipe_from_args(args)
    data = resolve_data_dir(args.data)
    if not args.start_from:
        check_kept_layers(model, recipe, args.checkpoint, args.recipe or "command line")
    check_before_pruning(model, args, data)
    path, _ = make_variant(
        model, recipe, out_dir=args.out, data_dir=data, checkpoint=args.checkpoint,
        progress=not args.no_progress, source=args.recipe or "command line", start_from=args.start_from,
    )
    m = read_manifest(path)
    realised = m.realised_sparsity
    print(f"variant: {path} (id {variant_id(path)})")
    print(f"model {model}, method {m.method}, structure {m.structure}: "
          f"target sparsity {m.target_sparsity:.4f}, realised {realised.overall:.4f}"
          + (f" (of the dense model's prunable weights: {realised.weights_vs_dense:.4f})"
             if realised.weights_vs_dense is not None and ("+" in m.structure or m.structure in UNIT_STRUCTURES) else ""))
    print(f"  regime: {m.regime}")
    dense, pruned = m.quality.dense, m.quality.pruned
    for key in ("accuracy", "top1_agreement", "kl_dense_pruned"):
        if pruned is not None and getattr(pruned, key) is not None:
            before = getattr(dense, key) if dense is not None and getattr(dense, key) is not None else float("nan")
            print(f"  {key}: dense {before:.4f}  pruned {getattr(pruned, key):.4f}")
    print(f"  wall time {m.wall_time_s:.1f} s, peak RSS {m.peak_rss_bytes / 2**20:.0f} MiB")
    return 0


def run_post_training(args) -> int:
    if not args.checkpoint:
        raise ConfigError(f"--method {POST_TRAINING} prunes a fine-tuned model: give --checkpoint DIR")
    for flag in ("sparsity", "structure", "recipe", "scope", "schedule", "steps", "keep_layers", "layer_select",
                 "movement", "start_from"):
        if getattr(args, flag) is not None:
            raise ConfigError(f"--{flag.replace('_', '-').replace('start-from', 'from')} does not apply to --method "
                              f"{POST_TRAINING} (give --target-flops F or --target-latency-ms X --backend B)")
    data = resolve_data_dir(args.data)
    if not data:
        raise ConfigError(f"--method {POST_TRAINING} needs --data DIR (calibration examples from its training split) "
                          "or $HARNESS_DATA_DIR")
    if args.model:
        raise ConfigError(f"--method {POST_TRAINING}: give --checkpoint DIR alone (the model comes from its config.json)")
    check_post_training_inputs(args, data)
    if args.backend is not None:
        backend_class(args.backend)
    path, manifest = post_training_variant(
        args.checkpoint, data, args.out, target_flops=args.target_flops, target_latency_ms=args.target_latency_ms,
        backend=args.backend, threads=args.threads, seq_len=args.seq, calibration_examples=args.calibration_examples,
        heldout_examples=args.heldout_examples,
        echo=lambda m: print(f"harness prune: {m}"))
    report, q = manifest["post_training"], manifest["quality"]
    print(f"variant: {path}")
    print(f"post-training heads+neurons: {report['cost_fraction']:.3f} of the dense {report['cost_unit']} "
          f"({manifest['realised_sparsity']['heads']:.0%} of heads, {manifest['realised_sparsity']['neurons']:.0%} of "
          "neurons removed)")
    print(f"  held-back accuracy ({q['pruned']['n']} training examples): dense {q['dense']['accuracy']:.4f}  "
          f"pruned {q['pruned']['accuracy']:.4f}")
    print(f"  wall time {manifest['wall_time_s']:.1f} s ({', '.join(f'{k} {v:.1f}' for k, v in manifest['timings_s'].items())}), "
          f"peak RSS {manifest['peak_rss_bytes'] / 2**20:.0f} MiB")
    return 0


def check_post_training_inputs(args, data: str) -> None:
    """Before any work: --out is new, empty or a variant; the checkpoint loads with its tokenizer; the data reads."""
    from harness.models.checkpoint import check_checkpoint

    check_replaceable_output(args.out, "--out", what="a variant directory", owned=is_variant)
    check_checkpoint(args.checkpoint, None, text_task=True)
    check_sst2_dir(data)


def check_before_pruning(model: str, args, data: str | None) -> None:
    """Before any work (the dense fine-tuning comes first and takes minutes): --out is new, empty or a variant,
    the checkpoint loads (weights against its config; its tokenizer when data is tokenized), the variant of
    --from loads as a variant of this model, and the data reads."""
    from harness.models.checkpoint import check_checkpoint

    check_replaceable_output(args.out, "--out", what="a variant directory", owned=is_variant)
    family = family_for(model, args.checkpoint)
    text_data = bool(data) and family.kind == "text"
    if args.checkpoint:
        check_checkpoint(args.checkpoint, family if model in MODELS else None, text_task=text_data)
    if args.start_from:
        check_variant(args.start_from, model)
    if text_data:
        check_sst2_dir(data)


def check_kept_layers(model: str, recipe, checkpoint: str | None, source: str) -> None:
    """Structure layers with an explicit list: every index names a layer of the dense model (checked before the
    dense fine-tuning, which the pruning itself comes after)."""
    from harness.pruning.depth import choose

    stages = [s for s in recipe.resolved(source).stages() if s.structure == "layers" and s.layers.keep is not None]
    if not stages:
        return
    try:
        config = family_for(model, checkpoint).make_config()
    except (HarnessError, NotImplementedError):
        return  # the family cannot say; the pruner reports it
    total = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", None)
    if total:
        try:
            choose(total, keep=list(stages[0].layers.keep))  # later stages act on what the first one kept
        except ConfigError as exc:
            raise ConfigError(str(exc) if source == "command line" else f"{source}: {exc}") from None
