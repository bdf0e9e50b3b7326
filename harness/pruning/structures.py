"""Which shape to remove: turn a criterion's scores into keep-masks at a target sparsity.

Mask structures (weights stay in place, zeros):
    unstructured  the lowest-scoring weights, globally across the prunable layers or per layer
    block4        groups of 4 consecutive input weights (one score per group), removed whole
    2:4           in every group of 4 consecutive input weights keep the 2 highest (exactly 50%)
Unit structures (heads, neurons, channels, layers) physically remove units: harness.pruning.structured.

Masks only ever shrink: weights already removed score -inf and are chosen first, so a gradual schedule
never brings a weight back. Counts are exact: k = round(sparsity * n) weights (or groups) go, ties broken
by position, so realised sparsity matches the target to one weight (or one group) per selection.
"""

from __future__ import annotations

import torch

from harness.foundation.errors import HarnessError, choices_error

from . import MASK_STRUCTURES, SCOPES, STRUCTURES, UNIT_STRUCTURES  # noqa: F401 (re-exported)
from .criteria import Criterion
from .masks import from_rows, to_rows


def lowest_k(flat: torch.Tensor, k: int) -> torch.Tensor:
    """A bool mask selecting exactly the k lowest entries of a 1-D tensor (ties: earliest first)."""
    n = flat.numel()
    k = int(min(max(k, 0), n))
    if k == 0:
        return torch.zeros(n, dtype=torch.bool)
    if k == n:
        return torch.ones(n, dtype=torch.bool)
    threshold = flat.kthvalue(k).values
    chosen = flat < threshold
    need = k - int(chosen.sum())
    if need > 0:
        ties = (flat == threshold).nonzero().squeeze(1)[:need]
        chosen[ties] = True
    return chosen


def _checked(name: str, scores: torch.Tensor) -> torch.Tensor:
    if torch.isnan(scores).any():
        raise HarnessError(f"pruning scores of layer {name} contain NaN (diverged training or a bad Fisher estimate)")
    return scores.detach().to(torch.float32)


def _select(scores: dict[str, torch.Tensor], fraction: float, scope: str) -> dict[str, torch.Tensor]:
    """For each layer, a flat bool mask of the entries to remove: round(fraction * n) lowest, globally or per layer."""
    flats = {name: _checked(name, s).reshape(-1) for name, s in scores.items()}
    if scope == "per-layer":
        return {name: lowest_k(f, round(fraction * f.numel())) for name, f in flats.items()}
    if scope != "global":
        raise ValueError(f"unknown scope {scope!r}")
    names = list(flats)
    allscores = torch.cat([flats[n] for n in names]) if names else torch.zeros(0)
    chosen = lowest_k(allscores, round(fraction * allscores.numel()))
    out, offset = {}, 0
    for name in names:
        size = flats[name].numel()
        out[name] = chosen[offset : offset + size]
        offset += size
    return out


class Structure:
    name = ""
    score_group = 1  # the criterion scores single weights (1) or groups of this many input weights
    update_group = 1  # the OBS update treats removed entries singly (1) or as groups

    def check(self, weights: dict[str, torch.Tensor]) -> None:
        """Raise HarnessError naming the first layer whose shape this structure cannot handle."""

    def masks(self, criterion: Criterion, weights: dict[str, torch.Tensor], sparsity: float, scope: str = "global",
              current: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class Unstructured(Structure):
    name = "unstructured"

    def masks(self, criterion, weights, sparsity, scope="global", current=None):
        scores = {}
        for name, w in weights.items():
            s = _checked(name, criterion.scores(name, w))
            if current is not None:
                s = s.masked_fill(~current[name], float("-inf"))
            scores[name] = s
        prune = _select(scores, sparsity, scope)
        return {name: ~prune[name].reshape(w.shape) for name, w in weights.items()}


class _GroupedStructure(Structure):
    group = 4

    def check(self, weights):
        for name, w in weights.items():
            columns = to_rows(w).shape[1]
            if columns % self.group:
                raise HarnessError(
                    f"structure {self.name}: layer {name} has {columns} input weights per row, not a multiple of {self.group}"
                )

    def _grouped(self, tensor: torch.Tensor) -> torch.Tensor:
        rows = to_rows(tensor)
        return rows.reshape(rows.shape[0], rows.shape[1] // self.group, self.group)


class Block(_GroupedStructure):
    """Groups of 4 consecutive input weights, removed whole (suits int8 VNNI dot products)."""

    name = "block4"
    score_group = 4
    update_group = 4

    def masks(self, criterion, weights, sparsity, scope="global", current=None):
        self.check(weights)
        scores = {}
        for name, w in weights.items():
            s = _checked(name, criterion.group_scores(name, w, self.group))
            if current is not None:
                s = s.masked_fill(~self._grouped(current[name]).any(dim=2), float("-inf"))
            scores[name] = s
        prune = _select(scores, sparsity, scope)
        out = {}
        for name, w in weights.items():
            keep_groups = ~prune[name].reshape(scores[name].shape)
            keep_rows = keep_groups.unsqueeze(2).expand(-1, -1, self.group).reshape(to_rows(w).shape)
            out[name] = from_rows(keep_rows, w.shape)
        return out


class NM(_GroupedStructure):
    """N:M semi-structured: in every group of M consecutive input weights keep the N highest.

    At a sparsity below (M - N) / M (steps of a gradual schedule), only the fraction
    sparsity / ((M - N) / M) of groups with the least to lose (the lowest sum of their M - N lowest
    scores) take the N:M pattern; the rest stay dense. At the final sparsity every group has it.
    """

    def __init__(self, n: int = 2, m: int = 4):
        self.n, self.group = n, m
        self.name = f"{n}:{m}"

    @property
    def final_sparsity(self) -> float:
        return (self.group - self.n) / self.group

    def masks(self, criterion, weights, sparsity, scope="global", current=None):
        self.check(weights)
        drop = self.group - self.n
        fraction = min(sparsity / self.final_sparsity, 1.0)
        order, cost = {}, {}
        for name, w in weights.items():
            s = _checked(name, criterion.scores(name, w))
            if current is not None:
                s = s.masked_fill(~current[name], float("-inf"))
            grouped = self._grouped(s)
            low, idx = grouped.topk(drop, dim=2, largest=False)  # the entries each group would lose
            order[name] = idx
            c = low.sum(dim=2)
            if current is not None:  # groups that already have the pattern go first
                c = c.masked_fill(~self._grouped(current[name]).all(dim=2), float("-inf"))
            cost[name] = c
        convert = _select(cost, fraction, scope)
        out = {}
        for name, w in weights.items():
            conv = convert[name].reshape(cost[name].shape)
            prune = torch.zeros(self._grouped(w).shape, dtype=torch.bool)
            prune.scatter_(2, order[name], True)
            prune &= conv.unsqueeze(2)
            out[name] = from_rows(~prune.reshape(to_rows(w).shape), w.shape)
        return out


def make_structure(name: str) -> Structure:
    """The mask structure called `name` (unit structures are handled by harness.pruning.structured)."""
    if name == "unstructured":
        return Unstructured()
    if name == "block4":
        return Block()
    if name == "2:4":
        return NM(2, 4)

    raise choices_error("structure", name, MASK_STRUCTURES)
