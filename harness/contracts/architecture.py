"""The `architecture` section of a variant manifest, typed: which units of the dense model a structurally pruned
variant keeps, step by step (harness.variants.architecture replays it on a freshly built dense model).

ARCHITECTURE_SCHEMA_VERSION history:
  1 - one step: {schema_version: 1, structure, layers: {group name: {units, keep}}, ...counts}
  2 - several steps in the order they were made (layers, then heads): {schema_version: 2, steps: [step, ...]},
      each step a version-1 architecture. The typed form is always version 2 (a version-1 section becomes
      one step, through ARCHITECTURE_MIGRATIONS); writers still store a single step as version 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codec import Contract, RecordError, _describe, _from_mapping, check_version, migrate

ARCHITECTURE_SCHEMA_VERSION = 2
READABLE_ARCHITECTURE_VERSIONS = (1, 2)
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


def _architecture_1_to_2(data: dict) -> dict:
    return {"schema_version": 2, "steps": [data]}


ARCHITECTURE_MIGRATIONS = {1: _architecture_1_to_2}


@dataclass(frozen=True)
class Architecture(Contract):
    """Which units of the dense model a structurally pruned variant keeps, step by step (version 2)."""

    steps: tuple[ArchitectureStep, ...]
    schema_version: int = ARCHITECTURE_SCHEMA_VERSION

    def __post_init__(self):
        if not self.steps:
            raise RecordError("steps: expected a non-empty list of version-1 steps")

    @classmethod
    def from_json(cls, data, path: str = "architecture"):
        if not isinstance(data, dict):
            raise RecordError(f"{path}: expected a mapping, got {_describe(data)}")
        version = check_version(data, f"{path}.", ARCHITECTURE_SCHEMA_VERSION, READABLE_ARCHITECTURE_VERSIONS, "architecture")
        if version == 1:
            _from_mapping(ArchitectureStep, data, path)  # a problem names the field where the file has it
        data = migrate(dict(data), version, ARCHITECTURE_SCHEMA_VERSION, ARCHITECTURE_MIGRATIONS)
        return _from_mapping(cls, data, path)
