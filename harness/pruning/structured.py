"""Structured pruning: physically remove attention heads, FFN neurons or ResNet bottleneck channels, so
the smaller model runs faster on every backend with ordinary dense kernels.

Units and what removing one slices:
  heads    (BERT, MiniLM, DistilBERT): the head's rows of Q, K and V (weights and biases) and its columns
           of the attention-output weight; the attention module's head count follows.
  neurons  (same families): an FFN intermediate neuron, i.e. a row of intermediate.dense / ffn.lin1
           (weight and bias) and a column of output.dense / ffn.lin2.
  channels (ResNet from transformers): an output channel of an inner convolution of a residual block
           (the first and second conv of each 1x1-3x3-1x1 bottleneck), with its BatchNorm entries and
           the next convolution's input channel. Channels coupled through the residual additions (block
           outputs, shortcuts, the stem) are left alone: removing one would need the same channel gone
           from every block of the stage and its shortcut, which this module does not do.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

from ..errors import ConfigError, HarnessError, choices_error

STRUCTURES = ("heads", "neurons", "channels")
SCORES = ("magnitude", "taylor", "second-order")
ARCHITECTURE_SCHEMA_VERSION = 1  # 1 - first version: structure, layers {name: {units, keep}}, counts
FISHER_DAMPING = 1e-7  # lambda of the diagonal Fisher (oBERT's value)
GRAD_BATCH_SIZE = 8  # examples per gradient batch (oBERT's gradient batch)
MIN_KEEP = 1  # units every layer keeps
UNIT_NAMES = {"heads": "head", "neurons": "neuron", "channels": "channel"}
STRUCTURE_KINDS = {"heads": "text", "neurons": "text", "channels": "image"}


# -- units ----------------------------------------------------------------------------------------
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


@dataclass(frozen=True)
class _TextLayer:
    """Where a transformer layer keeps its attention and FFN (paths relative to the layer)."""

    attn: str
    q: str
    k: str
    v: str
    o: str
    ffn_in: str
    ffn_out: str
    distil: bool


_BERT = _TextLayer("attention.self", "attention.self.query", "attention.self.key", "attention.self.value",
                   "attention.output.dense", "intermediate.dense", "output.dense", distil=False)
_DISTIL = _TextLayer("attention", "attention.q_lin", "attention.k_lin", "attention.v_lin",
                     "attention.out_lin", "ffn.lin1", "ffn.lin2", distil=True)


def _text_layers(model: nn.Module) -> dict[str, _TextLayer]:
    found = {}
    for name, m in model.named_modules():
        attn = getattr(m, "attention", None)
        if attn is None:
            continue
        if hasattr(getattr(attn, "self", None), "query") and hasattr(m, "intermediate"):
            found[name] = _BERT
        elif hasattr(attn, "q_lin") and hasattr(m, "ffn"):
            found[name] = _DISTIL
    return found


def _head_size(attn: nn.Module) -> int:
    return int(attn.attention_head_size)


def _head_count(attn: nn.Module, spec: _TextLayer) -> int:
    return int(attn.n_heads if spec.distil else attn.num_attention_heads)


def _resnet_inner(model: nn.Module) -> dict[str, tuple[str, str, str]]:
    """{conv layer name: (conv, batchnorm, next conv)} for the inner convs of every residual block."""
    found = {}
    for name, m in model.named_modules():
        seq = getattr(m, "layer", None)
        if not (hasattr(m, "shortcut") and isinstance(seq, nn.Sequential)):
            continue
        for i in range(len(seq) - 1):
            this, nxt = seq[i], seq[i + 1]
            if not all(hasattr(x, "convolution") and hasattr(x, "normalization") for x in (this, nxt)):
                continue
            if this.convolution.groups != 1 or nxt.convolution.groups != 1:
                continue
            base = f"{name}.layer"
            found[f"{base}.{i}"] = (f"{base}.{i}.convolution", f"{base}.{i}.normalization", f"{base}.{i + 1}.convolution")
    return found


def _check_structure(family, structure: str) -> None:
    if structure not in STRUCTURES:
        raise choices_error("structure", structure, STRUCTURES)
    want = STRUCTURE_KINDS[structure]
    if family.kind != want:
        fitting = [s for s in STRUCTURES if STRUCTURE_KINDS[s] == family.kind]
        raise ConfigError(
            f"structure {structure!r} does not apply to {family.kind} model {family.name!r}; valid choices: "
            + ", ".join(fitting)
        )


def unit_groups(model: nn.Module, family, structure: str) -> list[UnitGroup]:
    """The prunable unit groups of `model` for `structure`, in module order."""
    _check_structure(family, structure)
    modules = dict(model.named_modules())
    groups = []
    if structure in ("heads", "neurons"):
        for layer, spec in _text_layers(model).items():
            p = f"{layer}." if layer else ""
            if structure == "heads":
                attn = modules[p + spec.attn]
                parts = tuple(Part(f"{p}{x}.weight", 0) for x in (spec.q, spec.k, spec.v)) + (Part(f"{p}{spec.o}.weight", 1),)
                groups.append(UnitGroup(layer, _head_count(attn, spec), parts))
            else:
                units = modules[p + spec.ffn_in].out_features
                groups.append(UnitGroup(layer, units, (Part(f"{p}{spec.ffn_in}.weight", 0), Part(f"{p}{spec.ffn_out}.weight", 1))))
    else:
        for layer, (conv, bn, nxt) in _resnet_inner(model).items():
            norm = modules[bn]
            factor = (norm.weight.detach().abs() / torch.sqrt(norm.running_var + norm.eps)) if norm.affine else None
            groups.append(UnitGroup(layer, modules[conv].out_channels,
                                    (Part(f"{conv}.weight", 0, factor), Part(f"{nxt}.weight", 1))))
    if not groups:
        raise HarnessError(f"model {family.name!r} has no {structure} this module knows how to remove")
    return groups


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


# -- slicing -------------------------------------------------------------------------------------
def _index(keep, device) -> torch.Tensor:
    return torch.as_tensor(keep, dtype=torch.long, device=device)


def _slice_linear(lin: nn.Linear, idx: torch.Tensor, dim: int) -> nn.Linear:
    w = lin.weight.detach().index_select(dim, idx)
    new = nn.Linear(w.shape[1], w.shape[0], bias=lin.bias is not None, device=w.device, dtype=w.dtype)
    with torch.no_grad():
        new.weight.copy_(w)
        if lin.bias is not None:
            new.bias.copy_(lin.bias.detach().index_select(0, idx) if dim == 0 else lin.bias.detach())
    new.weight.requires_grad_(lin.weight.requires_grad)
    if lin.bias is not None:
        new.bias.requires_grad_(lin.bias.requires_grad)
    new.train(lin.training)
    return new


def _slice_conv(conv: nn.Conv2d, idx: torch.Tensor, dim: int) -> nn.Conv2d:
    w = conv.weight.detach().index_select(dim, idx)
    new = nn.Conv2d(w.shape[1], w.shape[0], conv.kernel_size, stride=conv.stride, padding=conv.padding,
                    dilation=conv.dilation, groups=1, bias=conv.bias is not None, padding_mode=conv.padding_mode,
                    device=w.device, dtype=w.dtype)
    with torch.no_grad():
        new.weight.copy_(w)
        if conv.bias is not None:
            new.bias.copy_(conv.bias.detach().index_select(0, idx) if dim == 0 else conv.bias.detach())
    new.weight.requires_grad_(conv.weight.requires_grad)
    new.train(conv.training)
    return new


def _slice_bn(bn: nn.BatchNorm2d, idx: torch.Tensor) -> nn.BatchNorm2d:
    new = nn.BatchNorm2d(len(idx), eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
                         track_running_stats=bn.track_running_stats, device=idx.device)
    with torch.no_grad():
        if bn.affine:
            new.weight.copy_(bn.weight.detach()[idx])
            new.bias.copy_(bn.bias.detach()[idx])
        if bn.track_running_stats:
            new.running_mean.copy_(bn.running_mean[idx])
            new.running_var.copy_(bn.running_var[idx])
            new.num_batches_tracked.copy_(bn.num_batches_tracked)
    new.train(bn.training)
    return new


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def _apply_layer(model: nn.Module, structure: str, name: str, keep: list[int]) -> None:
    modules = dict(model.named_modules())
    p = f"{name}." if name else ""
    if structure == "heads":
        spec = _text_layers(model)[name]
        attn = modules[p + spec.attn]
        d = _head_size(attn)
        rows = torch.cat([torch.arange(h * d, (h + 1) * d) for h in keep])
        rows = rows.to(modules[p + spec.q].weight.device)
        for x in (spec.q, spec.k, spec.v):
            _set_module(model, p + x, _slice_linear(modules[p + x], rows, 0))
        _set_module(model, p + spec.o, _slice_linear(modules[p + spec.o], rows, 1))
        if spec.distil:
            attn.n_heads = len(keep)
        else:
            attn.num_attention_heads = len(keep)
            attn.all_head_size = len(keep) * d
    elif structure == "neurons":
        spec = _text_layers(model)[name]
        idx = _index(keep, modules[p + spec.ffn_in].weight.device)
        _set_module(model, p + spec.ffn_in, _slice_linear(modules[p + spec.ffn_in], idx, 0))
        _set_module(model, p + spec.ffn_out, _slice_linear(modules[p + spec.ffn_out], idx, 1))
    else:
        conv, bn, nxt = _resnet_inner(model)[name]
        idx = _index(keep, modules[conv].weight.device)
        _set_module(model, conv, _slice_conv(modules[conv], idx, 0))
        _set_module(model, bn, _slice_bn(modules[bn], idx))
        _set_module(model, nxt, _slice_conv(modules[nxt], idx, 1))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# -- public entry points ----------------------------------------------------------------------------
def prune_structured(model: nn.Module, family, *, structure: str, sparsity: float, score: str = "magnitude",
                     task=None, grad_batches: int = 16, seed: int = 0) -> tuple[nn.Module, dict]:
    """Remove the lowest-scored `sparsity` fraction of `structure` units from `model` (in place) and
    return (model, architecture). `architecture` is JSON-able; apply_architecture(family.build(), family,
    architecture) rebuilds the same shapes. taylor and second-order need `task` for gradients."""
    _check_structure(family, structure)
    if score not in SCORES:
        raise choices_error("score", score, SCORES)
    if not isinstance(sparsity, (int, float)) or not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"sparsity: must be in [0, 1), got {sparsity!r}")
    if score != "magnitude":
        if task is None:
            raise HarnessError(f"score {score!r} needs gradients: pass a task (--data DIR or a teacher task)")
        if grad_batches < 1:
            raise ConfigError(f"grad_batches: must be >= 1 for score {score!r}, got {grad_batches}")
    groups = unit_groups(model, family, structure)
    params = dict(model.named_parameters())
    grads: Iterable = ()
    if score != "magnitude":
        from .training import collect_gradients

        wanted = {part.param: params[part.param] for g in groups for part in g.parts}
        grads = collect_gradients(model, task, count=grad_batches, batch_size=GRAD_BATCH_SIZE, seed=seed, params=wanted)
    scores = score_units(groups, params, score, grads)
    keep = select_units(scores, sparsity)
    total = sum(g.units for g in groups)
    removed = total - sum(len(k) for k in keep.values())
    params_before = count_params(model)
    architecture = {
        "schema_version": ARCHITECTURE_SCHEMA_VERSION,
        "structure": structure,
        "unit": UNIT_NAMES[structure],
        "score": score,
        "target_sparsity": float(sparsity),
        "realised_sparsity": removed / total,
        "units_total": total,
        "units_removed": removed,
        "layers": {
            g.name: {"units": g.units, "keep": keep[g.name], "removed_fraction": 1 - len(keep[g.name]) / g.units}
            for g in groups
        },
    }
    apply_architecture(model, family, architecture)
    architecture["params_before"] = params_before
    architecture["params_after"] = count_params(model)
    return model, architecture


def apply_architecture(model: nn.Module, family, architecture: dict) -> nn.Module:
    """Slice a dense `model` (in place) to the shapes `architecture` records and return it."""
    if not isinstance(architecture, dict):
        raise HarnessError(f"architecture: expected a dict, got {type(architecture).__name__}")
    version = architecture.get("schema_version")
    if version != ARCHITECTURE_SCHEMA_VERSION:
        raise HarnessError(
            f"architecture.schema_version {version!r} is not supported; valid choices: {ARCHITECTURE_SCHEMA_VERSION}"
        )
    structure = architecture.get("structure")
    _check_structure(family, structure)
    layers = architecture.get("layers")
    if not isinstance(layers, dict):
        raise HarnessError("architecture.layers: missing or not a mapping of layer name -> {units, keep}")
    groups = {g.name: g for g in unit_groups(model, family, structure)}
    for name, entry in layers.items():
        if name not in groups:
            raise HarnessError(
                f"architecture.layers: {name!r} is not a {structure} layer of model {family.name!r}; "
                f"valid choices: {', '.join(groups)}"
            )
        units = groups[name].units
        if entry.get("units") != units:
            raise HarnessError(
                f"architecture.layers[{name!r}].units is {entry.get('units')!r} but the model has {units} "
                f"{structure} there (apply an architecture to the dense model)"
            )
        keep = entry.get("keep")
        if (not isinstance(keep, list) or not keep or sorted(set(keep)) != keep
                or not all(isinstance(i, int) and 0 <= i < units for i in keep)):
            raise HarnessError(
                f"architecture.layers[{name!r}].keep: expected sorted distinct indices in [0, {units}), got {keep!r}"
            )
    for name, entry in layers.items():
        if len(entry["keep"]) < groups[name].units:
            _apply_layer(model, structure, name, entry["keep"])
    return model
