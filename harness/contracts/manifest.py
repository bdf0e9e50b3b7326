"""Variant manifests (manifest.json of a variant directory), typed, with the migrations that read older versions.

    manifest = VariantManifest.from_json(json.loads(text))   # any readable version; RecordError names the field
    manifest.realised_sparsity.overall, manifest.architecture.steps[0].layers["bert.encoder.layer.0"].keep

Two kinds share the file name and the reader (harness.variants.manifest): a compressed torch model
(kind "harness-variant", VariantManifest) and a pruned decision tree (kind "harness-tree-variant",
TreeVariantManifest); `manifest_from_json` picks the class by `kind`. Both are Versioned formats
(harness.contracts.codec): older versions read through each class's MIGRATIONS, like every persisted format
of the harness. A manifest of a newer version than this harness reads is FutureVersion; one of an unknown kind
or version is RecordError, each naming the field.
Fields this harness does not know (a manifest written by a newer minor version, or by hand) are ignored.
A variant's id hashes the manifest as stored, never the typed form, so reading an old manifest through its
migrations never changes the id of a variant.

VariantManifest.SCHEMA_VERSION history (kind "harness-variant"):
  1 - first version: schema_version, kind, model, method, structure, target_sparsity, realised_sparsity
      {overall, per_layer}, recipe, recipe_hash, seeds, data, wall_time_s, peak_rss_bytes, quality {dense,
      pruned}, architecture, created_at, harness_version. harness prune also records scope, history [{step,
      target, realised}], train_steps, prune_peak_rss_bytes and timings_s. For unit structures (heads,
      neurons, channels) realised_sparsity.overall is the fraction of units removed (what target_sparsity
      means there), with unit, weights_overall (fraction of prunable weights removed) and per_layer weight
      fractions.
  2 - regime (which pruning regime ran: one-shot, gradual, movement during fine-tuning), stages (a recipe
      chain) and source (a variant pruned again with --from) when present, realised_sparsity.weights_vs_dense,
      quality.start (with --from); architecture may be version 2 (several structural steps); base
      {checkpoint, checkpoint_id} when the variant was made from a local checkpoint (its `model` is then the
      checkpoint's name). Later in version 2: post_training (the post-training pruner's report: target, cost
      model, per-layer kept units, fit errors) with realised_sparsity.heads and .neurons. Every addition is
      optional, so the migration from 1 changes nothing but the version.

The quality figures (quality.dense, .pruned, .start) are ModelQuality, the type fine-tuned checkpoints and run
records use for one evaluation of a torch model; a run record's metrics.manifest_quality carries the pruned
figures with the dense one beside them (ManifestDetails), made by VariantManifest.as_quality.

The `architecture` section has versions of its own, read through its own migrations: contracts/architecture.py.

TreeVariantManifest.SCHEMA_VERSION history (kind "harness-tree-variant"):
  1 - first version: schema_version, kind, model, dataset, task, metric, seed, split, alpha, alpha_index,
      path_length, path_entries, chosen, leaves, depth, nodes, full_nodes, realised_sparsity {overall:
      fraction of the full tree's nodes pruned away}, mean_decisions_per_item, metrics {train, test, cv,
      cv_std}, quality, method, structure, model_file, sklearn_version, created_at, harness_version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .architecture import Architecture
from .codec import Contract, Kinded, RecordError, Versioned, _describe
from .quality import ManifestDetails, ModelQuality, Quality

VARIANT_KIND = "harness-variant"
TREE_VARIANT_KIND = "harness-tree-variant"


# -- the compressed torch model's manifest ---------------------------------------------------------------------

@dataclass(frozen=True)
class ManifestQuality(Contract):
    """Quality measured in torch when the variant was made (harness.pruning.training.evaluate)."""

    dense: ModelQuality | None = None
    pruned: ModelQuality | None = None
    start: ModelQuality | None = None  # the variant pruned again (--from), before this pruning


@dataclass(frozen=True)
class RealisedSparsity(Contract):
    overall: float | None = None  # of prunable weights; of units for unit structures; of nodes for trees
    per_layer: dict[str, float] = field(default_factory=dict)
    unit: str | None = None
    weights_overall: float | None = None
    weights_vs_dense: float | None = None
    heads: float | None = None  # post-training pruning: the fraction of attention heads removed
    neurons: float | None = None  # ... and of FFN neurons


@dataclass(frozen=True)
class HistoryStep(Contract):
    step: int
    target: float | None = None
    realised: float | None = None


@dataclass(frozen=True)
class StageSummary(Contract):
    """One stage of a recipe chain (or the variant it started from)."""

    method: str | None = None
    structure: str | None = None
    target_sparsity: float | None = None
    realised_sparsity: float | None = None
    regime: str | None = None
    train_steps: int | None = None
    history: tuple[HistoryStep, ...] = ()


@dataclass(frozen=True)
class Source(Contract):
    """The variant this one was pruned from (--from)."""

    path: str | None = None
    variant_id: str | None = None
    method: str | None = None
    structure: str | None = None


@dataclass(frozen=True)
class Base(Contract):
    """The local checkpoint the variant was made from."""

    checkpoint: str
    checkpoint_id: str | None = None


def _optional_additions(data: dict) -> dict:
    """Version 1 -> 2: version 2 only added optional fields."""
    return data


@dataclass(frozen=True)
class VariantManifest(Kinded, Versioned):
    """manifest.json of a compressed torch model (see the module docstring for its versions)."""

    SCHEMA_VERSION = 2
    KIND = VARIANT_KIND
    MIGRATIONS = {1: _optional_additions}

    model: str
    kind: str = VARIANT_KIND
    method: str | None = None
    structure: str | None = None
    scope: str | None = None
    target_sparsity: float | None = None
    realised_sparsity: RealisedSparsity = field(default_factory=RealisedSparsity)
    regime: str | None = None
    recipe: dict[str, Any] | None = None  # the pruning recipe (harness.pruning.recipes.Recipe.to_dict())
    recipe_hash: str | None = None
    seeds: dict[str, int] = field(default_factory=dict)
    data: str | None = None
    history: tuple[HistoryStep, ...] = ()
    train_steps: int | None = None
    architecture: Architecture | None = None  # its own versions and migrations (architecture.py)
    stages: tuple[StageSummary, ...] = ()
    source: Source | None = None
    base: Base | None = None
    quality: ManifestQuality = field(default_factory=ManifestQuality)
    wall_time_s: float | None = None
    peak_rss_bytes: int | None = None
    prune_peak_rss_bytes: int | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    post_training: dict[str, Any] | None = None  # harness.pruning.post_training's report: target, search, fits
    created_at: str | None = None
    harness_version: str | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        super().__post_init__()
        if not self.model:
            raise RecordError("model: expected a model name, got an empty string")

    @property
    def checkpoint(self) -> str | None:
        """The local checkpoint directory the variant was made from, or None for a zoo model."""
        return self.base.checkpoint if self.base else None

    def as_quality(self) -> Quality | None:
        """What the manifest says of the pruned model's quality, as a run record's metrics.manifest_quality: the
        pruned figures, with the same manifest's dense figure beside them (the baseline of the drop)."""
        pruned = self.quality.pruned
        if pruned is None:
            return None
        details = ManifestDetails(n=pruned.n, top1_agreement=pruned.top1_agreement, accuracy=pruned.accuracy,
                                  kl_dense_pruned=pruned.kl_dense_pruned, dense=self.quality.dense)
        return Quality(accuracy=pruned.accuracy, top1_agreement=pruned.top1_agreement,
                       kl_dense_pruned=pruned.kl_dense_pruned, examples=pruned.n, source="manifest", details=details)


