"""A variant's architecture: which units of the dense model stay, and how to slice a freshly built dense
model to those shapes (what loading a structurally pruned variant replays before its weights load).

Units and what removing one slices:
  heads    (BERT, MiniLM, DistilBERT, RoBERTa): the head's rows of Q, K and V (weights and biases) and its columns
           of the attention-output weight; the attention module's head count follows.
  neurons  (same families): an FFN intermediate neuron, i.e. a row of intermediate.dense / ffn.lin1
           (weight and bias) and a column of output.dense / ffn.lin2.
  channels (ResNet from transformers): an output channel of an inner convolution of a residual block
           (the first and second conv of each 1x1-3x3-1x1 bottleneck), with its BatchNorm entries and
           the next convolution's input channel.
  layers   (text families): a whole transformer layer of the encoder; the ModuleList is replaced by one holding
           the kept layers (renumbered 0..n-1, their attention's layer_idx too) and the config's layer count
           follows, so the model saves, loads and exports like any other.

The `architecture` section's typed form, its versions (1: one step; 2: several) and the migration between them
are harness.contracts.architecture (Architecture); apply_architecture takes that form or the stored mapping.

Which units to remove is decided above this layer (harness.pruning); this module only describes and applies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from harness.contracts import RecordError
from harness.contracts.architecture import Architecture, ArchitectureStep
from harness.foundation.errors import ConfigError, HarnessError, choices_error

from .slicing import index, set_module, slice_bn, slice_conv, slice_linear

STRUCTURES = ("heads", "neurons", "channels", "layers")
ARCHITECTURE_SCHEMA_VERSION = 1  # what a writer stores for one step (several: version 2, compose_architectures)
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


def text_layers(model: nn.Module) -> dict[str, _TextLayer]:
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


def head_size(attn: nn.Module) -> int:
    return int(attn.attention_head_size)


def head_count(attn: nn.Module, spec: _TextLayer) -> int:
    return int(attn.n_heads if spec.distil else attn.num_attention_heads)


def resnet_inner(model: nn.Module) -> dict[str, tuple[str, str, str]]:
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


def check_structure(family, structure: str) -> None:
    if structure not in STRUCTURES:
        raise choices_error("structure", structure, STRUCTURES)
    want = STRUCTURE_KINDS[structure]
    if family.kind != want:
        fitting = [s for s in STRUCTURES if STRUCTURE_KINDS[s] == family.kind]
        raise ConfigError(
            f"structure {structure!r} does not apply to {family.kind} model {family.name!r}; valid choices: "
            + ", ".join(fitting)
        )


def _is_block(m: nn.Module) -> bool:
    return getattr(m, "attention", None) is not None and (hasattr(m, "intermediate") or hasattr(m, "ffn"))


def encoder_stacks(model: nn.Module) -> dict[str, nn.ModuleList]:
    """{qualified name: ModuleList} of every stack of transformer layers in `model`."""
    return {name: m for name, m in model.named_modules()
            if isinstance(m, nn.ModuleList) and len(m) and all(_is_block(x) for x in m)}


def unit_counts(model: nn.Module, family, structure: str) -> dict[str, int]:
    """{group name: number of `structure` units} of `model`, in module order."""
    check_structure(family, structure)
    modules = dict(model.named_modules())
    if structure == "heads":
        return {name: head_count(modules[f"{name}." + spec.attn if name else spec.attn], spec)
                for name, spec in text_layers(model).items()}
    if structure == "neurons":
        return {name: modules[(f"{name}." if name else "") + spec.ffn_in].out_features for name, spec in text_layers(model).items()}
    if structure == "layers":
        return {name: len(stack) for name, stack in encoder_stacks(model).items()}
    return {name: modules[conv].out_channels for name, (conv, _, _) in resnet_inner(model).items()}


def slice_units(model: nn.Module, structure: str, name: str, keep: list[int]) -> None:
    modules = dict(model.named_modules())
    p = f"{name}." if name else ""
    if structure == "heads":
        spec = text_layers(model)[name]
        attn = modules[p + spec.attn]
        d = head_size(attn)
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
        drop_layers(model, name, keep)
    elif structure == "neurons":
        spec = text_layers(model)[name]
        idx = index(keep, modules[p + spec.ffn_in].weight.device)
        set_module(model, p + spec.ffn_in, slice_linear(modules[p + spec.ffn_in], idx, 0))
        set_module(model, p + spec.ffn_out, slice_linear(modules[p + spec.ffn_out], idx, 1))
    else:
        conv, bn, nxt = resnet_inner(model)[name]
        idx = index(keep, modules[conv].weight.device)
        set_module(model, conv, slice_conv(modules[conv], idx, 0))
        set_module(model, bn, slice_bn(modules[bn], idx))
        set_module(model, nxt, slice_conv(modules[nxt], idx, 1))


def drop_layers(model: nn.Module, stack: str, keep: list[int]) -> None:
    """Keep only the layers `keep` of `stack` (in place), renumbered, with the config's layer count updated."""
    old = model.get_submodule(stack)
    new = nn.ModuleList([old[i] for i in keep])
    set_module(model, stack, new)
    for i, layer in enumerate(new):
        for m in layer.modules():
            if hasattr(m, "layer_idx"):
                m.layer_idx = i
    parent = model.get_submodule(stack.rpartition(".")[0]) if "." in stack else model
    if hasattr(parent, "n_layers"):  # DistilBERT's Transformer keeps its own count
        parent.n_layers = len(keep)
    config = getattr(model, "config", None)
    if config is not None:
        if hasattr(config, "n_layers"):
            config.n_layers = len(keep)
        elif hasattr(config, "num_hidden_layers"):
            config.num_hidden_layers = len(keep)


