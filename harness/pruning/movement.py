"""Movement pruning in the regime it was published for (Sanh, Wolf & Rush 2020, "Movement Pruning: Adaptive
Sparsity by Fine-Tuning"): the masks are part of the forward pass during fine-tuning and follow scores that
are updated at every step.

Each prunable layer computes with W' = W * M, M = mask(S), through a straight-through estimator: the
backward pass treats the mask function as the identity, so every score (of kept and of removed weights
alike) gets dL/dS = dL/dW' * W, and a removed weight can come back when its score rises again.

  hard   S accumulates -dL/dW' * W after every backward pass (S_T = -sum_t dL/dW'_t * W_t; the paper's
         update with a constant learning rate, which does not change the ranking); M keeps the top (1 - s_t)
         of S (globally or per layer, for any mask structure: unstructured, block4, 2:4).
  soft   S is learned by Adam (learning rate movement.scores_lr) on the task loss plus the regulariser
         R(S) = lambda * mean(sigmoid(S)) over every score of every prunable layer, so
         dR/dS_ij = lambda * sigmoid(S_ij) * (1 - sigmoid(S_ij)) / N. M = sigmoid(S) > tau: with
         movement.threshold null, tau is set at every update to the value that removes the scheduled
         fraction s_t (the target sparsity holds exactly); with a number tau_f, tau follows the schedule
         from 0 to tau_f (the paper's fixed threshold: the sparsity reached then depends on lambda, and the
         manifest reports it). Scores start at 0 (sigmoid 0.5). Unstructured only.

The schedule (schedules.movement_sparsity): dense during schedule.warmup_steps, cubic over schedule.steps,
then finetune.steps of cool-down at the target; masks are recomputed every schedule.prune_every steps
(cool-down included). At the end W * M becomes the weight (exact zeros) and the forward is plain again.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from .criteria import ScoreTable
from .masks import full_masks
from .schedules import movement_sparsity, movement_threshold
from .structures import Structure


class _StraightThrough(torch.autograd.Function):
    """mask as float in the forward pass; the incoming gradient passed unchanged to the scores."""

    @staticmethod
    def forward(ctx, scores, mask):
        return mask.to(scores.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _Masked(nn.Module):
    """The parametrization W -> W * STE(S, M); S and M are plain tensors (not parameters of the model)."""

    def __init__(self, scores: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.scores = scores
        self.mask = mask

    def forward(self, weight):
        return weight * _StraightThrough.apply(self.scores, self.mask)


class MovementMasks:
    """Movement scores and masks for `layers` ({name: module with .weight}), installed in their forward pass.

    `fixed` (bool keep-masks) marks weights an earlier prune removed: they stay removed. Call
    after_backward() after each backward pass (a training callback), update(sparsity) to recompute the
    masks, and finish() once to make W * M the weights and remove the masking from the forward pass.
    """

    def __init__(self, layers: dict[str, nn.Module], structure: Structure, *, variant: str = "hard",
                 scope: str = "global", scores_lr: float = 1e-2, regularization: float = 0.0,
                 threshold: float | None = None, fixed: dict[str, torch.Tensor] | None = None):
        self.layers = dict(layers)
        self.structure = structure
        self.variant = variant
        self.scope = scope
        self.regularization = regularization
        self.threshold = threshold
        self.fixed = fixed if fixed is not None else full_masks(self.layers)
        self.scores = {n: torch.zeros_like(m.weight, requires_grad=True) for n, m in self.layers.items()}
        self.masks = {n: self.fixed[n].clone() for n in self.layers}
        self.steps = 0  # backward passes observed
        self.optimizer = torch.optim.Adam(list(self.scores.values()), lr=scores_lr) if variant == "soft" else None
        self._hooks: dict[str, _Masked] = {}
        for n, m in self.layers.items():
            hook = _Masked(self.scores[n], self.masks[n])
            parametrize.register_parametrization(m, "weight", hook, unsafe=True)
            self._hooks[n] = hook

    # -- during training ------------------------------------------------------------------------------
    def regulariser(self) -> torch.Tensor:
        """lambda * mean(sigmoid(S)) over every score (the soft variant's L1 penalty on the sigmoid scores)."""
        flat = torch.cat([s.reshape(-1) for s in self.scores.values()])
        return self.regularization * torch.sigmoid(flat).mean()

    def after_backward(self, model=None, step=None) -> None:
        """Fold this backward pass into the scores (hard: accumulate; soft: one Adam step with the regulariser)."""
        seen = any(s.grad is not None for s in self.scores.values())
        if self.variant == "hard":
            with torch.no_grad():
                for s in self.scores.values():
                    if s.grad is not None:
                        s.sub_(s.grad)  # S += -dL/dW' * W
                        s.grad = None
        else:
            if self.regularization > 0:
                self.regulariser().backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        if seen:
            self.steps += 1

    @torch.no_grad()
    def update(self, sparsity: float, *, final: float | None = None) -> dict:
        """Recompute the masks for the scheduled `sparsity`; returns what changed (counts of weights)."""
        if self.variant == "soft" and self.threshold is not None:
            tau = movement_threshold(sparsity, final=final if final is not None else sparsity, threshold=self.threshold)
            new = {n: (torch.sigmoid(s) > tau) & self.fixed[n] for n, s in self.scores.items()}
        else:
            weights = {n: m.weight.detach() for n, m in self.layers.items()}
            table = ScoreTable({n: s.detach() for n, s in self.scores.items()})
            new = self.structure.masks(table, weights, sparsity, self.scope, self.fixed)
            new = {n: mask & self.fixed[n] for n, mask in new.items()}  # what an earlier prune removed stays out
        removed = revived = 0
        for n, mask in new.items():
            old = self.masks[n]
            removed += int((old & ~mask).sum())
            revived += int((~old & mask).sum())
            old.copy_(mask)  # in place: the parametrization holds this tensor
        return {"removed": removed, "revived": revived, "realised": self.realised()}

    def realised(self) -> float:
        total = sum(m.numel() for m in self.masks.values())
        return round(1.0 - sum(int(m.sum()) for m in self.masks.values()) / total, 6) if total else 0.0

    # -- at the end -----------------------------------------------------------------------------------
    @torch.no_grad()
    def finish(self) -> dict[str, torch.Tensor]:
        """Make W * M each layer's plain weight (masked entries exactly zero); return the masks."""
        for n, m in self.layers.items():
            if parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
                m.weight.masked_fill_(~self.masks[n], 0.0)
        for s in self.scores.values():
            s.grad = None
        return {n: mask.clone() for n, mask in self.masks.items()}


class MovementSchedule:
    """Training callback: scores after each backward pass, masks recomputed every `every` steps on the
    movement schedule; `history` gets one entry per update."""

    def __init__(self, masks: MovementMasks, *, final: float, initial: float, warmup_steps: int, span_steps: int,
                 every: int, total_steps: int):
        self.masks = masks
        self.final, self.initial = final, initial
        self.warmup_steps, self.span_steps = warmup_steps, span_steps
        self.every, self.total_steps = max(int(every), 1), total_steps
        self.history: list[dict] = []

    def target(self, step: int) -> float:
        return movement_sparsity(step, initial=self.initial, final=self.final, warmup_steps=self.warmup_steps,
                                 span_steps=self.span_steps)

    def start(self) -> None:
        self._update(0)

    def after_backward(self, model, step) -> None:
        self.masks.after_backward(model, step)

    def after_step(self, model, step) -> None:
        t = step + 1
        if t % self.every == 0 or t == self.total_steps:
            self._update(t)

    def _update(self, t: int) -> None:
        target = self.target(t)
        info = self.masks.update(target, final=self.final)
        self.history.append({"step": t, "target": round(target, 6), **info})
