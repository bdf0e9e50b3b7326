"""Typed contracts: the frozen records that cross process and module boundaries.

Standard library only. The parent, every worker (the DeepSparse worker runs another interpreter with
numpy<2) and every reader of results import this module and nothing heavier to speak the same language:

  BenchConfig   one configuration to measure (what the user asked for) + Settings (how long, how hard)
  Artifact      what the export stage prepared for a worker (ONNX file, inputs, reference, sizes)
  WorkerJob     one JSON document in (config + artifact + backend entry point)
  WorkerResult  one JSON document out (raw samples + what the engine really used)
  RunRecord     one line of results/runs/*.jsonl, made of RecordConfig, Effective, Metrics (LatencyStats,
                Parity, Quality, ...), Machine

Every class has to_json() and from_json(); records also read every older schema version through the
explicit migrations in MIGRATIONS (as pyperf's _json_load and asv's update_to_N do). A value of the wrong
shape is a RecordError naming the field path, never an AttributeError in a reader far away.

SCHEMA_VERSION history (RunRecord JSON lines):
  1 - first version: config (with measurement and engine knobs in one settings mapping), effective,
      metrics (quality copied from the variant manifest), samples_ms, machine, created_at, git_commit.
  2 - engine knobs move from config.settings to config.backend_settings (only the knobs the backend
      declares); manifest quality moves from metrics.quality to metrics.manifest_quality, and
      metrics.quality holds only quality measured on the engine that was timed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)

PRECISIONS = ("fp32", "bf16")
KERNELS = ("dense", "sparse")
SCENARIOS = ("single-stream", "offline", "server")
STATUSES = ("ok", "error", "timeout", "oom", "parity_failed", "unsupported", "skipped")


class RecordError(ValueError):
    """A JSON document that does not have the shape of the contract; the message names the field path."""


# ----------------------------------------------------------------------------------------------------------------
# decoding: one generic, typed reader for every contract class


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _decode(tp, value, path: str):
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise RecordError(f"{path}: expected a value, got null")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _decode(arg, value, path)
            except RecordError as exc:
                errors.append(exc)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        return _from_mapping(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise RecordError(f"{path}: expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise RecordError(f"{path}: expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise RecordError(f"{path}: expected a number, got {_describe(value)}")
        return value  # 4 stays 4: identities hash the JSON text, as schema version 1 did
    if tp is str:
        if not isinstance(value, str):
            raise RecordError(f"{path}: expected a string, got {_describe(value)}")
        return value
    if origin is tuple or tp is tuple:
        if not isinstance(value, (list, tuple)):
            raise RecordError(f"{path}: expected a list, got {_describe(value)}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return tuple(_decode(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{path}: expected a mapping, got {_describe(value)}")
        args = typing.get_args(tp)
        item = args[1] if args else Any
        return {str(k): _decode(item, v, f"{path}.{k}") for k, v in value.items()}
    raise TypeError(f"contracts: no decoder for {tp!r}")  # a programming error, not bad data


@typing.no_type_check
def _from_mapping(cls, data, path: str):
    if not isinstance(data, dict):
        raise RecordError(f"{path}: expected a mapping, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in data:
            kwargs[f.name] = _decode(hints[f.name], data[f.name], f"{path}.{f.name}" if path else f.name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecordError(f"{path or cls.__name__}: missing field {f.name!r}")
    try:
        return cls(**kwargs)
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}" if path else str(exc)) from None


def _encode(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no inf or nan; a statistic that is not finite is stored as null
    return value


class Contract:
    """Mixin: to_json() gives plain JSON types; from_json() checks every field's type on the way in."""

    def to_json(self) -> dict:
        return _encode(self)

    @classmethod
    def from_json(cls, data, path: str = ""):
        return _from_mapping(cls, data, path)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def _positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RecordError(f"{name}: expected a positive integer, got {_describe(value)}")


def _finite(name: str, value, *, minimum: float = 0.0, allow_equal: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= minimum if allow_equal else value > minimum)
    if not ok:
        bound = f">= {minimum:g}" if allow_equal else f"> {minimum:g}"
        raise RecordError(f"{name}: expected a finite number {bound}, got {_describe(value)}")


