"""Cost rows: one (model, variant, backend, precision, instance, purchase option) line of a cost report.

Four kinds, each labelled in `measured_or_reference`:
  measured      from a run record whose machine declares its instance type (machine.instance_type);
  reference     published GPU figures for a GPU type with no measured record (cited, never measured here), or
                figures derived from the model family's published ones by GFLOPs (reference_grade "derived");
  estimate      a measured CPU row scaled by physical cores to another CPU type (asked for, labelled);
  not measured  an asked-for instance type with no record: its price and no numbers (never a zero).
Every row carries its quality and verdict (harness.results.cost.quality); `eligible` says whether it may be chosen.
A CPU row measured on a CPU whose ISA differs from the priced instance's (isa_mismatch) says so; it stays eligible
(the numbers are real, for another CPU) and the answer names the mismatch and the type that matches the CPU.
Per (model, variant, backend, precision, seq_len, instance) the best batch/threads/streams/kernel
configuration within the SLA is kept, preferring configurations whose quality passes the gate (`pick_best`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from harness.contracts import RunRecord, ServerResult
from harness.pricing.catalog import InstanceType, isa_classes, isa_mismatch

from .arithmetic import fleet_size, is_positive, usd_per_million, usd_per_month
from .capacity import LATENCY_FALLBACK, capacity_under_sla, is_server
from .catalog import CostCatalog
from .quality import NONE, UNKNOWN, Baselines, assess, assess_reference
from .query import CostQuery, QueryTerms

MEASURED, REFERENCE, ESTIMATE, NOT_MEASURED = "measured", "reference", "estimate", "not measured"


@dataclass(frozen=True)
class Terms(QueryTerms):
    """What every row of one analysis is judged and priced against."""

    query: CostQuery
    book: object  # a harness.pricing.PriceBook (or anything with .get(instance, region, option))
    catalog: CostCatalog
    baselines: Baselines = Baselines(())


@dataclass(frozen=True)
class CostRow:
    """One (model, variant, backend, precision, instance, purchase option) line of a cost report."""

    model: str
    variant: str
    backend: str
    engine_version: str | None
    precision: str
    instance: str
    region: str
    purchase_option: str
    usd_per_hour: float | None  # None: no price (price_source says so)
    price_source: str
    price_date: str | None
    vcpu_or_gpu: str
    batch: int | None
    seq_len: int | None
    throughput_per_s: float | None  # the throughput the $ figures use (server: highest VALID LoadGen rate under the SLA)
    p50_ms: float | None
    p99_ms: float | None
    sla_met: bool | None  # None: cannot be checked
    usd_per_million: float | None
    instances_at_target: int | None
    usd_per_month_at_target: float | None
    measured_or_reference: str  # "measured" | "reference" | "estimate" | "not measured" (no numbers, never invented)
    device: str  # "cpu" | "gpu"
    capacity_basis: str
    threads: int | None = None
    streams: int | None = None
    kernel: str | None = None
    scenario: str | None = None
    sparsity: float | None = None
    citation: str | None = None  # source of a reference figure, or the label of an estimate
    record_id: str | None = None
    created_at: str | None = None
    # quality (harness.results.cost.quality.RowQuality.row_fields)
    accuracy: float | None = None
    accuracy_ci95: tuple[float, ...] | None = None
    accuracy_drop: float | None = None  # points below the dense fp32 baseline
    top1_agreement: float | None = None
    quality_source: str = NONE  # engine | manifest | teacher | reference | none
    quality_status: str = UNKNOWN  # ok | budget exceeded | unknown
    quality_passes: bool = False  # status ok, or unknown under --allow-unknown-quality
    quality_task: str | None = None
    quality_baseline: str | None = None
    quality_note: str = ""
    # how the SLA was judged: the latency compared with it and which percentile ("p99", "p90", "p50", "server", "avg")
    sla_latency_ms: float | None = None
    sla_percentile: str | None = None
    reference_grade: str | None = None  # reference rows: "published" | "derived"
    # CPU rows: the measuring CPU's ISA classes against the priced instance's (None: not recorded)
    isa_mismatch: bool | None = None
    measured_isa: str | None = None
    instance_isa: str | None = None
    cpu_match: str | None = None  # the catalogue type whose CPU matches the measuring one, when they differ
    gflop: float | None = None  # dense GFLOP per inference at this row's sequence length (from the records)

    @property
    def group(self) -> tuple:
        return (self.model, self.variant, self.backend, self.precision, self.seq_len, self.instance, self.purchase_option)

    @property
    def eligible(self) -> bool:
        """May be chosen (cheapest, verdicts, break-even): quality passes the gate, the SLA is met, it is priced,
        and it is measured or a published reference (estimates are never chosen)."""
        return (self.quality_passes and self.usd_per_million is not None
                and self.measured_or_reference in (MEASURED, REFERENCE))

    @property
    def capacity_per_s(self) -> float | None:
        if self.sla_met:
            return self.throughput_per_s
        return 0.0 if self.sla_met is False else None


@dataclass(frozen=True)
class SkippedRecord:
    record_id: str | None
    model: str | None
    variant: str | None
    backend: str | None
    instance: str | None
    reason: str


# ----------------------------------------------------------------------------------------------------------------
# reading records


def record_instance(record: RunRecord) -> tuple[str | None, str | None]:
    """(instance type, how it is known) from machine.instance_type only; (None, None) when absent."""
    if not record.instance_type:
        return None, None
    return record.instance_type, record.machine.instance_type_source or "declared"


def record_sparsity(record: RunRecord) -> tuple[float | None, str | None]:
    """(sparsity, where it came from): the config's (from the variant manifest), then 1 - nonzero/dense
    FLOPs; dense -> 0."""
    if record.config.sparsity is not None:
        return float(record.config.sparsity), "config.sparsity"
    if not record.config.variant:
        return 0.0, "dense"
    dense, nonzero = record.metrics.flops_per_inference, record.metrics.flops_nonzero_per_inference
    if is_positive(dense) and nonzero is not None:
        return max(0.0, 1.0 - float(nonzero) / float(dense)), "1 - nonzero/dense FLOPs"
    return None, None


def unusable(record: RunRecord) -> str | None:
    """Why a record cannot give a cost row, or None."""
    metrics = record.metrics
    if metrics.loadgen is not None and metrics.loadgen.scenario == "server":
        return None  # a capacity, or a verdict that none was VALID
    if is_server(record):
        server = metrics.server or ServerResult()
        if server.max_rate_per_s is None and not server.trials:
            return "no metrics.server.max_rate_per_s or trials in a server record"
        return None
    if not is_positive(metrics.throughput_per_s):
        return f"no throughput_per_s in the record (got {metrics.throughput_per_s!r})"
    if all(record.latency.percentile(p) is None for p in LATENCY_FALLBACK):
        return "no latency percentile (p99, p90, p50) in the record"
    return None


# ----------------------------------------------------------------------------------------------------------------
# prices and money


def price_fields(terms: Terms, instance: str, option: str) -> dict:
    """usd_per_hour, price_source and price_date of one instance type; a missing price says so in words."""
    q = terms.book.get(instance, terms.region, option) if terms.book is not None else None
    if q is None:
        what = "spot price" if option == "spot" else "price"
        return {"usd_per_hour": None, "price_source": f"no {what} for {instance} in {terms.region}", "price_date": None}
    grade = f" [grade {q.grade}]" if q.grade else ""
    return {"usd_per_hour": float(q.usd_per_hour), "price_source": q.source + grade, "price_date": q.as_of}


def with_money(row: CostRow, qps: float) -> CostRow:
    """Fill $/1M and fleet figures from price and capacity; never a zero for 'unknown'."""
    if row.usd_per_hour is None or not row.sla_met or not is_positive(row.throughput_per_s):
        return replace(row, usd_per_million=None, instances_at_target=None, usd_per_month_at_target=None)
    n = fleet_size(qps, row.throughput_per_s)
    return replace(
        row,
        usd_per_million=usd_per_million(row.usd_per_hour, row.throughput_per_s),
        instances_at_target=n,
        usd_per_month_at_target=usd_per_month(n, row.usd_per_hour),
    )


_NO_MONEY = dict(usd_per_million=None, instances_at_target=None, usd_per_month_at_target=None)


# ----------------------------------------------------------------------------------------------------------------
# the four kinds of row


def measured_rows(record: RunRecord, terms: Terms) -> list[CostRow] | str:
    """One row per purchase option from a usable record, or the reason it is not usable."""
    reason = unusable(record)
    if reason:
        return reason
    cfg, lat = record.config, record.latency
    cap = capacity_under_sla(record, terms.sla_ms)
    instance, how = record_instance(record)
    throughput = cap.throughput_per_s if cap.throughput_per_s is not None or is_server(record) else record.metrics.throughput_per_s
    entry = terms.catalog.get(instance)
    isa = _isa_fields(record, entry, terms) if record.device == "cpu" else {}
    flops = record.metrics.flops_per_inference
    base = dict(
        model=cfg.model, variant=record.variant_label, backend=cfg.backend,
        engine_version=record.effective.backend_version, precision=record.precision, instance=instance,
        region=terms.region, vcpu_or_gpu=entry.describe() if entry else "unknown (not in the instance catalog)",
        batch=cfg.batch_size, seq_len=cfg.seq_len, throughput_per_s=float(throughput) if is_positive(throughput) else None,
        p50_ms=lat.percentile("p50"), p99_ms=lat.percentile("p99"), sla_met=cap.sla_met, **_NO_MONEY,
        measured_or_reference=MEASURED, device=record.device, capacity_basis=cap.basis, threads=record.threads,
        streams=cfg.backend_settings.get("streams", 1) if cfg.backend == "openvino" else None,
        kernel=record.kernel, scenario=cfg.scenario, sparsity=record_sparsity(record)[0],
        citation=f"record {record.record_id} (instance type {how})", record_id=record.record_id,
        created_at=record.created_at, **assess(record, terms.baselines, terms.gate).row_fields(),
        sla_latency_ms=cap.latency_ms, sla_percentile=cap.percentile, gflop=flops / 1e9 if is_positive(flops) else None,
        **isa,
    )
    return [with_money(CostRow(**base, **price_fields(terms, instance, opt), purchase_option=opt), terms.qps)
            for opt in terms.purchase_options]


def _isa_fields(record: RunRecord, entry: InstanceType | None, terms: Terms) -> dict:
    """A CPU row's ISA columns: the measuring CPU's classes against the priced instance's, and the matching type."""
    machine = record.machine
    mismatch = isa_mismatch(entry, machine.architecture, machine.isa_flags) if entry else None
    match = terms.catalog.matching(machine) if mismatch else None
    return dict(isa_mismatch=mismatch, measured_isa=" ".join(isa_classes(machine.isa_flags)) or None,
                instance_isa=" ".join(entry.isa) if entry and not entry.is_gpu else None,
                cpu_match=match.name if match and match.name != entry.name else None)