def architecture_steps(architecture: Architecture | dict | None) -> list[dict]:
    """The steps of an architecture (typed or stored), in order, as stored mappings (none for None)."""
    if not architecture:
        return []
    if isinstance(architecture, Architecture):
        return [step.to_json() for step in architecture.steps]
    if isinstance(architecture, dict) and architecture.get("schema_version") == 2:
        return list(architecture.get("steps") or [])
    return [architecture]


def compose_architectures(*architectures: Architecture | dict | None) -> dict | None:
    """One architecture that replays the given ones in order: None, a single step, or version 2."""
    steps = [step for a in architectures for step in architecture_steps(a)]
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else {"schema_version": 2, "steps": steps}


def typed_architecture(architecture: Architecture | dict) -> Architecture:
    """The typed form of a stored architecture section (any readable version); one line when it is malformed."""
    if isinstance(architecture, Architecture):
        return architecture
    try:
        return Architecture.from_json(architecture, "architecture")
    except RecordError as exc:
        raise HarnessError(str(exc)) from None


def apply_architecture(model: nn.Module, family, architecture: Architecture | dict) -> nn.Module:
    """Slice a dense `model` (in place) to the shapes `architecture` records and return it."""
    steps = typed_architecture(architecture).steps
    for i, step in enumerate(steps):
        _apply_step(model, family, step, "architecture" if len(steps) == 1 else f"architecture.steps[{i}]")
    return model


def _apply_step(model: nn.Module, family, step: ArchitectureStep, where: str) -> None:
    structure = step.structure
    check_structure(family, structure)
    counts = unit_counts(model, family, structure)
    for name, entry in step.layers.items():
        if name not in counts:
            raise HarnessError(
                f"{where}.layers: {name!r} is not a {structure} layer of model {family.name!r}; "
                f"valid choices: {', '.join(counts)}"
            )
        if entry.units != counts[name]:
            raise HarnessError(
                f"{where}.layers[{name!r}].units is {entry.units!r} but the model has {counts[name]} "
                f"{structure} there (apply an architecture to the dense model)"
            )
    for name, entry in step.layers.items():
        if len(entry.keep) < counts[name]:
            slice_units(model, structure, name, list(entry.keep))
