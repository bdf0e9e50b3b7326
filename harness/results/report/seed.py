"""The seed's question as data, and the verdict on it from a cost analysis.

The seed (2022-10-24) claimed a 4-core CPU (t4g.xlarge) serves BERT-base 2x to 4x cheaper than a T4 GPU
(g4dn.xlarge) in Ohio. The comparison measures on this machine's closest type (c7a.large), lists the
seed's CPU as not measured (or a labelled estimate), and prices the GPU from measured records or, without
them, from published figures. Which instance types, model and workload that means lives in SEED; the
verdict's sentences take every name from there. The verdict compares eligible rows only (harness.results.cost.quality:
accuracy within the budget of the dense fp32 baseline) and says which quality each holds against which baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..cost.analysis import CostAnalysis
from ..cost.rows import MEASURED, REFERENCE, CostRow


@dataclass(frozen=True)
class SeedComparison:
    model: str
    model_label: str  # as the sentences name it
    measured_cpu: str  # the CPU type measured here
    claimed_cpu: str  # the CPU type the claim is about
    gpu: str
    sla_ms: float
    qps: float
    region: str
    default_seq_len: int  # reference GPU rows' sequence length when no record of the model gives one
    title: str
    claim: str
    reference_caveat: str  # what to know about the GPU's published figure

    @property
    def instances(self) -> tuple[str, ...]:
        return (self.measured_cpu, self.claimed_cpu, self.gpu)

    def describe(self) -> str:
        return f"{self.model_label}: {' vs '.join(self.instances)}"


SEED = SeedComparison(
    model="bert-base", model_label="BERT-base", measured_cpu="c7a.large", claimed_cpu="t4g.xlarge", gpu="g4dn.xlarge",
    sla_ms=100.0, qps=50.0, region="us-east-2", default_seq_len=128,
    title="Seed example: BERT-base on CPU vs a T4 GPU",
    claim=("Seed (2022-10-24): \"Predicting on 4-Core CPU should save 2x to 4x costs with more device availability "
           "in contrast to T4 GPU on Ohio\" (g4dn.xlarge $0.526/h vs t4g.xlarge $0.1344/h)."),
    reference_caveat="NVIDIA TensorRT demo, excludes host-device copies: an upper bound",
)


def seed_options(records, seed: SeedComparison = SEED) -> dict:
    """The analyze() keyword arguments of the comparison: its instance types, its model, and reference GPU
    rows at the sequence lengths the records measured the model at."""
    seq_lens = sorted({r.config.seq_len for r in records if r.config.model == seed.model}) or [seed.default_seq_len]
    return dict(instances=seed.instances, models=(seed.model,), reference_workloads=[(seed.model, s) for s in seq_lens])


def seed_verdict(analysis: CostAnalysis, seed: SeedComparison = SEED) -> list[str]:
    """Lines comparing our numbers with the seed's claim, whichever way they come out. Only eligible rows are
    compared (quality within the budget against the dense fp32 baseline); the others are named with the reason."""
    lines = [seed.claim, f"Quality held: {analysis.gate.describe()} (the dense fp32 record of the same model, task "
                         "and split); rows of unknown quality or beyond the budget are named below, never compared."]
    rows = [r for r in analysis.rows if r.purchase_option == "on-demand"]
    priced_cpu = [r for r in rows if r.instance == seed.measured_cpu and r.measured_or_reference == MEASURED
                  and r.usd_per_million is not None]
    cpu = [r for r in priced_cpu if r.eligible]
    priced_gpu = [r for r in rows if r.instance == seed.gpu and r.usd_per_million is not None]
    gpu = [r for r in priced_gpu if r.eligible]
    if not any(r.instance == seed.claimed_cpu for r in rows):
        lines.append(f"{seed.claimed_cpu}: not measured here (no record declares it); no cost is shown for it. "
                     f"`--project-to {seed.claimed_cpu}` gives a labelled, low-confidence estimate.")
    lines += _left_out(priced_cpu, cpu, seed)
    served = {c.variant for c in priced_cpu}
    for r in rows:  # variants measured on the CPU that no configuration serves within the SLA
        if r.instance == seed.measured_cpu and r.measured_or_reference == MEASURED and r.sla_met is False \
                and r.variant not in served:
            lines.append(f"{seed.model_label} {r.variant} on {seed.measured_cpu} [measured] ({r.backend}, {r.precision}): "
                         f"{r.capacity_basis}; no cost per item.")
    if not cpu:
        lines.append(f"No measured {seed.measured_cpu} record of acceptable quality meets p99 <= {analysis.sla_ms:g} ms "
                     f"with a price in {analysis.region}: nothing measured to compare with the seed's claim.")
        return lines
    if not gpu:
        why = f": {min(priced_gpu, key=lambda r: r.usd_per_million).quality_note}" if priced_gpu else ""
        lines.append(f"No {seed.gpu} row (measured or reference) of acceptable quality is priced in {analysis.region}"
                     f"{why}: no GPU side to compare.")
        return lines
    gpu_best: dict[str, CostRow] = {}  # the cheapest GPU row per precision: fp32 CPU vs fp16 and int8 GPU, both said
    for r in sorted(gpu, key=lambda r: r.usd_per_million):
        gpu_best.setdefault(r.precision, r)
    for variant in sorted({r.variant for r in cpu}, key=lambda v: (v != "dense", v)):
        c = min((r for r in cpu if r.variant == variant), key=lambda r: r.usd_per_million)
        lines.append(_comparison(c, list(gpu_best.values()), analysis, seed))
    first = next(iter(gpu_best.values()))
    if first.measured_or_reference == REFERENCE:
        lines.append(f"The {seed.gpu} figure is a published reference ({seed.reference_caveat}), not a measurement; "
                     f"its quality is {first.quality_note} ({first.quality_baseline}).")
    return lines


def _left_out(priced: list[CostRow], eligible: list[CostRow], seed: SeedComparison) -> list[str]:
    """One line per variant measured and priced on the CPU whose quality keeps every row of it out."""
    kept = {r.variant for r in eligible}
    out = []
    for variant in sorted({r.variant for r in priced} - kept, key=lambda v: (v != "dense", v)):
        r = min((r for r in priced if r.variant == variant), key=lambda r: r.usd_per_million)
        out.append(f"{seed.model_label} {variant} on {seed.measured_cpu} [measured] ({r.backend}, {r.precision}, "
                   f"batch {r.batch}): ${r.usd_per_million:.4g} per 1M, not compared: quality {r.quality_status} "
                   f"({r.quality_note}" + (f"; baseline: {r.quality_baseline}" if r.quality_baseline else "") + ").")
    return out


def _quality(r: CostRow) -> str:
    """The quality a compared CPU row holds and against which baseline."""
    task = f" on {r.quality_task}" if r.quality_task else ""
    if r.quality_status != "ok":
        return f"quality {r.quality_status} ({r.quality_note})"
    if r.quality_baseline == "itself (dense fp32)":
        return f"accuracy {r.accuracy:.4g}{task} ({r.quality_source}), the dense fp32 baseline itself"
    return (f"accuracy {r.accuracy:.4g}{task} ({r.quality_source}), {r.accuracy_drop:.3g} points below "
            f"{r.quality_baseline}")


def _comparison(c: CostRow, gpus: list[CostRow], analysis: CostAnalysis, seed: SeedComparison) -> str:
    """One CPU row against the cheapest GPU row of each precision: $ per item, fleet, monthly cost and quality."""
    parts = []
    for g in gpus:
        ratio = g.usd_per_million / c.usd_per_million
        verdict = f"CPU {ratio:.2f}x cheaper" if ratio >= 1 else f"GPU {1 / ratio:.2f}x cheaper"
        parts.append(f"vs {seed.gpu} {g.backend} {g.precision} batch {g.batch} [{g.measured_or_reference}] "
                     f"${g.usd_per_million:.4g} per 1M ({verdict} per item; {g.instances_at_target} x {seed.gpu} = "
                     f"${g.usd_per_month_at_target:,.2f}/month at {analysis.qps:g} req/s)")
    return (f"{seed.model_label} {c.variant} on {seed.measured_cpu} [measured] ({c.backend}, {c.precision}, batch {c.batch}): "
            f"${c.usd_per_million:.4g} per 1M at {c.throughput_per_s:.4g}/s within p99 <= {analysis.sla_ms:g} ms; "
            f"{c.instances_at_target} x {seed.measured_cpu} = ${c.usd_per_month_at_target:,.2f}/month at "
            f"{analysis.qps:g} req/s; quality: {_quality(c)}; " + "; ".join(parts) + ".")
