"""What to measure and how: BenchConfig (one configuration as the user asked for it) and Settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .codec import Contract, RecordError, _describe, _finite, _non_default, _positive_int, stable_hash

PRECISIONS = ("fp32", "bf16", "int8", "int8-dynamic")  # int8: static (calibrated) where the engine has it
KERNELS = ("dense", "sparse")
SCENARIOS = ("single-stream", "offline", "server")
LOADGEN_PRESETS = ("quick", "full")  # how long each MLPerf LoadGen run lasts (harness.runner.loadgen_run.PRESETS)
TASKS = ("sst2", "text-classification", "teacher")
INT8_CALIBRATIONS = ("minmax", "percentile", "entropy")  # how static int8 calibrates activation ranges
# The fewest samples whose order statistics give a distribution-free 95% interval for each percentile
# (harness.foundation.stats.percentile_interval; tests/test_stats.py checks these against it).
MIN_SAMPLES = {"p50": 6, "p90": 36, "p99": 368}


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
    sla_ms: float | None = None  # server scenario: the p99 latency target of the LoadGen runs
    # MLPerf LoadGen (server and offline scenarios; harness.runner.loadgen_run has the presets)
    loadgen: str = "quick"  # durations: quick (valid but short: tests, demo) or full (MLPerf's minimums)
    target_qps: float | None = None  # server: one run at this rate instead of a capacity search
    loadgen_min_duration_s: float | None = None  # instead of the preset's minimum duration of each run
    loadgen_min_queries: int | None = None  # instead of the preset's minimum query count of each run
    max_batch: int = 1  # server: queued queries the system under test may merge into one engine call
    max_wait_ms: float = 0.0  # server: how long a query may wait for others to join its batch
    capacity_tolerance: float | None = None  # server: the search stops within this relative width
    capacity_budget_s: float | None = None  # server: wall-clock budget of the capacity search
    # keep timing until this percentile has a 95% interval (MIN_SAMPLES), or a max_* bound ends the run
    # (the record's stop_reason then says which); None: min_iters alone
    percentile_target: str | None = "p99"
    calibration_examples: int = 128  # int8: examples that calibrate the activation ranges (export stage)
    # int8 that keeps quality (harness.quantization): weight scales per output channel (else per tensor), how the
    # activation ranges are calibrated, SmoothQuant's migration strength (None: off), and the sensitivity pass's
    # budget: layers return to fp32, most harmful first, until the accuracy drop on `heldout_examples` held-back
    # examples of the training split is at most int8_max_drop points (None: no pass)
    int8_per_channel: bool = True
    int8_calibration: str = "minmax"
    smoothquant_alpha: float | None = None
    int8_max_drop: float | None = None
    heldout_examples: int = 512

    def __post_init__(self):
        _positive_int("settings.calibration_examples", self.calibration_examples)
        _positive_int("settings.heldout_examples", self.heldout_examples)
        if self.int8_calibration not in INT8_CALIBRATIONS:
            raise RecordError(f"settings.int8_calibration: unknown value {_describe(self.int8_calibration)}; "
                              f"valid: {', '.join(INT8_CALIBRATIONS)}")
        if self.smoothquant_alpha is not None:
            _finite("settings.smoothquant_alpha", self.smoothquant_alpha)
            if self.smoothquant_alpha > 1.0:
                raise RecordError(f"settings.smoothquant_alpha: expected a fraction in [0, 1], got "
                                  f"{_describe(self.smoothquant_alpha)}")
        if self.int8_max_drop is not None:
            _finite("settings.int8_max_drop", self.int8_max_drop)
        for name in ("warmup_iters", "min_iters", "max_iters"):
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
        for name in ("sla_ms", "target_qps", "loadgen_min_duration_s", "capacity_budget_s"):
            if getattr(self, name) is not None:
                _finite(f"settings.{name}", getattr(self, name), allow_equal=False)
        if self.loadgen not in LOADGEN_PRESETS:
            raise RecordError(f"settings.loadgen: unknown value {_describe(self.loadgen)}; valid: {', '.join(LOADGEN_PRESETS)}")
        if self.loadgen_min_queries is not None:
            _positive_int("settings.loadgen_min_queries", self.loadgen_min_queries)
        _positive_int("settings.max_batch", self.max_batch)
        _finite("settings.max_wait_ms", self.max_wait_ms)
        if self.capacity_tolerance is not None:
            _finite("settings.capacity_tolerance", self.capacity_tolerance, allow_equal=False)
            if self.capacity_tolerance > 0.5:
                raise RecordError(f"settings.capacity_tolerance: expected a fraction > 0 and <= 0.5, got "
                                  f"{_describe(self.capacity_tolerance)}")
        if self.percentile_target is not None and self.percentile_target not in MIN_SAMPLES:
            raise RecordError(f"settings.percentile_target: unknown value {_describe(self.percentile_target)}; "
                              f"valid: {', '.join(MIN_SAMPLES)} or null")

    @property
    def required_samples(self) -> int:
        """min_iters, raised to what the percentile target needs."""
        return max(self.min_iters, MIN_SAMPLES.get(self.percentile_target or "", 0))


@dataclass(frozen=True)
class TaskSpec(Contract):
    """The evaluation a configuration carries: accuracy (or agreement) measured on the engine that was timed.

    sst2                 data = a directory in the GLUE SST-2 layout; the dev split is evaluated
    text-classification  data = a TSV or CSV file; text_columns (one, or two for sentence pairs), label_column
    teacher              no data: generated inputs labelled by the dense fp32 model (agreement, never accuracy)
    """

    name: str
    data: str | None = None
    text_columns: tuple[str, ...] = ()
    label_column: str | None = None
    eval_limit: int | None = None  # evaluate at most this many examples (the first ones)

    def __post_init__(self):
        if self.name not in TASKS:
            raise RecordError(f"task: unknown value {_describe(self.name)}; valid: {', '.join(TASKS)}")
        if self.name != "teacher" and not self.data:
            raise RecordError(f"task {self.name}: needs data (--data DIR or FILE)")
        if self.name == "teacher" and self.data:
            raise RecordError("task teacher: takes no data (its inputs are generated)")
        if self.name == "text-classification":
            if not 1 <= len(self.text_columns) <= 2 or not self.label_column:
                raise RecordError("task text-classification: needs one or two text columns and a label column "
                                  "(--text-columns a[,b] --label-column y)")
        elif self.text_columns or self.label_column:
            raise RecordError(f"task {self.name}: text and label columns apply to text-classification only")
        if self.eval_limit is not None:
            _positive_int("task.eval_limit", self.eval_limit)

    @property
    def split(self) -> str:
        return {"sst2": "dev", "teacher": "generated"}.get(self.name, "file")


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
    task: TaskSpec | None = None  # evaluate quality on the engine after timing

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