# -- the pruned decision tree's manifest -----------------------------------------------------------------------

@dataclass(frozen=True)
class TreeSplit(Contract):
    test_size: float | None = None
    stratified: bool | None = None
    random_state: int | None = None
    n_train: int | None = None
    n_test: int | None = None


@dataclass(frozen=True)
class TreeVariantManifest(Kinded, Versioned):
    """manifest.json of a pruned decision tree (see the module docstring for its versions)."""

    SCHEMA_VERSION = 1
    KIND = TREE_VARIANT_KIND

    model: str
    kind: str = TREE_VARIANT_KIND
    dataset: str | None = None
    task: str | None = None  # classification | regression
    metric: str | None = None  # accuracy | r2
    seed: int | None = None
    split: TreeSplit = field(default_factory=TreeSplit)
    alpha: float | None = None
    alpha_index: int | None = None
    path_length: int | None = None
    path_entries: int | None = None
    chosen: bool | None = None
    leaves: int | None = None
    depth: int | None = None
    nodes: int | None = None
    full_nodes: int | None = None
    realised_sparsity: RealisedSparsity = field(default_factory=RealisedSparsity)
    mean_decisions_per_item: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)  # {metric: test score, train_<metric>, cv_<metric>}
    method: str | None = None
    structure: str | None = None
    model_file: str | None = None
    sklearn_version: str | None = None
    created_at: str | None = None
    harness_version: str | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def checkpoint(self) -> str | None:
        return None

    def as_quality(self) -> Quality | None:
        if not self.quality:
            return None
        accuracy = self.quality.get("accuracy")
        return Quality(accuracy=accuracy, source="manifest", details=dict(self.quality))


KINDS = {cls.KIND: cls for cls in (VariantManifest, TreeVariantManifest)}


def manifest_from_json(data, path: str = "") -> VariantManifest | TreeVariantManifest:
    """The typed manifest of either kind, by its `kind` field."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in KINDS:
        where = f"{path}." if path else ""
        raise RecordError(f"{where}kind: expected one of {', '.join(map(repr, KINDS))}, got {_describe(kind)}")
    return KINDS[kind].from_json(data, path)
