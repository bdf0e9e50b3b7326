"""Run records built by hand for tests of the readers (cost, reports, regressions, store), as the runner
would write them (harness.contracts.RunRecord), with only the fields a test cares about set."""

from __future__ import annotations

from harness.contracts import (
    PRECISIONS,
    BenchConfig,
    Effective,
    LatencyStats,
    Machine,
    Metrics,
    Quality,
    RecordConfig,
    RunRecord,
    ServerResult,
    Settings,
)


def latency(p99: float | None = 50.0, *, n: int = 400, unsupported=(), p50: float | None = None,
            p90: float | None = None) -> LatencyStats:
    values = {"p50": p50 if p50 is not None else (p99 * 0.8 if p99 else None),
              "p90": p90 if p90 is not None else (p99 * 0.9 if p99 else None), "p99": p99}
    for name in unsupported:
        values[name] = None
    return LatencyStats(n=n, mean=values["p50"], std=1.0, unsupported=tuple(unsupported), **values)


def record(rid: str = "r0", *, model: str = "bert-base", backend: str = "onnxruntime", variant: str | None = None,
           sparsity: float | None = None, status: str = "ok", reason: str | None = None, p99: float | None = 50.0,
           n: int = 400, unsupported=(), thr: float | None = 20.0, samples=(), instance: str | None = "c7a.large",
           machine_id: str = "m1", cpu_model: str = "AMD EPYC 9R14", device: str = "cpu", precision: str = "fp32",
           threads: int = 2, batch: int = 1, seq_len: int = 128, scenario: str = "single-stream",
           server: ServerResult | None = None, accuracy: float | None = None, top1: float | None = None,
           quality_source: str = "engine", created_at: str = "2026-11-24T23:00:00+00:00", commit: str | None = None,
           config_hash: str | None = None, settings: Settings | None = None, backend_settings: dict | None = None,
           backend_version: str = "1.32.0", quality: Quality | None = None, p50: float | None = None,
           artifact_bytes: int | None = None) -> RunRecord:
    requested = precision if precision in PRECISIONS else "fp32"  # e.g. a GPU record that ran fp16
    config = BenchConfig(model=model, backend=backend, batch_size=batch, seq_len=seq_len, threads=threads,
                         precision=requested, variant=variant, scenario=scenario, instance_type=instance,
                         settings=settings or Settings(), backend_settings=backend_settings or {})
    record_config = RecordConfig(**{f: getattr(config, f) for f in config.__dataclass_fields__},
                                 variant_name=variant.rstrip("/").rsplit("/", 1)[-1] if variant else "dense",
                                 sparsity=sparsity if sparsity is not None else (0.0 if not variant else None))
    if quality is None and (accuracy is not None or top1 is not None):
        quality = Quality(accuracy=accuracy, top1_agreement=top1, source=quality_source)
    ok = status == "ok"
    lat = latency(p99, n=n, unsupported=unsupported, p50=p50) if ok and (p99 is not None or p50 is not None) else None
    metrics = Metrics(latency_ms=lat, throughput_per_s=thr if ok else None, server=server, quality=quality,
                      artifact_bytes=artifact_bytes)
    return RunRecord(
        record_id=rid, status=status, reason=reason if reason or ok else "boom", config=record_config,
        config_hash=config_hash or rid, effective=Effective(precision=precision, threads=threads, device=device,
                                                            backend_version=backend_version),
        metrics=metrics, samples_ms=tuple(float(x) for x in samples),
        machine=Machine(id=machine_id, cpu_model=cpu_model, physical_cores=2, instance_type=instance,
                        instance_type_source="declared" if instance else None),
        created_at=created_at, git_commit=commit,
    )
