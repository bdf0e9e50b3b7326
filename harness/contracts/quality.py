"""Quality: what a record says about accuracy, and the smaller records it is made of.

  Quality        a record's metrics.quality (measured on the engine that was timed) or metrics.manifest_quality
                 (copied from a variant's manifest), with `details` saying how it was measured
  ModelQuality   one evaluation of a torch model by the pruning library (harness.pruning.training.evaluate):
                 what variant manifests and fine-tuned checkpoints record as dense/pruned/before/after
  EvalSetMeta    the description of an evaluation set the export stage prepared (cached beside it)
  EvalDetails    Quality.details of an engine measurement: which data, tokenizer and batch size
  ManifestDetails  Quality.details of a manifest's quality: the pruned model's evaluation and the dense one's
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .codec import Contract, Versioned, _settle


@dataclass(frozen=True)
class ModelQuality(Contract):
    """accuracy (tasks with labels), top-1 agreement with the teacher (or the labels), KL(teacher || model) in
    nats (with a teacher), over n evaluation examples."""

    n: int
    top1_agreement: float | None = None
    accuracy: float | None = None
    kl_dense_pruned: float | None = None


@dataclass(frozen=True)
class EvalSetMeta(Versioned):
    """eval-<key>.json beside eval-<key>.npz in the artifact cache (harness.export.eval_set).

    Version history: 1 - task, split, examples, data_sha256, seq_len, and for data files data_file,
    label_names and tokenizer, for generated inputs `inputs`; files written before the field existed carry
    no schema_version and are version 1.
    """

    SCHEMA_VERSION = 1
    UNVERSIONED = 1

    task: str
    split: str
    examples: int
    data_sha256: str | None = None
    data_file: str | None = None
    label_names: tuple[str, ...] | None = None
    tokenizer: str | None = None
    inputs: str | None = None  # generated inputs: how many, from which seed
    seq_len: int | None = None
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True)
class EvalDetails(Contract):
    """How an engine measurement was made: the evaluation set's data and tokenizer, and the batch size."""

    batch_size: int
    data_file: str | None = None
    tokenizer: str | None = None
    label_names: tuple[str, ...] | None = None
    inputs: str | None = None
    seq_len: int | None = None


@dataclass(frozen=True)
class ManifestDetails(ModelQuality):
    """A manifest's quality: the pruned model's evaluation (the fields of ModelQuality) and the dense model's
    (`dense`), the baseline of the drop."""

    dense: ModelQuality | None = None


@dataclass(frozen=True)
class Quality(Contract):
    """Task quality of one model: accuracy against labels, or agreement with the dense fp32 model."""

    accuracy: float | None = None
    top1_agreement: float | None = None
    kl_dense_pruned: float | None = None
    task: str | None = None
    split: str | None = None
    examples: int | None = None
    accuracy_ci95: tuple[float, ...] | None = None  # Wilson score interval
    agreement_ci95: tuple[float, ...] | None = None
    data_sha256: str | None = None
    source: str | None = None  # "engine" (measured where timed), "manifest", "teacher"
    eval_s: float | None = None
    # EvalDetails (engine, teacher) or ManifestDetails (manifest); a mapping of another shape stays a mapping
    details: EvalDetails | ManifestDetails | dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        _settle(self, "details")
