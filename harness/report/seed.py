"""The seed's question as data, and the verdict on it from a cost analysis.

The seed (2022-10-24) claimed a 4-core CPU (t4g.xlarge) serves BERT-base 2x to 4x cheaper than a T4 GPU
(g4dn.xlarge) in Ohio. The comparison measures on this machine's closest type (c7a.large), lists the
seed's CPU as not measured (or a labelled estimate), and prices the GPU from measured records or, without
them, from published figures. Which instance types, model and workload that means lives in SEED; the
verdict's sentences take every name from there.
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
    """Lines comparing our numbers with the seed's claim, whichever way they come out."""
    lines = [seed.claim]
    rows = [r for r in analysis.rows if r.purchase_option == "on-demand"]
    cpu = [r for r in rows if r.instance == seed.measured_cpu and r.measured_or_reference == MEASURED
           and r.usd_per_million is not None]
    gpu = [r for r in rows if r.instance == seed.gpu and r.usd_per_million is not None]
    if not any(r.instance == seed.claimed_cpu for r in rows):
        lines.append(f"{seed.claimed_cpu}: not measured here (no record declares it); no cost is shown for it. "
                     f"`--project-to {seed.claimed_cpu}` gives a labelled, low-confidence estimate.")
    if not cpu:
        lines.append(f"No measured {seed.measured_cpu} record meets p99 <= {analysis.sla_ms:g} ms with a price in "
                     f"{analysis.region}: nothing measured to compare with the seed's claim.")
        return lines
    if not gpu:
        lines.append(f"No {seed.gpu} row (measured or reference) is priced in {analysis.region}: no GPU side to compare.")
        return lines
    gpu_best: dict[str, CostRow] = {}  # the cheapest GPU row per precision: fp32 CPU vs fp16 and int8 GPU, both said
    for r in sorted(gpu, key=lambda r: r.usd_per_million):
        gpu_best.setdefault(r.precision, r)
    for variant in sorted({r.variant for r in cpu}, key=lambda v: (v != "dense", v)):
        c = min((r for r in cpu if r.variant == variant), key=lambda r: r.usd_per_million)
        lines.append(_comparison(c, list(gpu_best.values()), analysis, seed))
    served = {c.variant for c in cpu}
    for r in rows:  # variants measured on the CPU that no configuration serves within the SLA
        if r.instance == seed.measured_cpu and r.measured_or_reference == MEASURED and r.sla_met is False \
                and r.variant not in served:
            lines.append(f"{seed.model_label} {r.variant} on {seed.measured_cpu} [measured] ({r.backend}, {r.precision}): "
                         f"{r.capacity_basis}; no cost per item.")
    if next(iter(gpu_best.values())).measured_or_reference == REFERENCE:
        lines.append(f"The {seed.gpu} figure is a published reference ({seed.reference_caveat}), not a measurement.")
    return lines


def _comparison(c: CostRow, gpus: list[CostRow], analysis: CostAnalysis, seed: SeedComparison) -> str:
    """One CPU row against the cheapest GPU row of each precision: $ per item, fleet and monthly cost."""
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
            f"{analysis.qps:g} req/s; " + "; ".join(parts) + ".")
