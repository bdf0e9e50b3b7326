"""One second-order pruning step (OBS with the block-diagonal inverse Fisher) under a memory budget."""

from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import nn

from harness.foundation.errors import ConfigError

from .criteria import ScoreTable, SecondOrder
from .masks import apply_masks
from .obs import WOODBURY_BATCH, plan_groups
from .recipes import SecondOrderSpec
from .schedules import intermediate_targets
from .structures import Structure


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    import sys

    from tqdm import tqdm  # only for interactive runs

    return tqdm(iterable, total=total, desc=desc, unit="step", file=sys.stderr, leave=False)


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
