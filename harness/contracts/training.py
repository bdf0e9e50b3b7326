"""Training state the harness keeps on disk: the dense fine-tune cache entry and the description a fine-tuned
checkpoint carries.

  DenseFinetuneEntry    <cache>/finetune/<family>-<key>/finetune.json beside model.safetensors
                        (harness.pruning.training.finetune_dense)
  FinetuneDescription   <checkpoint>/harness-finetune.json (harness.workflows.finetune, `harness finetune`)

Version history:
  DenseFinetuneEntry 1   kind "harness-dense-finetune", key, model, data, train_data, init_weights, settings
                         {steps, lr, batch_size, seed}, final_loss, wall_time_s. An entry that does not read
                         (another version, a damaged file, another key) is trained again and replaced.
  FinetuneDescription 1  kind "harness-finetune", base, base_checkpoint, data, train_data, settings {steps, lr,
                         batch_size, max_train, seq_len, seed}, quality {before, after, split}, wall_time_s,
                         harness_version; later in version 1 (optional): vocabulary_resized {rows_before,
                         rows_after} when the model's embedding grew to its tokenizer's vocabulary before training.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codec import Contract, Kinded, Versioned
from .quality import ModelQuality


@dataclass(frozen=True)
class DenseFinetuneSettings(Contract):
    """The training loop's settings (the dense cache's key hashes them)."""

    steps: int
    lr: float
    batch_size: int
    seed: int


@dataclass(frozen=True)
class DenseFinetuneEntry(Kinded, Versioned):
    """One cached dense fine-tune: what it was trained from and with (the key hashes these)."""

    SCHEMA_VERSION = 1
    KIND = "harness-dense-finetune"

    key: str
    model: str
    data: str
    train_data: str
    init_weights: str
    settings: DenseFinetuneSettings
    final_loss: float | None = None
    wall_time_s: float | None = None
    kind: str = KIND
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True)
class FinetuneSettings(DenseFinetuneSettings):
    """The training loop's settings and the data limits `harness finetune` takes (the same JSON keys, in order)."""

    max_train: int | None = None
    seq_len: int | None = None


@dataclass(frozen=True)
class FinetuneQuality(Contract):
    """Dev-split quality before and after fine-tuning (harness.pruning.training.evaluate)."""

    before: ModelQuality
    after: ModelQuality
    split: str = "dev"


@dataclass(frozen=True)
class VocabularyResize(Contract):
    """The model's embedding rows before and after it grew to cover every id its tokenizer emits."""

    rows_before: int
    rows_after: int


@dataclass(frozen=True)
class FinetuneDescription(Kinded, Versioned):
    """What `harness finetune` made: from which model and data, how, and how well."""

    SCHEMA_VERSION = 1
    KIND = "harness-finetune"

    base: str
    data: str
    train_data: str
    settings: FinetuneSettings
    quality: FinetuneQuality
    base_checkpoint: str | None = None
    wall_time_s: float | None = None
    harness_version: str | None = None
    vocabulary_resized: VocabularyResize | None = None
    kind: str = KIND
    schema_version: int = SCHEMA_VERSION