def reference_rows(model: str, seq_len: int | None, gflop: float | None, terms: Terms,
                   gpu_instances) -> tuple[list[CostRow], list[str]]:
    """(rows from published, or derived, GPU figures for `model` on each of `gpu_instances`, one per purchase option;
    one line per reason the model has no figure)."""
    out, why = [], []
    for inst in gpu_instances:
        points, reason = terms.catalog.gpu_figures(model, inst.gpu_model, seq_len, gflop)
        if reason and reason not in why:
            why.append(reason)
        for p in points:
            met, notes = _reference_sla(p, inst, terms.sla_ms)
            backend = "TensorRT" if "TensorRT" in p.source else "MLPerf (NVIDIA)"
            quality = assess_reference(p.precision, terms.gate).row_fields()
            citation = f"{p.grade} reference: {p.source}" if p.grade == "published" else f"{p.label}; base figure: {p.source}"
            for opt in terms.purchase_options:
                row = CostRow(
                    model=model, variant="dense", backend=backend, engine_version=None, precision=p.precision,
                    instance=inst.name, region=terms.region, purchase_option=opt, **price_fields(terms, inst.name, opt),
                    vcpu_or_gpu=inst.describe(), batch=p.batch, seq_len=p.seq_len,
                    throughput_per_s=p.throughput_per_s * inst.gpu_count, p50_ms=None, p99_ms=None, sla_met=met,
                    **_NO_MONEY, measured_or_reference=REFERENCE, device="gpu", capacity_basis="; ".join(notes),
                    scenario=p.scenario, sparsity=0.0, citation=citation, **quality, reference_grade=p.grade,
                    sla_latency_ms=p.latency_ms if p.latency_ms is not None else p.latency_bound_ms,
                    sla_percentile="avg" if p.latency_ms is not None else ("p99 bound" if p.latency_bound_ms else None),
                    gflop=gflop,
                )
                out.append(with_money(row, terms.qps))
    return out, why


