"""The run record (one line of results/runs/*.jsonl) and the migrations that read its older versions.

SCHEMA_VERSION history is in the docstring of harness/contracts/__init__.py. Within version 2, records
gained the optional metrics.loadgen (server and offline scenarios under MLPerf LoadGen) and stopped writing
metrics.server and settings.server_requests/server_steps (the Poisson loop LoadGen replaced); records
without metrics.loadgen read it as null, and old records keep metrics.server. The two retired settings
(RETIRED_SETTINGS) are not part of Settings any more: a version-1 record's are dropped by its migration, a
version-2 record's are ignored on reading (the line on disk keeps them, and its config_hash stays as written).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .codec import Contract, RecordError, Versioned, _describe, _settle
from .config import BenchConfig
from .engine import EngineDetails, KernelEvidence
from .quality import Quality
from .worker import STATUSES, LoadgenResult, Parity, Phases, Quantization, ServerResult

SCHEMA_VERSION = 3


@dataclass(frozen=True)
class RecordConfig(BenchConfig):
    """The requested configuration plus what the variant it ran says about itself."""

    variant_id: str | None = None
    variant_name: str | None = None
    sparsity: float | None = None
    method: str | None = None
    structure: str | None = None

    @property
    def bench_config(self) -> BenchConfig:
        names = {f.name for f in dataclasses.fields(BenchConfig)}
        return BenchConfig(**{n: getattr(self, n) for n in names})


@dataclass(frozen=True)
class Effective(Contract):
    precision: str | None = None
    threads: int | None = None
    cpus: tuple[int, ...] | None = None
    cpus_observed: tuple[int, ...] | None = None
    kernel: str | None = None
    kernel_evidence: KernelEvidence | dict[str, Any] | None = None  # harness.contracts.engine
    engine: EngineDetails | dict[str, Any] | None = None
    backend_version: str | None = None
    device: str = "cpu"
    load_s: float | None = None
    warmup_iters: int | None = None
    stop_reason: str | None = None
    quantization: Quantization | None = None  # int8: how the model was quantized (the export stage's chain)

    def __post_init__(self):
        _settle(self, "kernel_evidence", "engine")


@dataclass(frozen=True)
class LatencyStats(Contract):
    """Percentiles with distribution-free 95% intervals; a percentile the sample count cannot support is
    None and named in `unsupported`."""

    n: int
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    ci95: dict[str, tuple[float, ...] | None] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()

    def percentile(self, name: str) -> float | None:
        """p50/p90/p99, or None when unsupported."""
        return None if name in self.unsupported else getattr(self, name)

    def interval(self, name: str) -> tuple[float, float] | None:
        ci = self.ci95.get(name)
        return (ci[0], ci[1]) if ci and len(ci) == 2 else None


@dataclass(frozen=True)
class Metrics(Contract):
    latency_ms: LatencyStats | None = None
    throughput_per_s: float | None = None
    gflops_per_s: float | None = None
    roofline_fraction: float | None = None
    peak_rss_bytes: int | None = None
    artifact_bytes: int | None = None
    flops_per_inference: int | None = None
    flops_nonzero_per_inference: int | None = None
    parity: Parity | None = None
    quality: Quality | None = None  # measured on the engine that was timed
    manifest_quality: Quality | None = None  # copied from the variant's manifest (measured when it was made)
    loadgen: LoadgenResult | None = None  # server and offline scenarios: the MLPerf LoadGen runs
    server: ServerResult | None = None  # legacy (records before LoadGen): read, never written


@dataclass(frozen=True)
class Machine(Contract):
    """Who measured: the fingerprint of the machine (harness.foundation.machine) and its declared instance type.

    `id_scheme` says what `id` hashes: 2 (cpu_stepping recorded too) the CPU's vendor, model name, family, model,
    stepping and ISA flags with the cores, RAM and architecture; 1 (records written before, the field absent)
    the model name, cores, RAM, architecture and host name. Ids of the two schemes never match, so a history
    never mixes them."""

    id: str = "unknown"
    cpu_model: str | None = None
    cpu_vendor: str | None = None
    cpu_family_model: str | None = None
    cpu_stepping: str | None = None
    architecture: str | None = None
    physical_cores: int | None = None
    logical_cpus: int | None = None
    usable_cpus: tuple[int, ...] | None = None
    isa_flags: tuple[str, ...] = ()
    ram_bytes: int | None = None
    os: str | None = None
    python: str | None = None
    libraries: dict[str, str] = field(default_factory=dict)
    hostname_hash: str | None = None
    instance_type: str | None = None
    instance_type_source: str | None = None  # "declared" | "detected" | None
    gemm_peak_gflops: float | None = None
    id_scheme: int = 1


@dataclass(frozen=True)
class RunRecord(Versioned):
    """One configuration run: one line of results/runs/*.jsonl (docs/records.md); from_json reads every
    version in READABLE_VERSIONS, older ones through MIGRATIONS."""

    SCHEMA_VERSION = SCHEMA_VERSION

    record_id: str
    status: str
    config: RecordConfig
    config_hash: str
    reason: str | None = None
    effective: Effective = field(default_factory=Effective)
    metrics: Metrics = field(default_factory=Metrics)
    samples_ms: tuple[float, ...] = ()
    machine: Machine = field(default_factory=Machine)
    created_at: str | None = None
    git_commit: str | None = None
    harness_version: str | None = None
    stderr_tail: str | None = None
    phases: Phases | None = None  # where the configuration's wall time went
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        if self.status not in STATUSES:
            raise RecordError(f"status: unknown value {_describe(self.status)}; valid: {', '.join(STATUSES)}")

    @staticmethod
    def peek_id(data) -> str | None:
        """The record_id of a stored document of any version (also newer ones), or None: what moving lines
        between stores needs without interpreting them."""
        rid = data.get("record_id") if isinstance(data, dict) else None
        return rid if isinstance(rid, str) and rid else None

    # -- what readers ask of a record -------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def variant_label(self) -> str:
        """"dense", or the variant directory's name."""
        if not self.config.variant:
            return "dense"
        return self.config.variant_name or self.config.variant.rstrip("/").rsplit("/", 1)[-1] or self.config.variant

    @property
    def latency(self) -> LatencyStats:
        return self.metrics.latency_ms or LatencyStats(n=0)

    @property
    def precision(self) -> str:
        return self.effective.precision or self.config.precision

    @property
    def threads(self) -> int:
        return self.effective.threads or self.config.threads

    @property
    def kernel(self) -> str:
        return self.effective.kernel or self.config.kernel

    @property
    def device(self) -> str:
        """"gpu" for CUDA devices, else "cpu"."""
        return "gpu" if str(self.effective.device or "cpu").startswith("cuda") else "cpu"

    @property
    def instance_type(self) -> str | None:
        return self.machine.instance_type

    @property
    def quality(self) -> Quality | None:
        """Quality measured on the engine, else the variant manifest's."""
        return self.metrics.quality or self.metrics.manifest_quality


# ----------------------------------------------------------------------------------------------------------------
# migrations: MIGRATIONS[v] turns a version-v document into a version-(v+1) document

# engine knobs that schema version 1 kept in config.settings, by the backend that reads them
_V1_BACKEND_KNOBS = {
    "onnxruntime": ("spinning",),
    "openvino": ("streams", "openvino_sparse_rate"),
    "torch": ("sparse_threshold",),
}
_V1_KNOB_DEFAULTS = {"spinning": True, "streams": 1, "openvino_sparse_rate": None, "sparse_threshold": None}
RETIRED_SETTINGS = ("server_requests", "server_steps")  # the hand-written Poisson server loop's, before LoadGen


def _update_to_2(data: dict) -> dict:
    data = dict(data)
    config = data.get("config")
    if isinstance(config, dict):
        config = dict(config)
        settings = config.get("settings")
        if isinstance(settings, dict):
            settings = dict(settings)
            own = _V1_BACKEND_KNOBS.get(config.get("backend"), ())
            knobs = {k: settings.pop(k) for k in list(settings) if k in _V1_KNOB_DEFAULTS}
            for retired in RETIRED_SETTINGS:
                settings.pop(retired, None)
            config["backend_settings"] = {k: v for k, v in knobs.items() if k in own and v != _V1_KNOB_DEFAULTS[k]}
            config["settings"] = settings
        data["config"] = config
    metrics = data.get("metrics")
    if isinstance(metrics, dict) and isinstance(metrics.get("quality"), dict):
        metrics = dict(metrics)
        old = metrics.pop("quality")
        quality = {k: old[k] for k in ("accuracy", "top1_agreement", "kl_dense_pruned") if k in old}
        if isinstance(old.get("n"), int) and not isinstance(old.get("n"), bool):
            quality["examples"] = old["n"]
        metrics["manifest_quality"] = {**quality, "source": "manifest", "details": old}
        data["metrics"] = metrics
    data["schema_version"] = 2
    return data


def _update_to_3(data: dict) -> dict:
    """effective.quantization (and the engine report's copy of it) becomes a typed record: fp32_nodes is renamed
    fp32_layers."""

    def renamed(q):
        if not isinstance(q, dict) or "fp32_nodes" not in q:
            return q
        q = dict(q)
        q["fp32_layers"] = q.pop("fp32_nodes")
        return q

    data = dict(data)
    effective = data.get("effective")
    if isinstance(effective, dict):
        effective = dict(effective, quantization=renamed(effective.get("quantization")))
        if isinstance(effective.get("engine"), dict) and "quantization" in effective["engine"]:
            effective["engine"] = dict(effective["engine"], quantization=renamed(effective["engine"]["quantization"]))
        data["effective"] = effective
    return data


MIGRATIONS = {1: _update_to_2, 2: _update_to_3}
RunRecord.MIGRATIONS = MIGRATIONS
READABLE_VERSIONS = RunRecord.readable_versions()
