"""Typed contracts: the frozen records that cross process and module boundaries.

Standard library only (codec.py, config.py, worker.py, record.py; import everything from here). The parent, every worker (the DeepSparse worker runs another interpreter with
numpy<2) and every reader of results import this module and nothing heavier to speak the same language:

  BenchConfig   one configuration to measure (what the user asked for) + Settings (how long, how hard)
  Artifact      what the export stage prepared for a worker (ONNX file, inputs, reference, sizes)
  WorkerJob     one JSON document in (config + artifact + backend entry point)
  WorkerResult  one JSON document out (raw samples + what the engine really used)
  RunRecord     one line of results/runs/*.jsonl, made of RecordConfig, Effective, Metrics (LatencyStats,
                Parity, Quality, ...), Machine

Every class has to_json() and from_json(); records also read every older schema version through the
explicit migrations in record.MIGRATIONS (as pyperf's _json_load and asv's update_to_N do). A value of the wrong
shape is a RecordError naming the field path, never an AttributeError in a reader far away.

SCHEMA_VERSION history (RunRecord JSON lines):
  1 - first version: config (with measurement and engine knobs in one settings mapping), effective,
      metrics (quality copied from the variant manifest), samples_ms, machine, created_at, git_commit.
  2 - engine knobs move from config.settings to config.backend_settings (only the knobs the backend
      declares); manifest quality moves from metrics.quality to metrics.manifest_quality, and
      metrics.quality holds only quality measured on the engine that was timed. Later in version 2 (all
      optional, so every version-2 line reads): config.task, effective.quantization (int8), metrics.loadgen
      (MLPerf LoadGen server/offline runs and the capacity search); metrics.server (the hand-written
      Poisson server scenario) is read but no longer written.
  3 - effective.quantization is a typed record (contracts.worker.Quantization: format, method, per-channel,
      calibration method and source, SmoothQuant alpha, the layers left in fp32 and those the sensitivity pass
      returned there, the chain); version-2 lines rename its fp32_nodes to fp32_layers. New optional `phases`:
      where the configuration's wall time went (export, quantization, worker start, load, timed loop, ...).
"""

from .codec import Contract, FutureVersion, RecordError, stable_hash
from .config import INT8_CALIBRATIONS, KERNELS, LOADGEN_PRESETS, MIN_SAMPLES, PRECISIONS, SCENARIOS, TASKS, BenchConfig, Settings, TaskSpec
from .record import (
                     MIGRATIONS,
                     READABLE_VERSIONS,
                     SCHEMA_VERSION,
                     Effective,
                     LatencyStats,
                     Machine,
                     Metrics,
                     RecordConfig,
                     RunRecord,
)
from .worker import (
                     STATUSES,
                     Artifact,
                     Calibration,
                     CapacitySearch,
                     EngineReport,
                     KernelInfo,
                     LoadgenResult,
                     LoadgenTrial,
                     Parity,
                     Phases,
                     Quality,
                     Quantization,
                     SensitivityPass,
                     ServerResult,
                     WorkerJob,
                     WorkerResult,
)

__all__ = [
    "INT8_CALIBRATIONS", "CapacitySearch", "LOADGEN_PRESETS", "LoadgenResult", "LoadgenTrial", "KERNELS", "MIGRATIONS", "MIN_SAMPLES", "PRECISIONS", "TASKS", "TaskSpec", "READABLE_VERSIONS", "SCENARIOS", "SCHEMA_VERSION", "STATUSES", "Artifact",
    "BenchConfig", "Contract", "Effective", "EngineReport", "FutureVersion", "KernelInfo", "LatencyStats", "Machine",
    "Metrics", "Parity", "Phases", "Quality", "Quantization", "SensitivityPass", "Calibration", "RecordConfig", "RecordError", "RunRecord", "ServerResult", "Settings", "WorkerJob",
    "WorkerResult", "stable_hash",
]
