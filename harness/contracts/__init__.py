"""Typed contracts: the frozen records that cross process and module boundaries, and every persisted format.

Standard library only (import everything from here). The parent, every worker (the DeepSparse worker runs
another interpreter with numpy<2) and every reader of results import this package and nothing heavier to
speak the same language:

  codec.py     Contract (to_json/from_json, field paths in errors), Versioned (schema_version + MIGRATIONS)
  options.py   Option: a settings field's help, flag, unit and bounds (the command line's flags come from it)
  config.py    BenchConfig (one configuration to measure) + Settings (how long, how hard) + TaskSpec
  worker.py    Artifact, WorkerJob (one JSON document in), WorkerResult (one out), LoadGen results
  engine.py    what each engine reports about itself, and the evidence of which kernel ran
  quality.py   Quality and its details, ModelQuality, EvalSetMeta
  manifest.py  VariantManifest, TreeVariantManifest: manifest.json of a variant directory
  architecture.py  Architecture: a manifest's architecture section (its own versions)
  record.py    RunRecord: one line of results/runs/*.jsonl (RecordConfig, Effective, Metrics, Machine)
  fleet.py, nightly.py, training.py, caches.py   the other files the harness writes and reads back

Every class has to_json() and from_json(); persisted formats also read every older schema version through
explicit migrations (record.MIGRATIONS and each Versioned class's MIGRATIONS, as pyperf's _json_load and
asv's update_to_N do). A value of the wrong shape is a RecordError naming the field path, never an
AttributeError in a reader far away. docs/records.md lists every format and its versions.

SCHEMA_VERSION history (RunRecord JSON lines):
  1 - first version: config (with measurement and engine knobs in one settings mapping), effective,
      metrics (quality copied from the variant manifest), samples_ms, machine, created_at, git_commit.
  2 - engine knobs move from config.settings to config.backend_settings (only the knobs the backend
      declares); manifest quality moves from metrics.quality to metrics.manifest_quality, and
      metrics.quality holds only quality measured on the engine that was timed. Later in version 2 (all
      optional, so every version-2 line reads): config.task, effective.quantization (int8), metrics.loadgen
      (MLPerf LoadGen server/offline runs and the capacity search), machine.cpu_stepping and machine.id_scheme
      (2: the id hashes the CPU's family, model, stepping and ISA flags; absent reads as 1, the older id);
      metrics.server (the hand-written Poisson server scenario) is read but no longer written.
      effective.engine, effective.kernel_evidence and the quality details read as typed sections
      (harness.contracts.engine, .quality) with the same JSON.
  3 - effective.quantization is a typed record (contracts.worker.Quantization: format, method, per-channel,
      calibration method and source, SmoothQuant alpha, the layers left in fp32 and those the sensitivity pass
      returned there, the chain); version-2 lines rename its fp32_nodes to fp32_layers. New optional `phases`:
      where the configuration's wall time went (export, quantization, worker start, load, timed loop, ...).
"""

from .architecture import Architecture
from .caches import ArtifactMeta, GemmPeaks, TreeArtifactMeta
from .codec import Contract, FutureVersion, RecordError, Versioned, stable_hash
from .config import (
                     INT8_CALIBRATIONS,
                     KERNELS,
                     LOADGEN_PRESETS,
                     MIN_SAMPLES,
                     PRECISIONS,
                     SCENARIOS,
                     TASKS,
                     BenchConfig,
                     Settings,
                     TaskSpec,
)
from .engine import (
                     CsrEvidence,
                     CudaEngine,
                     DeepSparseEngine,
                     DeepSparseEvidence,
                     DenseEvidence,
                     EngineDetails,
                     GemmEngine,
                     KernelEvidence,
                     OpenVinoEngine,
                     OpenVinoSparseEvidence,
                     OrtEngine,
                     OrtGraphOps,
                     SklearnEngine,
                     TorchEngine,
                     describe_evidence,
)
from .fleet import FleetPlan, PlanFiles, Submissions, SubmittedJob
from .int8 import Calibration, Quantization, SensitivityPass
from .manifest import TreeVariantManifest, VariantManifest, manifest_from_json
from .nightly import AsvCache, AsvResult, AsvSummary
from .options import EngineOptions, Option, check_options, option, options
from .quality import EvalDetails, EvalSetMeta, ManifestDetails, ModelQuality, Quality
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
from .training import (
                     DenseFinetuneEntry,
                     DenseFinetuneSettings,
                     FinetuneDescription,
                     FinetuneQuality,
                     FinetuneSettings,
                     VocabularyResize,
)
from .worker import (
                     STATUSES,
                     Artifact,
                     CapacitySearch,
                     EngineReport,
                     KernelInfo,
                     LoadgenResult,
                     LoadgenTrial,
                     Parity,
                     Phases,
                     ServerResult,
                     ServerTrial,
                     WorkerJob,
                     WorkerResult,
)

__all__ = [
    "DenseFinetuneEntry", "DenseFinetuneSettings", "FinetuneDescription", "FinetuneQuality", "FinetuneSettings", "VocabularyResize",
    "FleetPlan", "PlanFiles", "Submissions", "SubmittedJob",
    "AsvCache", "AsvResult", "AsvSummary", "ServerTrial",
    "EngineOptions", "Option", "check_options", "option", "options",
    "ArtifactMeta", "GemmPeaks", "TreeArtifactMeta", "Versioned",
    "CsrEvidence", "CudaEngine", "DeepSparseEngine", "DeepSparseEvidence", "DenseEvidence", "EngineDetails", "GemmEngine",
    "EvalDetails", "EvalSetMeta", "ManifestDetails", "ModelQuality", "KernelEvidence", "OpenVinoEngine", "OpenVinoSparseEvidence", "OrtEngine", "OrtGraphOps", "SklearnEngine", "TorchEngine",
    "describe_evidence",
    "INT8_CALIBRATIONS", "Calibration", "Phases", "Quantization", "SensitivityPass",
    "CapacitySearch", "LOADGEN_PRESETS", "LoadgenResult", "LoadgenTrial", "KERNELS", "MIGRATIONS", "MIN_SAMPLES", "PRECISIONS", "TASKS", "TaskSpec", "READABLE_VERSIONS", "SCENARIOS", "SCHEMA_VERSION", "STATUSES", "Artifact",
    "BenchConfig", "Contract", "Effective", "EngineReport", "FutureVersion", "KernelInfo", "LatencyStats", "Machine",
    "Metrics", "Parity", "Quality", "RecordConfig", "RecordError", "RunRecord", "ServerResult", "Settings", "WorkerJob",
    "WorkerResult", "stable_hash", "Architecture", "TreeVariantManifest", "VariantManifest", "manifest_from_json",
]
