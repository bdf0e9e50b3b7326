"""Cost: run records x price quotes -> capacity under an SLA, $ per million items, fleet size, break-even.

Pure functions and frozen records; no I/O. The arithmetic:
  usd_per_million        = usd_per_hour / (capacity_per_s * 3600) * 1e6
  instances_at_target    = ceil(target_qps / capacity_per_s)
  usd_per_month          = instances * usd_per_hour * 730          (730 h: AWS Pricing Calculator convention)
Capacity under an SLA (per record):
  - server scenario: the highest offered rate whose p99 stayed within the SLA (metrics.server);
  - single-stream / offline: throughput_per_s when the call latency p99 (or p90, then p50 when p99 is
    unsupported, saying which) is <= sla_ms, else 0 (SLA not met, excluded from $ columns).
Per (model, variant, backend, precision, seq_len, instance) the best batch/threads/streams/kernel
configuration within the SLA is kept. A record maps to an instance type only through
machine.instance_type; records without one are listed as unmapped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from .contracts import RunRecord, ServerResult
from .errors import ConfigError

HOURS_PER_MONTH = 730.0
LATENCY_FALLBACK = ("p99", "p90", "p50")
MEASURED, REFERENCE, ESTIMATE, NOT_MEASURED = "measured", "reference", "estimate", "not measured"


# ----------------------------------------------------------------------------------------------------------------
# arithmetic


def usd_per_million(usd_per_hour: float, throughput_per_s: float) -> float:
    """Dollars per million items at a sustained throughput. 0.10264 $/h at 10 items/s -> 2.851111."""
    if not throughput_per_s or throughput_per_s <= 0:
        raise ValueError(f"throughput_per_s must be > 0, got {throughput_per_s!r}")
    return usd_per_hour / (throughput_per_s * 3600.0) * 1e6


def fleet_size(target_qps: float, capacity_per_s: float) -> int:
    """Instances needed to serve target_qps: ceil(target / capacity), robust to float noise (1.1/0.1 -> 11)."""
    if capacity_per_s <= 0:
        raise ValueError(f"capacity_per_s must be > 0, got {capacity_per_s!r}")
    if target_qps < 0:
        raise ValueError(f"target_qps must be >= 0, got {target_qps!r}")
    q = target_qps / capacity_per_s
    n = math.ceil(q)
    if n >= 1 and math.isclose(q, n - 1, rel_tol=1e-9, abs_tol=1e-12):
        n -= 1
    return n


def usd_per_month(instances: int, usd_per_hour: float, hours_per_month: float = HOURS_PER_MONTH) -> float:
    return instances * usd_per_hour * hours_per_month


def fleet_usd_per_month(target_qps: float, capacity_per_s: float, usd_per_hour: float) -> float:
    return usd_per_month(fleet_size(target_qps, capacity_per_s), usd_per_hour)


@dataclass(frozen=True)
class BreakEven:
    """Where a GPU fleet becomes cheaper than a CPU fleet (monthly cost, steps because of ceil)."""

    gpu_cheaper_above_qps: float | None  # GPU is cheaper for rates just above this (None: never within)
    gpu_cheaper_until_qps: float | None  # ... up to and including this rate (end of that first interval)
    stays_cheaper: bool  # GPU is no dearer at every rate above the break-even, up to within_qps
    within_qps: float

    def describe(self) -> str:
        if self.gpu_cheaper_above_qps is None:
            return f"GPU never cheaper within {self.within_qps:,.6g} req/s"
        start = "at any rate" if self.gpu_cheaper_above_qps == 0 else f"above {self.gpu_cheaper_above_qps:,.6g} req/s"
        if self.stays_cheaper:
            return f"GPU cheaper {start} (checked up to {self.within_qps:,.6g} req/s)"
        return (f"GPU first cheaper {start} up to {self.gpu_cheaper_until_qps:,.6g} req/s; "
                f"the two alternate above that (fleet steps), checked up to {self.within_qps:,.6g} req/s")


MAX_BREAKPOINTS = 2_000_000


def break_even_qps(
    cpu_capacity_per_s: float,
    cpu_usd_per_hour: float,
    gpu_capacity_per_s: float,
    gpu_usd_per_hour: float,
    within_qps: float,
) -> BreakEven:
    """Smallest request rate at which the GPU fleet's monthly cost is below the CPU fleet's.

    Fleet costs are step functions: constant on (k*c, (k+1)*c]. Between consecutive breakpoints (multiples
    of either capacity) both are constant, so testing each interval's midpoint is exact. The answer is
    the interval's lower end: the GPU is cheaper for any rate just above it.
    """
    for name, v in (("cpu_capacity_per_s", cpu_capacity_per_s), ("gpu_capacity_per_s", gpu_capacity_per_s), ("within_qps", within_qps)):
        if not v or v <= 0:
            raise ValueError(f"{name} must be > 0, got {v!r}")
    n_points = within_qps / cpu_capacity_per_s + within_qps / gpu_capacity_per_s
    if n_points > MAX_BREAKPOINTS:  # keep the scan bounded; say so through within_qps
        within_qps = MAX_BREAKPOINTS / (1 / cpu_capacity_per_s + 1 / gpu_capacity_per_s)
    points = {0.0, float(within_qps)}
    for cap in (cpu_capacity_per_s, gpu_capacity_per_s):
        k = 1
        while k * cap < within_qps:
            points.add(k * cap)
            k += 1
    bounds = sorted(points)

    def cheaper(lo: float, hi: float) -> int:  # -1 GPU cheaper, 0 equal, 1 CPU cheaper
        mid = (lo + hi) / 2
        cpu = (math.floor(mid / cpu_capacity_per_s) + 1) * cpu_usd_per_hour
        gpu = (math.floor(mid / gpu_capacity_per_s) + 1) * gpu_usd_per_hour
        if math.isclose(cpu, gpu, rel_tol=1e-9):
            return 0
        return -1 if gpu < cpu else 1

    first = None
    for i in range(len(bounds) - 1):
        lo, hi = bounds[i], bounds[i + 1]
        if hi - lo <= 1e-12 * max(1.0, hi):
            continue
        c = cheaper(lo, hi)
        if first is None:
            if c < 0:
                first = (i, lo, hi)
        elif c > 0:
            return BreakEven(first[1], first[2], False, float(within_qps))
        elif first[2] == lo and c < 0:
            first = (first[0], first[1], hi)  # extend the first interval while the GPU stays cheaper
    if first is None:
        return BreakEven(None, None, False, float(within_qps))
    return BreakEven(first[1], first[2], True, float(within_qps))


# ----------------------------------------------------------------------------------------------------------------
# capacity under an SLA


@dataclass(frozen=True)
class Capacity:
    capacity_per_s: float | None  # None: cannot tell; 0.0: SLA not met
    sla_met: bool | None
    basis: str  # how it was decided, in words
    latency_ms: float | None = None  # the latency compared with the SLA
    percentile: str | None = None  # "p99" | "p90" | "p50" | "server"


def capacity_under_sla(record: RunRecord, sla_ms: float) -> Capacity:
    """Capacity of one record under a latency bound (see the module docstring)."""
    metrics = record.metrics
    if record.config.scenario == "server" or metrics.server:
        return _server_capacity(metrics.server or ServerResult(), sla_ms)
    throughput = metrics.throughput_per_s
    if not _positive(throughput):
        return Capacity(None, None, "no throughput_per_s in the record")
    lat = record.latency
    for pct in LATENCY_FALLBACK:
        value = lat.percentile(pct)
        if value is None:
            continue
        skipped = [p for p in LATENCY_FALLBACK[: LATENCY_FALLBACK.index(pct)]]
        prefix = f"{'/'.join(skipped)} unsupported (n={lat.n}); used {pct} " if skipped else f"{pct} "
        if value <= sla_ms:
            return Capacity(float(throughput), True, f"{prefix}{value:.4g} ms <= {sla_ms:g} ms", float(value), pct)
        return Capacity(0.0, False, f"{prefix}{value:.4g} ms > {sla_ms:g} ms: SLA not met", float(value), pct)
    return Capacity(None, None, "no latency percentile (p99, p90, p50) in the record")


def _server_capacity(server: ServerResult, sla_ms: float) -> Capacity:
    """The runner bisects the arrival rate keeping a latency quantile (p99; p90 with fewer than 300 requests)
    within its SLA; trials carry that quantile as p99_ms or p90_ms."""
    bound = server.sla_ms
    max_rate = server.max_rate_per_s
    trials = list(server.trials)
    q = server.quantile or 0.99
    pct = f"p{int(round(float(q) * 100))}"
    key = f"{pct}_ms"
    if bound is not None and math.isclose(float(bound), sla_ms) and max_rate is not None:
        met = _positive(max_rate)
        return Capacity(float(max_rate), met, f"server: max rate {float(max_rate):.4g}/s with {pct} <= {sla_ms:g} ms"
                        + ("" if met else ": SLA not met at any rate"), sla_ms, "server")
    if trials:
        ok = [t for t in trials if t.get(key) is not None and t[key] <= sla_ms and _positive(t.get("rate_per_s"))]
        if ok:
            best = max(ok, key=lambda t: t["rate_per_s"])
            return Capacity(float(best["rate_per_s"]), True, f"server trials: max rate {best['rate_per_s']:.4g}/s with {pct} "
                            f"{best[key]:.4g} ms <= {sla_ms:g} ms", float(best[key]), "server")
        return Capacity(0.0, False, f"server trials: no rate kept {pct} <= {sla_ms:g} ms: SLA not met", None, "server")
    if bound is not None and float(bound) <= sla_ms and max_rate is not None:
        return Capacity(float(max_rate), _positive(max_rate), f"server: max rate {float(max_rate):.4g}/s with {pct} under a "
                        f"tighter bound ({float(bound):g} ms <= {sla_ms:g} ms): a lower bound", float(bound), "server")
    return Capacity(None, None, f"server capacity measured under {bound!r} ms, not comparable with {sla_ms:g} ms (no trials)")


def _positive(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


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
    if _positive(dense) and nonzero is not None:
        return max(0.0, 1.0 - float(nonzero) / float(dense)), "1 - nonzero/dense FLOPs"
    return None, None


def record_accuracy(record: RunRecord) -> float | None:
    quality = record.quality
    return quality.accuracy if quality else None


# ----------------------------------------------------------------------------------------------------------------
# rows


@dataclass(frozen=True)
class CostRow:
    """One (model, variant, backend, precision, instance, purchase option) line of a cost report."""

    model: str
    variant: str
    backend: str
    backend_version: str | None
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
    throughput_per_s: float | None  # the throughput the $ figures use (server: max rate under the SLA)
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
    accuracy: float | None = None
    citation: str | None = None  # source of a reference figure, or the label of an estimate
    record_id: str | None = None
    created_at: str | None = None

    @property
    def group(self) -> tuple:
        return (self.model, self.variant, self.backend, self.precision, self.seq_len, self.instance, self.purchase_option)

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


@dataclass(frozen=True)
class BreakEvenRow:
    model: str
    purchase_option: str
    scope: str  # "cheapest GPU" or "vs <gpu instance>"
    cpu: CostRow
    gpu: CostRow
    break_even: BreakEven


@dataclass(frozen=True)
class CostAnalysis:
    sla_ms: float
    qps: float
    region: str
    rows: tuple[CostRow, ...]  # best configuration per group, cheapest first
    candidates: tuple[CostRow, ...]  # every evaluated configuration
    skipped: tuple[SkippedRecord, ...]
    unmapped: tuple[SkippedRecord, ...]
    not_measured: tuple[str, ...]  # one line each
    break_even: tuple[BreakEvenRow, ...]
    purchase_options: tuple[str, ...] = ("on-demand",)
    price_layers: tuple = field(default=())


def _price_fields(book, instance: str, region: str, option: str) -> dict:
    q = book.get(instance, region, option) if book is not None else None
    if q is None:
        what = "spot price" if option == "spot" else "price"
        return {"usd_per_hour": None, "price_source": f"no {what} for {instance} in {region}", "price_date": None}
    grade = f" [grade {q.grade}]" if q.grade else ""
    return {"usd_per_hour": float(q.usd_per_hour), "price_source": q.source + grade, "price_date": q.as_of}


def _hardware(instance: str) -> str:
    from .pricing.catalog import get

    entry = get(instance)
    return entry.describe() if entry else "unknown (not in the instance catalog)"


def _with_money(row: CostRow, qps: float) -> CostRow:
    """Fill $/1M and fleet figures from price and capacity; never a zero for 'unknown'."""
    if row.usd_per_hour is None or not row.sla_met or not _positive(row.throughput_per_s):
        return replace(row, usd_per_million=None, instances_at_target=None, usd_per_month_at_target=None)
    n = fleet_size(qps, row.throughput_per_s)
    return replace(
        row,
        usd_per_million=usd_per_million(row.usd_per_hour, row.throughput_per_s),
        instances_at_target=n,
        usd_per_month_at_target=usd_per_month(n, row.usd_per_hour),
    )


def _unusable(record: RunRecord) -> str | None:
    """Why a record cannot give a cost row, or None."""
    metrics = record.metrics
    if record.config.scenario == "server" or metrics.server:
        server = metrics.server or ServerResult()
        if server.max_rate_per_s is None and not server.trials:
            return "no metrics.server.max_rate_per_s or trials in a server record"
        return None
    if not _positive(metrics.throughput_per_s):
        return f"no throughput_per_s in the record (got {metrics.throughput_per_s!r})"
    if all(record.latency.percentile(p) is None for p in LATENCY_FALLBACK):
        return "no latency percentile (p99, p90, p50) in the record"
    return None


def _measured_rows(record: RunRecord, sla_ms: float, qps: float, region: str, book, options) -> list[CostRow] | str:
    cfg, eff, metrics, lat = record.config, record.effective, record.metrics, record.latency
    reason = _unusable(record)
    if reason:
        return reason
    cap = capacity_under_sla(record, sla_ms)
    instance, how = record_instance(record)
    server = cap.percentile == "server"
    throughput = cap.capacity_per_s if server else metrics.throughput_per_s
    sparsity, _ = record_sparsity(record)
    base = dict(
        model=cfg.model,
        variant=record.variant_label,
        backend=cfg.backend,
        backend_version=eff.backend_version,
        precision=record.precision,
        instance=instance,
        region=region,
        vcpu_or_gpu=_hardware(instance),
        batch=cfg.batch_size,
        seq_len=cfg.seq_len,
        throughput_per_s=float(throughput) if _positive(throughput) else None,
        p50_ms=lat.percentile("p50"),
        p99_ms=lat.percentile("p99"),
        sla_met=cap.sla_met,
        usd_per_million=None,
        instances_at_target=None,
        usd_per_month_at_target=None,
        measured_or_reference=MEASURED,
        device=record.device,
        capacity_basis=cap.basis,
        threads=record.threads,
        streams=cfg.backend_settings.get("streams", 1) if cfg.backend == "openvino" else None,
        kernel=record.kernel,
        scenario=cfg.scenario,
        sparsity=sparsity,
        accuracy=record_accuracy(record),
        citation=f"record {record.record_id} (instance type {how})",
        record_id=record.record_id,
        created_at=record.created_at,
    )
    return [_with_money(CostRow(**base, **_price_fields(book, instance, region, opt), purchase_option=opt), qps) for opt in options]


def _reference_rows(model: str, seq_len: int | None, sla_ms: float, qps: float, region: str, book, options,
                    gpu_instances) -> list[CostRow]:
    from .pricing.gpu_reference import reference_points

    out = []
    for inst in gpu_instances:
        for p in reference_points(model, inst.gpu_model):
            if seq_len is not None and p.seq_len is not None and p.seq_len != seq_len:
                continue
            per_gpu = p.throughput_per_s
            thr = per_gpu * inst.gpu_count
            notes = [p.latency_basis]
            if inst.gpu_count > 1:
                notes.append(f"assumption: per-GPU figure x {inst.gpu_count} GPUs")
            if p.notes:
                notes.append(p.notes)
            if p.latency_ms is not None:
                met = p.latency_ms <= sla_ms
                notes.append(f"avg {p.latency_ms:.4g} ms {'<=' if met else '>'} {sla_ms:g} ms" + ("" if met else ": SLA not met"))
            elif p.latency_bound_ms is not None:
                met = True if p.latency_bound_ms <= sla_ms else None
                if met is None:
                    notes.append(f"published bound {p.latency_bound_ms:g} ms is looser than {sla_ms:g} ms: SLA cannot be checked")
            else:
                met = None
            backend = "TensorRT" if "TensorRT" in p.source else "MLPerf (NVIDIA)"
            for opt in options:
                row = CostRow(
                    model=model, variant="dense", backend=backend, backend_version=None, precision=p.precision,
                    instance=inst.name, region=region, purchase_option=opt, **_price_fields(book, inst.name, region, opt),
                    vcpu_or_gpu=inst.describe(), batch=p.batch, seq_len=p.seq_len, throughput_per_s=thr,
                    p50_ms=None, p99_ms=None, sla_met=met, usd_per_million=None, instances_at_target=None,
                    usd_per_month_at_target=None, measured_or_reference=REFERENCE, device="gpu",
                    capacity_basis="; ".join(notes), scenario=p.scenario, sparsity=0.0,
                    citation=f"{p.grade} reference: {p.source}",
                )
                out.append(_with_money(row, qps))
    return out


def _project(row: CostRow, target, qps: float, book) -> CostRow | None:
    from .pricing.catalog import get

    src = get(row.instance)
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
        **_price_fields(book, target.name, row.region, row.purchase_option),
        throughput_per_s=None if row.throughput_per_s is None else row.throughput_per_s * factor,
        measured_or_reference=ESTIMATE,
        capacity_basis=f"{label}; latency assumed unchanged; {row.capacity_basis}",
        citation=label,
        backend_version=row.backend_version,
    )
    return _with_money(projected, qps)


def _pick_best(rows: list[CostRow]) -> CostRow:
    met = [r for r in rows if r.sla_met and r.throughput_per_s]
    if met:
        return max(met, key=lambda r: (r.throughput_per_s, -(r.batch or 0)))
    unknown = [r for r in rows if r.sla_met is None]
    if unknown:
        return max(unknown, key=lambda r: r.throughput_per_s or 0)
    return min(rows, key=lambda r: (r.p99_ms if r.p99_ms is not None else (r.p50_ms if r.p50_ms is not None else math.inf)))


def _sort_key(r: CostRow):
    money = r.usd_per_million if r.usd_per_million is not None else math.inf
    return (r.model, money, r.instance, r.variant, r.backend, r.precision, r.purchase_option)


def analyze(
    records: list[RunRecord],
    sla_ms: float,
    qps: float,
    region: str,
    book=None,
    *,
    purchase_options=("on-demand",),
    gpu_reference: bool = True,
    project_to=(),
    instances=None,
    models=None,
    reference_workloads=None,
    within_qps: float | None = None,
) -> CostAnalysis:
    """Join records with prices.

    book: a PriceBook (None: the one in force via load_price_book()). instances / models: keep only these.
    project_to: CPU instance types to estimate from measured CPU rows (labelled estimates).
    reference_workloads: (model, seq_len) pairs for GPU reference rows; default: those in the records.
    """
    from .pricing import PURCHASE_OPTIONS, load_price_book, validate_region
    from .pricing.catalog import all_instances, lookup

    if not _positive(sla_ms):
        raise ConfigError(f"--sla-ms: {sla_ms!r}; valid: a number of milliseconds > 0")
    if not _positive(qps):
        raise ConfigError(f"--qps: {qps!r}; valid: a request rate > 0")
    validate_region(region, "--region")
    options = tuple(purchase_options)
    for opt in options:
        if opt not in PURCHASE_OPTIONS:
            from .errors import choices_error

            raise choices_error("purchase option", opt, PURCHASE_OPTIONS)
    targets = [lookup(t) for t in project_to]
    for t in targets:
        if t.is_gpu:
            raise ConfigError(f"--project-to: {t.name!r} is a GPU instance; projection scales CPU cores only; valid: CPU instance types")
    keep_instances = set(instances) if instances else None
    if keep_instances:
        for name in keep_instances:
            lookup(name)
    if book is None:
        book = load_price_book()

    skipped: list[SkippedRecord] = []
    unmapped: list[SkippedRecord] = []
    newest: dict[tuple, RunRecord] = {}
    for rec in records:
        cfg = rec.config
        instance, _ = record_instance(rec)
        info = dict(record_id=rec.record_id, model=cfg.model, variant=rec.variant_label, backend=cfg.backend,
                    instance=instance)
        if models and cfg.model not in models:
            continue
        if not rec.ok:
            skipped.append(SkippedRecord(**info, reason=f"status {rec.status}: {rec.reason or 'no reason given'}"))
            continue
        if instance is None:
            unmapped.append(SkippedRecord(**info, reason="unmapped: the record has no machine.instance_type (declare it with --instance-type)"))
            continue
        if keep_instances and instance not in keep_instances:
            continue
        # records from several machines merge by instance type; the same type on a different CPU model
        # (a fingerprint difference that changes speed) stays a separate row
        key = (rec.config_hash, instance, rec.machine.cpu_model, cfg.scenario, rec.device)
        if key not in newest or (rec.created_at or "") >= (newest[key].created_at or ""):
            newest[key] = rec

    candidates: list[CostRow] = []
    for rec in newest.values():
        rows = _measured_rows(rec, sla_ms, qps, region, book, options)
        if isinstance(rows, str):
            skipped.append(SkippedRecord(rec.record_id, rec.config.model, rec.variant_label, rec.config.backend,
                                         record_instance(rec)[0], f"skipped: {rows}"))
            continue
        candidates += rows

    # a server measurement of a configuration supersedes single-stream/offline ones of the same configuration
    def config_key(r: CostRow):
        return r.group + (r.batch, r.threads, r.streams, r.kernel, r.device)

    with_server = {config_key(r) for r in candidates if r.scenario == "server"}
    candidates = [r for r in candidates if r.scenario == "server" or config_key(r) not in with_server]

    measured_gpu = {(r.model, r.instance) for r in candidates if r.device == "gpu"}
    if gpu_reference:
        workloads = reference_workloads
        if workloads is None:
            workloads = sorted({(r.model, r.seq_len) for r in candidates}, key=str)
        gpu_types = [i for i in all_instances() if i.is_gpu and (keep_instances is None or i.name in keep_instances)]
        for model, seq_len in workloads:
            if models and model not in models:
                continue
            types = [i for i in gpu_types if (model, i.name) not in measured_gpu]
            for row in _reference_rows(model, seq_len, sla_ms, qps, region, book, options, types):
                if row.usd_per_hour is not None:  # a reference GPU nobody prices here is noise, not a finding
                    candidates.append(row)

    groups: dict[tuple, list[CostRow]] = {}
    for r in candidates:
        groups.setdefault(r.group, []).append(r)
    best = [_pick_best(rs) for rs in groups.values()]

    for target in targets:
        for r in [b for b in best if b.device == "cpu" and b.measured_or_reference == MEASURED]:
            if r.instance == target.name:
                continue
            g = (r.model, r.variant, r.backend, r.precision, r.seq_len, target.name, r.purchase_option)
            if any(b.group == g for b in best):
                continue  # measured (or already estimated from another instance) beats a new estimate
            projected = _project(r, target, qps, book)
            if projected is not None:
                best.append(projected)

    not_measured = []
    if keep_instances:
        present = {r.instance for r in best}
        row_models = sorted(set(models) if models else {r.model for r in best})
        for name in sorted(keep_instances - present):
            entry = lookup(name)
            hint = "" if entry.is_gpu else f" (use --project-to {name} for a labelled estimate)"
            line = f"{name}: not measured: no record declares this instance type{hint}"
            not_measured.append(line)
            for model in row_models:  # a visible row with its price and no numbers, so no reader assumes a zero
                for opt in options:
                    best.append(CostRow(
                        model=model, variant="", backend="", backend_version=None, precision="", instance=name,
                        region=region, purchase_option=opt, **_price_fields(book, name, region, opt),
                        vcpu_or_gpu=entry.describe(), batch=None, seq_len=None, throughput_per_s=None, p50_ms=None,
                        p99_ms=None, sla_met=None, usd_per_million=None, instances_at_target=None,
                        usd_per_month_at_target=None, measured_or_reference=NOT_MEASURED,
                        device="gpu" if entry.is_gpu else "cpu", capacity_basis=line, citation=line))

    best.sort(key=_sort_key)
    return CostAnalysis(
        sla_ms=float(sla_ms),
        qps=float(qps),
        region=region,
        rows=tuple(best),
        candidates=tuple(candidates),
        skipped=tuple(skipped),
        unmapped=tuple(unmapped),
        not_measured=tuple(not_measured),
        break_even=tuple(_break_evens(best, options, within_qps or max(100.0 * qps, 10_000.0))),
        purchase_options=options,
        price_layers=tuple(getattr(book, "layers", ())),
    )


def _break_evens(rows: list[CostRow], options, within_qps: float) -> list[BreakEvenRow]:
    out = []
    for model in sorted({r.model for r in rows}):
        for opt in options:
            priced = [r for r in rows if r.model == model and r.purchase_option == opt and r.usd_per_million is not None
                      and r.measured_or_reference != ESTIMATE]
            cpus = [r for r in priced if r.device == "cpu"]
            gpus = [r for r in priced if r.device == "gpu"]
            if not cpus or not gpus:
                continue
            key = lambda r: (r.usd_per_million, r.usd_per_month_at_target, r.instance)  # noqa: E731
            cpu = min(cpus, key=key)
            cheapest = min(gpus, key=key)
            pairs = [("cheapest GPU", cheapest)]
            for inst in sorted({g.instance for g in gpus} - {cheapest.instance}):
                pairs.append((f"vs {inst}", min((g for g in gpus if g.instance == inst), key=key)))
            for scope, gpu in pairs:
                be = break_even_qps(cpu.throughput_per_s, cpu.usd_per_hour, gpu.throughput_per_s, gpu.usd_per_hour, within_qps)
                out.append(BreakEvenRow(model, opt, scope, cpu, gpu, be))
    return out
