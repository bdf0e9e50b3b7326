"""`analyze`: run records x a cost query x a price book x a catalog -> the rows of a cost report.

Pure: the price book and the catalog (instance types, published GPU figures) are passed in; nothing here
reads a file or the network. Steps:
  1. select: failed runs are skipped with their reason, records without machine.instance_type are listed
     as unmapped (never mapped silently), and per configuration, instance type, CPU model, scenario and
     device the newest record is kept (records from several machines merge by instance type);
  2. measured rows, each with its quality judged against the dense fp32 baseline (harness.results.cost.quality), where a
     server measurement supersedes single-stream/offline ones of the same configuration;
  3. GPU reference rows for GPU types without a measured record (priced ones only): published figures of the model,
     else derived from its family's by GFLOPs; a model that can have none gets one line saying why;
  4. the best configuration per group, projections to asked-for CPU types, rows for asked-for types with
     no record;
  5. break-even rates between the cheapest eligible CPU row and each GPU type's cheapest eligible row.
Rows beyond the quality budget or of unknown quality stay in the rows, never in the break-even
(CostRow.eligible); `--allow-unknown-quality` lets the unknown ones be chosen. The per-model answer (cheapest CPU
against cheapest GPU at the target rate) is harness.results.cost.answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.contracts import RunRecord
from harness.foundation.errors import ConfigError
from harness.pricing.catalog import InstanceType

from .arithmetic import BreakEven, break_even_qps, pareto_front
from .catalog import CostCatalog
from .quality import Baselines
from .query import CostQuery, QueryTerms
from .rows import (
    MEASURED,
    CostRow,
    SkippedRecord,
    Terms,
    measured_rows,
    not_measured_row,
    pick_best,
    projected_row,
    record_instance,
    reference_rows,
    sort_key,
)


@dataclass(frozen=True)
class BreakEvenRow:
    model: str
    purchase_option: str
    scope: str  # "cheapest GPU" or "vs <GPU model>" (e.g. "vs 1x NVIDIA L4 22 GiB")
    cpu: CostRow
    gpu: CostRow
    break_even: BreakEven


@dataclass(frozen=True)
class CostAnalysis(QueryTerms):
    query: CostQuery
    rows: tuple[CostRow, ...]  # best configuration per group, cheapest first
    candidates: tuple[CostRow, ...]  # every evaluated configuration
    skipped: tuple[SkippedRecord, ...]
    unmapped: tuple[SkippedRecord, ...]
    not_measured: tuple[str, ...]  # one line each
    break_even: tuple[BreakEvenRow, ...]
    price_layers: tuple = field(default=())
    no_gpu_figure: tuple[str, ...] = ()  # one line per model that can have no GPU figure, and why

    def cheapest(self, model: str, option: str, device: str | None = None, *, at_target: bool = False) -> CostRow | None:
        """The cheapest eligible row of a model and purchase option (on one device when given), or None: per item,
        or at_target: by the fleet's monthly cost at the target rate (then per item)."""
        pool = [r for r in self.rows if r.model == model and r.purchase_option == option and r.eligible
                and (device is None or r.device == device)]
        return min(pool, key=_monthly_key if at_target else _cheapest_key, default=None)

    def break_even_between(self, cpu: CostRow, gpu: CostRow) -> BreakEven:
        """The break-even rate between two priced rows that meet the SLA (see arithmetic.break_even_qps)."""
        return break_even_qps(cpu.throughput_per_s, cpu.usd_per_hour, gpu.throughput_per_s, gpu.usd_per_hour,
                              self.within_qps)

    def pareto(self) -> dict[tuple[str, str | None], tuple[list[CostRow], list[CostRow]]]:
        """{(model, quality task): (rows with a measured accuracy and a $/1M, those on the accuracy-vs-$/1M Pareto
        front, cheapest first)} for the first purchase option; accuracies of different tasks are never compared."""
        groups: dict[tuple[str, str | None], list[CostRow]] = {}
        for r in self.rows:
            if r.accuracy is not None and r.usd_per_million is not None and r.purchase_option == self.purchase_options[0]:
                groups.setdefault((r.model, r.quality_task), []).append(r)
        out = {}
        for key, rows in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            front = pareto_front([(r.usd_per_million, r.accuracy) for r in rows])
            on_front = [min((r for r in rows if (r.usd_per_million, r.accuracy) == p), key=_cheapest_key) for p in front]
            out[key] = (rows, on_front)
        return out