# ----------------------------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class Settings(Contract):
    """How long and how hard to measure one configuration (engine knobs live in each backend's settings)."""

    warmup_iters: int = 5
    warmup_s: float = 1.0
    min_iters: int = 30
    min_duration_s: float = 5.0
    max_iters: int = 100_000
    max_duration_s: float = 120.0
    timeout_s: float = 900.0
    memory_limit_mb: int | None = None
    pinning: bool = True  # pin worker threads to CPUs
    sla_ms: float | None = None  # server scenario: the p99 latency bound
    server_requests: int = 300  # server scenario: requests per arrival-rate trial
    server_steps: int = 6  # server scenario: bisection steps over the arrival rate

    def __post_init__(self):
        for name in ("warmup_iters", "min_iters", "max_iters", "server_requests", "server_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RecordError(f"settings.{name}: expected an integer >= 0, got {_describe(value)}")
        for name in ("warmup_s", "min_duration_s", "max_duration_s"):
            _finite(f"settings.{name}", getattr(self, name))
        _finite("settings.timeout_s", self.timeout_s, allow_equal=False)
        if self.min_iters > self.max_iters:
            raise RecordError(f"settings.min_iters ({self.min_iters}) exceeds max_iters ({self.max_iters})")
        if self.memory_limit_mb is not None:
            _positive_int("settings.memory_limit_mb", self.memory_limit_mb)
        if self.sla_ms is not None:
            _finite("settings.sla_ms", self.sla_ms, allow_equal=False)


@dataclass(frozen=True)
class BenchConfig(Contract):
    """One configuration to measure: what the user asked for, before any engine interprets it.

    Names (model, backend) are checked against the registries by the configuration layer
    (harness.config); this class checks what it can alone: choices, types and ranges.
    """

    model: str
    backend: str
    batch_size: int = 1
    seq_len: int = 128  # sequence length for text models, image side for image models, features for trees
    threads: int = 1
    precision: str = "fp32"
    kernel: str = "dense"
    variant: str | None = None  # variant directory, None = dense
    checkpoint: str | None = None  # local Hugging Face checkpoint directory, None = seeded random weights
    scenario: str = "single-stream"
    instance_type: str | None = None
    settings: Settings = field(default_factory=Settings)
    backend_settings: dict[str, Any] = field(default_factory=dict)  # the backend's own knobs (non-default only)

    def __post_init__(self):
        for name, valid in (("precision", PRECISIONS), ("kernel", KERNELS), ("scenario", SCENARIOS)):
            if getattr(self, name) not in valid:
                raise RecordError(f"{name}: unknown value {_describe(getattr(self, name))}; valid: {', '.join(valid)}")
        for name in ("batch_size", "seq_len", "threads"):
            _positive_int(name, getattr(self, name))

    def identity(self, variant_id: str | None = None) -> dict:
        """The fields that make two runs the same measurement (resuming, comparing, regressions).

        Fields at their defaults are omitted, so adding a field with a default later does not change the
        identity (and the hash) of configurations recorded before it existed. Backend knobs join the
        measurement settings under their own names, as in schema version 1.
        """
        d = _non_default(self, skip=("settings", "backend_settings", "instance_type"))
        d["variant"] = variant_id if self.variant else None
        settings = _non_default(self.settings) | dict(self.backend_settings)
        if settings:
            d["settings"] = settings
        return d

    def config_hash(self, variant_id: str | None = None) -> str:
        return stable_hash(self.identity(variant_id))


def stable_hash(obj) -> str:
    """A short hash of a JSON-serialisable object, independent of key order."""
    text = json.dumps(_encode(obj), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _non_default(obj, skip=()) -> dict:
    out = {}
    for f in dataclasses.fields(obj):
        if f.name in skip:
            continue
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if default is dataclasses.MISSING or value != default:
            out[f.name] = _encode(value)
    return out


# ----------------------------------------------------------------------------------------------------------------
# artifact and worker protocol


@dataclass(frozen=True)
class Artifact(Contract):
    """What the export stage prepared for one configuration; the worker reads only this."""

    dir: str
    input_names: tuple[str, ...]
    io_path: str | None = None  # npz: "input:<name>" arrays and the fp32 "reference" output
    onnx_path: str | None = None
    torch_path: str | None = None  # directory a torch-based worker loads its module from
    tree_path: str | None = None  # decision trees: the tree's arrays (npz)
    framework: str = "torch"
    variant_id: str | None = None
    variant_manifest: dict[str, Any] | None = None
    artifact_bytes: int | None = None
    weights_bytes: int | None = None
    params: int | None = None
    nonzero_params: int | None = None
    flops_per_inference: int | None = None
    flops_nonzero_per_inference: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # family-specific facts (tree nodes, depth, ...)
    schema_version: int = 1


@dataclass(frozen=True)
class WorkerJob(Contract):
    config: BenchConfig
    artifact: Artifact
    backend_spec: str  # "module:Class" of the backend, resolved in the worker
    repo_root: str


@dataclass(frozen=True)
class Parity(Contract):
    max_abs_diff: float
    tolerance: float
    rel_diff: float | None = None
    top1_agreement: float | None = None
    ok: bool | None = None


@dataclass(frozen=True)
class KernelInfo(Contract):
    kernel: str = "dense"
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineReport(Contract):
    """What the engine says it really used, read back after compilation."""

    precision: str | None = None
    threads: int | None = None
    device: str = "cpu"
    backend_version: str | None = None
    engine: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerResult(Contract):
    """Server scenario: the highest Poisson arrival rate whose latency quantile met the SLA."""

    sla_ms: float | None = None
    max_rate_per_s: float | None = None
    quantile: float | None = None
    trials: tuple[dict[str, Any], ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class Quality(Contract):
    """Task quality of one model: accuracy against labels, or agreement with the dense fp32 model."""

    accuracy: float | None = None
    top1_agreement: float | None = None
    kl_dense_pruned: float | None = None
    task: str | None = None
    split: str | None = None
    examples: int | None = None
    accuracy_ci95: tuple[float, ...] | None = None
    data_sha256: str | None = None
    source: str | None = None  # "engine" (measured where timed), "manifest", "teacher"
    eval_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerResult(Contract):
    status: str = "ok"
    reason: str | None = None
    samples_ms: tuple[float, ...] = ()
    warmup_iters: int | None = None
    timed_s: float | None = None
    stop_reason: str | None = None
    load_s: float | None = None
    cpus: tuple[int, ...] = ()
    cpus_observed: tuple[int, ...] = ()
    effective: EngineReport | None = None
    kernel: KernelInfo | None = None
    parity: Parity | None = None
    server: ServerResult | None = None
    quality: Quality | None = None
    peak_rss_bytes: int | None = None
    stderr_tail: str | None = None
    traceback_tail: str | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise RecordError(f"status: unknown value {_describe(self.status)}; valid: {', '.join(STATUSES)}")


# ----------------------------------------------------------------------------------------------------------------
# run record


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
    kernel_evidence: dict[str, Any] | None = None
    engine: dict[str, Any] | None = None
    backend_version: str | None = None
    device: str = "cpu"
    load_s: float | None = None
    warmup_iters: int | None = None
    stop_reason: str | None = None


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
    server: ServerResult | None = None


@dataclass(frozen=True)
class Machine(Contract):
    """Who measured: the fingerprint of the machine (harness.machine) and its declared instance type."""

    id: str = "unknown"
    cpu_model: str | None = None
    cpu_vendor: str | None = None
    cpu_family_model: str | None = None
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


@dataclass(frozen=True)
class RunRecord(Contract):
    """One configuration run: one line of results/runs/*.jsonl (docs/records.md)."""

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
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        if self.status not in STATUSES:
            raise RecordError(f"status: unknown value {_describe(self.status)}; valid: {', '.join(STATUSES)}")

    @classmethod
    def from_json(cls, data, path: str = ""):
        """Read a record of any readable schema version (older ones through MIGRATIONS)."""
        if not isinstance(data, dict):
            raise RecordError(f"expected a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise RecordError(f"schema_version: expected an integer, got {_describe(version)}")
        if version > SCHEMA_VERSION:
            raise FutureVersion(f"schema_version {version} was written by a newer harness "
                                f"(this one reads {', '.join(map(str, READABLE_VERSIONS))}); upgrade the harness")
        if version not in READABLE_VERSIONS:
            raise RecordError(f"schema_version {version} is not a version this harness knows "
                              f"(reads {', '.join(map(str, READABLE_VERSIONS))})")
        for v in range(version, SCHEMA_VERSION):
            data = MIGRATIONS[v](data)
        return _from_mapping(cls, data, path)

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


class FutureVersion(RecordError):
    """A line written by a newer harness."""


# ----------------------------------------------------------------------------------------------------------------
# migrations: MIGRATIONS[v] turns a version-v document into a version-(v+1) document

# engine knobs that schema version 1 kept in config.settings, by the backend that reads them
_V1_BACKEND_KNOBS = {
    "onnxruntime": ("spinning",),
    "openvino": ("streams", "openvino_sparse_rate"),
    "torch": ("sparse_threshold",),
}
_V1_KNOB_DEFAULTS = {"spinning": True, "streams": 1, "openvino_sparse_rate": None, "sparse_threshold": None}


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


MIGRATIONS = {1: _update_to_2}
