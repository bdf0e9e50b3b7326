"""The pruning loop: criterion x structure x schedule, with recovery fine-tuning and distillation.

    outcome = Pruner(family, recipe.resolved(), task=task, teacher=dense_copy).run(model)

One-shot: optional warm-up training (one-shot movement gathers its scores there), one pruning step to the
target, optional recovery fine-tuning. Cubic: warm-up, then a pruning step every `prune_every` training
steps along the cubic schedule, training with the masks applied in between, then recovery fine-tuning.
Movement on a cubic schedule runs its published regime instead (harness.pruning.movement): one continuous
fine-tuning run with the masks in the forward pass, recomputed from the scores as training goes. Unit
structures (heads, neurons, channels, layers) remove units physically, then fine-tune. All training distils
from the dense model; pruned weights stay exactly zero. With keep_zeros (a model an earlier prune made
sparse), weights that are already zero stay zero and count as removed.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from torch import nn

from harness.foundation.errors import HarnessError
from harness.tasks.base import derive_seed

from .criteria import Criterion, make_criterion
from .masks import apply_masks, full_masks, masks_from_weights, param_masks, param_names, sparsity_report
from .peak_rss import PeakRSS
from .recipes import Recipe
from .schedules import pruning_events
from .second_order_step import GradSource, SecondOrderStep
from .structures import UNIT_STRUCTURES, make_structure

# the unit score each method maps to, for unit structures
UNIT_SCORES = {"magnitude": "magnitude", "movement": "taylor", "second-order": "second-order"}


@dataclass(frozen=True)
class PruneOutcome:
    """What a pruning run produced. `masks` is None for unit structures (units are gone, not zeroed)."""

    model: nn.Module
    masks: dict | None
    architecture: dict | None
    realised_sparsity: dict
    history: list = field(default_factory=list)  # [{"step", "target", "realised", ...}] per pruning step
    train_steps: int = 0
    wall_time_s: float = 0.0
    peak_rss_bytes: int = 0


class _Observe:
    """Training callback: feed each backward pass's gradients to a criterion (one-shot movement scores)."""

    def __init__(self, criterion: Criterion):
        self.criterion = criterion

    def after_backward(self, model, step):
        self.criterion.observe(model)


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm  # only for interactive runs

    return tqdm(iterable, total=total, desc=desc, unit="step", file=sys.stderr, leave=False)


def _current(masks: dict) -> float:
    return 1.0 - sum(int(m.sum()) for m in masks.values()) / max(sum(m.numel() for m in masks.values()), 1)


class Pruner:
    """Runs one resolved recipe stage on a model (in place) with a task for gradients/training and a dense teacher."""

    def __init__(self, family, recipe: Recipe, *, task=None, teacher: nn.Module | None = None, progress: bool = True,
                 keep_zeros: bool = False):
        self.family = family
        self.recipe = recipe
        self.task = task
        self.teacher = teacher
        self.progress = progress
        self.keep_zeros = keep_zeros
        self.train_steps = 0
        self.criterion: Criterion | None = None  # magnitude / one-shot movement criterion of the last run
        self.movement = None  # the MovementMasks of a gradual movement run
        self._segment = 0

    # training and gradients go through harness.pruning.training
    def _train(self, model, steps: int, masks, layers, callbacks=()) -> None:
        if steps <= 0:
            return

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
        r = self.recipe
        with PeakRSS() as rss:
            if r.structure in UNIT_STRUCTURES:
                outcome = self._run_units(model)
            elif r.method == "movement" and r.schedule.kind == "cubic":
                outcome = self._run_movement(model)
            else:
                outcome = self._run_masks(model)
        return PruneOutcome(**{**outcome, "wall_time_s": round(time.perf_counter() - started, 3),
                               "peak_rss_bytes": rss.peak_rss_bytes, "train_steps": self.train_steps})

    def _run_units(self, model) -> dict:
        from .structured import prune_structured

        r = self.recipe
        dense = {n: m.weight.numel() for n, m in self.family.prunable_layers(model).items()}
        dense_total = sum(dense.values())
        score = UNIT_SCORES[r.method]
        by_rule = r.structure == "layers" and (r.layers.keep is not None or r.layers.select != "score")
        if score != "magnitude" and not by_rule:
            self._require_task("gradients")
        model, architecture = prune_structured(model, self.family, structure=r.structure, sparsity=r.sparsity,
                                               score=score, task=self.task, grad_batches=r.structured.grad_batches,
                                               seed=r.seed, keep_layers=r.layers.keep, select=r.layers.select)
        model.eval()
        layers = self.family.prunable_layers(model)
        masks = masks_from_weights(layers) if self.keep_zeros else None
        self._train(model, r.finetune.steps, masks, layers)
        if r.structure == "layers":  # the kept layers are renumbered: their own names, nothing removed inside
            dense = {n: m.weight.numel() for n, m in layers.items()}
        weights = sparsity_report(layers, dense)
        nonzero = sum(int(m.weight.count_nonzero()) for m in layers.values())
        realised = {
            "overall": round(float(architecture["realised_sparsity"]), 6),
            "per_layer": weights["per_layer"],
            "unit": architecture.get("unit"),
            "weights_overall": round(1.0 - nonzero / dense_total, 6) if dense_total else 0.0,
        }
        history = [{"step": 0, "target": architecture["target_sparsity"], "realised": realised["overall"]}]
        return {"model": model, "masks": None, "architecture": architecture, "realised_sparsity": realised, "history": history}

    def _start_masks(self, layers) -> dict:
        return masks_from_weights(layers) if self.keep_zeros else full_masks(layers)

    def _run_masks(self, model) -> dict:
        r = self.recipe
        layers = self.family.prunable_layers(model)
        structure = make_structure(r.structure)
        structure.check({n: m.weight for n, m in layers.items()})
        masks = self._start_masks(layers)
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
            if event.sparsity > _current(masks):
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

    def _run_movement(self, model) -> dict:
        from .movement import MovementMasks, MovementSchedule

        r = self.recipe
        sched, mv = r.schedule, r.movement
        layers = self.family.prunable_layers(model)
        structure = make_structure(r.structure)
        structure.check({n: m.weight for n, m in layers.items()})
        self._require_task("training")
        fixed = masks_from_weights(layers) if self.keep_zeros else None
        masker = MovementMasks(layers, structure, variant=mv.variant, scope=r.scope, scores_lr=mv.scores_lr,
                               regularization=mv.regularization, threshold=mv.threshold, fixed=fixed)
        self.movement = masker
        warmup = sched.warmup_steps or 0
        total = warmup + sched.steps + r.finetune.steps
        schedule = MovementSchedule(masker, final=r.sparsity, initial=sched.initial_sparsity, warmup_steps=warmup,
                                    span_steps=sched.steps, every=sched.prune_every, total_steps=total)
        try:
            schedule.start()
            self._train(model, total, None, layers, [schedule])
        finally:
            masks = masker.finish()
        return {"model": model, "masks": masks, "architecture": None,
                "realised_sparsity": sparsity_report(layers), "history": schedule.history}
