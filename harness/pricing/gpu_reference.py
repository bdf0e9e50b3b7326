"""Published GPU inference figures: a labelled fallback when no measured GPU record exists.

Data: data/gpu_reference.json (schema_version 1), copied from gpu-reference.md with a source string on
every figure. `reference_points(model, gpu_model)` turns the figures into (throughput, latency) points
that the cost join can treat like measurements, saying how each number was obtained:
  - a published batch-1 average latency L gives throughput 1000 / L (sequential calls);
  - a published batch-B throughput T gives an average batch latency B * 1000 / T;
  - an MLPerf server figure is a throughput with p99 under a published bound;
  - an MLPerf offline figure has no latency: its SLA cannot be checked.
Figures are per GPU; multi-GPU scaling (an assumption) is the cost join's job.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from harness.foundation.errors import ConfigError

REFERENCE_PATH = Path(__file__).resolve().parent / "data" / "gpu_reference.json"
REFERENCE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class GpuFigure:
    """One published number, as published."""

    gpu: str
    model: str
    benchmark: str
    seq_len: int | None
    batch: int | None
    precision: str
    metric: str  # "avg_latency_ms" | "throughput_per_s"
    value: float
    scenario: str
    latency_bound_ms: float | None
    source: str


@dataclass(frozen=True)
class ReferencePoint:
    """A published (or derived) operating point for one GPU: throughput and, where known, latency."""

    model: str
    gpu: str  # the GPU the figure was published for
    seq_len: int | None
    batch: int | None
    precision: str
    throughput_per_s: float  # per GPU
    latency_ms: float | None  # average latency of one call, None when not published
    latency_basis: str  # how latency/throughput were obtained, in words
    latency_bound_ms: float | None  # MLPerf server: p99 stayed under this bound
    scenario: str
    source: str
    grade: str = "published"  # "published" | "derived"
    notes: str | None = None


@functools.lru_cache(maxsize=1)
def _data() -> dict:
    data = json.loads(REFERENCE_PATH.read_text(encoding="utf-8"))
    if data.get("schema_version") != REFERENCE_SCHEMA_VERSION:
        raise ConfigError(f"{REFERENCE_PATH.name}: schema_version {data.get('schema_version')!r}; valid choices: 1")
    return data


def figures() -> tuple[GpuFigure, ...]:
    return tuple(GpuFigure(**f) for f in _data()["figures"])


def _points_for(model: str, ref_gpu: str, alias_note: str | None) -> list[ReferencePoint]:
    out = []
    for f in figures():
        if f.model != model or f.gpu != ref_gpu:
            continue
        common = dict(model=model, gpu=f.gpu, seq_len=f.seq_len, batch=f.batch, precision=f.precision, scenario=f.scenario,
                      source=f"{f.source} [{f.benchmark}]", notes=alias_note)
        if f.metric == "avg_latency_ms":
            batch = f.batch or 1
            out.append(ReferencePoint(
                throughput_per_s=batch * 1000.0 / f.value, latency_ms=f.value, latency_bound_ms=None,
                latency_basis=f"published average latency {f.value:g} ms at batch {batch}; throughput derived as batch x 1000 / latency; p99 not published",
                **common))
        elif f.metric == "throughput_per_s" and f.latency_bound_ms is not None:
            out.append(ReferencePoint(
                throughput_per_s=f.value, latency_ms=None, latency_bound_ms=f.latency_bound_ms,
                latency_basis=f"published server throughput with p99 under {f.latency_bound_ms:g} ms",
                **common))
        elif f.metric == "throughput_per_s" and f.batch:
            lat = f.batch * 1000.0 / f.value
            out.append(ReferencePoint(
                throughput_per_s=f.value, latency_ms=lat, latency_bound_ms=None,
                latency_basis=f"published throughput {f.value:g}/s at batch {f.batch}; average latency derived as batch / throughput = {lat:.1f} ms; p99 not published",
                **common))
        else:
            out.append(ReferencePoint(
                throughput_per_s=f.value, latency_ms=None, latency_bound_ms=None,
                latency_basis="published offline throughput without latency: the SLA cannot be checked",
                **common))
    return out


def reference_points(model: str, gpu_model: str) -> list[ReferencePoint]:
    """Reference operating points for `model` on one GPU of catalog model `gpu_model` (e.g. "T4")."""
    data = _data()
    out: list[ReferencePoint] = []
    for alias in data["gpu_aliases"].get(gpu_model, []):
        out += _points_for(model, alias["reference_gpu"], alias["note"])
        for d in data.get("derived", []):
            if d["model"] != model:
                continue
            k = float(d["throughput_factor"])
            for p in _points_for(d["from_model"], alias["reference_gpu"], alias["note"]):
                out.append(ReferencePoint(
                    model=model, gpu=p.gpu, seq_len=p.seq_len, batch=p.batch, precision=p.precision,
                    throughput_per_s=p.throughput_per_s * k,
                    latency_ms=None if p.latency_ms is None else p.latency_ms / k,
                    latency_bound_ms=p.latency_bound_ms,
                    latency_basis=f"derived from {d['from_model']} ({p.latency_basis}) scaled by {k:g}x",
                    scenario=p.scenario, source=f"{d['source']}; base figure: {p.source}", grade="derived", notes=p.notes))
    return out
