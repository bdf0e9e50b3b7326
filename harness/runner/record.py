"""From one worker result to one run record: statistics derived from the raw samples, the roofline, and
what the variant says about itself."""

from __future__ import annotations

import datetime as _dt
import uuid
from pathlib import Path

from harness import __version__
from harness.contracts import (
    SCHEMA_VERSION,
    Artifact,
    BenchConfig,
    Effective,
    LatencyStats,
    Machine,
    Metrics,
    Phases,
    RecordConfig,
    RunRecord,
    WorkerResult,
    manifest_from_json,
)
from harness.foundation.stats import summarize, throughput_per_s


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _manifest(artifact: Artifact | None):
    """The typed manifest of the variant an artifact was made from (neural or tree), or None for a dense model."""
    stored = artifact.variant_manifest if artifact else None
    return manifest_from_json(stored, "variant manifest") if stored else None


def _phases(artifact: Artifact | None, result: WorkerResult) -> Phases | None:
    """The export stage's phases (from the artifact) joined with the worker's and the parent's."""
    parts = [p for p in (artifact.phases if artifact else None, result.phases) if p is not None]
    if not parts:
        return None
    merged = {}
    for p in parts:
        merged |= {k: v for k, v in p.to_json().items() if v is not None}
    return Phases(**merged)


def make_record(config: BenchConfig, result: WorkerResult, artifact: Artifact | None, *, machine: dict,
                commit: str | None, peak_gflops: float | None = None, record_id: str | None = None) -> RunRecord:
    """Turn one worker result into a run record (see docs/records.md); `record_id` when the run already has one
    (its LoadGen logs are filed under it), else a new one."""
    manifest = _manifest(artifact)
    record_config = RecordConfig(
        **{f: getattr(config, f) for f in config.__dataclass_fields__},
        variant_id=artifact.variant_id if artifact else None,
        variant_name=Path(config.variant).name if config.variant else "dense",
        sparsity=(manifest.realised_sparsity.overall if manifest else None) if config.variant else 0.0,
        method=manifest.method if manifest else None, structure=manifest.structure if manifest else None,
    )
    samples = list(result.samples_ms)
    latency, throughput, gflops, roofline = None, None, None, None
    flops = artifact.flops_per_inference if artifact else None
    if samples:
        latency = LatencyStats.from_json(summarize(samples), "latency_ms")
        throughput = throughput_per_s(samples, config.batch_size)
        if flops and latency.p50:
            gflops = flops * config.batch_size / (latency.p50 / 1000.0) / 1e9
            roofline = gflops / peak_gflops if peak_gflops else None
    metrics = Metrics(
        latency_ms=latency, throughput_per_s=throughput, gflops_per_s=gflops, roofline_fraction=roofline,
        peak_rss_bytes=result.peak_rss_bytes, artifact_bytes=artifact.artifact_bytes if artifact else None,
        flops_per_inference=flops,
        flops_nonzero_per_inference=artifact.flops_nonzero_per_inference if artifact else None,
        parity=result.parity, quality=result.quality, manifest_quality=manifest.as_quality() if manifest else None,
        loadgen=result.loadgen,
    )
    eff = result.effective
    effective = Effective(
        precision=eff.precision if eff else None, threads=eff.threads if eff else None,
        cpus=result.cpus, cpus_observed=result.cpus_observed,
        kernel=result.kernel.kernel if result.kernel else None,
        kernel_evidence=result.kernel.evidence if result.kernel else None,
        engine=eff.engine if eff else None, backend_version=eff.backend_version if eff else None,
        device=eff.device if eff else "cpu", load_s=result.load_s, warmup_iters=result.warmup_iters,
        stop_reason=result.stop_reason, quantization=artifact.quantization if artifact else None,
    )
    return RunRecord(
        phases=_phases(artifact, result),
        schema_version=SCHEMA_VERSION, record_id=record_id or uuid.uuid4().hex, status=result.status, reason=result.reason,
        config_hash=config.config_hash(artifact.variant_id if artifact else None), config=record_config,
        effective=effective, metrics=metrics, samples_ms=tuple(samples),
        machine=Machine.from_json(dict(machine) | {"gemm_peak_gflops": peak_gflops}, "machine"),
        created_at=_now(), git_commit=commit, harness_version=__version__,
        stderr_tail=result.stderr_tail if result.status != "ok" else None,
    )
