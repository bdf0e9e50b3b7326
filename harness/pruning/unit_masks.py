"""Mask variables on every attention head and FFN neuron of a transformer, and what a layer computes around them.

Post-training pruning (harness.pruning.post_training) never edits weights to find what to remove: it puts a
multiplicative mask on each unit and asks questions of the masked model (Kwon et al. 2022, "A Fast Post-Training
Pruning Framework for Transformers", section 3). A head's mask scales the head's slice of the attention context
where it enters the attention-output projection; a neuron's mask scales its activation where it enters the
second FFN projection. Both are forward pre-hooks on those projections, so the same code serves BERT, MiniLM,
RoBERTa and DistilBERT (harness.variants.architecture names their modules).

    masks = UnitMasks(model)
    with masks.applied():
        masks.heads = [torch.ones(4) for _ in range(masks.layer_count)]   # one vector per layer ...
        masks.heads = [torch.ones(batch, 4, requires_grad=True) ...]      # ... or one row per example
        model(**inputs)

A mask value of 0 removes the unit exactly: the physically pruned model computes the same function.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from harness.foundation.errors import ConfigError
from harness.variants.architecture import head_count, head_size, text_layers

# the LayerNorm after each residual sum (attention, FFN), by layer kind: where a sublayer's output is complete
_NORMS = {False: ("attention.output.LayerNorm", "output.LayerNorm"), True: ("sa_layer_norm", "output_layer_norm")}


@dataclass(frozen=True)
class LayerParts:
    """The modules of one transformer layer that post-training pruning reads and edits."""

    name: str
    layer: nn.Module
    attn_out: nn.Linear  # attention-output projection: input = the heads' context, concatenated
    ffn_out: nn.Linear  # second FFN projection: input = the neurons' activations
    norm1: nn.Module  # LayerNorm(attention output + residual)
    norm2: nn.Module  # LayerNorm(FFN output + residual)
    heads: int
    head_size: int
    neurons: int


def layer_parts(model: nn.Module, family_name: str = "model") -> list[LayerParts]:
    """The transformer layers of `model` in order; a one-line ConfigError for a model without heads and FFN."""
    modules = dict(model.named_modules())
    out = []
    for name, spec in text_layers(model).items():
        p = f"{name}." if name else ""
        attn = modules[p + spec.attn]
        norm1, norm2 = _NORMS[spec.distil]
        out.append(LayerParts(name=name, layer=modules[name] if name else model, attn_out=modules[p + spec.o],
                              ffn_out=modules[p + spec.ffn_out], norm1=modules[p + norm1], norm2=modules[p + norm2],
                              heads=head_count(attn, spec), head_size=head_size(attn),
                              neurons=modules[p + spec.ffn_in].out_features))
    if not out:
        raise ConfigError(f"model {family_name!r} has no attention heads and FFN neurons to prune after training "
                          "(post-training pruning takes BERT, DistilBERT, RoBERTa or MiniLM checkpoints)")
    return out


class UnitMasks:
    """Head and neuron masks of a model, applied while `applied()` is active.

    `heads[l]` / `neurons[l]` is None (no mask), a vector (one value per unit) or a matrix (one row per example
    of the batch, for per-example gradients). Set them between forward passes; the hooks read them at call time.
    """

    def __init__(self, model: nn.Module, family_name: str = "model"):
        self.parts = layer_parts(model, family_name)
        self.heads: list[torch.Tensor | None] = [None] * len(self.parts)
        self.neurons: list[torch.Tensor | None] = [None] * len(self.parts)

    @property
    def layer_count(self) -> int:
        return len(self.parts)

    def clear(self) -> None:
        self.heads = [None] * len(self.parts)
        self.neurons = [None] * len(self.parts)

    @contextlib.contextmanager
    def applied(self):
        handles = []
        for i, part in enumerate(self.parts):
            handles.append(part.attn_out.register_forward_pre_hook(self._head_hook(i)))
            handles.append(part.ffn_out.register_forward_pre_hook(self._neuron_hook(i)))
        try:
            yield self
        finally:
            for h in handles:
                h.remove()

    def _head_hook(self, i: int):
        part = self.parts[i]

        def hook(module, args):
            mask = self.heads[i]
            if mask is None:
                return None
            x = args[0]
            shape = x.shape
            x = x.reshape(*shape[:-1], part.heads, part.head_size)
            m = mask.to(x.dtype)
            m = m.reshape(shape[0], *([1] * (len(shape) - 2)), part.heads, 1) if m.dim() == 2 else m[:, None]
            return ((x * m).reshape(shape), *args[1:])

        return hook

    def _neuron_hook(self, i: int):
        def hook(module, args):
            mask = self.neurons[i]
            if mask is None:
                return None
            x = args[0]
            m = mask.to(x.dtype)
            if m.dim() == 2:
                m = m.reshape(x.shape[0], *([1] * (x.dim() - 2)), m.shape[-1])
            return (x * m, *args[1:])

        return hook


@contextlib.contextmanager
def captured(parts: LayerParts):
    """Record what one layer computes around its two projections on each call: {"ctx", "attn_out", "z1", "act",
    "ffn_out", "z2"} (the projections' unmasked inputs, their (masked) outputs, and each LayerNorm's input, i.e.
    the residual sum). A sublayer's residual is then z - projection output (dropout is the identity in eval)."""
    seen: dict[str, torch.Tensor] = {}

    def keep_input(key):
        return lambda module, args: seen.__setitem__(key, args[0].detach())

    def keep_output(key):
        return lambda module, args, output: seen.__setitem__(key, output.detach())

    # prepended: the projections' inputs as they arrive, before any UnitMasks hook scales them
    handles = [parts.attn_out.register_forward_pre_hook(keep_input("ctx"), prepend=True),
               parts.attn_out.register_forward_hook(keep_output("attn_out")),
               parts.norm1.register_forward_pre_hook(keep_input("z1")),
               parts.ffn_out.register_forward_pre_hook(keep_input("act"), prepend=True),
               parts.ffn_out.register_forward_hook(keep_output("ffn_out")),
               parts.norm2.register_forward_pre_hook(keep_input("z2"))]
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()
