"""What a cost analysis knows about hardware besides prices: instance types and published GPU figures.

`load_catalog(models)` reads the bundled instance catalog and the GPU reference points of the given
models once; `analyze` receives the resulting CostCatalog and looks things up in it without touching a file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from harness.foundation.errors import ConfigError
from harness.pricing.catalog import InstanceType
from harness.pricing.gpu_reference import ReferencePoint


@dataclass(frozen=True)
class CostCatalog:
    """Instance types (catalog order) and, per (model, GPU model), the published reference points."""

    instances: tuple[InstanceType, ...]
    gpu_points: Mapping[tuple[str, str], tuple[ReferencePoint, ...]] = field(default_factory=dict)
    models: frozenset[str] = frozenset()  # the models whose reference points were loaded

    def get(self, name: str) -> InstanceType | None:
        """The entry for a type read from a record, or None when the catalog does not know it."""
        return next((i for i in self.instances if i.name == name), None)

    def lookup(self, name: str) -> InstanceType:
        """The entry for a user-given type; an unknown one is an error naming close valid choices."""
        entry = self.get(name)
        if entry is None:
            raise ConfigError(f"unknown instance type {name!r}; close valid choices: {', '.join(self.close_matches(name))}")
        return entry

    def close_matches(self, name: str, n: int = 5) -> list[str]:
        known = [i.name for i in self.instances]
        close = difflib.get_close_matches(str(name), known, n=n, cutoff=0.6)
        if not close:  # same family first, then same size: c9z.large -> c7a.large, c6i.large...
            family, _, size = str(name).partition(".")
            close = [k for k in known if k.split(".")[0] == family] or [k for k in known if k.split(".")[-1] == size]
        return close[:n] or known[:n]

    def gpu_instances(self) -> tuple[InstanceType, ...]:
        return tuple(i for i in self.instances if i.is_gpu)

    def reference_points(self, model: str, gpu_model: str) -> tuple[ReferencePoint, ...]:
        """Published points for `model` on one GPU of catalog model `gpu_model`; the model must have been loaded."""
        if model not in self.models:
            raise ValueError(f"GPU reference points for model {model!r} were not loaded; pass it to load_catalog()")
        return self.gpu_points.get((model, gpu_model), ())


def load_catalog(models: Iterable[str] = ()) -> CostCatalog:
    """Read the bundled instance catalog and the GPU reference points of `models` (files, read once per process)."""
    from harness.pricing.catalog import all_instances
    from harness.pricing.gpu_reference import reference_points

    instances = all_instances()
    wanted = frozenset(models)
    gpu_models = sorted({i.gpu_model for i in instances if i.is_gpu})
    points = {(m, g): tuple(reference_points(m, g)) for m in wanted for g in gpu_models}
    return CostCatalog(instances=instances, gpu_points={k: v for k, v in points.items() if v}, models=wanted)
