"""Mask tuning: layer-wise least-squares reconstruction of each pruned layer's output (Kwon et al. 2022, section 4.4).

Removing units changes what a layer hands to the next. Instead of retraining, the kept units' mask values are
re-fitted, layer by layer, so that the pruned layer reproduces the dense layer's output on calibration data:

  attention   sum over kept heads h of m_h * W_o[:, h] ctx_h  ~=  z1_dense - b_o - residual
  FFN         sum over kept neurons n of m_n * W_2[:, n] a_n  ~=  z2_dense - b_2 - residual

where z is the residual sum each LayerNorm receives, ctx_h and a_n are the pruned model's own head contexts and
neuron activations (fed by the already tuned layers below), and the residual is the pruned model's. Both are
linear least-squares problems in m, solved exactly from their normal equations (a heads x heads and a neurons x
neurons system, accumulated over the calibration tokens; padding left out; for the last layer only the first
token, which the classifier reads). The FFN fit runs after the attention fit of the same layer, on its output.
A solution that is not finite, leaves [-10, 10] (the bound the authors' code uses) or does not lower the
calibration error is not taken: the sublayer keeps masks of 1. The tuned values are then folded into the columns
of W_o and W_2, so the saved model carries no masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .unit_masks import LayerParts, UnitMasks, captured

MAX_SCALE = 10.0
RIDGE = 1e-8  # relative to the mean diagonal of the normal equations: keeps a singular system solvable


class _Stop(Exception):
    """Raised by the capture hook once the first layer's inputs are recorded: nothing above is computed."""


@dataclass
class _Batch:
    args: tuple  # the positional arguments the encoder passes to a layer (hidden states first)
    kwargs: dict
    valid: torch.Tensor  # [batch, seq] bool: real tokens (not padding)
    teacher: torch.Tensor  # hidden states entering the current layer in the dense model
    student: torch.Tensor  # ... in the pruned model


@dataclass(frozen=True)
class SublayerFit:
    kept: int
    error_before: float  # relative squared error of the sublayer's residual sum, masks at 1
    error_after: float
    status: str  # "tuned", "kept at 1: <why>", or "nothing kept"

    def to_json(self) -> dict:
        return {"kept": self.kept, "error_before": round(self.error_before, 6), "error_after": round(self.error_after, 6),
                "status": self.status}


def layer_inputs(model: nn.Module, parts: list[LayerParts], batches) -> list[_Batch]:
    """Run the embeddings of every calibration batch and keep what the first layer receives."""
    out = []
    first = parts[0].layer
    seen = {}

    def hook(module, args, kwargs):
        seen["args"], seen["kwargs"] = args, kwargs
        raise _Stop

    handle = first.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            for inputs, _ in batches:
                try:
                    model(**inputs)
                except _Stop:
                    pass
                hidden = seen["args"][0]
                valid = inputs["attention_mask"].bool() if "attention_mask" in inputs else torch.ones(hidden.shape[:2], dtype=torch.bool)
                out.append(_Batch(args=tuple(seen["args"][1:]), kwargs=dict(seen["kwargs"]), valid=valid,
                                  teacher=hidden, student=hidden))
    finally:
        handle.remove()
    return out


@torch.no_grad()
def tune_masks(model: nn.Module, masks: UnitMasks, head_keep: list[list[int]], neuron_keep: list[list[int]],
               batches, *, progress=None) -> tuple[list[torch.Tensor], list[torch.Tensor], list[dict]]:
    """(head mask values per layer, neuron mask values per layer, per-layer fit report); pruned units are 0."""
    model.eval()
    parts = masks.parts
    heads = [_indicator(p.heads, k) for p, k in zip(parts, head_keep)]
    neurons = [_indicator(p.neurons, k) for p, k in zip(parts, neuron_keep)]
    data = layer_inputs(model, parts, batches)
    report = []
    with masks.applied():
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            masks.clear()
            teacher = [_run(part, b, b.teacher) for b in data]
            masks.heads, masks.neurons = heads, neurons
            student = [_run(part, b, b.student) for b in data]
            attention = _fit_heads(part, head_keep[i], teacher, student, data)
            if attention.status == "tuned":
                heads[i] = _indicator(part.heads, head_keep[i], attention.values)
                masks.heads = heads
                student = [_run(part, b, b.student) for b in data]
            ffn = _fit_neurons(part, neuron_keep[i], teacher, student, data, first_token_only=last)
            if ffn.status == "tuned":
                neurons[i] = _indicator(part.neurons, neuron_keep[i], ffn.values)
            for b, t, s in zip(data, teacher, student):
                b.teacher = t["out"]
                b.student = part.norm2(_ffn_sum(part, s, neurons[i]))
            report.append({"layer": part.name, "heads": attention.fit.to_json(), "neurons": ffn.fit.to_json()})
            if progress is not None:
                progress(1)
    return heads, neurons, report


