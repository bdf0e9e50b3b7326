"""Making a variant: the dense model (fine-tuned on the task when data is given), one prune or a chain of
them, and the manifest.

    path, manifest = make_variant("minilm", recipe, out_dir="variants/minilm-obert-80", data_dir="data/sst2")
    path, manifest = make_variant("minilm", recipe, out_dir="variants/minilm-l3-obert-80", data_dir="data/sst2",
                                  start_from="variants/minilm-l3")   # prune a variant again

A recipe with `then:` runs its stages one after the other on the same model (layers, then heads, then
unstructured, ...); `start_from` starts the first stage from an existing variant of the same family
instead of the dense model. Either way every stage distils from the same dense teacher (with
`start_from`, the dense model this recipe's dense and data settings give: the cached fine-tune the source
was made from when those settings match), weights an earlier stage zeroed stay zero, and the variant's
architecture records every structural step so load_variant rebuilds it. The manifest's method and structure join the stages' with "+"
("layers+unstructured"); target_sparsity and realised_sparsity are the last stage's (relative to the
model that stage started from), realised_sparsity.weights_vs_dense is the fraction of the dense model's
prunable weights that are gone (removed or zero), and `stages` lists each stage when there is more than one.

The loop itself is harness.pruning.loop (Pruner); the names below are re-exported for callers.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from torch import nn

from harness.foundation.errors import ConfigError, HarnessError
from harness.foundation.machine import cache_dir
from harness.models.registry import family_for
from harness.tasks import make_task
from harness.variants.architecture import STRUCTURE_KINDS
from harness.variants.neural import load_variant, save_variant

from .loop import PruneOutcome, Pruner
from .peak_rss import PeakRSS
from .recipes import Recipe
from .second_order_step import SecondOrderStep  # noqa: F401 (re-exported)
from .structures import MASK_STRUCTURES, make_structure


def check_fits(family, recipe: Recipe, model: nn.Module | None = None) -> None:
    """Refuse, in one line, a structure that does not apply to the family (or to `model`'s layer shapes)."""
    if recipe.structure in STRUCTURE_KINDS and STRUCTURE_KINDS[recipe.structure] != family.kind:
        fitting = [s for s, k in STRUCTURE_KINDS.items() if k == family.kind]
        valid = ["unstructured", "block4", "2:4", *fitting]
        raise ConfigError(f"structure {recipe.structure!r} does not apply to {family.kind} model {family.name!r}; valid: {', '.join(valid)}")
    if model is not None and recipe.structure in ("block4", "2:4"):
        make_structure(recipe.structure).check({n: m.weight for n, m in family.prunable_layers(model).items()})


def default_cache_dir() -> Path:
    """Where dense fine-tuning results are cached: $HARNESS_CACHE_DIR/finetune, else <repo>/.cache/finetune."""
    return cache_dir() / "finetune"


def prepare(family, recipe: Recipe, *, data_dir: str | None, cache_dir=None, progress: bool = True):
    """(dense model to prune, dense teacher copy, task, timings): dense fine-tuning on data when given."""
    from .training import finetune_dense

    r = recipe
    timings = {}
    model = family.build(seed=r.seed)
    check_fits(family, r, model)
    task = None
    if data_dir:
        task = make_task(family, data_dir, seed=r.seed, max_train=r.data.max_train, max_eval=r.data.max_eval,
                         seq_len=r.data.seq_len, method=r.method)
        # every zoo text family's classification head is new; a local checkpoint comes with its own, trained
        if family.kind == "text" and r.dense.steps > 0 and not getattr(family, "directory", None):
            t0 = time.perf_counter()
            model = finetune_dense(family, model, task, steps=r.dense.steps, lr=r.dense.lr, batch_size=r.dense.batch_size,
                                   seed=r.seed, cache_dir=cache_dir or default_cache_dir())
            timings["dense_finetune_s"] = round(time.perf_counter() - t0, 3)
    elif r.needs_training_data and family.pretrained:
        raise HarnessError(
            f"method {r.method!r} with this recipe trains or takes gradients, and {family.name} is pretrained, so labels "
            "from its untrained head are no task: pass --data DIR (SST-2 layout: train.tsv, dev.tsv) or set HARNESS_DATA_DIR"
        )
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    if task is None:  # generated inputs labelled by the dense model
        task = make_task(family, None, teacher=teacher, seed=r.seed, max_train=r.data.max_train,
                         max_eval=r.data.max_eval, seq_len=r.data.seq_len, method=r.method)
    return model, teacher, task, timings


def load_start(path, family):
    """The variant at `path` as a trainable starting model (it must be a variant of `family`)."""
    v = load_variant(path)
    if v.model_name != family.name:
        raise ConfigError(f"--from: variant {str(path)!r} was made from model {v.model_name!r}, not {family.name!r}")
    for p in v.model.parameters():
        p.requires_grad_(True)
    return v


def _masked(structure: str | None) -> bool:
    """Whether a manifest structure (possibly "a+b") left zeros in the weights that later stages must keep."""
    return any(part in MASK_STRUCTURES for part in (structure or "").split("+"))


def make_variant(model_name: str, recipe: Recipe, *, out_dir, data_dir: str | None = None, cache_dir=None,
                 progress: bool = True, source: str = "recipe", start_from=None,
                 checkpoint: str | None = None) -> tuple[Path, dict]:
    """Prune `model_name` with `recipe` (every stage of it), starting from the dense model (a zoo family's, or
    the local `checkpoint`'s) or from the variant directory `start_from`, and save the variant; return
    (path, manifest)."""
    from .training import evaluate

    family = family_for(model_name, checkpoint)
    r = recipe.resolved(source)
    stages = r.stages()
    for stage in stages:
        check_fits(family, stage)
    started = time.perf_counter()
    with PeakRSS() as rss:
        model, teacher, task, timings = prepare(family, r, data_dir=data_dir, cache_dir=cache_dir, progress=progress)
        start = load_start(start_from, family) if start_from else None
        if start is not None:
            model = start.model
        dense_quality = evaluate(teacher, task, teacher=teacher)
        start_quality = evaluate(model, task, teacher=teacher) if start is not None else None
        keep_zeros = start is not None and _masked(start.manifest.structure)
        outcomes = []
        for stage in stages:
            outcome = Pruner(family, stage, task=task, teacher=teacher, progress=progress, keep_zeros=keep_zeros).run(model)
            model = outcome.model
            keep_zeros = keep_zeros or outcome.masks is not None
            outcomes.append(outcome)
        pruned_quality = evaluate(model, task, teacher=teacher)
    timings["prune_s"] = round(sum(o.wall_time_s for o in outcomes), 3)
    manifest = _manifest(family, r, stages, outcomes, start, teacher, model, task)
    if checkpoint:
        from harness.models.checkpoint import checkpoint_id

        manifest["base"] = {"checkpoint": str(checkpoint), "checkpoint_id": checkpoint_id(checkpoint)}
    manifest.update({
        "wall_time_s": round(time.perf_counter() - started, 3),
        "peak_rss_bytes": rss.peak_rss_bytes,
        "prune_peak_rss_bytes": max(o.peak_rss_bytes for o in outcomes),
        "timings_s": timings,
        "quality": {"dense": dense_quality, "pruned": pruned_quality,
                    **({"start": start_quality} if start_quality is not None else {})},
    })
    path = save_variant(model, model_name, manifest, out_dir)
    return path, manifest


def _stage_summary(stage: Recipe, outcome: PruneOutcome) -> dict:
    target = outcome.architecture["target_sparsity"] if outcome.architecture else stage.sparsity
    return {"method": stage.method, "structure": stage.structure, "target_sparsity": target,
            "realised_sparsity": outcome.realised_sparsity["overall"], "regime": stage.regime,
            "train_steps": outcome.train_steps, "history": outcome.history}


def _joined(values) -> str:
    out = []
    for v in values:
        for part in (v or "").split("+"):
            if part and part not in out:
                out.append(part)
    return "+".join(out)


def _manifest(family, r: Recipe, stages: list[Recipe], outcomes: list[PruneOutcome], start, teacher, model, task) -> dict:
    """The manifest fields that describe what was pruned (the caller adds timings and quality)."""
    from harness.variants.architecture import compose_architectures

    summaries = [_stage_summary(s, o) for s, o in zip(stages, outcomes)]
    earlier = []
    if start is not None:
        m = start.manifest
        earlier = [s.to_json() for s in m.stages] or [{
            "method": m.method, "structure": m.structure, "target_sparsity": m.target_sparsity, "regime": m.regime,
            "realised_sparsity": m.realised_sparsity.overall}]
    every = earlier + summaries
    last = outcomes[-1]
    dense_total = sum(m.weight.numel() for m in family.prunable_layers(teacher).values())
    nonzero = sum(int(m.weight.count_nonzero()) for m in family.prunable_layers(model).values())
    realised = {**last.realised_sparsity, "weights_vs_dense": round(1.0 - nonzero / dense_total, 6) if dense_total else 0.0}
    manifest = {
        "method": _joined(s["method"] for s in every),
        "structure": _joined(s["structure"] for s in every),
        "scope": stages[-1].scope,
        "target_sparsity": summaries[-1]["target_sparsity"],
        "realised_sparsity": realised,
        "regime": stages[-1].regime,
        "recipe": r.to_dict(),
        "recipe_hash": r.hash(),
        "seeds": {"model": r.seed, "task": r.seed, "train": r.seed, "gradients": r.seed},
        "data": task.data_id,
        "history": last.history,
        "train_steps": sum(o.train_steps for o in outcomes),
        "architecture": compose_architectures(start.manifest.architecture if start else None,
                                              *(o.architecture for o in outcomes)),
    }
    if len(every) > 1:
        manifest["stages"] = every
    if start is not None:
        manifest["source"] = {"path": start.path, "variant_id": start.variant_id, "method": start.manifest.method,
                              "structure": start.manifest.structure}
    return manifest
