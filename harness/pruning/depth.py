"""Layer dropping: remove whole transformer layers from the encoder (BERT, MiniLM: bert.encoder.layer;
DistilBERT: distilbert.transformer.layer), so the shallower model is faster on every engine.

Which layers stay (n = the number kept, total - round(sparsity x total), at least one):
  keep        an explicit list of layer indices (recipe `layers.keep`, `--keep-layers 0,2,4`)
  alternate   n layers evenly spaced from the first: floor(i x total / n) for i < n. For 12 layers this keeps
              0,2,4,6,8,10 (n=6) and 0,4,8 (n=3), the alternating layers of oBERT's 6- and 3-layer models.
  first       layers 0 .. n-1          last   layers total-n .. total-1
  score       the n layers with the highest importance (ties: the lower index stays), where a layer's
              score is computed over all the Linear weights W of the layer (attention and FFN):
                magnitude     ||W||_2
                taylor        |sum_j w_j g_j|, averaged over gradient batches: the first-order change of the
                              loss when the layer's Linear weights are zeroed (Molchanov et al., 2019)
                second-order  1/2 sum_j w_j^2 (lambda + mean_i g_ij^2): the diagonal-Fisher OBS saliency of
                              zeroing them
              (the recipe's method maps to these as for heads and neurons: magnitude, movement -> taylor,
              second-order). Zeroing a layer's weights is not the same as removing the layer (its biases,
              LayerNorms and residual stay), so scores rank layers; they do not predict the loss.

Removal itself (harness.variants.architecture.drop_layers) replays on a freshly built dense model.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import nn

from harness.foundation.errors import ConfigError, HarnessError

from . import LAYER_SELECTS

MIN_KEEP = 1


def count_kept(total: int, sparsity: float) -> int:
    """Layers that stay at `sparsity`: round(sparsity x total) removed (half up), at least MIN_KEEP kept."""
    removed = min(int(math.floor(sparsity * total + 0.5)), total - MIN_KEEP)
    return total - max(removed, 0)


def choose(total: int, *, sparsity: float | None = None, keep: list[int] | None = None, select: str = "alternate",
           scores: torch.Tensor | None = None) -> list[int]:
    """Sorted indices of the layers that stay (see the module docstring)."""
    if keep is not None:
        bad = [i for i in keep if not isinstance(i, int) or not 0 <= i < total]
        if bad or not keep or len(set(keep)) != len(keep):
            raise ConfigError(f"layers.keep: expected distinct layer indices in [0, {total - 1}] (the model has "
                              f"{total} layers), got {keep}")
        return sorted(keep)
    if sparsity is None:
        raise ConfigError("sparsity: required for structure layers unless layers.keep names the layers")
    n = count_kept(total, sparsity)
    if select == "alternate":
        return sorted({int(math.floor(i * total / n)) for i in range(n)})
    if select == "first":
        return list(range(n))
    if select == "last":
        return list(range(total - n, total))
    if select == "score":
        if scores is None or scores.numel() != total:
            got = None if scores is None else scores.numel()
            raise HarnessError(f"layers.select score: expected {total} layer scores, got {got}")
        order = sorted(range(total), key=lambda i: (-float(scores[i]), i))
        return sorted(order[:n])
    raise ConfigError(f"layers.select: unknown value {select!r}; valid: {', '.join(LAYER_SELECTS)}")


def layer_weights(model: nn.Module, stack: str) -> list[dict[str, nn.Parameter]]:
    """Per layer of `stack`: {qualified parameter name: weight} of its Linear modules."""
    out = []
    for i, layer in enumerate(model.get_submodule(stack)):
        out.append({f"{stack}.{i}.{name}.weight": m.weight for name, m in layer.named_modules() if isinstance(m, nn.Linear)})
    return out


@torch.no_grad()
def score_layers(weights: list[dict[str, torch.Tensor]], method: str, grads: Iterable[dict[str, torch.Tensor]] = (), *,
                 damping: float) -> torch.Tensor:
    """float64 importance per layer (higher = keep); `grads` ({param name: gradient}) is consumed once."""
    w = [{k: v.detach().double() for k, v in layer.items()} for layer in weights]
    if method == "magnitude":
        return torch.tensor([math.sqrt(sum(float(t.pow(2).sum()) for t in layer.values())) for layer in w], dtype=torch.float64)
    acc = torch.zeros(len(w), dtype=torch.float64)
    m = 0
    for grad in grads:
        m += 1
        for i, layer in enumerate(w):
            if method == "taylor":
                acc[i] += abs(sum(float((t * grad[k].double()).sum()) for k, t in layer.items()))
            else:
                acc[i] += sum(float((t * t * grad[k].double().pow(2)).sum()) for k, t in layer.items())
    if m == 0:
        raise HarnessError(f"score {method!r} needs at least one gradient batch (grad_batches >= 1)")
    if method == "taylor":
        return acc / m
    wsq = torch.tensor([sum(float(t.pow(2).sum()) for t in layer.values()) for layer in w], dtype=torch.float64)
    return 0.5 * (acc / m + damping * wsq)
