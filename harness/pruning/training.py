"""Recovery fine-tuning with knowledge distillation, quality metrics, cached dense fine-tuning, and
per-batch gradients for second-order criteria.

Loss with a teacher (Hinton et al.; oBERT uses hardness 1.0 and temperature 2):
    kd_hardness * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - kd_hardness) * CE(labels)
and plain cross-entropy on the task labels without one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from harness.contracts import DenseFinetuneEntry, DenseFinetuneSettings
from harness.foundation.errors import ConfigError, HarnessError
from harness.tasks.base import weights_hash


def _logits(model: nn.Module, inputs: dict) -> torch.Tensor:
    out = model(**inputs)
    return out.logits if hasattr(out, "logits") else out[0]


def kd_loss(student_logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor | None, *,
            temperature: float = 2.0, hardness: float = 1.0) -> torch.Tensor:
    """The training loss above, averaged over the batch (KL summed over classes, then mean over examples)."""
    if teacher_logits is None:
        return F.cross_entropy(student_logits, labels)
    t = temperature
    kl = F.kl_div(
        F.log_softmax(student_logits / t, dim=-1), F.log_softmax(teacher_logits / t, dim=-1),
        reduction="batchmean", log_target=True,
    )
    loss = hardness * t * t * kl
    if hardness < 1.0:
        loss = loss + (1.0 - hardness) * F.cross_entropy(student_logits, labels)
    return loss


def _check_masks(model: nn.Module, masks: dict | None) -> dict[str, nn.Parameter]:
    """Parameters the masks refer to; a wrong name or shape is a one-line error."""
    if not masks:
        return {}
    params = dict(model.named_parameters())
    out = {}
    for name, mask in masks.items():
        if name not in params:
            sample = ", ".join(list(params)[:3])
            raise HarnessError(f"masks: {name!r} is not a parameter of the model (names look like {sample}, ...)")
        if tuple(mask.shape) != tuple(params[name].shape):
            raise HarnessError(
                f"masks[{name!r}]: shape {tuple(mask.shape)} does not match the parameter's {tuple(params[name].shape)}"
            )
        out[name] = params[name]
    return out


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict | None) -> None:
    """Set every masked-out weight to exactly zero."""
    for name, param in _check_masks(model, masks).items():
        param.masked_fill_(~masks[name].to(device=param.device, dtype=torch.bool), 0.0)


def _validate_train(steps, lr, batch_size, kd_temperature, kd_hardness, weight_decay):
    if steps < 0:
        raise ConfigError(f"steps: must be >= 0, got {steps}")
    if not lr > 0:
        raise ConfigError(f"lr: must be > 0, got {lr}")
    if batch_size < 1:
        raise ConfigError(f"batch_size: must be >= 1, got {batch_size}")
    if not kd_temperature > 0:
        raise ConfigError(f"kd_temperature: must be > 0, got {kd_temperature}")
    if not 0.0 <= kd_hardness <= 1.0:
        raise ConfigError(f"kd_hardness: must be in [0, 1], got {kd_hardness}")
    if weight_decay < 0:
        raise ConfigError(f"weight_decay: must be >= 0, got {weight_decay}")


def train(model: nn.Module, task, *, steps: int, lr: float = 3e-5, batch_size: int = 16, seed: int = 0,
          teacher: nn.Module | None = None, kd_temperature: float = 2.0, kd_hardness: float = 1.0,
          masks: dict[str, torch.Tensor] | None = None, callbacks: Sequence = (),
          weight_decay: float = 0.0, progress: bool = True) -> dict:
    """Fine-tune `model` in place for `steps` AdamW steps with a linearly decaying learning rate.

    masks: {parameter name: bool keep-mask}. Masked-out weights stay exactly zero: their gradients are
    zeroed before each step (so AdamW's moments stay zero for them) and the weights are re-masked after
    each step and after the callbacks (so decoupled weight decay cannot move them either). The dict is
    read at every step, so a callback may replace or edit masks in place (gradual pruning).
    callbacks: objects with optional after_backward(model, step) (gradients present, before masking)
    and after_step(model, step) (after the optimizer step). The model is left in eval mode.
    Returns {"steps": n, "final_loss": last loss or None, "losses": [loss per step]}.
    """
    _validate_train(steps, lr, batch_size, kd_temperature, kd_hardness, weight_decay)
    _check_masks(model, masks)  # fail before any work
    params = [p for p in model.parameters() if p.requires_grad]
    if steps and not params:
        raise HarnessError("train: the model has no trainable parameters")
    losses: list[float] = []
    if steps == 0:
        return {"steps": 0, "final_loss": None, "losses": losses}

    torch.manual_seed(seed)  # dropout
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: max(0.0, 1.0 - i / steps))
    if teacher is not None:
        teacher.eval()
    apply_masks(model, masks)
    batches = task.train_batches(batch_size, seed=seed)
    bar = None
    if progress:
        from tqdm import tqdm  # only for interactive runs

        bar = tqdm(total=steps, desc="fine-tune", unit="step", file=sys.stderr, leave=False)
    model.train()
    try:
        for step in range(steps):
            inputs, labels = next(batches)
            teacher_logits = None
            if teacher is not None:
                with torch.no_grad():
                    teacher_logits = _logits(teacher, inputs)
            loss = kd_loss(_logits(model, inputs), labels, teacher_logits,
                           temperature=kd_temperature, hardness=kd_hardness)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for cb in callbacks:
                if hasattr(cb, "after_backward"):
                    cb.after_backward(model, step)
            masked = _check_masks(model, masks)
            for name, param in masked.items():
                if param.grad is not None:
                    param.grad.masked_fill_(~masks[name].to(torch.bool), 0.0)
            optimizer.step()
            schedule.step()
            apply_masks(model, masks)
            for cb in callbacks:
                if hasattr(cb, "after_step"):
                    cb.after_step(model, step)
            apply_masks(model, masks)
            losses.append(float(loss.detach()))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
    finally:
        if bar is not None:
            bar.close()
        model.eval()
    return {"steps": steps, "final_loss": losses[-1], "losses": losses}


@torch.no_grad()
def evaluate(model: nn.Module, task, *, teacher: nn.Module | None = None, max_batches: int | None = None,
             batch_size: int = 64) -> dict:
    """Quality of `model` on the task's evaluation split.

    accuracy: fraction of argmax == label (only when the task has real labels).
    top1_agreement: fraction of argmax == the teacher's argmax (without a teacher: == the task labels,
    which for a teacher task are the dense model's argmax).
    kl_dense_pruned: mean over examples of KL(softmax(teacher) || softmax(model)) in nats, at
    temperature 1 (only with a teacher).
    n: number of examples seen.
    """
    was_training = model.training
    model.eval()
    if teacher is not None:
        teacher.eval()
    n = correct = agree = 0
    kl_sum = 0.0
    try:
        for i, (inputs, labels) in enumerate(task.eval_batches(batch_size)):
            if max_batches is not None and i >= max_batches:
                break
            logits = _logits(model, inputs).float()
            pred = logits.argmax(dim=-1)
            n += int(labels.shape[0])
            correct += int((pred == labels).sum())
            if teacher is not None:
                t_logits = _logits(teacher, inputs).float()
                agree += int((pred == t_logits.argmax(dim=-1)).sum())
                log_p = F.log_softmax(t_logits, dim=-1)
                log_q = F.log_softmax(logits, dim=-1)
                kl_sum += float((log_p.exp() * (log_p - log_q)).sum())
            else:
                agree += int((pred == labels).sum())
    finally:
        model.train(was_training)
    if n == 0:
        raise HarnessError(f"evaluate: task {task.data_id!r} gave no evaluation examples")
    result: dict = {}
    if task.has_labels:
        result["accuracy"] = correct / n
    result["top1_agreement"] = agree / n
    if teacher is not None:
        result["kl_dense_pruned"] = max(0.0, kl_sum / n)
    result["n"] = n
    return result


# -- dense fine-tuning with an on-disk cache ------------------------------------------------------
def finetune_key(family_name: str, data_id: str, init_hash: str, *, steps: int, lr: float, batch_size: int,
                 seed: int) -> str:
    """Cache key: the family, the data, the starting weights and the training settings."""
    settings = json.dumps({"steps": steps, "lr": lr, "batch_size": batch_size, "seed": seed}, sort_keys=True)
    text = "|".join([family_name, data_id, init_hash, hashlib.sha256(settings.encode()).hexdigest()[:16]])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def finetune_dense(family, model: nn.Module, task, *, steps: int, lr: float, batch_size: int, seed: int,
                   cache_dir) -> nn.Module:
    """Fine-tune the dense `model` on `task` (CE on the task labels), in place, and return it.

    The result is cached under cache_dir/<family>-<key>/ (model.safetensors + finetune.json) keyed by
    family name, the task's training data (task.train_data_id, falling back to task.data_id), the
    starting weights' hash and (steps, lr, batch_size, seed); a later
    call with the same key loads the weights instead of training. Entries are written to a temporary
    directory and renamed into place.
    """
    from safetensors.torch import load_model, save_model

    init = weights_hash(model)
    train_data = getattr(task, "train_data_id", task.data_id)
    key = finetune_key(family.name, train_data, init, steps=steps, lr=lr, batch_size=batch_size, seed=seed)
    root = Path(cache_dir)
    entry = root / f"{family.name}-{key}"
    meta_path = entry / "finetune.json"
    if meta_path.is_file() and (entry / "model.safetensors").is_file():
        try:
            cached = DenseFinetuneEntry.from_json(json.loads(meta_path.read_text()), str(meta_path))
        except (OSError, ValueError):  # damaged, or another version: trained again (harness.contracts.training)
            cached = None
        if cached is not None and cached.key == key:
            load_model(model, str(entry / "model.safetensors"), strict=True)
            return model.eval()

    started = time.perf_counter()
    result = train(model, task, steps=steps, lr=lr, batch_size=batch_size, seed=seed, progress=False)
    meta = DenseFinetuneEntry(
        key=key, model=family.name, data=task.data_id, train_data=train_data, init_weights=init,
        settings=DenseFinetuneSettings(steps=steps, lr=lr, batch_size=batch_size, seed=seed),
        final_loss=result["final_loss"], wall_time_s=round(time.perf_counter() - started, 3),
    )
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=root))
    try:
        save_model(model, str(tmp / "model.safetensors"))
        (tmp / "finetune.json").write_text(json.dumps(meta.to_json(), indent=2, sort_keys=True) + "\n")
        if entry.exists():  # a stale or unreadable entry with this key
            shutil.rmtree(entry)
        os.replace(tmp, entry)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return model.eval()


# -- gradients ---------------------------------------------------------------------------------
def collect_gradients(model: nn.Module, task, *, count: int, batch_size: int, seed: int,
                      params: dict[str, nn.Parameter]) -> Iterator[dict[str, torch.Tensor]]:
    """Yield `count` gradients of the task loss (CE on the task labels), one per batch of `batch_size`,
    each {name: gradient} for the requested parameters. The model runs in eval mode (no dropout, batch
    norm on its running statistics) and no .grad attribute is touched."""
    if count < 0:
        raise ConfigError(f"count: must be >= 0, got {count}")
    if batch_size < 1:
        raise ConfigError(f"batch_size: must be >= 1, got {batch_size}")
    if not params:
        raise HarnessError("collect_gradients: no parameters requested")
    names = list(params)
    tensors = [params[n] for n in names]
    frozen = [n for n, p in zip(names, tensors) if not p.requires_grad]
    if frozen:
        raise HarnessError(f"collect_gradients: parameter {frozen[0]!r} does not require gradients")
    was_training = model.training
    model.eval()
    batches = task.train_batches(batch_size, seed=seed)
    try:
        for _ in range(count):
            inputs, labels = next(batches)
            with torch.enable_grad():
                loss = F.cross_entropy(_logits(model, inputs), labels)
                grads = torch.autograd.grad(loss, tensors, allow_unused=True)
            yield {n: (g.detach() if g is not None else torch.zeros_like(p)) for n, p, g in zip(names, tensors, grads)}
    finally:
        model.train(was_training)
