"""The pruning loop: criterion x structure x schedule, with recovery fine-tuning and distillation.

    outcome = Pruner(family, recipe.resolved(), task=task, teacher=dense_copy).run(model)
    path, manifest = make_variant("minilm", recipe, out_dir="variants/minilm-obert-80", data_dir="data/sst2")

One-shot: optional warm-up training (movement gathers its scores there), one pruning step to the target,
optional recovery fine-tuning. Cubic: warm-up, then a pruning step every `prune_every` training steps
along the cubic schedule, training with the masks applied in between, then recovery fine-tuning. All
training distils from the dense model (P2's train with masks, so pruned weights stay exactly zero).
Second-order steps gather their own gradients (P2's collect_gradients), one layer group at a time when
the inverse Fisher of every layer together would exceed the memory budget.
"""

from __future__ import annotations

import copy
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from ..errors import ConfigError, HarnessError
from .criteria import Criterion, ScoreTable, SecondOrder, make_criterion
from .masks import apply_masks, full_masks, param_masks, param_names, sparsity_report
from .obs import WOODBURY_BATCH, plan_groups
from .recipes import Recipe, SecondOrderSpec
from .schedules import intermediate_targets, pruning_events
from .structures import UNIT_STRUCTURES, Structure, make_structure

# unit structures: which family kind each applies to, and the unit score each method maps to
STRUCTURE_KINDS = {"heads": "text", "neurons": "text", "channels": "image"}
UNIT_SCORES = {"magnitude": "magnitude", "movement": "taylor", "second-order": "second-order"}


