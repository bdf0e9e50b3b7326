"""Post-training structured pruning: heads and FFN neurons removed from a fine-tuned transformer without
retraining (Kwon et al. 2022, "A Fast Post-Training Pruning Framework for Transformers", NeurIPS; the authors'
code is github.com/WoosukKwon/retraining-free-pruning).

    path, manifest = make_post_training_variant("checkpoints/minilm-sst2", data_dir="data/sst2",
                                                out_dir="variants/minilm-pt-60", target_flops=0.6)

Steps, on N calibration examples of the task's TRAINING split (harness.quantization.calibration), with no
gradient step on any weight:
  1. Fisher importance  per-example gradients of the loss with respect to a mask on every head and neuron
                        (mask_fisher.py)
  2. mask search        the most important heads and neurons whose FLOPs (or latency, from a per-layer table
                        measured on an engine) fit the target (mask_search.py)
  3. rearrangement      within each layer, the pruned set of least joint loss under the block-diagonal Fisher
                        (mask_search.rearrange)
  4. mask tuning        layer-wise least-squares reconstruction of each layer's output, folded into the
                        output projections (mask_tuning.py); kept only where the held-back slice of the training
                        split answers better with it than without (post_training_variant.py)
  5. removal            the pruned heads and neurons sliced out (harness.variants.architecture), so every
                        engine runs a smaller dense model
The variant's manifest records the target, the search's cost, per-layer kept units and fit errors, each step's
time and the peak memory; quality is measured on a held-back slice of the training split (never the dev split).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from harness.foundation.errors import ConfigError
from harness.quantization.calibration import encode
from harness.variants.architecture import ARCHITECTURE_SCHEMA_VERSION, apply_architecture, compose_architectures

from .mask_fisher import mask_gradients
from .mask_search import CostModel, flops_model, pruned_loss_estimate, rearrange, search
from .mask_tuning import fold_masks, tune_masks
from .unit_masks import UnitMasks

METHOD = "post-training"
STRUCTURE = "heads+neurons"
DEFAULT_CALIBRATION_EXAMPLES = 512
DEFAULT_HELDOUT_EXAMPLES = 512
BATCH_SIZE = 32
SEQ_LEN = 64


@dataclass(frozen=True)
class Target:
    """What the pruned model may cost: a fraction of the dense model's head and FFN FLOPs (`flops`), or a
    latency in ms under a cost model fitted to an engine's per-layer latency table (`latency_ms`, `cost`)."""

    flops: float | None = None
    latency_ms: float | None = None
    cost: CostModel | None = None  # with latency_ms: harness.pruning.mask_search.latency_model
    describe: dict = field(default_factory=dict)  # how the latency table was measured (engine, threads, points)

    def __post_init__(self):
        if (self.flops is None) == (self.latency_ms is None):
            raise ConfigError("post-training pruning needs one target: --target-flops F or --target-latency-ms X")
        if self.flops is not None and not 0.0 < self.flops < 1.0:
            raise ConfigError(f"--target-flops: expected a fraction of the dense model's FLOPs in (0, 1) (1 removes "
                              f"nothing, 0 everything), got {self.flops!r}")
        if self.latency_ms is not None and (self.cost is None or not self.latency_ms > 0):
            raise ConfigError(f"--target-latency-ms: expected a positive latency with a measured table, got {self.latency_ms!r}")

    @property
    def label(self) -> str:
        return f"flops {self.flops:g}" if self.flops is not None else f"latency {self.latency_ms:g} ms"

    def to_json(self) -> dict:
        out = {"flops": self.flops} if self.flops is not None else {"latency_ms": self.latency_ms}
        return out | ({"latency_table": self.describe} if self.describe else {})


@dataclass(frozen=True)
class PostTrainingResult:
    model: nn.Module
    architecture: dict
    report: dict  # what the manifest's `post_training` section holds
    timings_s: dict


