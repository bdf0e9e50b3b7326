"""Published GPU inference figures: a labelled fallback when no measured GPU record exists.

Data: data/gpu_reference.json. REFERENCE_SCHEMA_VERSION history (bundled data, read by this version only):
  1 - gpu_aliases, figures, and `derived`: a model's figures as another model's times a throughput factor.
  2 - `families`: the models a reference model's figures stand for (by architecture, or by model-name prefix) and
      the reference model's GFLOP per inference at each published sequence length, counted by the harness; a
      model without figures of its own gets the family's scaled by GFLOPs (`derive`). The factor list is gone.

`published_points(model, gpu_model)` turns the figures into (throughput, latency) points that the cost join can
treat like measurements, saying how each number was obtained:
  - a published batch-1 average latency L gives throughput 1000 / L (sequential calls);
  - a published batch-B throughput T gives an average batch latency B * 1000 / T;
  - an MLPerf server figure is a throughput with p99 under a published bound;
  - an MLPerf offline figure has no latency: its SLA cannot be checked.
`derive(points, family, model, gflop)` scales a family's points to a model by GFLOPs per inference (throughput x
reference/model GFLOP, latency x model/reference): an assumption that a GPU runs both models equally efficiently,
which flatters small models (a GPU is rarely saturated by them); the label says so.
Figures are per GPU; multi-GPU scaling (an assumption) is the cost join's job.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from harness.foundation.errors import ConfigError

REFERENCE_PATH = Path(__file__).resolve().parent / "data" / "gpu_reference.json"
REFERENCE_SCHEMA_VERSION = 2


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
class GpuFamily:
    """A reference model whose published figures stand for the models of its family."""

    reference_model: str
    architectures: tuple[str, ...]  # checkpoint config.json model_type values
    names: tuple[str, ...]  # model-name prefixes: "minilm" covers minilm, minilm-tiny, minilm-sst2
    gflop: dict[int, float]  # the reference model's GFLOP per inference by sequence length

    def covers(self, model: str, architecture: str | None = None) -> str | None:
        """How `model` belongs to this family ('reference model', 'architecture bert', 'model name'), or None."""
        if model == self.reference_model:
            return "reference model"
        if architecture and architecture in self.architectures:
            return f"architecture {architecture}"
        if any(re.match(rf"{re.escape(n)}\d*(-|$)", model) for n in self.names):
            return "model name"
        return None


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
    label: str | None = None  # derived: 'derived: scaled by GFLOPs from bert-base (22.3 -> 1.4 GFLOP)'


@functools.lru_cache(maxsize=1)
def _data() -> dict:
    data = json.loads(REFERENCE_PATH.read_text(encoding="utf-8"))
    if data.get("schema_version") != REFERENCE_SCHEMA_VERSION:
        raise ConfigError(f"{REFERENCE_PATH.name}: schema_version {data.get('schema_version')!r}; valid choices: "
                          f"{REFERENCE_SCHEMA_VERSION}")
    return data


def figures() -> tuple[GpuFigure, ...]:
    return tuple(GpuFigure(**f) for f in _data()["figures"])


def families() -> tuple[GpuFamily, ...]:
    return tuple(GpuFamily(reference_model=f["reference_model"], architectures=tuple(f["architectures"]),
                           names=tuple(f["names"]), gflop={int(k): float(v) for k, v in f["gflop"].items()})
                 for f in _data()["families"])


def family_of(model: str, architecture: str | None = None) -> tuple[GpuFamily, str] | None:
    """(the family whose figures stand for `model`, how it was matched), or None."""
    for fam in families():
        how = fam.covers(model, architecture)
        if how:
            return fam, how
    return None


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


def published_points(model: str, gpu_model: str) -> list[ReferencePoint]:
    """Published operating points for `model` on one GPU of catalogue model `gpu_model` (e.g. "T4")."""
    out: list[ReferencePoint] = []
    for alias in _data()["gpu_aliases"].get(gpu_model, []):
        out += _points_for(model, alias["reference_gpu"], alias["note"])
    return out


def nearest_seq(points, seq_len: int | None) -> list[ReferencePoint]:
    """The points at the published sequence length nearest `seq_len` (the shorter on a tie)."""
    lens = sorted({p.seq_len for p in points if p.seq_len is not None})
    if not lens or seq_len is None:
        return list(points)
    best = min(lens, key=lambda s: (abs(s - seq_len), s))
    return [p for p in points if p.seq_len == best]


def derive(points, family: GpuFamily, model: str, seq_len: int | None, gflop: float) -> list[ReferencePoint]:
    """The family's points (at the published sequence length nearest seq_len) scaled to `model` by GFLOPs."""
    out = []
    for p in nearest_seq(points, seq_len):
        ref = family.gflop.get(p.seq_len) if p.seq_len is not None else None
        if not ref or gflop <= 0:
            continue
        k = ref / gflop
        label = f"derived: scaled by GFLOPs from {family.reference_model} ({ref:.3g} -> {gflop:.3g} GFLOP)"
        out.append(dataclasses.replace(
            p, model=model, seq_len=seq_len, throughput_per_s=p.throughput_per_s * k,
            latency_ms=None if p.latency_ms is None else p.latency_ms / k, grade="derived", label=label,
            latency_basis=f"{label}, assuming the GPU runs both equally efficiently (it flatters small models); "
                          f"base figure: {p.latency_basis}"))
    return out
