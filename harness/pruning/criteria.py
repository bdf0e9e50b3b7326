"""What to remove: importance scores per weight (higher = keep).

A criterion knows nothing about shapes of removal (structures.py) or timing (schedules.py). Interface:

    needs_grad            whether it needs gradients (then observe() is called after each backward())
    reset()               forget what was observed
    observe(model)        read the gradients of the layers it watches (after backward())
    scores(name, weight)  a tensor shaped like the weight, higher = more important
    group_scores(name, weight, group)
                          one score per group of `group` consecutive input weights, in row layout
                          (masks.to_rows): shape (rows, in / group). Default: the sum of the weights' scores.
    update(name, weight, keep, group)
                          the weight after removing the entries where keep is False (default: zeroed;
                          second-order also moves the kept weights, the OBS correction)
"""

from __future__ import annotations

import torch
from torch import nn

from harness.foundation.errors import HarnessError, choices_error

from . import METHODS
from .masks import from_rows, to_rows
from .obs import BlockFisherInverse, block_saliency, obs_update, single_saliency


class Criterion:
    name = ""
    needs_grad = False

    def reset(self) -> None:
        pass

    def observe(self, model: nn.Module) -> None:
        pass

    def scores(self, name: str, weight: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def group_scores(self, name: str, weight: torch.Tensor, group: int) -> torch.Tensor:
        rows = to_rows(self.scores(name, weight))
        return rows.reshape(rows.shape[0], rows.shape[1] // group, group).sum(dim=2)

    @torch.no_grad()
    def update(self, name: str, weight: torch.Tensor, keep: torch.Tensor, group: int = 1) -> torch.Tensor:
        return torch.where(keep, weight.detach(), torch.zeros_like(weight))


class Magnitude(Criterion):
    """|w|: small weights matter least (Han et al.; Zhu & Gupta)."""

    name = "magnitude"

    def scores(self, name, weight):
        return weight.detach().abs()


class Movement(Criterion):
    """S = -sum_t g_t * w_t accumulated over fine-tuning steps (Sanh et al., 2020): weights moving away
    from zero score high. Used with a hard top-k (structures keep the highest scores) by one-shot movement
    pruning; the gradual regime of the paper, hard and soft, is harness.pruning.movement."""

    name = "movement"
    needs_grad = True

    def __init__(self, layers: dict[str, nn.Module]):
        self.layers = dict(layers)
        self.steps = 0
        self._scores: dict[str, torch.Tensor] = {}

    def reset(self):
        self.steps = 0
        self._scores = {}

    @torch.no_grad()
    def observe(self, model=None):
        seen = False
        for name, layer in self.layers.items():
            grad = layer.weight.grad
            if grad is None:
                continue
            contribution = -(grad * layer.weight)
            if name in self._scores:
                self._scores[name].add_(contribution)
            else:
                self._scores[name] = contribution.detach().clone()
            seen = True
        if seen:
            self.steps += 1

    def scores(self, name, weight):
        if name not in self._scores:
            raise HarnessError(
                "movement: no gradient was observed before pruning; movement scores come from fine-tuning "
                "(set schedule.warmup_steps >= 1, or start the cubic schedule at initial_sparsity 0)"
            )
        return self._scores[name]


class SecondOrder(Criterion):
    """OBS saliency from a block-diagonal empirical Fisher inverse (see obs.py), with the OBS update."""

    name = "second-order"
    needs_grad = True

    def __init__(self, layers: dict[str, nn.Module], *, block_size: int = 50, damping: float = 1e-7,
                 num_grads: int = 1024, dtype=torch.float32):
        self.layers = dict(layers)
        self.block_size = block_size
        self.damping = damping
        self.num_grads = num_grads
        self.dtype = dtype
        self.finv: dict[str, BlockFisherInverse] = {}

    def reset(self):
        self.finv = {}

    def _inverse(self, name: str) -> BlockFisherInverse:
        if name not in self.finv:
            self.finv[name] = BlockFisherInverse(
                self.layers[name].weight.numel(), block_size=self.block_size, damping=self.damping,
                num_grads=self.num_grads, dtype=self.dtype,
            )
        return self.finv[name]

    def accumulate(self, name: str, grad: torch.Tensor, keep: torch.Tensor | None = None) -> None:
        """Fold one gradient of layer `name` (weight-shaped) into its inverse; removed weights' entries are zeroed."""
        if keep is not None:
            grad = torch.where(keep, grad, torch.zeros_like(grad))
        self._inverse(name).add(to_rows(grad).reshape(-1))

    def accumulate_batch(self, name: str, grads: list[torch.Tensor], keep: torch.Tensor | None = None) -> None:
        """Fold several gradients of layer `name` at once (one Woodbury step; same result as one at a time)."""
        if not grads:
            return
        rows = []
        for grad in grads:
            if keep is not None:
                grad = torch.where(keep, grad, torch.zeros_like(grad))
            rows.append(to_rows(grad).reshape(-1))
        self._inverse(name).add_batch(torch.stack(rows))

    @torch.no_grad()
    def observe(self, model=None):
        for name, layer in self.layers.items():
            if layer.weight.grad is not None:
                self.accumulate(name, layer.weight.grad)

    def _ready(self, name) -> BlockFisherInverse:
        if name not in self.finv or self.finv[name].count == 0:
            raise HarnessError(f"second-order: no gradient was observed for layer {name} before scoring")
        return self.finv[name]

    def scores(self, name, weight):
        rows = to_rows(weight.detach())
        rho = single_saliency(rows.reshape(-1), self._ready(name))
        return from_rows(rho.reshape(rows.shape), weight.shape)

    def group_scores(self, name, weight, group):
        rows = to_rows(weight.detach())
        rho = block_saliency(rows.reshape(-1), self._ready(name), group)
        return rho.reshape(rows.shape[0], rows.shape[1] // group)

    @torch.no_grad()
    def update(self, name, weight, keep, group=1):
        rows = to_rows(weight.detach())
        prune = ~to_rows(keep)
        new = obs_update(rows.reshape(-1), self._ready(name), prune.reshape(-1), group=group)
        return from_rows(new.reshape(rows.shape), weight.shape)


class ScoreTable(Criterion):
    """Fixed, precomputed scores (per weight or per group), e.g. gathered group by group under a memory budget."""

    name = "table"

    def __init__(self, scores: dict[str, torch.Tensor] | None = None, group_scores: dict[str, torch.Tensor] | None = None):
        self._scores = scores or {}
        self._group_scores = group_scores or {}

    def scores(self, name, weight):
        return self._scores[name]

    def group_scores(self, name, weight, group):
        if name in self._group_scores:
            return self._group_scores[name]
        return super().group_scores(name, weight, group)


def make_criterion(method: str, layers: dict[str, nn.Module], **second_order) -> Criterion:
    """The criterion for `method`; second_order keywords go to SecondOrder."""
    if method == "magnitude":
        return Magnitude()
    if method == "movement":
        return Movement(layers)
    if method == "second-order":
        return SecondOrder(layers, **second_order)

    raise choices_error("method", method, METHODS)
