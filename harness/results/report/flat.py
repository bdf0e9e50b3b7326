"""One flat row per run record: the columns of `harness results` tables and CSV files."""

from __future__ import annotations

from harness.contracts import SCHEMA_VERSION, RunRecord


def flatten(record: RunRecord) -> dict:
    lat = record.latency
    ci = lat.interval("p50") or (None, None)
    quality = record.quality
    m = record.metrics
    return {
        "created_at": record.created_at,
        "status": record.status,
        "model": record.config.model,
        "variant": record.variant_label,
        "sparsity": record.config.sparsity,
        "backend": record.config.backend,
        "kernel": record.kernel,
        "precision": record.precision,
        "scenario": record.config.scenario,
        "batch": record.config.batch_size,
        "seq": record.config.seq_len,
        "threads": record.threads,
        "p50_ms": lat.percentile("p50"),
        "p50_ci_low": ci[0],
        "p50_ci_high": ci[1],
        "p90_ms": lat.percentile("p90"),
        "p99_ms": lat.percentile("p99"),
        "mean_ms": lat.mean,
        "std_ms": lat.std,
        "n": lat.n,
        "throughput_per_s": m.throughput_per_s,
        "gflops_per_s": m.gflops_per_s,
        "roofline_fraction": m.roofline_fraction,
        "peak_rss_mb": m.peak_rss_bytes / 2**20 if m.peak_rss_bytes else None,
        "artifact_mb": m.artifact_bytes / 2**20 if m.artifact_bytes else None,
        "accuracy": quality.accuracy if quality else None,
        "top1_agreement": quality.top1_agreement if quality else None,
        "quality_source": quality.source if quality else None,
        "instance_type": record.instance_type,
        "machine_id": record.machine.id,
        "git_commit": record.git_commit,
        "config_hash": record.config_hash,
        "reason": record.reason,
        "record_id": record.record_id,
        "record_schema_version": record.schema_version,
        "csv_schema_version": SCHEMA_VERSION,
    }


def to_frame(records: list[RunRecord]):
    """A pandas DataFrame with one flat row per record."""
    import pandas as pd  # heavy: only for reporting paths

    return pd.DataFrame([flatten(r) for r in records])
