"""SST-2 (binary sentiment) from a local GLUE-layout directory: train.tsv and dev.tsv.

train.tsv has columns label<TAB>sentence, dev.tsv label<TAB>content (GLUE's files name the text column
differently); both start with a header row. Text is tokenised once, up front, with the family's own
tokenizer, or MiniLM's for families without one (ids clamped to the model's vocabulary, which the
data_id records). Batches are padded dynamically to their longest example.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

import torch

from harness.foundation.errors import HarnessError
from harness.foundation.pathchecks import files_in

from .base import Task
from .eval_data import SST2_LAYOUT, read_tsv

DEFAULT_MAX_LEN = 64


def files_sha(paths: list[Path], length: int = 12) -> str:
    digest = hashlib.sha256()
    for p in paths:
        digest.update(p.name.encode() + b"\0")
        digest.update(p.read_bytes())
    return digest.hexdigest()[:length]


class SST2Task(Task):
    """SST-2 from `data_dir`: training on (a seeded subset of) train.tsv, evaluation on dev.tsv."""

    name = "sst2"
    num_labels = 2
    has_labels = True

    def __init__(self, family, data_dir, *, seed: int = 0, max_train: int | None = None,
                 max_eval: int | None = None, seq_len: int | None = None):
        if family.kind != "text":
            raise HarnessError(
                f"SST-2 data is text but model {family.name!r} is an {family.kind} model; "
                "leave out --data to use generated inputs labelled by the dense model"
            )
        files = files_in(data_dir, ["train.tsv", "dev.tsv"], "data directory", SST2_LAYOUT)
        for name, value in (("max_train", max_train), ("max_eval", max_eval), ("seq_len", seq_len)):
            if value is not None and value < 1:
                raise HarnessError(f"{name}: must be >= 1, got {value}")
        self.family = family
        self.max_len = seq_len or DEFAULT_MAX_LEN
        self.input_names = tuple(family.input_names)

        train_texts, train_labels = read_tsv(files[0])
        eval_texts, eval_labels = read_tsv(files[1])
        if not train_texts:
            raise HarnessError(f"SST-2 file {str(files[0])!r} has no examples")
        if not eval_texts:
            raise HarnessError(f"SST-2 file {str(files[1])!r} has no examples")
        subset = ""
        if max_train is not None and max_train < len(train_texts):
            gen = torch.Generator().manual_seed(seed)
            pick = torch.randperm(len(train_texts), generator=gen)[:max_train].sort().values.tolist()
            train_texts = [train_texts[i] for i in pick]
            train_labels = [train_labels[i] for i in pick]
            subset = f":subset_seed={seed}"
        if max_eval is not None:
            eval_texts, eval_labels = eval_texts[:max_eval], eval_labels[:max_eval]

        tokenizer, tok_name, clamp_to = family.task_tokenizer()
        self.pad_id = tokenizer.pad_token_id or 0
        self.train_ids = self._encode(tokenizer, train_texts, clamp_to)
        self.eval_ids = self._encode(tokenizer, eval_texts, clamp_to)
        self.train_labels = torch.tensor(train_labels, dtype=torch.long)
        self.eval_labels = torch.tensor(eval_labels, dtype=torch.long)
        sha, train = files_sha(files), f"train={len(self.train_ids)}{subset}"
        tail = f":len={self.max_len}:tok={tok_name}"
        self.data_id = f"sst2:{sha}:{train}:eval={len(self.eval_ids)}{tail}"
        self._train_data_id = f"sst2:{sha}:{train}{tail}"

    @property
    def train_data_id(self) -> str:
        return self._train_data_id

    def _encode(self, tokenizer, texts: list[str], clamp_to: int | None) -> list[list[int]]:
        ids = tokenizer(texts, truncation=True, max_length=self.max_len, padding=False)["input_ids"]
        if clamp_to is not None:
            top = clamp_to - 1
            ids = [[min(i, top) for i in seq] for seq in ids]
        return ids

    def _collate(self, seqs: list[list[int]]) -> dict[str, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[row, : len(s)] = 1
        batch = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            batch["token_type_ids"] = torch.zeros_like(ids)
        return {k: v for k, v in batch.items() if k in self.input_names}

    def train_batches(self, batch_size: int, seed: int = 0) -> Iterator[tuple[dict, torch.Tensor]]:
        if batch_size < 1:
            raise HarnessError(f"batch_size: must be >= 1, got {batch_size}")
        gen = torch.Generator().manual_seed(seed)
        n = len(self.train_ids)
        pending: list[int] = []
        while True:
            while len(pending) < batch_size:  # a new epoch, reshuffled, joined onto the last one
                pending.extend(torch.randperm(n, generator=gen).tolist())
            idx, pending = pending[:batch_size], pending[batch_size:]
            yield self._collate([self.train_ids[i] for i in idx]), self.train_labels[idx]

    def eval_batches(self, batch_size: int = 64) -> Iterator[tuple[dict, torch.Tensor]]:
        if batch_size < 1:
            raise HarnessError(f"batch_size: must be >= 1, got {batch_size}")
        for start in range(0, len(self.eval_ids), batch_size):
            stop = start + batch_size
            yield self._collate(self.eval_ids[start:stop]), self.eval_labels[start:stop]
