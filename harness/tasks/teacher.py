"""A task without data: generated inputs (the family's own seeded example inputs) labelled with the
dense teacher model's argmax. Works for every family, text or image.

Training draws a fresh generated batch for every step (an endless stream, so there are no epochs to
reshuffle), or, with max_train, a fixed pool of generated examples reshuffled each epoch. The
evaluation set is max_eval (default 256) generated examples, disjoint in seed from training.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from harness.foundation.errors import HarnessError

from .base import Task, derive_seed, weights_hash

DEFAULT_EVAL = 256
LABEL_CHUNK = 64  # examples labelled per teacher forward pass


class TeacherTask(Task):
    """Generated inputs for `family`, labelled by `teacher` (the dense model)."""

    name = "teacher"
    has_labels = False

    def __init__(self, family, teacher: nn.Module, *, seed: int = 0, max_train: int | None = None,
                 max_eval: int | None = None, seq_len: int | None = None):
        for name, value in (("max_train", max_train), ("max_eval", max_eval), ("seq_len", seq_len)):
            if value is not None and value < 1:
                raise HarnessError(f"{name}: must be >= 1, got {value}")
        self.family = family
        self.teacher = teacher
        self.seed = seed
        self.seq_len = seq_len or family.default_seq_len
        self.max_train = max_train
        self.n_eval = max_eval or DEFAULT_EVAL
        self.num_labels = int(getattr(getattr(teacher, "config", None), "num_labels", 0) or family.num_labels)
        train = f"pool{max_train}" if max_train else "stream"
        self._train_data_id = f"teacher:{family.name}:{weights_hash(teacher)}:seq={self.seq_len}:seed={seed}:train={train}"
        self.data_id = f"{self._train_data_id}:eval={self.n_eval}"
        self._pool: tuple[dict, torch.Tensor] | None = None
        self._eval: tuple[dict, torch.Tensor] | None = None

    @property
    def train_data_id(self) -> str:
        return self._train_data_id

    # -- labelling -------------------------------------------------------------------------
    def label(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The teacher's argmax for `inputs`, computed in chunks without gradients."""
        was_training = self.teacher.training
        self.teacher.eval()
        n = next(iter(inputs.values())).shape[0]
        out = []
        try:
            with torch.no_grad():
                for start in range(0, n, LABEL_CHUNK):
                    chunk = {k: v[start : start + LABEL_CHUNK] for k, v in inputs.items()}
                    out.append(self.teacher(**chunk).logits.argmax(dim=-1))
        finally:
            self.teacher.train(was_training)
        return torch.cat(out).to(torch.long)

    def _generate(self, count: int, *parts) -> dict[str, torch.Tensor]:
        return self.family.example_inputs(count, self.seq_len, seed=derive_seed("teacher-task", self.seed, *parts))

    # -- batches -------------------------------------------------------------------------------
    def train_batches(self, batch_size: int, seed: int = 0) -> Iterator[tuple[dict, torch.Tensor]]:
        if batch_size < 1:
            raise HarnessError(f"batch_size: must be >= 1, got {batch_size}")
        if self.max_train is None:
            step = 0
            while True:
                inputs = self._generate(batch_size, "train", seed, batch_size, step)
                yield inputs, self.label(inputs)
                step += 1
        if self._pool is None:
            inputs = self._generate(self.max_train, "pool")
            self._pool = (inputs, self.label(inputs))
        inputs, labels = self._pool
        gen = torch.Generator().manual_seed(seed)
        pending: list[int] = []
        while True:
            while len(pending) < batch_size:
                pending.extend(torch.randperm(self.max_train, generator=gen).tolist())
            idx, pending = pending[:batch_size], pending[batch_size:]
            yield {k: v[idx] for k, v in inputs.items()}, labels[idx]

    def eval_batches(self, batch_size: int = 64) -> Iterator[tuple[dict, torch.Tensor]]:
        if batch_size < 1:
            raise HarnessError(f"batch_size: must be >= 1, got {batch_size}")
        if self._eval is None:
            inputs = self._generate(self.n_eval, "eval")
            self._eval = (inputs, self.label(inputs))
        inputs, labels = self._eval
        for start in range(0, self.n_eval, batch_size):
            stop = start + batch_size
            yield {k: v[start:stop] for k, v in inputs.items()}, labels[start:stop]
