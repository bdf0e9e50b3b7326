"""The Task plug-in: labelled batches for fine-tuning, gradients and evaluation.

A task is machinery (it holds data and hands out batches); what identifies the data it serves is the
one-line `data_id`, which manifests and cache keys record.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # torch is imported by the concrete tasks, not by this interface module
    from torch import Tensor, nn


class Task:
    """Labelled batches of model inputs.

    name: "sst2" or "teacher".
    num_labels: number of classes the labels range over.
    has_labels: True when the labels are real annotations; False when they are the dense model's argmax.
    data_id: a stable one-line identity of the data served (files hash, sizes, tokenizer, seeds).
    """

    name: str = ""
    num_labels: int = 0
    has_labels: bool = False
    data_id: str = ""

    @property
    def train_data_id(self) -> str:
        """Identity of the training examples alone: what a dense fine-tune depends on (the evaluation
        split's size may change without invalidating a cached fine-tune)."""
        return self.data_id

    def train_batches(self, batch_size: int, seed: int = 0) -> Iterator[tuple[dict[str, "Tensor"], "Tensor"]]:
        """An endless stream of (inputs, labels), every batch of exactly `batch_size` examples,
        the training examples reshuffled each epoch with a generator seeded by `seed`."""
        raise NotImplementedError

    def eval_batches(self, batch_size: int = 64) -> Iterator[tuple[dict[str, "Tensor"], "Tensor"]]:
        """The evaluation split in a fixed order, once; the last batch may be smaller."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.data_id!r})"


def weights_hash(model: "nn.Module", length: int = 12) -> str:
    """Short sha256 over a module's state dict (names, dtypes, shapes and bytes), in name order."""
    import torch  # the module that calls this has loaded torch already

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:length]


def derive_seed(*parts: object) -> int:
    """A seed in [0, 2**31) derived from any parts, so separate streams never share a seed."""
    text = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "little") & 0x7FFFFFFF