def analyze(records: list[RunRecord], query: CostQuery, book, catalog: CostCatalog) -> CostAnalysis:
    """Join records with prices (see the module docstring).

    book: a PriceBook. catalog: from load_catalog(models), holding every model that may get GPU reference rows.
    """
    models = query.models
    terms = Terms(query=query, book=book, catalog=catalog,
                  baselines=Baselines(r for r in records if not models or r.config.model in models))
    targets = [catalog.lookup(t, "--project-to") for t in query.project_to]
    for t in targets:
        if t.is_gpu:
            raise ConfigError(f"--project-to: {t.name!r} is a GPU instance; projection scales CPU cores only; "
                              "valid: CPU instance types")
    keep = set(query.instances) if query.instances else None
    for name in keep or ():
        catalog.lookup(name, "--instances")

    newest, skipped, unmapped = _select(records, models, keep)
    candidates: list[CostRow] = []
    for rec in newest:
        rows = measured_rows(rec, terms)
        if isinstance(rows, str):
            skipped.append(SkippedRecord(rec.record_id, rec.config.model, rec.variant_label, rec.config.backend,
                                         record_instance(rec)[0], f"skipped: {rows}"))
        else:
            candidates += rows
    candidates = _server_supersedes(candidates)
    no_gpu: list[str] = []
    if query.gpu_reference:
        reference, no_gpu = _reference_candidates(candidates, terms, query.reference_workloads, models, keep)
        candidates += reference

    groups: dict[tuple, list[CostRow]] = {}
    for r in candidates:
        groups.setdefault(r.group, []).append(r)
    best = [pick_best(rs) for rs in groups.values()]
    best += _projections(best, targets, terms)
    not_measured, placeholders = _not_measured(best, keep, models, terms)
    best += placeholders
    best.sort(key=sort_key)
    return CostAnalysis(
        query=query, rows=tuple(best), candidates=tuple(candidates), skipped=tuple(skipped), unmapped=tuple(unmapped),
        not_measured=tuple(not_measured), break_even=tuple(_break_evens(best, query.purchase_options, query.search_qps)),
        price_layers=tuple(getattr(book, "layers", ())), no_gpu_figure=tuple(no_gpu),
    )


def _select(records, models, keep) -> tuple[list[RunRecord], list[SkippedRecord], list[SkippedRecord]]:
    """(the newest usable record per configuration and machine kind, skipped, unmapped)."""
    skipped: list[SkippedRecord] = []
    unmapped: list[SkippedRecord] = []
    newest: dict[tuple, RunRecord] = {}
    for rec in records:
        cfg = rec.config
        instance, _ = record_instance(rec)
        if models and cfg.model not in models:
            continue
        info = dict(record_id=rec.record_id, model=cfg.model, variant=rec.variant_label, backend=cfg.backend,
                    instance=instance)
        if not rec.ok:
            skipped.append(SkippedRecord(**info, reason=f"status {rec.status}: {rec.reason or 'no reason given'}"))
            continue
        if instance is None:
            unmapped.append(SkippedRecord(**info, reason="unmapped: the record has no machine.instance_type "
                                                         "(declare it with --instance-type)"))
            continue
        if keep and instance not in keep:
            continue
        # the same type on a different CPU model (a fingerprint difference that changes speed) stays apart
        key = (rec.config_hash, instance, rec.machine.cpu_model, rec.machine.cpu_family_model,
               tuple(rec.machine.isa_flags), cfg.scenario, rec.device)
        if key not in newest or (rec.created_at or "") >= (newest[key].created_at or ""):
            newest[key] = rec
    return list(newest.values()), skipped, unmapped


def _server_supersedes(candidates: list[CostRow]) -> list[CostRow]:
    """Drop single-stream/offline rows of a configuration that also has a server measurement."""
    def config_key(r: CostRow):
        return r.group + (r.batch, r.threads, r.streams, r.kernel, r.device)

    with_server = {config_key(r) for r in candidates if r.scenario == "server"}
    return [r for r in candidates if r.scenario == "server" or config_key(r) not in with_server]