def _reference_sla(p, inst: InstanceType, sla_ms: float) -> tuple[bool | None, list[str]]:
    """(SLA met or None when it cannot be checked, notes saying how) for one published point."""
    notes = [p.latency_basis]
    if inst.gpu_count > 1:
        notes.append(f"assumption: per-GPU figure x {inst.gpu_count} GPUs")
    if p.notes:
        notes.append(p.notes)
    if p.latency_ms is not None:
        met = p.latency_ms <= sla_ms
        notes.append(f"avg {p.latency_ms:.4g} ms {'<=' if met else '>'} {sla_ms:g} ms" + ("" if met else ": SLA not met"))
        return met, notes
    if p.latency_bound_ms is not None:
        if p.latency_bound_ms <= sla_ms:
            return True, notes
        notes.append(f"published bound {p.latency_bound_ms:g} ms is looser than {sla_ms:g} ms: SLA cannot be checked")
    return None, notes


def projected_row(row: CostRow, target: InstanceType, terms: Terms) -> CostRow | None:
    """A measured CPU row scaled by physical cores to `target`, labelled an estimate; None for an unknown source type."""
    src = terms.catalog.get(row.instance)
    if src is None:
        return None
    factor = target.physical_cores / src.physical_cores
    label = f"estimate: scaled by physical cores from {row.instance} ({src.physical_cores} -> {target.physical_cores} cores)"
    if (src.cpu_family, src.architecture) != (target.cpu_family, target.architecture):
        label += f"; different CPU ({src.cpu_family}, {src.architecture} -> {target.cpu_family}, {target.architecture}): low confidence"
    projected = replace(
        row,
        instance=target.name,
        vcpu_or_gpu=target.describe(),
        instance_isa=" ".join(target.isa) or None,
        isa_mismatch=None if row.measured_isa is None else isa_mismatch(
            target, "arm64" if "neon" in row.measured_isa.split() else "x86_64", row.measured_isa.split()),
        cpu_match=None,
        **price_fields(terms, target.name, row.purchase_option),
        throughput_per_s=None if row.throughput_per_s is None else row.throughput_per_s * factor,
        measured_or_reference=ESTIMATE,
        capacity_basis=f"{label}; latency assumed unchanged; {row.capacity_basis}",
        citation=label,
    )
    return with_money(projected, terms.qps)


