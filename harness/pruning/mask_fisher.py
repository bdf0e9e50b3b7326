"""The gradient of the loss with respect to every head and neuron mask, one row per calibration example.

Kwon et al. 2022 (section 4.1) score a mask variable m_i by the diagonal of the empirical Fisher information,
I_i = sum over examples x of (d loss(x) / d m_i)^2, evaluated at m = 1: how much the loss grows, to second order,
when the unit goes. Rows are kept per example (not summed), because mask rearrangement (harness.pruning.
mask_search) needs the block of the Fisher matrix within a layer, F_ij = sum_x g_i(x) g_j(x).

Per-example gradients come from one batched backward pass: every example gets its own copy of the mask (a
[batch, units] matrix of ones), so d(sum of losses)/d(row b) is example b's gradient. The weights take no
gradient and are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .unit_masks import UnitMasks


@dataclass(frozen=True)
class MaskGradients:
    """heads[l]: [examples, heads of layer l]; neurons[l]: [examples, neurons of layer l] (float32)."""

    heads: list[torch.Tensor]
    neurons: list[torch.Tensor]

    @property
    def examples(self) -> int:
        return int(self.heads[0].shape[0])

    def head_importance(self) -> list[torch.Tensor]:
        """Diagonal Fisher information of each head mask, per layer (float64)."""
        return [g.double().pow(2).sum(0) for g in self.heads]

    def neuron_importance(self) -> list[torch.Tensor]:
        return [g.double().pow(2).sum(0) for g in self.neurons]


def mask_gradients(model: nn.Module, masks: UnitMasks, batches, *, progress=None) -> MaskGradients:
    """Per-example gradients of the cross-entropy loss with respect to every mask, over `batches` of
    (inputs, labels). `progress`, when given, is called with the number of examples done after each batch."""
    model.eval()
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    heads: list[list[torch.Tensor]] = [[] for _ in range(masks.layer_count)]
    neurons: list[list[torch.Tensor]] = [[] for _ in range(masks.layer_count)]
    try:
        with masks.applied():
            for inputs, labels in batches:
                rows = int(labels.shape[0])
                masks.heads = [torch.ones(rows, p.heads, requires_grad=True) for p in masks.parts]
                masks.neurons = [torch.ones(rows, p.neurons, requires_grad=True) for p in masks.parts]
                logits = model(**inputs).logits
                loss = F.cross_entropy(logits.float(), labels, reduction="sum")
                grads = torch.autograd.grad(loss, masks.heads + masks.neurons)
                n = masks.layer_count
                for i in range(n):
                    heads[i].append(grads[i].detach())
                    neurons[i].append(grads[n + i].detach())
                if progress is not None:
                    progress(rows)
    finally:
        masks.clear()
        for p in frozen:
            p.requires_grad_(True)
    return MaskGradients(heads=[torch.cat(h) for h in heads], neurons=[torch.cat(n) for n in neurons])
