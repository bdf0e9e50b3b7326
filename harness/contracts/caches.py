"""What the harness writes into its cache (HARNESS_CACHE_DIR, default .cache/) and reads back on a later run.

A cache entry that no longer reads (a version this harness does not know, a damaged file) is rebuilt, never
trusted; the contracts below say what a readable entry holds.

  ArtifactMeta      artifacts/<model>-<weights>-<shape>/meta-b{B}-s{S}.json (harness.export.artifacts)
  TreeArtifactMeta  artifacts/<tree>-<variant or dense>/meta.json (harness.export.trees)
  GemmPeaks         gemm-peak-v2-<machine id>.json: this machine's GEMM peak per precision and thread count
                    (harness.foundation.machine, measured by harness.runner.calibrate)

Version history:
  ArtifactMeta 1      flops_per_inference, flops_nonzero_per_inference, weights_bytes, params, nonzero_params.
  TreeArtifactMeta 1  tree_bytes, nodes, leaves, depth, mean_decisions_per_item.
  GemmPeaks 2         machine_id, peaks {"<precision>:<threads>": GFLOP/s}: the faster of torch (MKL) and ONNX
                      Runtime (MLAS). Version 1 (gemm-peak-<machine id>.json) timed torch alone; it is a
                      different measurement, so it is not migrated: the file name changed and the peak is
                      measured again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .codec import Versioned


@dataclass(frozen=True)
class ArtifactMeta(Versioned):
    """What the export stage counted on the model it exported (per item: batch 1)."""

    SCHEMA_VERSION = 1

    flops_per_inference: int
    flops_nonzero_per_inference: int
    weights_bytes: int
    params: int
    nonzero_params: int
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True)
class TreeArtifactMeta(Versioned):
    """A decision tree's size and shape (the facts a tree artifact carries in Artifact.extra)."""

    SCHEMA_VERSION = 1

    tree_bytes: int
    nodes: int
    leaves: int
    depth: int
    mean_decisions_per_item: float
    schema_version: int = SCHEMA_VERSION

    def facts(self) -> dict:
        """The fields without the version: Artifact.extra."""
        return {k: v for k, v in self.to_json().items() if k != "schema_version"}


@dataclass(frozen=True)
class GemmPeaks(Versioned):
    """This machine's practical GEMM peak in GFLOP/s, by "<precision>:<threads>"."""

    SCHEMA_VERSION = 2
    MIGRATIONS = {}  # version 1 measured torch alone: not read (see the module docstring)

    machine_id: str
    peaks: dict[str, float] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def with_peak(self, key: str, gflops: float) -> GemmPeaks:
        return self.replace(peaks={**self.peaks, key: gflops})
