"""The `architecture` section of a variant manifest, typed: which units of the dense model a structurally pruned
variant keeps, step by step (harness.variants.architecture replays it on a freshly built dense model).

Architecture.SCHEMA_VERSION history:
  1 - one step: {schema_version: 1, structure, layers: {group name: {units, keep}}, ...counts}
  2 - several steps in the order they were made (layers, then heads): {schema_version: 2, steps: [step, ...]},
      each step a version-1 architecture. The typed form is always version 2 (a version-1 section becomes
      one step, through Architecture.MIGRATIONS); writers still store a single step as version 1.

The section is a Versioned format inside the manifest (harness.contracts.codec): a manifest of any version
reads its architecture through these migrations, whatever version the architecture itself is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codec import Contract, RecordError, Versioned, _describe, _from_mapping

STRUCTURES = ("heads", "neurons", "channels", "layers")  # what an architecture step can remove


@dataclass(frozen=True)
class KeptUnits(Contract):
    """One group of units (a layer's heads or neurons, a block's channels, a stack's layers): how many the dense
    model has and which of them the variant keeps."""

    units: int
    keep: tuple[int, ...]
    removed_fraction: float | None = None

    def __post_init__(self):
        if self.units < 1:
            raise RecordError(f"units: expected a positive integer, got {self.units}")
        keep = list(self.keep)
        if not keep or sorted(set(keep)) != keep or not all(0 <= i < self.units for i in keep):
            raise RecordError(f"keep: expected sorted distinct indices in [0, {self.units}), got {_describe(keep)}")


@dataclass(frozen=True)
class ArchitectureStep(Contract):
    """One structural step (a version-1 architecture): the structure and, per group, the units kept."""

    structure: str
    layers: dict[str, KeptUnits]
    unit: str | None = None
    score: str | None = None
    target_sparsity: float | None = None
    realised_sparsity: float | None = None
    units_total: int | None = None
    units_removed: int | None = None
    select: str | None = None
    params_before: int | None = None
    params_after: int | None = None
    schema_version: int = 1

    def __post_init__(self):
        if self.structure not in STRUCTURES:
            raise RecordError(f"structure: unknown value {_describe(self.structure)}; valid choices: "
                              f"{', '.join(STRUCTURES)}")
        if self.schema_version != 1:
            raise RecordError(f"schema_version: a step is a version-1 architecture, got {_describe(self.schema_version)}")


def _one_step(data: dict) -> dict:
    """Version 1 -> 2: the single step becomes the first of a list."""
    return {"schema_version": 1, "steps": [data]}


@dataclass(frozen=True)
class Architecture(Versioned):
    """Which units of the dense model a structurally pruned variant keeps, step by step (version 2)."""

    SCHEMA_VERSION = 2
    MIGRATIONS = {1: _one_step}

    steps: tuple[ArchitectureStep, ...]
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        if not self.steps:
            raise RecordError("steps: expected a non-empty list of version-1 steps")

    @classmethod
    def from_json(cls, data, path: str = ""):
        if isinstance(data, dict) and data.get("schema_version") == 1:
            _from_mapping(ArchitectureStep, data, path)  # a problem of a version-1 section named where the file has it
        return super().from_json(data, path)
