"""Structured pruning: choose which attention heads, FFN neurons, ResNet bottleneck channels or whole encoder
layers go, then remove them physically (harness.variants.architecture says what a unit is and slices it), so the
smaller model runs faster on every backend with ordinary dense kernels. Which layers stay for structure
`layers`: harness.pruning.depth.

Scores (a unit's "group" of weights Q is the weight slices listed above; biases and BatchNorm
parameters are not scored):
  magnitude     L2 norm of the group's weights. For channels the output filter is taken as the folded
                conv+BN filter, W_c * |gamma_c| / sqrt(running_var_c + eps), so a BatchNorm that scales a
                channel down counts.
  taylor        first-order Taylor: |sum_{j in Q} w_j g_j| for each gradient batch, averaged over the
                batches (Molchanov et al., 2019).
  second-order  group OBS saliency rho_Q = 1/2 w_Q^T ([F^-1]_QQ)^-1 w_Q with the DIAGONAL empirical
                Fisher F = lambda I + (1/m) sum_i diag(g_i g_i^T): then ([F^-1]_QQ)^-1 = diag(F_Q) and
                rho_Q = 1/2 sum_{j in Q} w_j^2 (lambda + (1/m) sum_i g_ij^2). Off-diagonal Fisher terms are
                ignored (no weight update of the survivors is made; recovery is left to fine-tuning).
Gradients come from `task` (cross-entropy on its labels) in batches of GRAD_BATCH_SIZE.

Selection is global across layers: the lowest-scored round(sparsity x total) units go, keeping at
least one unit in every layer, so the realised fraction is the nearest achievable to the target.

The architecture this returns (what apply_architecture replays on a freshly built dense model) is described in
harness.variants.architecture.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from harness.foundation.errors import ConfigError, HarnessError, choices_error
from harness.variants.architecture import (
    ARCHITECTURE_SCHEMA_VERSION,
    UNIT_NAMES,
    apply_architecture,
    check_structure,
    encoder_stacks,
    head_count,
    resnet_inner,
    text_layers,
)

from . import depth
from .units import FISHER_DAMPING, MIN_KEEP, SCORES, Part, UnitGroup, score_units, select_units  # noqa: F401 (re-exported)

GRAD_BATCH_SIZE = 8  # examples per gradient batch (oBERT's gradient batch)


def unit_groups(model: nn.Module, family, structure: str) -> list[UnitGroup]:
    """The prunable unit groups of `model` for `structure`, in module order."""
    check_structure(family, structure)
    modules = dict(model.named_modules())
    groups = []
    if structure in ("heads", "neurons"):
        for layer, spec in text_layers(model).items():
            p = f"{layer}." if layer else ""
            if structure == "heads":
                attn = modules[p + spec.attn]
                parts = tuple(Part(f"{p}{x}.weight", 0) for x in (spec.q, spec.k, spec.v)) + (Part(f"{p}{spec.o}.weight", 1),)
                groups.append(UnitGroup(layer, head_count(attn, spec), parts))
            else:
                units = modules[p + spec.ffn_in].out_features
                groups.append(UnitGroup(layer, units, (Part(f"{p}{spec.ffn_in}.weight", 0), Part(f"{p}{spec.ffn_out}.weight", 1))))
    elif structure == "layers":
        groups = [UnitGroup(name, len(stack), ()) for name, stack in encoder_stacks(model).items()]
    else:
        for layer, (conv, bn, nxt) in resnet_inner(model).items():
            norm = modules[bn]
            factor = (norm.weight.detach().abs() / torch.sqrt(norm.running_var + norm.eps)) if norm.affine else None
            groups.append(UnitGroup(layer, modules[conv].out_channels,
                                    (Part(f"{conv}.weight", 0, factor), Part(f"{nxt}.weight", 1))))
    if not groups:
        raise HarnessError(f"model {family.name!r} has no {structure} this module knows how to remove")
    return groups


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# -- public entry points ----------------------------------------------------------------------------
def prune_structured(model: nn.Module, family, *, structure: str, sparsity: float | None, score: str = "magnitude",
                     task=None, grad_batches: int = 16, seed: int = 0, keep_layers: list[int] | None = None,
                     select: str = "alternate") -> tuple[nn.Module, dict]:
    """Remove the lowest-scored `sparsity` fraction of `structure` units from `model` (in place) and
    return (model, architecture). `architecture` is JSON-able; apply_architecture(family.build(), family,
    architecture) rebuilds the same shapes. taylor and second-order need `task` for gradients.
    Structure layers: `keep_layers` (then sparsity may be None) or `select` decides (harness.pruning.depth)."""
    check_structure(family, structure)
    if score not in SCORES:
        raise choices_error("score", score, SCORES)
    by_list = structure == "layers" and keep_layers is not None
    if not by_list and (isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0.0 <= sparsity < 1.0):
        raise ConfigError(f"sparsity: must be in [0, 1), got {sparsity!r}")
    scored = structure != "layers" or (not by_list and select == "score")
    if scored and score != "magnitude":
        if task is None:
            raise HarnessError(f"score {score!r} needs gradients: pass a task (--data DIR or a teacher task)")
        if grad_batches < 1:
            raise ConfigError(f"grad_batches: must be >= 1 for score {score!r}, got {grad_batches}")
    groups = unit_groups(model, family, structure)
    params = dict(model.named_parameters())
    if structure == "layers":
        if len(groups) != 1:
            raise HarnessError(f"structure layers: expected one stack of encoder layers in {family.name!r}, found {len(groups)}")
        (g,), layer_scores = groups, None
        if scored:
            weights = depth.layer_weights(model, g.name)
            wanted = {k: v for layer in weights for k, v in layer.items()}
            layer_scores = depth.score_layers(weights, score, _gradients(model, task, wanted, score, grad_batches, seed),
                                              damping=FISHER_DAMPING)
        keep = {g.name: depth.choose(g.units, sparsity=sparsity, keep=keep_layers, select=select, scores=layer_scores)}
    else:
        wanted = {part.param: params[part.param] for g in groups for part in g.parts}
        scores = score_units(groups, params, score, _gradients(model, task, wanted, score, grad_batches, seed))
        keep = select_units(scores, sparsity)
    total = sum(g.units for g in groups)
    removed = total - sum(len(k) for k in keep.values())
    params_before = count_params(model)
    architecture = {
        "schema_version": ARCHITECTURE_SCHEMA_VERSION,
        "structure": structure,
        "unit": UNIT_NAMES[structure],
        "score": score if scored else None,
        "target_sparsity": float(sparsity) if not by_list else removed / total,
        "realised_sparsity": removed / total,
        "units_total": total,
        "units_removed": removed,
        "layers": {
            g.name: {"units": g.units, "keep": keep[g.name], "removed_fraction": 1 - len(keep[g.name]) / g.units}
            for g in groups
        },
    }
    if structure == "layers":
        architecture["select"] = "keep" if by_list else select
    apply_architecture(model, family, architecture)
    architecture["params_before"] = params_before
    architecture["params_after"] = count_params(model)
    return model, architecture


def _gradients(model, task, wanted: dict, score: str, grad_batches: int, seed: int) -> Iterable:
    if score == "magnitude":
        return ()
    from .training import collect_gradients

    return collect_gradients(model, task, count=grad_batches, batch_size=GRAD_BATCH_SIZE, seed=seed, params=wanted)