def not_measured_row(model: str, entry: InstanceType, option: str, line: str, terms: Terms) -> CostRow:
    """A visible row with the instance's price and no numbers, so no reader assumes a zero."""
    return CostRow(
        model=model, variant="", backend="", engine_version=None, precision="", instance=entry.name,
        region=terms.region, purchase_option=option, **price_fields(terms, entry.name, option),
        vcpu_or_gpu=entry.describe(), batch=None, seq_len=None, throughput_per_s=None, p50_ms=None, p99_ms=None,
        sla_met=None, **_NO_MONEY, measured_or_reference=NOT_MEASURED, device="gpu" if entry.is_gpu else "cpu",
        capacity_basis=line, citation=line, quality_note="not measured",
    )


# ----------------------------------------------------------------------------------------------------------------
# choosing and ordering


def pick_best(rows: list[CostRow]) -> CostRow:
    """The most throughput within the SLA among configurations whose quality passes the gate, else among all
    (the smaller batch on a tie); else an unknown; else the lowest latency."""
    met = [r for r in rows if r.sla_met and r.throughput_per_s]
    if met:
        return max(met, key=lambda r: (r.quality_passes, r.throughput_per_s, -(r.batch or 0)))
    unknown = [r for r in rows if r.sla_met is None]
    if unknown:
        return max(unknown, key=lambda r: r.throughput_per_s or 0)
    return min(rows, key=lambda r: (r.p99_ms if r.p99_ms is not None else (r.p50_ms if r.p50_ms is not None else math.inf)))


def sort_key(r: CostRow):
    """Per model, cheapest per item first; rows without a $/1M last."""
    money = r.usd_per_million if r.usd_per_million is not None else math.inf
    return (r.model, money, r.instance, r.variant, r.backend, r.precision, r.purchase_option)