def _reference_candidates(candidates: list[CostRow], terms: Terms, workloads, models,
                          keep) -> tuple[list[CostRow], list[str]]:
    """(priced GPU reference rows for each workload on GPU types without a measured record of that model, one line per
    model that can have no figure)."""
    measured_gpu = {(r.model, r.instance) for r in candidates if r.device == "gpu"}
    gflops = {(r.model, r.seq_len): r.gflop for r in candidates if r.gflop}
    if workloads is None:
        workloads = sorted({(r.model, r.seq_len) for r in candidates}, key=str)
    gpu_types = [i for i in terms.catalog.gpu_instances() if keep is None or i.name in keep]
    out, why = [], []
    for model, seq_len in workloads:
        if models and model not in models:
            continue
        types = [i for i in gpu_types if (model, i.name) not in measured_gpu]
        rows, reasons = reference_rows(model, seq_len, gflops.get((model, seq_len)), terms, types)
        # a reference GPU nobody prices here is noise, not a finding
        out += [r for r in rows if r.usd_per_hour is not None]
        why += [x for x in reasons if x not in why]
    return out, why


def _projections(best: list[CostRow], targets: list[InstanceType], terms: Terms) -> list[CostRow]:
    """Estimates on each target CPU type from the measured CPU rows; a measured (or earlier) row of the group wins."""
    out: list[CostRow] = []
    for target in targets:
        for r in [b for b in best if b.device == "cpu" and b.measured_or_reference == MEASURED]:
            if r.instance == target.name:
                continue
            g = (r.model, r.variant, r.backend, r.precision, r.seq_len, target.name, r.purchase_option)
            if any(b.group == g for b in best + out):
                continue
            projected = projected_row(r, target, terms)
            if projected is not None:
                out.append(projected)
    return out


def _not_measured(best: list[CostRow], keep, models, terms: Terms) -> tuple[list[str], list[CostRow]]:
    """(one line per asked-for instance type without a row, a priced placeholder row per model and option)."""
    lines: list[str] = []
    rows: list[CostRow] = []
    if not keep:
        return lines, rows
    present = {r.instance for r in best}
    row_models = sorted(set(models) if models else {r.model for r in best})
    for name in sorted(keep - present):
        entry = terms.catalog.lookup(name)
        hint = "" if entry.is_gpu else f" (use --project-to {name} for a labelled estimate)"
        line = f"{name}: not measured: no record declares this instance type{hint}"
        lines.append(line)
        rows += [not_measured_row(model, entry, opt, line, terms) for model in row_models for opt in terms.purchase_options]
    return lines, rows


def _break_evens(rows: list[CostRow], options, within_qps: float) -> list[BreakEvenRow]:
    """Per model and purchase option: the cheapest eligible CPU row against the cheapest eligible GPU row and against
    the cheapest eligible row of each other GPU model, cheapest at the target rate (as the answer chooses)."""
    out = []
    for model in sorted({r.model for r in rows}):
        for opt in options:
            priced = [r for r in rows if r.model == model and r.purchase_option == opt and r.eligible]
            cpus = [r for r in priced if r.device == "cpu"]
            gpus = [r for r in priced if r.device == "gpu"]
            if not cpus or not gpus:
                continue
            cpu = min(cpus, key=_monthly_key)
            cheapest = min(gpus, key=_monthly_key)
            pairs = [("cheapest GPU", cheapest)]
            for gpu_model in sorted({g.vcpu_or_gpu for g in gpus} - {cheapest.vcpu_or_gpu}):
                pairs.append((f"vs {gpu_model}", min((g for g in gpus if g.vcpu_or_gpu == gpu_model), key=_monthly_key)))
            for scope, gpu in pairs:
                be = break_even_qps(cpu.throughput_per_s, cpu.usd_per_hour, gpu.throughput_per_s, gpu.usd_per_hour,
                                    within_qps)
                out.append(BreakEvenRow(model, opt, scope, cpu, gpu, be))
    return out


def _cheapest_key(r: CostRow) -> tuple:
    return (r.usd_per_million, r.usd_per_month_at_target, r.instance)


def _monthly_key(r: CostRow) -> tuple:
    return (r.usd_per_month_at_target, r.usd_per_million, r.instance)
