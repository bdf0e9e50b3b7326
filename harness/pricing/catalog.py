"""Instance catalog: what an instance type is (vCPUs, physical cores, memory, CPU, GPUs).

The data lives in data/instances.json (schema_version 1: name, vcpu, physical_cores, memory_gib,
architecture, cpu_family, gpu_model, gpu_count, gpu_memory_gib, notes). Add a type there to use it.
"""

from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from harness.foundation.errors import ConfigError

CATALOG_PATH = Path(__file__).resolve().parent / "data" / "instances.json"
CATALOG_SCHEMA_VERSION = 1
ARCHITECTURES = ("x86_64", "arm64")


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpu: int
    physical_cores: int
    memory_gib: float
    architecture: str
    cpu_family: str
    gpu_model: str | None = None
    gpu_count: int = 0
    gpu_memory_gib: float | None = None
    notes: str | None = None

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"{self.name}: architecture {self.architecture!r}; valid choices: {', '.join(ARCHITECTURES)}")
        if not (0 < self.physical_cores <= self.vcpu):
            raise ConfigError(f"{self.name}: physical_cores {self.physical_cores} must be in 1..vcpu ({self.vcpu})")
        if (self.gpu_model is None) != (self.gpu_count == 0):
            raise ConfigError(f"{self.name}: gpu_model {self.gpu_model!r} and gpu_count {self.gpu_count} disagree")

    @property
    def is_gpu(self) -> bool:
        return self.gpu_count > 0

    def describe(self) -> str:
        """Short hardware label for reports: '2 vCPU (2 cores)' or '1x NVIDIA T4 16 GB'."""
        if self.is_gpu:
            return f"{self.gpu_count}x NVIDIA {self.gpu_model} {self.gpu_memory_gib:g} GB"
        return f"{self.vcpu} vCPU ({self.physical_cores} cores)"


@functools.lru_cache(maxsize=1)
def _catalog() -> dict[str, InstanceType]:
    data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    if data.get("schema_version") != CATALOG_SCHEMA_VERSION:
        raise ConfigError(f"{CATALOG_PATH.name}: schema_version {data.get('schema_version')!r}; valid choices: 1")
    return {row["name"]: InstanceType(**row) for row in data["instances"]}


def all_instances() -> tuple[InstanceType, ...]:
    return tuple(_catalog().values())


def names() -> tuple[str, ...]:
    return tuple(_catalog())


def get(name: str) -> InstanceType | None:
    """The catalog entry, or None for a type the catalog does not know (for data read from records)."""
    return _catalog().get(name)


def close_matches(name: str, n: int = 5) -> list[str]:
    known = list(_catalog())
    close = difflib.get_close_matches(str(name), known, n=n, cutoff=0.6)
    if not close:  # same family first, then same size: c9z.large -> c7a.large, c6i.large...
        family, _, size = str(name).partition(".")
        close = [k for k in known if k.split(".")[0] == family] or [k for k in known if k.split(".")[-1] == size]
    return close[:n] or known[:n]


def lookup(name: str) -> InstanceType:
    """The catalog entry for a user-given type; an unknown one is an error naming close valid choices."""
    entry = get(name)
    if entry is None:
        raise ConfigError(f"unknown instance type {name!r}; close valid choices: {', '.join(close_matches(name))}")
    return entry


def parse_instance_list(text: str | None, field_name: str = "--instances") -> tuple[str, ...]:
    """'a,b,c' -> ('a', 'b', 'c'), every name checked against the catalog."""
    if not text:
        return ()
    items = [s.strip() for s in str(text).split(",") if s.strip()]
    for item in items:
        if get(item) is None:
            raise ConfigError(f"{field_name}: unknown instance type {item!r}; close valid choices: {', '.join(close_matches(item))}")
    return tuple(dict.fromkeys(items))
