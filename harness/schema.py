"""Frozen, versioned records that cross module boundaries.

SCHEMA_VERSION history (RunRecord JSON lines in results/runs/*.jsonl):
  1 - first version: config, effective, metrics, samples_ms, machine, created_at, git_commit,
      config_hash, status, reason, kernel evidence and parity.
Readers accept every version listed in READABLE_VERSIONS and refuse newer ones with a clear message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from .errors import ConfigError, choices_error

SCHEMA_VERSION = 1
READABLE_VERSIONS = (1,)

PRECISIONS = ("fp32", "bf16")
KERNELS = ("dense", "sparse")
SCENARIOS = ("single-stream", "offline", "server")
STATUSES = ("ok", "error", "timeout", "oom", "parity_failed", "unsupported", "skipped")


@dataclass(frozen=True)
class Settings:
    """How long and how hard to measure one configuration."""

    warmup_iters: int = 5
    warmup_s: float = 1.0
    min_iters: int = 30
    min_duration_s: float = 5.0
    max_iters: int = 100_000
    max_duration_s: float = 120.0
    timeout_s: float = 900.0
    memory_limit_mb: int | None = None
    spinning: bool = True  # ONNX Runtime intra-op spinning
    streams: int = 1  # OpenVINO NUM_STREAMS
    pinning: bool = True  # pin worker threads to CPUs
    sla_ms: float | None = None  # server scenario: the p99 latency bound
    server_requests: int = 300  # server scenario: requests per arrival-rate trial
    server_steps: int = 6  # server scenario: bisection steps over the arrival rate
    openvino_sparse_rate: float | None = None  # OpenVINO sparse-weights decompression threshold
    sparse_threshold: float | None = None  # torch sparse kernel: minimum layer sparsity to swap to CSR

    def __post_init__(self):
        for name in ("warmup_iters", "min_iters", "max_iters"):
            if getattr(self, name) < 0:
                raise ConfigError(f"settings.{name}: must be >= 0, got {getattr(self, name)}")
        if self.min_iters > self.max_iters:
            raise ConfigError(f"settings.min_iters ({self.min_iters}) exceeds max_iters ({self.max_iters})")
        if self.timeout_s <= 0:
            raise ConfigError(f"settings.timeout_s: must be > 0, got {self.timeout_s}")
        if self.streams < 1:
            raise ConfigError(f"settings.streams: must be >= 1, got {self.streams}")


@dataclass(frozen=True)
class BenchConfig:
    """One configuration to measure: what the user asked for, before any engine interprets it."""

    model: str
    backend: str
    batch_size: int = 1
    seq_len: int = 128  # sequence length for text models, image side for image models
    threads: int = 1
    precision: str = "fp32"
    kernel: str = "dense"
    variant: str | None = None  # variant directory, None = dense
    checkpoint: str | None = None  # local Hugging Face checkpoint directory, None = seeded random weights
    scenario: str = "single-stream"
    instance_type: str | None = None
    settings: Settings = field(default_factory=Settings)

    def __post_init__(self):
        from .registry import BACKENDS, MODELS

        if self.model not in MODELS:
            raise choices_error("model", self.model, MODELS)
        if self.backend not in BACKENDS:
            raise choices_error("backend", self.backend, BACKENDS)
        if self.precision not in PRECISIONS:
            raise choices_error("precision", self.precision, PRECISIONS)
        if self.kernel not in KERNELS:
            raise choices_error("kernel", self.kernel, KERNELS)
        if self.scenario not in SCENARIOS:
            raise choices_error("scenario", self.scenario, SCENARIOS)
        for name in ("batch_size", "seq_len", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}: expected a positive integer, got {value!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "BenchConfig":
        data = dict(data)
        settings = Settings(**data.pop("settings", {}) or {})
        return cls(settings=settings, **data)

    def identity(self, variant_id: str | None = None) -> dict:
        """The fields that make two runs the same measurement (used for resuming and comparing).

        Fields left at their defaults are omitted, so adding a new field with a default later does
        not change the identity (and the hash) of configurations recorded before it existed.
        """
        d = _non_default(self)
        d.pop("instance_type", None)
        d["variant"] = variant_id if self.variant else None
        settings = _non_default(self.settings)
        if settings:
            d["settings"] = settings
        else:
            d.pop("settings", None)
        return d

    def config_hash(self, variant_id: str | None = None) -> str:
        return stable_hash(self.identity(variant_id))


def stable_hash(obj) -> str:
    """A short hash of a JSON-serialisable object, independent of key order."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _non_default(obj) -> dict:
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = value
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
        if default is dataclasses.MISSING or value != default:
            out[f.name] = value
    return out
