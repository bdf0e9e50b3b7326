"""What a cost analysis knows about hardware besides prices: instance types and published GPU figures.

`load_catalog(models, architectures, hardware)` reads the bundled instance catalogue (with hardware facts a price
refresh read replacing the bundled ones) and the GPU figures of the given models and of their families once;
`analyze` receives the resulting CostCatalog and looks things up in it without touching a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from harness.pricing.catalog import InstanceType, all_instances, matching_instance, unknown_type
from harness.pricing.gpu_reference import GpuFamily, ReferencePoint, derive, families, family_of, published_points


@dataclass(frozen=True)
class FamilyLink:
    """The family whose published GPU figures stand for a model, and how the model was matched to it."""

    family: GpuFamily
    how: str  # "reference model" | "architecture bert" | "model name"


@dataclass(frozen=True)
class CostCatalog:
    """Instance types (catalogue order), published GPU points per (model, GPU model), and each loaded model's family."""

    instances: tuple[InstanceType, ...]
    gpu_points: Mapping[tuple[str, str], tuple[ReferencePoint, ...]] = field(default_factory=dict)
    models: frozenset[str] = frozenset()  # the models whose GPU figures were loaded
    families: Mapping[str, FamilyLink] = field(default_factory=dict)

    def get(self, name: str) -> InstanceType | None:
        """The entry for a type read from a record, or None when the catalog does not know it."""
        return next((i for i in self.instances if i.name == name), None)

    def lookup(self, name: str, field_name: str | None = None) -> InstanceType:
        """The entry for a user-given type; an unknown one is an error naming close valid choices."""
        entry = self.get(name)
        if entry is None:
            raise unknown_type(name, [i.name for i in self.instances], field_name)
        return entry

    def gpu_instances(self) -> tuple[InstanceType, ...]:
        return tuple(i for i in self.instances if i.is_gpu)

    def matching(self, machine) -> InstanceType | None:
        """The CPU type matching a record's Machine (vendor, ISA, logical CPUs), or None."""
        return matching_instance(self.instances, architecture=machine.architecture, vendor_id=machine.cpu_vendor,
                                 flags=machine.isa_flags, logical_cpus=machine.logical_cpus)

    def gpu_figures(self, model: str, gpu_model: str, seq_len: int | None,
                    gflop: float | None) -> tuple[list[ReferencePoint], str | None]:
        """(points for `model` at seq_len on one GPU of `gpu_model`: published ones, else derived by GFLOPs from its
        family's, and a one-line reason when the model can have none)."""
        if model not in self.models:
            raise ValueError(f"GPU figures for model {model!r} were not loaded; pass it to load_catalog()")
        own = [p for p in self.gpu_points.get((model, gpu_model), ())
               if seq_len is None or p.seq_len is None or p.seq_len == seq_len]
        if own:
            return own, None
        link = self.families.get(model)
        if link is None:
            known = "; ".join(f"{f.reference_model} ({', '.join(f.names)})" for f in families())
            return [], (f"{model}: no GPU figure: no published figure for it and no family to scale one from "
                        f"(families with published figures: {known})")
        base = self.gpu_points.get((link.family.reference_model, gpu_model), ())
        if not base:
            return [], None  # no figure for this GPU in the family: nothing to say per model
        if not gflop:
            return [], (f"{model}: no GPU figure: its records at sequence length {seq_len} carry no FLOP count to "
                        f"scale the {link.family.reference_model} figures by")
        return derive(base, link.family, model, seq_len, gflop), None


def load_catalog(models: Iterable[str] = (), architectures: Mapping[str, str] | None = None,
                 hardware=()) -> CostCatalog:
    """The instance catalogue (hardware: formats.HardwareRow facts replacing the bundled ones) and the published GPU
    points of `models` and their families; architectures: {model: checkpoint config model_type} where known."""
    instances = all_instances(hardware)
    wanted = frozenset(models)
    links = {}
    for m in wanted:
        found = family_of(m, (architectures or {}).get(m))
        if found:
            links[m] = FamilyLink(*found)
    gpu_models = sorted({i.gpu_model for i in instances if i.is_gpu})
    needed = wanted | {link.family.reference_model for link in links.values()}
    points = {(m, g): tuple(published_points(m, g)) for m in needed for g in gpu_models}
    return CostCatalog(instances=instances, gpu_points={k: v for k, v in points.items() if v}, models=wanted,
                       families=links)

