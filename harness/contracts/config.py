"""What to measure and how: BenchConfig (one configuration as the user asked for it) and Settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .codec import Contract, RecordError, _describe, _non_default, _positive_int, stable_hash
from .options import check_options, option

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
    """How long and how hard to measure one configuration (engine knobs live in each backend's settings).

    Each field's Option (harness.contracts.options) is its help, flag, unit and bounds: the command line's flags
    are generated from them (harness.commands.flags) and check_options() checks the bounds, here only.
    """

    warmup_iters: int = option(5, "warm-up calls before timing", flag="--warmup", metavar="N", minimum=0)
    warmup_s: float = option(1.0, "and warm up for at least S seconds", flag="--warmup-s", metavar="S", minimum=0)
    min_iters: int = option(30, "and at least N timed calls", flag="--min-iters", metavar="N", minimum=0)
    min_duration_s: float = option(5.0, "time at least S seconds per configuration", flag="--min-duration",
                                   metavar="S", minimum=0)
    max_iters: int = option(100_000, "stop timing after N calls", metavar="N", minimum=0)
    max_duration_s: float = option(120.0, "stop timing after S seconds", metavar="S", minimum=0)
    timeout_s: float = option(900.0, "kill a worker after S seconds", flag="--timeout", metavar="S", minimum=0,
                              above=True)
    memory_limit_mb: int | None = option(None, "address-space limit of each worker", flag="--memory-limit-mb",
                                         metavar="MB", minimum=1, default_text="none")
    pinning: bool = option(True, "pin worker threads to CPUs", flag="--no-pinning")
    # MLPerf LoadGen (server and offline scenarios; harness.runner.loadgen_run has the presets)
    sla_ms: float | None = option(None, "the p99 latency target", flag="--sla-ms", metavar="MS", minimum=0, above=True,
                                  scenarios=("server",))
    loadgen: str = option("quick", "how long each LoadGen run lasts: quick (valid but short: tests, demo) or full "
                          "(MLPerf's 600 s minimum)", flag="--loadgen", choices=LOADGEN_PRESETS,
                          scenarios=("server", "offline"))
    target_qps: float | None = option(None, "one LoadGen run at this rate instead of a capacity search",
                                      flag="--target-qps", metavar="QPS", minimum=0, above=True, scenarios=("server",))
    loadgen_min_duration_s: float | None = option(None, "instead of the preset's minimum duration of each run",
                                                  flag="--loadgen-min-duration", metavar="S", minimum=0, above=True,
                                                  scenarios=("server", "offline"), preset="min_duration_s")
    loadgen_min_queries: int | None = option(None, "instead of the preset's minimum query count of each run",
                                             flag="--loadgen-min-queries", metavar="N", minimum=1,
                                             scenarios=("server", "offline"), preset="{scenario}_min_queries")
    max_batch: int = option(1, "merge up to N queued queries into one engine call", flag="--max-batch", metavar="N",
                            minimum=1, scenarios=("server",))
    max_wait_ms: float = option(0.0, "how long a query waits for others to join its batch", flag="--max-wait-ms",
                                metavar="MS", minimum=0, scenarios=("server",))
    capacity_tolerance: float | None = option(None, "stop the capacity search within this relative width",
                                              flag="--capacity-tolerance", metavar="F", minimum=0, above=True,
                                              maximum=0.5, scenarios=("server",), preset="tolerance")
    capacity_budget_s: float | None = option(None, "wall-clock budget of the capacity search", flag="--capacity-budget",
                                             metavar="S", minimum=0, above=True, scenarios=("server",),
                                             preset="budget_s")
    # keep timing until this percentile has a 95% interval (MIN_SAMPLES), or a max_* bound ends the run
    # (the record's stop_reason then says which); None: min_iters alone
    percentile_target: str | None = option("p99", "keep timing until this percentile has a 95% interval (null: "
                                           "min_iters alone)", choices=tuple(MIN_SAMPLES))
    calibration_examples: int = option(128, "--precision int8: examples that calibrate the activation ranges, from the "
                                       "task's training split or, without a task, generated",
                                       flag="--calibration-examples", metavar="N", minimum=1)
    # int8 that keeps quality (harness.quantization): weight scales per output channel (else per tensor), how the
    # activation ranges are calibrated, SmoothQuant's migration strength (None: off), and the sensitivity pass's
    # budget: layers return to fp32, most harmful first, until the accuracy drop on `heldout_examples` held-back
    # examples of the training split is at most int8_max_drop points (None: no pass)
    int8_per_channel: bool = option(True, "give --precision int8 weights one scale per output channel (instead: one "
                                    "per tensor)", flag="--int8-per-tensor")
    int8_calibration: str = option("minmax", "--precision int8: how the activation ranges are calibrated",
                                   flag="--int8-calibration", choices=INT8_CALIBRATIONS)
    smoothquant_alpha: float | None = option(None, "--precision int8: SmoothQuant's migration strength before "
                                             "quantizing", flag="--smoothquant-alpha", metavar="A", minimum=0,
                                             maximum=1, default_text="off; NNCF: 0.95")
    int8_max_drop: float | None = option(None, "--precision int8: return layers to fp32, most harmful first, until the "
                                         "accuracy drop on held-back training examples is at most P points",
                                         flag="--int8-max-drop", metavar="P", minimum=0, default_text="no pass")
    heldout_examples: int = option(512, "--int8-max-drop: held-back training examples it judges on",
                                   flag="--heldout-examples", metavar="N", minimum=1)

    def __post_init__(self):
        check_options(self, "settings")
        if self.min_iters > self.max_iters:
            raise RecordError(f"settings.min_iters ({self.min_iters}) exceeds max_iters ({self.max_iters})")
        if self.max_wait_ms and self.max_batch == 1:
            raise RecordError("settings.max_wait_ms: needs settings.max_batch above 1 (a query waits only for others "
                              "to batch with)")

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
