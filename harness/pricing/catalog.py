"""Instance catalogue: what an instance type is (vCPUs, physical cores, memory, CPU model, ISA, GPUs).

The data lives in data/instances.json. CATALOG_SCHEMA_VERSION history:
  1 - instances with name, vcpu, physical_cores, memory_gib, architecture, cpu_family, gpu_model, gpu_count,
      gpu_memory_gib, notes.
  2 - `families`: per instance family (c7a, g5, ...) the CPU (family, model), its ISA classes (ISA_CLASSES) and the
      AWS page they were read from; `instances`: the hardware facts of EC2 DescribeInstanceTypes
      (formats.HardwareRow), taken from the copy moto ships (moto/ec2/resources/instance_types.json.gz).
      The bundled file is code, read by this version only.
Hardware facts a `prices refresh` read later (a snapshot's `hardware`) replace the bundled ones per type
(`with_hardware`). Graviton types are arm64: their rows are projections, never measured on x86.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.foundation.errors import ConfigError

from .formats import HardwareRow

CATALOG_PATH = Path(__file__).resolve().parent / "data" / "instances.json"
CATALOG_SCHEMA_VERSION = 2
ARCHITECTURES = ("x86_64", "arm64")
# ISA classes that change inference speed, and the Linux /proc/cpuinfo flags (harness.foundation.machine) that show them
ISA_CLASSES = ("avx2", "avx512", "vnni", "amx", "bf16", "neon", "sve")
_FLAG_CLASSES = {"avx2": "avx2", "avx512f": "avx512", "avx512_vnni": "vnni", "avx_vnni": "vnni", "amx_tile": "amx",
                 "amx_int8": "amx", "amx_bf16": "amx", "avx512_bf16": "bf16", "asimd": "neon", "neon": "neon",
                 "sve": "sve"}
# the classes compared between a measuring CPU and a priced instance (avx2 and neon come with the architecture;
# Linux shows no bf16 flag for Arm cores in the fingerprint, so arm64 compares SVE only)
COMPARED_ISA = {"x86_64": ("avx512", "vnni", "amx", "bf16"), "arm64": ("sve",)}
_VENDORS = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel"}
# the facts an InstanceType takes from a HardwareRow (the bundled catalogue's, or newer ones a price refresh read)
HARDWARE_FACTS = ("vcpu", "physical_cores", "memory_gib", "architecture", "gpu_model", "gpu_count", "gpu_memory_gib")


def isa_classes(flags: Iterable[str]) -> tuple[str, ...]:
    """Linux CPU flags (avx512f, avx512_vnni, amx_tile, ...) as ISA classes, in ISA_CLASSES order (class names given
    already, as a cost row keeps them, stay as they are)."""
    found = {c for f in flags for c in (_FLAG_CLASSES.get(f), f if f in ISA_CLASSES else None) if c}
    return tuple(c for c in ISA_CLASSES if c in found)


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
    cpu_model: str | None = None
    isa: tuple[str, ...] = ()  # ISA_CLASSES of the CPU
    vendor: str | None = None  # "AMD" | "Intel" | "AWS"
    source: str | None = None  # where the CPU model and ISA were read

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"{self.name}: architecture {self.architecture!r}; valid choices: {', '.join(ARCHITECTURES)}")
        if not (0 < self.physical_cores <= self.vcpu):
            raise ConfigError(f"{self.name}: physical_cores {self.physical_cores} must be in 1..vcpu ({self.vcpu})")
        if (self.gpu_model is None) != (self.gpu_count == 0):
            raise ConfigError(f"{self.name}: gpu_model {self.gpu_model!r} and gpu_count {self.gpu_count} disagree")
        unknown = [c for c in self.isa if c not in ISA_CLASSES]
        if unknown:
            raise ConfigError(f"{self.name}: ISA class {unknown[0]!r}; valid choices: {', '.join(ISA_CLASSES)}")

    @property
    def is_gpu(self) -> bool:
        return self.gpu_count > 0

    @property
    def family(self) -> str:
        return self.name.split(".")[0]

    def describe(self) -> str:
        """Short hardware label for reports: '2 vCPU (2 cores)' or '1x NVIDIA T4 16 GiB'."""
        if self.is_gpu:
            memory = f" {self.gpu_memory_gib:.0f} GiB" if self.gpu_memory_gib else ""
            return f"{self.gpu_count}x NVIDIA {self.gpu_model}{memory}"
        return f"{self.vcpu} vCPU ({self.physical_cores} cores)"

    def isa_label(self) -> str:
        """'AMD EPYC 9R14: avx2 avx512 vnni bf16' (arm64 types say so)."""
        arch = "arm64, " if self.architecture == "arm64" else ""
        return f"{self.cpu_model or self.cpu_family}: {arch}{' '.join(self.isa) or 'ISA not recorded'}"

    def with_hardware(self, row: HardwareRow) -> "InstanceType":
        """This type with newer DescribeInstanceTypes facts (the CPU model and ISA stay the family's)."""
        return dataclasses.replace(self, **_facts(row))


def _facts(row: HardwareRow) -> dict:
    return {k: getattr(row, k) for k in HARDWARE_FACTS}


def _entry(row: HardwareRow, family: dict) -> InstanceType:
    return InstanceType(name=row.instance, **_facts(row), cpu_family=family["cpu_family"], notes=family.get("notes"),
                        cpu_model=family.get("cpu_model"), isa=tuple(family.get("isa") or ()),
                        vendor=family.get("vendor"), source=family.get("source"))


@functools.lru_cache(maxsize=1)
def _catalog() -> dict[str, InstanceType]:
    data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    if data.get("schema_version") != CATALOG_SCHEMA_VERSION:
        raise ConfigError(f"{CATALOG_PATH.name}: schema_version {data.get('schema_version')!r}; valid choices: "
                          f"{CATALOG_SCHEMA_VERSION}")
    families = data["families"]
    out = {}
    for raw in data["instances"]:
        row = HardwareRow.from_json(raw)
        out[row.instance] = _entry(row, families[row.instance.split(".")[0]])
    return out


def all_instances(hardware: Iterable[HardwareRow] = ()) -> tuple[InstanceType, ...]:
    """The catalogue, with the given hardware facts (a price book's, from `prices refresh`) replacing bundled ones."""
    newer = {h.instance: h for h in hardware}
    return tuple(e.with_hardware(newer[e.name]) if e.name in newer else e for e in _catalog().values())


def names() -> tuple[str, ...]:
    return tuple(_catalog())


def get(name: str) -> InstanceType | None:
    """The catalog entry, or None for a type the catalog does not know (for data read from records)."""
    return _catalog().get(name)


def close_matches(name: str, known: Iterable[str] | None = None, n: int = 5) -> list[str]:
    """Up to n known names close to `name`: spelling first, then the same family, then the same size."""
    known = list(_catalog() if known is None else known)
    close = difflib.get_close_matches(str(name), known, n=n, cutoff=0.6)
    if not close:  # same family first, then same size: c9z.large -> c7a.large, c6i.large...
        family, _, size = str(name).partition(".")
        close = [k for k in known if k.split(".")[0] == family] or [k for k in known if k.split(".")[-1] == size]
    return close[:n] or known[:n]


def unknown_type(name: str, known: Iterable[str] | None = None, field_name: str | None = None) -> ConfigError:
    """The one-line error for an instance type the catalogue does not hold."""
    prefix = f"{field_name}: " if field_name else ""
    return ConfigError(f"{prefix}unknown instance type {str(name)[:60]!r}; close valid choices: "
                       f"{', '.join(close_matches(name, known))}")


def lookup(name: str) -> InstanceType:
    """The catalog entry for a user-given type; an unknown one is an error naming close valid choices."""
    entry = get(name)
    if entry is None:
        raise unknown_type(name)
    return entry


def parse_instance_list(text: str | None, field_name: str = "--instances") -> tuple[str, ...]:
    """'a,b,c' -> ('a', 'b', 'c'), every name checked against the catalog."""
    if not text:
        return ()
    items = [s.strip() for s in str(text).split(",") if s.strip()]
    for item in items:
        if get(item) is None:
            raise unknown_type(item, field_name=field_name)
    return tuple(dict.fromkeys(items))


def cpu_vendor(vendor_id: str | None, architecture: str | None) -> str | None:
    """'AMD' | 'Intel' from /proc/cpuinfo's vendor_id; arm64 machines here are AWS Graviton."""
    if architecture in ("arm64", "aarch64"):
        return "AWS"
    return _VENDORS.get(vendor_id or "")


def isa_mismatch(instance: InstanceType, architecture: str | None, flags: Iterable[str]) -> bool | None:
    """True when a CPU (its architecture and Linux flags) differs from the instance's CPU in an ISA class that changes
    inference speed (COMPARED_ISA, or the architecture); None when the flags were not recorded."""
    flags = tuple(flags)
    if not flags or instance.is_gpu or not instance.isa:
        return None
    arch = "arm64" if architecture in ("arm64", "aarch64") else architecture
    compared = COMPARED_ISA[instance.architecture]
    measured = {c for c in isa_classes(flags) if c in compared}
    return arch != instance.architecture or measured != {c for c in instance.isa if c in compared}


def matching_instance(instances: Iterable[InstanceType], *, architecture: str | None, vendor_id: str | None,
                      flags: Iterable[str], logical_cpus: int | None) -> InstanceType | None:
    """The catalogue's CPU type closest to a machine: same vendor and ISA classes, vCPUs nearest its logical CPUs
    (at least as many), compute-optimised (c) before general purpose (m) before memory-optimised (r)."""
    flags = tuple(flags)
    vendor = cpu_vendor(vendor_id, architecture)
    pool = [i for i in instances if not i.is_gpu and i.isa and not isa_mismatch(i, architecture, flags)
            and (vendor is None or i.vendor == vendor) and i.family[0] in "cmr" and i.family[-1] in "aig"]
    if not flags or not pool:
        return None
    want = logical_cpus or 1
    return min(pool, key=lambda i: (i.vcpu < want, abs(i.vcpu - want), "cmr".index(i.family[0]), i.name))
