"""Unit scores and global selection for structured pruning (see harness.pruning.structured for what a
unit is and what the scores mean).

A UnitGroup is the prunable units of one layer; each Part is a weight tensor whose slices along `axis` are
the units. score_units gives one float64 score per unit (the lower, the sooner removed); select_units
removes the lowest-scored round(sparsity x total) units across every group, each group keeping min_keep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch

from harness.foundation.errors import HarnessError, choices_error

SCORES = ("magnitude", "taylor", "second-order")
FISHER_DAMPING = 1e-7  # lambda of the diagonal Fisher (oBERT's value)
MIN_KEEP = 1  # units every layer keeps


@dataclass(frozen=True)
class Part:
    """One weight tensor of a unit group: units lie along `axis`; `scale` (per unit) weighs the
    magnitude score only."""

    param: str
    axis: int
    scale: torch.Tensor | None = None


@dataclass(frozen=True)
class UnitGroup:
    """The prunable units of one layer: `name` is the architecture key (a module's qualified name)."""

    name: str
    units: int
    parts: tuple[Part, ...]


def _per_unit(t: torch.Tensor, axis: int, units: int) -> torch.Tensor:
    """View a tensor as (units, everything else)."""
    return t.movedim(axis, 0).reshape(units, -1)


# -- scores --------------------------------------------------------------------------------------
@torch.no_grad()
def score_units(groups: list[UnitGroup], params: dict[str, torch.Tensor], method: str,
                grads: Iterable[dict[str, torch.Tensor]] = (), *, damping: float = FISHER_DAMPING) -> dict[str, torch.Tensor]:
    """{group name: float64 score per unit}; the lower, the sooner removed. `grads` (for taylor and
    second-order) is consumed once, so every gradient contributes to every group's score."""
    if method not in SCORES:
        raise choices_error("score", method, SCORES)
    w = {part.param: params[part.param].detach().double() for g in groups for part in g.parts}
    if method == "magnitude":
        out = {}
        for g in groups:
            total = torch.zeros(g.units, dtype=torch.float64)
            for part in g.parts:
                sq = _per_unit(w[part.param], part.axis, g.units).pow(2).sum(1)
                if part.scale is not None:
                    sq = sq * part.scale.detach().double().pow(2)
                total += sq
            out[g.name] = total.sqrt()
        return out

    acc = {g.name: torch.zeros(g.units, dtype=torch.float64) for g in groups}
    m = 0
    for grad in grads:
        m += 1
        for g in groups:
            s = torch.zeros(g.units, dtype=torch.float64)
            for part in g.parts:
                wg = w[part.param] * grad[part.param].detach().double()
                if method == "taylor":
                    s += _per_unit(wg, part.axis, g.units).sum(1)
                else:
                    s += _per_unit(wg * wg, part.axis, g.units).sum(1)  # w^2 g^2
            acc[g.name] += s.abs() if method == "taylor" else s
    if m == 0:
        raise HarnessError(f"score {method!r} needs at least one gradient batch (grad_batches >= 1)")
    if method == "taylor":
        return {name: a / m for name, a in acc.items()}
    out = {}
    for g in groups:
        wsq = sum(_per_unit(w[p.param], p.axis, g.units).pow(2).sum(1) for p in g.parts)
        out[g.name] = 0.5 * (acc[g.name] / m + damping * wsq)
    return out


def select_units(scores: dict[str, torch.Tensor], sparsity: float, *, min_keep: int = MIN_KEEP) -> dict[str, list[int]]:
    """{group name: sorted kept unit indices} after removing the lowest-scored round(sparsity x total)
    units across all groups (ties: earlier group, then lower index, goes first), every group keeping
    at least `min_keep`."""
    total = sum(int(s.numel()) for s in scores.values())
    target = int(math.floor(sparsity * total + 0.5))
    entries = sorted(
        (float(v), gi, ui) for gi, s in enumerate(scores.values()) for ui, v in enumerate(s.tolist())
    )
    names = list(scores)
    left = [int(s.numel()) for s in scores.values()]
    removed: list[set[int]] = [set() for _ in names]
    count = 0
    for _, gi, ui in entries:
        if count >= target:
            break
        if left[gi] <= min_keep:
            continue
        removed[gi].add(ui)
        left[gi] -= 1
        count += 1
    return {name: [i for i in range(int(scores[name].numel())) if i not in removed[gi]] for gi, name in enumerate(names)}