def cost_and_budget(model: nn.Module, masks: UnitMasks, target: Target, seq_len: int) -> tuple[CostModel, float]:
    if target.flops is not None:
        part = masks.parts[0]
        cost = flops_model(part.attn_out.out_features, part.head_size, seq_len)
        dense = cost.cost([p.heads for p in masks.parts], [p.neurons for p in masks.parts])
        return cost, target.flops * dense
    return target.cost, target.latency_ms


def check_target(model: nn.Module, family, target: Target, seq_len: int = SEQ_LEN) -> None:
    """Refuse, in one line, a family without heads and neurons or a target that removes everything or nothing."""
    masks = UnitMasks(model, family.name)
    cost, budget = cost_and_budget(model, masks, target, seq_len)
    ones = [torch.ones(p.heads, dtype=torch.float64) for p in masks.parts]
    ffn = [torch.ones(p.neurons, dtype=torch.float64) for p in masks.parts]
    search(cost, ones, ffn, budget, what=_flag(target))


def flops_floor(config, seq_len: int = SEQ_LEN) -> float:
    """The smallest kept fraction of the dense head and FFN FLOPs a FLOPs target can reach (one head and one neuron
    per layer), from a Hugging Face config alone (BERT, RoBERTa, MiniLM: hidden_size, num_attention_heads,
    intermediate_size; DistilBERT: dim, n_heads, hidden_dim)."""
    hidden = getattr(config, "hidden_size", None) or getattr(config, "dim")
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_heads")
    neurons = getattr(config, "intermediate_size", None) or getattr(config, "hidden_dim")
    cost = flops_model(hidden, hidden // heads, seq_len)
    return cost.layer_cost(1, 1) / cost.layer_cost(heads, neurons)


def _flag(target: Target) -> str:
    return "--target-flops" if target.flops is not None else "--target-latency-ms"


def prune_post_training(model: nn.Module, family, batches, target: Target, *, seq_len: int = SEQ_LEN, gradients=None,
                        tune: bool = True, progress=None) -> PostTrainingResult:
    """Prune `model` (in place) to `target` on calibration `batches` of (inputs, labels). `gradients`: the mask
    gradients of an earlier call on the same model and batches (one Fisher pass serves every target). `tune`:
    run the mask tuning (else the kept units keep masks of 1)."""
    masks = UnitMasks(model, family.name)
    cost, budget = cost_and_budget(model, masks, target, seq_len)
    timings = {}
    t0 = time.perf_counter()
    if gradients is None:
        gradients = mask_gradients(model, masks, batches, progress=progress)
    timings["fisher_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    found = search(cost, gradients.head_importance(), gradients.neuron_importance(), budget, what=_flag(target))
    timings["search_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    head_keep = [rearrange(k, g) for k, g in zip(found.head_keep, gradients.heads)]
    neuron_keep = [rearrange(k, g) for k, g in zip(found.neuron_keep, gradients.neurons)]
    timings["rearrange_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    if tune:
        heads, neurons, fits = tune_masks(model, masks, head_keep, neuron_keep, batches)
        fold_masks(masks.parts, heads, neurons)
    else:
        fits = [{"heads": {"status": "not tuned"}, "neurons": {"status": "not tuned"}} for _ in masks.parts]
    timings["tune_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    architecture = _architecture(masks, head_keep, neuron_keep)
    apply_architecture(model, family, architecture)
    timings["remove_s"] = round(time.perf_counter() - t0, 3)
    report = {
        "target": target.to_json(),
        "cost_unit": cost.unit,
        "cost_dense": found.dense_cost,
        "cost_budget": found.budget,
        "cost_after_search": found.cost,
        "cost_fraction": round(found.cost / found.dense_cost, 6),
        "tuned": tune,
        "calibration_examples": gradients.examples,
        "seq_len": seq_len,
        "layers": [
            {"layer": p.name, "heads_kept": len(h), "heads": p.heads, "neurons_kept": len(n), "neurons": p.neurons,
             "fisher_loss_search": round(_pruned_loss(p.heads, hk, gh) + _pruned_loss(p.neurons, nk, gn), 9),
             "fisher_loss_rearranged": round(_pruned_loss(p.heads, h, gh) + _pruned_loss(p.neurons, n, gn), 9),
             **{k: v for k, v in fit.items() if k != "layer"}}
            for p, h, n, hk, nk, gh, gn, fit in zip(masks.parts, head_keep, neuron_keep, found.head_keep,
                                                   found.neuron_keep, gradients.heads, gradients.neurons, fits)
        ],
    }
    return PostTrainingResult(model=model, architecture=architecture, report=report, timings_s=timings)


def _pruned_loss(units: int, keep: list[int], grads: torch.Tensor) -> float:
    kept = set(keep)
    return pruned_loss_estimate([i for i in range(units) if i not in kept], grads)


def _architecture(masks: UnitMasks, head_keep: list[list[int]], neuron_keep: list[list[int]]) -> dict:
    """Two version-1 steps (heads, then neurons) that apply_architecture replays on the dense model."""
    steps = []
    for structure, unit, counts, keep in (("heads", "head", [p.heads for p in masks.parts], head_keep),
                                          ("neurons", "neuron", [p.neurons for p in masks.parts], neuron_keep)):
        total = sum(counts)
        removed = total - sum(len(k) for k in keep)
        steps.append({
            "schema_version": ARCHITECTURE_SCHEMA_VERSION, "structure": structure, "unit": unit, "score": "fisher",
            "target_sparsity": removed / total, "realised_sparsity": removed / total, "units_total": total,
            "units_removed": removed,
            "layers": {p.name: {"units": c, "keep": list(k), "removed_fraction": 1 - len(k) / c}
                       for p, c, k in zip(masks.parts, counts, keep)},
        })
    return compose_architectures(*steps)


# -- data -------------------------------------------------------------------------------------------------
def torch_batches(family, part, seq_len: int = SEQ_LEN, batch_size: int = BATCH_SIZE) -> list[tuple[dict, torch.Tensor]]:
    """(inputs, labels) batches of a training slice, sorted by length and padded to each batch's longest."""
    arrays = encode(family, part.texts, part.pairs, seq_len)
    mask = arrays.get("attention_mask")
    lengths = mask.sum(1) if mask is not None else [seq_len] * part.examples
    order = sorted(range(part.examples), key=lambda i: int(lengths[i]))
    labels = torch.tensor(part.labels, dtype=torch.long)
    out = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(1, int(max(lengths[i] for i in idx)))
        out.append(({k: torch.from_numpy(v[idx, :width]) for k, v in arrays.items()}, labels[idx]))
    return out


@torch.no_grad()
def slice_quality(model: nn.Module, batches, dense_logits: list[torch.Tensor] | None = None) -> tuple[dict, list]:
    """(accuracy, top-1 agreement and KL from the dense logits when given, n; the logits) over `batches`."""
    model.eval()
    n = correct = agree = 0
    kl = 0.0
    logits_out = []
    for i, (inputs, labels) in enumerate(batches):
        logits = model(**inputs).logits.float()
        logits_out.append(logits)
        pred = logits.argmax(-1)
        n += len(labels)
        correct += int((pred == labels).sum())
        if dense_logits is not None:
            ref = dense_logits[i]
            agree += int((pred == ref.argmax(-1)).sum())
            log_p, log_q = F.log_softmax(ref, -1), F.log_softmax(logits, -1)
            kl += float((log_p.exp() * (log_p - log_q)).sum())
    quality = {"accuracy": correct / n, "n": n}
    if dense_logits is not None:
        quality |= {"top1_agreement": agree / n, "kl_dense_pruned": max(0.0, kl / n)}
    return quality, logits_out
