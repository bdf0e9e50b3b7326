"""`harness prune`: make a pruned variant (weights + manifest) from a model family and a recipe."""

from __future__ import annotations

from . import add_command
from ..pruning import METHODS, SCHEDULE_KINDS, SCOPES, STRUCTURES

EXAMPLE = "harness prune minilm --method second-order --sparsity 0.8 --structure unstructured --data data/sst2 --out variants/minilm-obert-80"


def register(sub):
    p = add_command(
        sub, "prune", "prune a model into a variant directory (weights + manifest)", EXAMPLE,
        description=(
            "Prune MODEL with a criterion (--method), a structure and a schedule, optionally with recovery "
            "fine-tuning and distillation from the dense model, and write DIR/model.safetensors + DIR/manifest.json. "
            "Flags override the fields of --recipe. With --data (or $HARNESS_DATA_DIR) text models are first "
            "fine-tuned densely on SST-2 (cached under $HARNESS_CACHE_DIR/finetune, default .cache/finetune); without "
            "data, randomly initialised models learn from generated inputs labelled by the dense model."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="model family (see `harness models`)")
    p.add_argument("--method", choices=METHODS, help="criterion: what to remove")
    p.add_argument("--sparsity", type=float, metavar="S",
                   help="fraction of prunable weights to remove (of units for heads/neurons/channels; 2:4 is 0.5)")
    p.add_argument("--structure", choices=STRUCTURES, help="shape of what is removed")
    p.add_argument("--recipe", metavar="FILE", help="recipe YAML (see recipes/); flags override its fields")
    p.add_argument("--data", metavar="DIR", help="SST-2 directory (train.tsv, dev.tsv); default $HARNESS_DATA_DIR")
    p.add_argument("--scope", choices=SCOPES, help="rank weights across all prunable layers or within each")
    p.add_argument("--schedule", choices=SCHEDULE_KINDS, help="prune at once, or gradually on the cubic schedule")
    p.add_argument("--steps", type=int, metavar="N",
                   help="training steps: the cubic schedule's span, or recovery fine-tuning steps after a one-shot prune")
    p.add_argument("--seed", type=int, metavar="N", help="seed for weights, data order and gradients")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, metavar="DIR", help="variant directory to write (replaced if it holds a variant)")
    p.set_defaults(func=run)


def recipe_from_args(args):
    """The recipe of --recipe (or an empty one) with the command-line flags merged in."""
    from ..pruning.recipes import Recipe, load_recipe

    recipe = load_recipe(args.recipe) if args.recipe else Recipe()
    schedule = args.schedule or recipe.schedule.kind
    steps_field = None
    if args.steps is not None:
        steps_field = "schedule.steps" if schedule == "cubic" else "finetune.steps"
    overrides = {
        "method": args.method, "structure": args.structure, "sparsity": args.sparsity, "scope": args.scope,
        "schedule.kind": args.schedule, "seed": args.seed,
    }
    if steps_field:
        overrides[steps_field] = args.steps
    return recipe.with_overrides(overrides, source="command line")


def run(args) -> int:
    from ..pruning.pruner import make_variant
    from ..tasks import resolve_data_dir
    from ..variants.identify import variant_id

    recipe = recipe_from_args(args)
    path, manifest = make_variant(
        args.model, recipe, out_dir=args.out, data_dir=resolve_data_dir(args.data),
        progress=not args.no_progress, source=args.recipe or "command line",
    )
    realised = manifest["realised_sparsity"]
    q = manifest["quality"]
    print(f"variant: {path} (id {variant_id(path)})")
    print(f"model {args.model}, method {manifest['method']}, structure {manifest['structure']}: "
          f"target sparsity {manifest['target_sparsity']:.4f}, realised {realised['overall']:.4f}")
    for key in ("accuracy", "top1_agreement", "kl_dense_pruned"):
        if key in q["pruned"]:
            print(f"  {key}: dense {q['dense'].get(key, float('nan')):.4f}  pruned {q['pruned'][key]:.4f}")
    print(f"  wall time {manifest['wall_time_s']:.1f} s, peak RSS {manifest['peak_rss_bytes'] / 2**20:.0f} MiB")
    return 0
