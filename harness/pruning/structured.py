"""Structured pruning: physically remove attention heads, FFN neurons, ResNet bottleneck channels or whole
encoder layers, so the smaller model runs faster on every backend with ordinary dense kernels.

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
  layers   (BERT, MiniLM, DistilBERT): a whole transformer layer of the encoder; which layers stay and
           their scores: harness.pruning.depth.

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

An architecture (what apply_architecture replays on a freshly built dense model) is one step, or, for a
variant pruned more than once (layers, then heads), the steps in the order they were made:
  version 1: {schema_version, structure, layers: {group name: {units, keep}}, ...counts}
  version 2: {schema_version: 2, steps: [version-1 step, ...]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

from ..errors import ConfigError, HarnessError, choices_error
from . import depth
from .slicing import index, set_module, slice_bn, slice_conv, slice_linear
from .units import FISHER_DAMPING, MIN_KEEP, SCORES, Part, UnitGroup, score_units, select_units  # noqa: F401 (re-exported)

STRUCTURES = ("heads", "neurons", "channels", "layers")
ARCHITECTURE_SCHEMA_VERSION = 1  # one step (see the module docstring); 2: a list of steps
ARCHITECTURE_VERSIONS = (1, 2)
GRAD_BATCH_SIZE = 8  # examples per gradient batch (oBERT's gradient batch)
UNIT_NAMES = {"heads": "head", "neurons": "neuron", "channels": "channel", "layers": "layer"}
STRUCTURE_KINDS = {"heads": "text", "neurons": "text", "channels": "image", "layers": "text"}


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
    elif structure == "layers":
        groups = [UnitGroup(name, len(stack), ()) for name, stack in depth.encoder_stacks(model).items()]
    else:
        for layer, (conv, bn, nxt) in _resnet_inner(model).items():
            norm = modules[bn]
            factor = (norm.weight.detach().abs() / torch.sqrt(norm.running_var + norm.eps)) if norm.affine else None
            groups.append(UnitGroup(layer, modules[conv].out_channels,
                                    (Part(f"{conv}.weight", 0, factor), Part(f"{nxt}.weight", 1))))
    if not groups:
        raise HarnessError(f"model {family.name!r} has no {structure} this module knows how to remove")
    return groups


# -- slicing -------------------------------------------------------------------------------------
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
            set_module(model, p + x, slice_linear(modules[p + x], rows, 0))
        set_module(model, p + spec.o, slice_linear(modules[p + spec.o], rows, 1))
        if spec.distil:
            attn.n_heads = len(keep)
        else:
            attn.num_attention_heads = len(keep)
            attn.all_head_size = len(keep) * d
    elif structure == "layers":
        depth.drop_layers(model, name, keep)
    elif structure == "neurons":
        spec = _text_layers(model)[name]
        idx = index(keep, modules[p + spec.ffn_in].weight.device)
        set_module(model, p + spec.ffn_in, slice_linear(modules[p + spec.ffn_in], idx, 0))
        set_module(model, p + spec.ffn_out, slice_linear(modules[p + spec.ffn_out], idx, 1))
    else:
        conv, bn, nxt = _resnet_inner(model)[name]
        idx = index(keep, modules[conv].weight.device)
        set_module(model, conv, slice_conv(modules[conv], idx, 0))
        set_module(model, bn, slice_bn(modules[bn], idx))
        set_module(model, nxt, slice_conv(modules[nxt], idx, 1))


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
    _check_structure(family, structure)
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


def architecture_steps(architecture: dict | None) -> list[dict]:
    """The steps of an architecture, in order (none for None)."""
    if not architecture:
        return []
    if isinstance(architecture, dict) and architecture.get("schema_version") == 2:
        return list(architecture.get("steps") or [])
    return [architecture]


def compose_architectures(*architectures: dict | None) -> dict | None:
    """One architecture that replays the given ones in order: None, a single step, or version 2."""
    steps = [step for a in architectures for step in architecture_steps(a)]
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else {"schema_version": 2, "steps": steps}


def apply_architecture(model: nn.Module, family, architecture: dict) -> nn.Module:
    """Slice a dense `model` (in place) to the shapes `architecture` records and return it."""
    if not isinstance(architecture, dict):
        raise HarnessError(f"architecture: expected a dict, got {type(architecture).__name__}")
    version = architecture.get("schema_version")
    if version not in ARCHITECTURE_VERSIONS:
        raise HarnessError(
            f"architecture.schema_version {version!r} is not supported; valid choices: {', '.join(map(str, ARCHITECTURE_VERSIONS))}"
        )
    if version == 1:
        _apply_step(model, family, architecture, "architecture")
        return model
    steps = architecture.get("steps")
    if not isinstance(steps, list) or not steps:
        raise HarnessError("architecture.steps: expected a non-empty list of version-1 steps")
    for i, step in enumerate(steps):
        where = f"architecture.steps[{i}]"
        if not isinstance(step, dict) or step.get("schema_version") != 1:
            raise HarnessError(f"{where}: expected a version-1 step (a mapping with schema_version 1)")
        _apply_step(model, family, step, where)
    return model


def _apply_step(model: nn.Module, family, architecture: dict, where: str) -> None:
    structure = architecture.get("structure")
    _check_structure(family, structure)
    layers = architecture.get("layers")
    if not isinstance(layers, dict):
        raise HarnessError(f"{where}.layers: missing or not a mapping of layer name -> {{units, keep}}")
    groups = {g.name: g for g in unit_groups(model, family, structure)}
    for name, entry in layers.items():
        if name not in groups:
            raise HarnessError(
                f"{where}.layers: {name!r} is not a {structure} layer of model {family.name!r}; "
                f"valid choices: {', '.join(groups)}"
            )
        units = groups[name].units
        if not isinstance(entry, dict) or entry.get("units") != units:
            got = entry.get("units") if isinstance(entry, dict) else entry
            raise HarnessError(
                f"{where}.layers[{name!r}].units is {got!r} but the model has {units} "
                f"{structure} there (apply an architecture to the dense model)"
            )
        keep = entry.get("keep")
        if (not isinstance(keep, list) or not keep or sorted(set(keep)) != keep
                or not all(isinstance(i, int) and 0 <= i < units for i in keep)):
            raise HarnessError(
                f"{where}.layers[{name!r}].keep: expected sorted distinct indices in [0, {units}), got {keep!r}"
            )
    for name, entry in layers.items():
        if len(entry["keep"]) < groups[name].units:
            _apply_layer(model, structure, name, entry["keep"])
