"""The seed's question as data, and the verdict on it from a cost analysis.

The seed (2022-10-24) claimed a 4-core CPU (t4g.xlarge) serves BERT-base 2x to 4x cheaper than a T4 GPU
(g4dn.xlarge) in Ohio. The comparison prices every CPU type a BERT-base record declares (the measured CPU), lists the
seed's own CPU as not measured (or a labelled estimate with --project-to), and prices the T4 from measured records or,
without them, from published figures. The verdict puts the claim beside the measured answer (cost.answer): the
monthly cost of the cheapest eligible CPU fleet against the cheapest eligible T4 fleet at the target rate, and says
whether that confirms the claim (the CPU saves 2x or more), refutes it (less, or the GPU is cheaper), or cannot be
measured (no eligible row on one side), and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..cost.analysis import CostAnalysis
from ..cost.answer import model_answer
from ..cost.query import CostQuery
from ..cost.rows import REFERENCE
from .cost_answer import describe, gpu_name, quality_sentence

CONFIRMED, REFUTED, NOT_MEASURABLE = "confirmed", "refuted", "not measurable"


@dataclass(frozen=True)
class SeedComparison:
    model: str
    model_label: str  # as the sentences name it
    measured_cpu: str  # the CPU type measured here by default (records may declare others)
    claimed_cpu: str  # the CPU type the claim is about
    gpu: str
    sla_ms: float
    qps: float
    region: str
    default_seq_len: int  # reference GPU rows' sequence length when no record of the model gives one
    title: str
    claim: str
    claimed_saving: tuple[float, float]  # the CPU saves this many times the GPU's cost, low and high
    reference_caveat: str  # what to know about the GPU's published figure


SEED = SeedComparison(
    model="bert-base", model_label="BERT-base", measured_cpu="c7a.large", claimed_cpu="t4g.xlarge", gpu="g4dn.xlarge",
    sla_ms=100.0, qps=50.0, region="us-east-2", default_seq_len=128,
    title="Seed example: BERT-base on CPU vs a T4 GPU",
    claim=("Seed (2022-10-24): \"Predicting on 4-Core CPU should save 2x to 4x costs with more device availability "
           "in contrast to T4 GPU on Ohio\" (g4dn.xlarge $0.526/h vs t4g.xlarge $0.1344/h)."),
    claimed_saving=(2.0, 4.0),
    reference_caveat="NVIDIA TensorRT demo, excludes host-device copies: an upper bound",
)


def seed_query(records, base: CostQuery | None = None, seed: SeedComparison = SEED) -> CostQuery:
    """The comparison's query: the seed's model, the CPU types its records declare plus the seed's CPU and GPU, and
    reference GPU rows at the sequence lengths the records measured the model at (base: the terms asked for)."""
    base = base or CostQuery(sla_ms=seed.sla_ms, qps=seed.qps, region=seed.region)
    mine = [r for r in records if r.config.model == seed.model]
    seq_lens = sorted({r.config.seq_len for r in mine}) or [seed.default_seq_len]
    declared = sorted({r.instance_type for r in mine if r.instance_type and r.device == "cpu"})
    instances = tuple(dict.fromkeys(declared + [seed.measured_cpu, seed.claimed_cpu, seed.gpu]))
    return base.replace(instances=instances, models=(seed.model,),
                        reference_workloads=tuple((seed.model, s) for s in seq_lens))


@dataclass(frozen=True)
class SeedVerdict:
    verdict: str  # confirmed | refuted | not measurable
    lines: tuple[str, ...]  # the claim, the verdict sentence, then why and what to know


def seed_verdict(analysis: CostAnalysis, seed: SeedComparison = SEED) -> SeedVerdict:
    """The claim beside the measured answer (see the module docstring)."""
    option = "on-demand" if "on-demand" in analysis.purchase_options else analysis.purchase_options[0]
    a = model_answer(analysis, seed.model, option)
    lines = [seed.claim]
    notes = []
    if not any(r.instance == seed.claimed_cpu and r.measured_or_reference != "not measured" for r in analysis.rows):
        notes.append(f"{seed.claimed_cpu} (the seed's CPU, arm64 Graviton2) is not measured here; `--project-to "
                     f"{seed.claimed_cpu}` gives a labelled estimate, never chosen.")
    if a.cpu is None or a.gpu is None:
        side = "CPU" if a.cpu is None else f"{seed.gpu}"
        why = a.cpu_why if a.cpu is None else a.gpu_why
        lines.append(f"Verdict: not measurable: no eligible {side} option for {seed.model_label} at p99 <= "
                     f"{analysis.sla_ms:g} ms and {analysis.qps:g} req/s ({why}).")
        return SeedVerdict(NOT_MEASURABLE, tuple(lines + notes))
    ratio = a.ratio
    per_item = a.gpu.usd_per_million / a.cpu.usd_per_million
    low, high = seed.claimed_saving
    if ratio >= low:
        verdict = CONFIRMED
        how = "within the claimed range" if ratio <= high else f"more than the claimed {low:g}x-{high:g}x"
        head = f"Verdict: confirmed: the CPU fleet costs {ratio:.2f}x less than the T4 fleet, {how}"
    else:
        verdict = REFUTED
        head = (f"Verdict: refuted: the CPU fleet costs only {ratio:.2f}x less than the T4 fleet, below the claimed "
                f"{low:g}x" if ratio >= 1 else f"Verdict: refuted: the T4 fleet costs {1 / ratio:.2f}x less than the CPU fleet")
    full = (f"per item at full load the CPU costs {per_item:.2f}x less" if per_item >= 1
            else f"per item at full load the T4 costs {1 / per_item:.1f}x less")
    lines.append(f"{head} at {analysis.qps:g} req/s within p99 <= {analysis.sla_ms:g} ms ({full}).")
    lines.append(f"CPU: {describe(a.cpu)}: {a.cpu.instances_at_target} x {a.cpu.instance} = "
                 f"${a.cpu.usd_per_month_at_target:,.2f}/month; {quality_sentence(a.cpu)}.")
    lines.append(f"GPU: {describe(a.gpu)} on {gpu_name(a.gpu)}: {a.gpu.instances_at_target} x {a.gpu.instance} = "
                 f"${a.gpu.usd_per_month_at_target:,.2f}/month; {quality_sentence(a.gpu)}.")
    if a.cpu.isa_mismatch:
        match = f" (that CPU matches {a.cpu.cpu_match})" if a.cpu.cpu_match else ""
        notes.append(f"The CPU row was measured on a CPU with {a.cpu.measured_isa}{match} and priced as {a.cpu.instance} "
                     f"({a.cpu.instance_isa}): isa mismatch; on the priced CPU itself the numbers would differ (AVX-512 "
                     "and VNNI usually make it faster, int8 most of all).")
    if a.gpu.measured_or_reference == REFERENCE:
        notes.append(f"The {seed.gpu} figure is a {a.gpu.reference_grade or 'published'} reference "
                     f"({seed.reference_caveat}), not a measurement.")
    return SeedVerdict(verdict, tuple(lines + notes))