# -- measuring ----------------------------------------------------------------------------------
class PeakRSS:
    """Peak resident memory of this process while the `with` block runs, in bytes.

    On Linux the kernel's high-water mark (VmHWM) is reset on entry (writing 5 to /proc/self/clear_refs)
    and read on exit; elsewhere a thread samples the RSS every 20 ms. Blocks may nest: an inner block's
    reset first hands the high-water mark so far to the enclosing blocks.
    """

    _active: list["PeakRSS"] = []

    def __init__(self, interval_s: float = 0.02):
        self.interval_s = interval_s
        self.peak_rss_bytes = 0
        self._reset_ok = False
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        before = _vm_hwm_bytes()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self._reset_ok = before is not None
        except OSError:
            self._reset_ok = False
        if self._reset_ok:
            for outer in PeakRSS._active:
                outer.peak_rss_bytes = max(outer.peak_rss_bytes, before)
        PeakRSS._active.append(self)
        if not self._reset_ok:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        import psutil

        proc = psutil.Process()
        while not self._stop.is_set():
            self.peak_rss_bytes = max(self.peak_rss_bytes, proc.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __exit__(self, *exc):
        PeakRSS._active.remove(self)
        if self._reset_ok:
            self.peak_rss_bytes = max(self.peak_rss_bytes, _vm_hwm_bytes() or 0)
        else:
            self._stop.set()
            self._thread.join()
        return False


def _vm_hwm_bytes() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


# -- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PruneOutcome:
    """What a pruning run produced. `masks` is None for unit structures (units are gone, not zeroed)."""

    model: nn.Module
    masks: dict | None
    architecture: dict | None
    realised_sparsity: dict
    history: list = field(default_factory=list)  # [{"step", "target", "realised"}] per pruning step
    train_steps: int = 0
    wall_time_s: float = 0.0
    peak_rss_bytes: int = 0


class _Observe:
    """Training callback: feed each backward pass's gradients to a criterion (movement scores)."""

    def __init__(self, criterion: Criterion):
        self.criterion = criterion

    def after_backward(self, model, step):
        self.criterion.observe(model)


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm  # only for interactive runs

    return tqdm(iterable, total=total, desc=desc, unit="step", file=sys.stderr, leave=False)


# -- second-order pruning step ---------------------------------------------------------------------
GradSource = Callable[[list, int, int, int], Iterator[dict]]  # (layer names, count, batch size, seed) -> {layer: grad}


class SecondOrderStep:
    """One second-order pruning step (OBS with the block-diagonal Fisher inverse), under a memory budget.

    Layers are split into groups whose inverse Fishers fit in the budget. Per-layer scope, or a single
    group: each group's Fisher is built, scored, masked and updated in turn. Global scope over several
    groups: a first pass scores every group (keeping only scores), the masks are chosen over all scores,
    and a second pass rebuilds each group's Fisher from the same seeded gradients to make the OBS update
    (the last group's Fisher is kept from the first pass). New weights are written only after every group
    is done, so all Fishers see the same model. With recomputations k > 1 the step goes to the target
    through k intermediate sparsities, re-estimating the Fisher at each.
    """

    def __init__(self, layers: dict[str, nn.Module], structure: Structure, spec: SecondOrderSpec,
                 grad_source: GradSource, *, progress: bool = False, dtype=torch.float32):
        self.layers = layers
        self.structure = structure
        self.spec = spec
        self.grad_source = grad_source
        self.progress = progress
        self.dtype = dtype
        self.budget_bytes = int(spec.memory_budget_gb * 1e9)
        self.fisher_builds = 0  # how many group Fishers were built (for reports and tests)

    def groups(self) -> list[list[str]]:
        numels = {n: m.weight.numel() for n, m in self.layers.items()}
        try:
            return plan_groups(numels, block_size=self.spec.block_size, budget_bytes=self.budget_bytes, dtype=self.dtype)
        except ValueError as exc:
            raise ConfigError(f"second_order.memory_budget_gb: {exc}") from None

    def run(self, target: float, scope: str, masks: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
        total = sum(m.numel() for m in masks.values())
        current = 1.0 - sum(int(m.sum()) for m in masks.values()) / total if total else 0.0
        for r, s in enumerate(intermediate_targets(current, target, self.spec.recomputations)):
            masks = self._once(s, scope, masks, seed=seed * 1000 + r)
        return masks

    def _fisher(self, names: list[str], masks, seed: int) -> SecondOrder:
        crit = SecondOrder({n: self.layers[n] for n in names}, block_size=self.spec.block_size,
                           damping=self.spec.damping, num_grads=self.spec.num_grads, dtype=self.dtype)
        count = self.spec.num_grads
        grads = self.grad_source(names, count, self.spec.grad_batch_size, seed)
        buffer: list[dict] = []

        def fold():
            for n in names:
                crit.accumulate_batch(n, [g[n] for g in buffer], keep=masks[n])
            buffer.clear()

        for g in _progress(grads, count, f"gradients ({len(names)} layers)", self.progress):
            buffer.append(g)
            if len(buffer) == WOODBURY_BATCH:
                fold()
        fold()
        self.fisher_builds += 1
        return crit

    def _weights(self, names) -> dict[str, torch.Tensor]:
        return {n: self.layers[n].weight.detach() for n in names}

    def _updates(self, crit: SecondOrder, names, new_masks) -> dict[str, torch.Tensor]:
        return {n: crit.update(n, self.layers[n].weight, new_masks[n], group=self.structure.update_group) for n in names}

    def _write(self, updates: dict[str, torch.Tensor], new_masks) -> None:
        with torch.no_grad():
            for n, w in updates.items():
                self.layers[n].weight.copy_(w)
        apply_masks(self.layers, new_masks)

    def _once(self, sparsity: float, scope: str, masks, seed: int):
        groups = self.groups()
        pending: dict[str, torch.Tensor] = {}
        if scope == "per-layer" or len(groups) == 1:
            new_masks = {}
            for names in groups:
                crit = self._fisher(names, masks, seed)
                sub = self.structure.masks(crit, self._weights(names), sparsity, scope, {n: masks[n] for n in names})
                pending.update(self._updates(crit, names, sub))
                new_masks.update(sub)
                del crit
            self._write(pending, new_masks)
            return new_masks
        table, group_table, crit = {}, {}, None
        for names in groups:
            del crit
            crit = self._fisher(names, masks, seed)
            for n in names:
                w = self.layers[n].weight
                if self.structure.score_group == 1:
                    table[n] = crit.scores(n, w)
                else:
                    group_table[n] = crit.group_scores(n, w, self.structure.score_group)
        new_masks = self.structure.masks(ScoreTable(table, group_table), self._weights(self.layers), sparsity, scope, masks)
        pending.update(self._updates(crit, groups[-1], new_masks))
        del crit
        for names in groups[:-1]:
            crit = self._fisher(names, masks, seed)
            pending.update(self._updates(crit, names, new_masks))
            del crit
        self._write(pending, new_masks)
        return new_masks


# -- the loop -----------------------------------------------------------------------------------------
class Pruner:
    """Runs one resolved recipe on a model (in place) with a task for gradients/training and a dense teacher."""

    def __init__(self, family, recipe: Recipe, *, task=None, teacher: nn.Module | None = None, progress: bool = True):
        self.family = family
        self.recipe = recipe
        self.task = task
        self.teacher = teacher
        self.progress = progress
        self.train_steps = 0
        self.criterion: Criterion | None = None  # magnitude / movement criterion of the last run
        self._segment = 0

    # training and gradients go through P2's harness.pruning.training
    def _train(self, model, steps: int, masks, layers, callbacks=()) -> None:
        if steps <= 0:
            return
        from ..tasks.base import derive_seed
        from .training import train

        r = self.recipe
        self._require_task("training")
        self._segment += 1
        train(model, self.task, steps=steps, lr=r.finetune.lr, batch_size=r.finetune.batch_size,
              seed=derive_seed("train", r.seed, self._segment), teacher=self.teacher,
              kd_temperature=r.distillation.temperature, kd_hardness=r.distillation.hardness,
              masks=param_masks(model, layers, masks) if masks is not None else None,
              callbacks=callbacks, progress=self.progress)
        model.eval()
        self.train_steps += steps

    def _require_task(self, what: str):
        if self.task is None:
            raise HarnessError(f"method {self.recipe.method!r} needs data for {what}: pass --data DIR (SST-2 layout) or set HARNESS_DATA_DIR")

    def _grad_source(self, model, layers) -> GradSource:
        by_layer = param_names(model, layers)

        def source(names, count, batch_size, seed):
            from .training import collect_gradients

            self._require_task("gradients")
            params = {by_layer[n]: layers[n].weight for n in names}
            for grads in collect_gradients(model, self.task, count=count, batch_size=batch_size, seed=seed, params=params):
                yield {n: grads[by_layer[n]] for n in names}

        return source

    def run(self, model: nn.Module) -> PruneOutcome:
        started = time.perf_counter()
        with PeakRSS() as rss:
            if self.recipe.structure in UNIT_STRUCTURES:
                outcome = self._run_units(model)
            else:
                outcome = self._run_masks(model)
        return PruneOutcome(**{**outcome, "wall_time_s": round(time.perf_counter() - started, 3),
                               "peak_rss_bytes": rss.peak_rss_bytes, "train_steps": self.train_steps})

    def _run_units(self, model) -> dict:
        from .structured import prune_structured

        r = self.recipe
        dense = {n: m.weight.numel() for n, m in self.family.prunable_layers(model).items()}
        score = UNIT_SCORES[r.method]
        if score != "magnitude":
            self._require_task("gradients")
        model, architecture = prune_structured(model, self.family, structure=r.structure, sparsity=r.sparsity,
                                               score=score, task=self.task, grad_batches=r.structured.grad_batches,
                                               seed=r.seed)
        model.eval()
        self._train(model, r.finetune.steps, None, {})
        layers = self.family.prunable_layers(model)
        weights = sparsity_report(layers, dense)
        realised = {
            "overall": round(float(architecture["realised_sparsity"]), 6),
            "per_layer": weights["per_layer"],
            "unit": architecture.get("unit"),
            "weights_overall": weights["overall"],
        }
        history = [{"step": 0, "target": r.sparsity, "realised": realised["overall"]}]
        return {"model": model, "masks": None, "architecture": architecture, "realised_sparsity": realised, "history": history}

    def _run_masks(self, model) -> dict:
        r = self.recipe
        layers = self.family.prunable_layers(model)
        structure = make_structure(r.structure)
        structure.check({n: m.weight for n, m in layers.items()})
        masks = full_masks(layers)
        criterion = None
        step_fn = None
        if r.method == "second-order":
            step_fn = SecondOrderStep(layers, structure, r.second_order, self._grad_source(model, layers), progress=self.progress)
        else:
            criterion = make_criterion(r.method, layers)
        self.criterion = criterion
        callbacks = [_Observe(criterion)] if criterion is not None and criterion.needs_grad else []

        sched = r.schedule
        events = pruning_events(sched.kind, final=r.sparsity, initial=sched.initial_sparsity,
                                start_step=sched.warmup_steps or 0, span_steps=sched.steps, prune_every=sched.prune_every)
        history = []
        t = 0
        for i, event in enumerate(_progress(events, len(events), "pruning steps", self.progress and len(events) > 1)):
            if event.step > t:
                self._train(model, event.step - t, masks, layers, callbacks)
                t = event.step
            current = 1.0 - sum(int(m.sum()) for m in masks.values()) / max(sum(m.numel() for m in masks.values()), 1)
            if event.sparsity > current:
                if step_fn is not None:
                    masks = step_fn.run(event.sparsity, r.scope, masks, seed=r.seed * 100 + i)
                else:
                    masks = structure.masks(criterion, {n: m.weight.detach() for n, m in layers.items()},
                                            event.sparsity, r.scope, masks)
                    apply_masks(layers, masks)
            history.append({"step": event.step, "target": round(event.sparsity, 6),
                            "realised": sparsity_report(layers)["overall"]})
        self._train(model, r.finetune.steps, masks, layers, callbacks)
        return {"model": model, "masks": masks, "architecture": None,
                "realised_sparsity": sparsity_report(layers), "history": history}


# -- the library entry point behind `harness prune` ----------------------------------------------------
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
    from ..machine import cache_dir

    return cache_dir() / "finetune"


def prepare(family, recipe: Recipe, *, data_dir: str | None, cache_dir=None, progress: bool = True):
    """(dense model to prune, dense teacher copy, task, timings): dense fine-tuning on data when given."""
    from ..tasks import make_task
    from .training import finetune_dense

    r = recipe
    timings = {}
    model = family.build(seed=r.seed)
    check_fits(family, r, model)
    task = None
    if data_dir:
        task = make_task(family, data_dir, seed=r.seed, max_train=r.data.max_train, max_eval=r.data.max_eval,
                         seq_len=r.data.seq_len, method=r.method)
        if family.kind == "text" and r.dense.steps > 0:  # every text family's classification head is new
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


def make_variant(model_name: str, recipe: Recipe, *, out_dir, data_dir: str | None = None, cache_dir=None,
                 progress: bool = True, source: str = "recipe") -> tuple[Path, dict]:
    """Prune `model_name` with `recipe` and save the variant; return (path, manifest)."""
    from ..models.registry import model_family
    from ..variants.neural import save_variant
    from .training import evaluate

    family = model_family(model_name)
    r = recipe.resolved(source)
    check_fits(family, r)
    started = time.perf_counter()
    with PeakRSS() as rss:
        model, teacher, task, timings = prepare(family, r, data_dir=data_dir, cache_dir=cache_dir, progress=progress)
        dense_quality = evaluate(teacher, task, teacher=teacher)
        outcome = Pruner(family, r, task=task, teacher=teacher, progress=progress).run(model)
        pruned_quality = evaluate(outcome.model, task, teacher=teacher)
    timings["prune_s"] = outcome.wall_time_s
    manifest = {
        "method": r.method,
        "structure": r.structure,
        "scope": r.scope,
        "target_sparsity": r.sparsity,
        "realised_sparsity": outcome.realised_sparsity,
        "recipe": r.to_dict(),
        "recipe_hash": r.hash(),
        "seeds": {"model": r.seed, "task": r.seed, "train": r.seed, "gradients": r.seed},
        "data": task.data_id,
        "history": outcome.history,
        "train_steps": outcome.train_steps,
        "wall_time_s": round(time.perf_counter() - started, 3),
        "peak_rss_bytes": rss.peak_rss_bytes,
        "prune_peak_rss_bytes": outcome.peak_rss_bytes,
        "timings_s": timings,
        "quality": {"dense": dense_quality, "pruned": pruned_quality},
        "architecture": outcome.architecture,
    }
    path = save_variant(outcome.model, model_name, manifest, out_dir)
    return path, manifest
