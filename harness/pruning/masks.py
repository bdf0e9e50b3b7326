"""Keep-masks over prunable weights: layout, application, realised sparsity.

A mask is a bool tensor with the weight's shape, True = keep. Masks are keyed by layer (module) name
as returned by ModelFamily.prunable_layers; `param_masks` re-keys them by parameter name for training.

Row layout: structures and the second-order code see every weight as a 2-D matrix whose rows are one
output unit (and, for convolutions, one kernel position) and whose columns are input channels, so that
"4 consecutive input weights" are 4 neighbours along a row. A Linear weight (out, in) already is that
matrix; a Conv2d weight (out, in, kh, kw) becomes (out * kh * kw, in).
"""

from __future__ import annotations

import torch
from torch import nn


def to_rows(weight: torch.Tensor) -> torch.Tensor:
    """The weight (or a tensor shaped like it) in row layout: (units, input channels)."""
    if weight.dim() == 2:
        return weight
    if weight.dim() == 4:
        out, inp, kh, kw = weight.shape
        return weight.permute(0, 2, 3, 1).reshape(out * kh * kw, inp)
    raise ValueError(f"expected a 2-D or 4-D weight, got shape {tuple(weight.shape)}")


def from_rows(rows: torch.Tensor, shape: torch.Size | tuple) -> torch.Tensor:
    """Inverse of to_rows for a weight of `shape`."""
    if len(shape) == 2:
        return rows.reshape(shape)
    out, inp, kh, kw = shape
    return rows.reshape(out, kh, kw, inp).permute(0, 3, 1, 2).contiguous()


def full_masks(layers: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    """All-keep masks for every layer."""
    return {name: torch.ones_like(m.weight, dtype=torch.bool) for name, m in layers.items()}


def masks_from_weights(layers: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Masks that keep exactly the non-zero weights."""
    return {name: m.weight.detach() != 0 for name, m in layers.items()}


@torch.no_grad()
def apply_masks(layers: dict[str, nn.Module], masks: dict[str, torch.Tensor]) -> None:
    """Set every masked-out weight exactly to zero, in place."""
    for name, mask in masks.items():
        weight = layers[name].weight
        weight.mul_(mask.to(weight.dtype))
        weight.masked_fill_(~mask, 0.0)  # -0.0 and NaN * 0 become exact zeros


def param_names(model: nn.Module, layers: dict[str, nn.Module]) -> dict[str, str]:
    """{layer name: parameter name of its weight in `model`} (found by module identity)."""
    by_module = {id(m): name for name, m in model.named_modules()}
    out = {}
    for name, layer in layers.items():
        module_name = by_module.get(id(layer), name)
        out[name] = f"{module_name}.weight" if module_name else "weight"
    return out


def param_masks(model: nn.Module, layers: dict[str, nn.Module], masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same masks keyed by the weight's parameter name (what training takes)."""
    names = param_names(model, {n: layers[n] for n in masks})
    return {names[n]: mask for n, mask in masks.items()}


def layer_sparsity(weight: torch.Tensor, dense_numel: int | None = None) -> float:
    """Fraction of zero weights; with dense_numel, weights physically removed count as zeros too."""
    total = dense_numel if dense_numel is not None else weight.numel()
    if total == 0:
        return 0.0
    return 1.0 - int(torch.count_nonzero(weight.detach())) / total


def sparsity_report(layers: dict[str, nn.Module], dense_numel: dict[str, int] | None = None) -> dict:
    """{"overall": fraction, "per_layer": {name: fraction}} of exactly-zero (or removed) weights."""
    per_layer, zeros, total = {}, 0, 0
    for name, module in layers.items():
        n = (dense_numel or {}).get(name, module.weight.numel())
        nonzero = int(torch.count_nonzero(module.weight.detach()))
        per_layer[name] = round(1.0 - nonzero / n, 6) if n else 0.0
        zeros += n - nonzero
        total += n
    return {"overall": round(zeros / total, 6) if total else 0.0, "per_layer": per_layer}
