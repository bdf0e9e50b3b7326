"""The answer per model: the cheapest eligible CPU option against the cheapest eligible GPU option at the target rate.

For each model (first purchase option of the query):
  cpu, gpu      the eligible row of each device with the lowest monthly fleet cost at the target rate (then $/1M);
  ratio         GPU $/month / CPU $/month at the target rate (above 1: the CPU fleet is cheaper);
  break_even    the request rate at which the GPU fleet becomes cheaper (arithmetic.break_even_qps, whole instances);
  why           when a device has no eligible option, why not, in one line;
  miss          when no CPU row of acceptable quality meets the SLA: the measured row closest to it, by how much it misses, and what
                would meet it: a faster measured row held back by its quality, more cores (a labelled projection from
                the measured thread scaling of that configuration), or a fleet run on a larger type.
Pure: rows in, records out; the sentences are the report's (report.cost_answer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .analysis import CostAnalysis
from .arithmetic import BreakEven
from .catalog import CostCatalog
from .quality import OVER_BUDGET, UNKNOWN
from .rows import MEASURED, REFERENCE, CostRow


@dataclass(frozen=True)
class SlaMiss:
    """The measured CPU row closest to the SLA when none meets it, and what would."""

    row: CostRow
    latency_ms: float
    over_ms: float
    fixes: tuple[str, ...]


@dataclass(frozen=True)
class ModelAnswer:
    model: str
    option: str  # purchase option
    cpu: CostRow | None
    gpu: CostRow | None
    break_even: BreakEven | None
    cpu_why: str | None = None
    gpu_why: str | None = None
    miss: SlaMiss | None = None

    @property
    def ratio(self) -> float | None:
        """GPU $/month / CPU $/month at the target rate."""
        if self.cpu is None or self.gpu is None or not self.cpu.usd_per_month_at_target:
            return None
        return self.gpu.usd_per_month_at_target / self.cpu.usd_per_month_at_target


def answers(analysis: CostAnalysis, catalog: CostCatalog | None = None) -> list[ModelAnswer]:
    """One answer per model with a row, for the first purchase option."""
    option = analysis.purchase_options[0]
    return [model_answer(analysis, model, option, catalog) for model in sorted({r.model for r in analysis.rows})]


def model_answer(analysis: CostAnalysis, model: str, option: str, catalog: CostCatalog | None = None) -> ModelAnswer:
    cpu = analysis.cheapest(model, option, "cpu", at_target=True)
    gpu = analysis.cheapest(model, option, "gpu", at_target=True)
    be = analysis.break_even_between(cpu, gpu) if cpu and gpu else None
    miss = None
    if cpu is None and not any(r.sla_met and r.quality_passes for r in _rows(analysis, model, option, "cpu")):
        miss = sla_miss(analysis, model, option, catalog)
    return ModelAnswer(model=model, option=option, cpu=cpu, gpu=gpu, break_even=be,
                       cpu_why=None if cpu else why_none(analysis, model, option, "cpu"),
                       gpu_why=None if gpu else why_none(analysis, model, option, "gpu"), miss=miss)


def _rows(analysis: CostAnalysis, model: str, option: str, device: str | None = None) -> list[CostRow]:
    return [r for r in analysis.rows if r.model == model and r.purchase_option == option
            and r.measured_or_reference in (MEASURED, REFERENCE) and (device is None or r.device == device)]


def why_none(analysis: CostAnalysis, model: str, option: str, device: str | None = None) -> str:
    """Why no row of the model (on the device) is eligible, in one line."""
    rows = _rows(analysis, model, option, device)
    what = f"{device.upper()} row" if device else "row"
    if not rows:
        figure = next((x for x in analysis.no_gpu_figure if x.startswith(f"{model}:")), None)
        if device == "gpu" and figure:
            return figure.split(": ", 1)[1]
        return f"no {what} (measured or reference) for {model}"
    if not any(r.sla_met for r in rows):
        return f"no {what} meets p99 <= {analysis.sla_ms:g} ms"
    if not any(r.usd_per_million is not None for r in rows):
        return f"no {what} both meets p99 <= {analysis.sla_ms:g} ms and has a price in {analysis.region}"
    if not any(r.quality_status != UNKNOWN for r in rows if r.sla_met):
        return (f"no {what} within the SLA is of known quality: measure accuracy with --task (for example --task sst2) "
                "or pass --allow-unknown-quality")
    if not any(r.quality_passes for r in rows if r.sla_met):
        return (f"every {what} within the SLA of known quality is beyond the {analysis.gate.max_drop_points:g}-point "
                "budget (--max-quality-drop)")
    return f"no {what} of acceptable quality meets p99 <= {analysis.sla_ms:g} ms with a price in {analysis.region}"


def sla_miss(analysis: CostAnalysis, model: str, option: str, catalog: CostCatalog | None) -> SlaMiss | None:
    """The measured CPU row closest to the SLA and what would meet it (see the module docstring)."""
    missed = [r for r in _rows(analysis, model, option, "cpu")
              if r.measured_or_reference == MEASURED and r.sla_met is False and r.sla_latency_ms]
    if not missed:
        return None
    best = min(missed, key=lambda r: (not r.quality_passes, r.sla_latency_ms))
    fixes = [f for f in (_held_back(analysis, model, option), _more_cores(analysis, best, catalog)) if f]
    return SlaMiss(row=best, latency_ms=best.sla_latency_ms, over_ms=best.sla_latency_ms - analysis.sla_ms,
                   fixes=tuple(fixes))


def _held_back(analysis: CostAnalysis, model: str, option: str) -> str | None:
    """A measured CPU row that meets the SLA but is held back by its quality, if any (the fastest)."""
    fast = [r for r in analysis.rows if r.model == model and r.purchase_option == option and r.device == "cpu"
            and r.measured_or_reference == MEASURED and r.sla_met and not r.quality_passes]
    if not fast:
        return None
    r = min(fast, key=lambda r: r.sla_latency_ms or math.inf)
    why = "beyond the quality budget" if r.quality_status == OVER_BUDGET else "of unknown quality"
    return (f"{r.variant} {r.precision} on {r.backend} meets it ({r.sla_percentile} {r.sla_latency_ms:.3g} ms) but is "
            f"{why} ({r.quality_note}); measure its accuracy with --task, or widen --max-quality-drop")


def thread_scaling(analysis: CostAnalysis, row: CostRow) -> tuple[int, int, float] | None:
    """(fewer threads, more threads, speed-up of p50 between them) among the measured configurations of the row's
    model, variant, engine, precision, instance and batch; None when only one thread count was measured."""
    same = [r for r in analysis.candidates if r.measured_or_reference == MEASURED and r.p50_ms
            and (r.model, r.variant, r.backend, r.precision, r.instance, r.batch, r.purchase_option)
            == (row.model, row.variant, row.backend, row.precision, row.instance, row.batch, row.purchase_option)]
    by_threads = {}
    for r in same:
        if r.threads:
            by_threads[r.threads] = min(r.p50_ms, by_threads.get(r.threads, math.inf))
    if len(by_threads) < 2:
        return None
    lo, hi = sorted(by_threads)[-2:]
    return lo, hi, by_threads[lo] / by_threads[hi]


def _more_cores(analysis: CostAnalysis, row: CostRow, catalog: CostCatalog | None) -> str:
    """More cores, as a labelled projection from the measured thread scaling, and the fleet run that would confirm it."""
    scaling = thread_scaling(analysis, row)
    run = f"a fleet run on a larger {row.instance.split('.')[0]} type (harness fleet plan MATRIX --instance-types ...)"
    if scaling is None:
        return (f"more cores: not measured at another thread count here; measure with harness bench --threads 1,2 or "
                f"{run}")
    lo, hi, speedup = scaling
    alpha = math.log(speedup) / math.log(hi / lo) if speedup > 0 else 0.0
    measured = f"measured {lo} -> {hi} threads: {speedup:.2f}x"
    if alpha < 0.1:
        return f"more cores would hardly help ({measured}); a faster engine, int8 or a pruned variant would"
    cores = math.ceil(hi * (row.sla_latency_ms / analysis.sla_ms) ** (1 / alpha))
    target = None
    if catalog is not None:
        family = row.instance.split(".")[0]
        bigger = [i for i in catalog.instances if i.family == family and i.physical_cores >= cores]
        target = min(bigger, key=lambda i: i.physical_cores, default=None)
    where = (f"; the smallest {row.instance.split('.')[0]} type with that many is {target.name} "
             f"({target.physical_cores} cores): confirm with a fleet run on it (harness fleet plan MATRIX "
             f"--instance-types {target.name})") if target else f"; confirm with {run}"
    return (f"projection, not measured: at the measured thread scaling ({measured}) about {cores} cores would bring "
            f"{row.sla_percentile} under {analysis.sla_ms:g} ms{where}")