def fold_masks(parts: list[LayerParts], heads: list[torch.Tensor], neurons: list[torch.Tensor]) -> None:
    """Multiply each head's columns of W_o and each neuron's column of W_2 by its mask value (in place)."""
    with torch.no_grad():
        for part, h, n in zip(parts, heads, neurons):
            part.attn_out.weight.mul_(h.repeat_interleave(part.head_size).to(part.attn_out.weight.dtype))
            part.ffn_out.weight.mul_(n.to(part.ffn_out.weight.dtype))


def _indicator(units: int, keep: list[int], values: torch.Tensor | None = None) -> torch.Tensor:
    m = torch.zeros(units)
    m[keep] = 1.0 if values is None else values.float()
    return m


def _run(part: LayerParts, batch: _Batch, hidden: torch.Tensor) -> dict:
    with captured(part) as seen:
        out = part.layer(hidden, *batch.args, **batch.kwargs)
    seen = dict(seen)
    seen["out"] = out[0] if isinstance(out, tuple) else out
    return seen


def _ffn_sum(part: LayerParts, s: dict, neuron_mask: torch.Tensor) -> torch.Tensor:
    """The FFN residual sum of the pruned model with `neuron_mask` (from one captured run)."""
    residual = s["z2"] - s["ffn_out"]
    return residual + nn.functional.linear(s["act"] * neuron_mask.to(s["act"].dtype), part.ffn_out.weight, part.ffn_out.bias)


@dataclass(frozen=True)
class _Solved:
    fit: SublayerFit
    values: torch.Tensor | None

    @property
    def status(self) -> str:
        return self.fit.status


def _fit_heads(part: LayerParts, keep: list[int], teacher: list[dict], student: list[dict], data) -> _Solved:
    if not keep:
        return _Solved(SublayerFit(0, 0.0, 0.0, "nothing kept"), None)
    d, k = part.head_size, len(keep)
    w = part.attn_out.weight.detach().double()  # [hidden, heads * d]
    w_heads = torch.stack([w[:, h * d : (h + 1) * d] for h in keep])  # [k, hidden, d]
    ata = torch.zeros(k, k, dtype=torch.float64)
    atb = torch.zeros(k, dtype=torch.float64)
    btb = 0.0
    for t, s, b in zip(teacher, student, data):
        rows = b.valid
        ctx = s["ctx"][rows].double().reshape(-1, part.heads, d)[:, keep]  # [tokens, k, d]
        a = torch.einsum("tkd,khd->tkh", ctx, w_heads)  # each kept head's contribution [tokens, k, hidden]
        target = (t["z1"][rows] - (s["z1"][rows] - s["attn_out"][rows])).double() - part.attn_out.bias.double()
        ata += torch.einsum("tkh,tjh->kj", a, a)
        atb += torch.einsum("tkh,th->k", a, target)
        btb += float(target.pow(2).sum())
    return _solve(ata, atb, btb)


def _fit_neurons(part: LayerParts, keep: list[int], teacher: list[dict], student: list[dict], data, *,
                 first_token_only: bool) -> _Solved:
    if not keep:
        return _Solved(SublayerFit(0, 0.0, 0.0, "nothing kept"), None)
    w = part.ffn_out.weight.detach().double()[:, keep]  # [hidden, k]
    gram_w = w.t() @ w
    k = len(keep)
    ata = torch.zeros(k, k, dtype=torch.float64)
    atb = torch.zeros(k, dtype=torch.float64)
    btb = 0.0
    for t, s, b in zip(teacher, student, data):
        rows = b.valid.clone()
        if first_token_only:
            rows[:, 1:] = False
        act = s["act"][rows].double()[:, keep]  # [tokens, k]
        target = (t["z2"][rows] - (s["z2"][rows] - s["ffn_out"][rows])).double() - part.ffn_out.bias.double()
        ata += (act.t() @ act) * gram_w
        atb += ((target @ w) * act).sum(0)
        btb += float(target.pow(2).sum())
    return _solve(ata, atb, btb)


def _solve(ata: torch.Tensor, atb: torch.Tensor, btb: float) -> _Solved:
    """Minimise |A m - b|^2 from its normal equations; compare with m = 1."""
    k = ata.shape[0]
    ones = torch.ones(k, dtype=torch.float64)
    scale = max(btb, 1e-30)

    def error(m):
        return float(m @ ata @ m - 2 * m @ atb + btb) / scale

    before = error(ones)
    ridge = RIDGE * float(ata.diagonal().mean().clamp(min=1e-30))
    try:
        m = torch.linalg.solve(ata + ridge * torch.eye(k, dtype=torch.float64), atb)
    except RuntimeError:  # singular even with the ridge
        m = torch.linalg.lstsq(ata, atb.unsqueeze(1)).solution.squeeze(1)
    if not bool(torch.isfinite(m).all()):
        return _Solved(SublayerFit(k, before, before, "kept at 1: no finite solution"), None)
    if float(m.abs().max()) > MAX_SCALE:
        return _Solved(SublayerFit(k, before, before, f"kept at 1: a scale of {float(m.abs().max()):.3g} is out of bounds"), None)
    after = error(m)
    if after >= before:
        return _Solved(SublayerFit(k, before, before, "kept at 1: no lower error"), None)
    return _Solved(SublayerFit(k, before, after, "tuned"), m)
