"""The answer a cost report opens with, as plain strings: one table row per model (cheapest eligible CPU option,
cheapest eligible GPU option, $/month of each at the target rate with the fleet size, the ratio, latency against the
SLA, quality and the break-even rate) and one sentence per model ("CPU costs 5.1x less than a T4 at 50 req/s; the
GPU wins above 410 req/s"), with the ISA caveat where the CPU measured is not the CPU priced, and, where no CPU option
meets the SLA, by how much the closest misses and what would meet it. The renderers escape them.
"""

from __future__ import annotations

import re

from ..cost.analysis import CostAnalysis
from ..cost.answer import ModelAnswer
from ..cost.arithmetic import BreakEven
from ..cost.quality import BASELINE, ENGINE, MANIFEST, REFERENCE, UNKNOWN
from ..cost.rows import CostRow
from .cost_content import _money, engine_label, kind_label, latency_label, quality_label

ANSWER_COLUMNS = ("model", "cheapest CPU option", "cheapest GPU option", "CPU $/month (fleet)", "GPU $/month (fleet)",
                  "ratio", "latency vs SLA", "quality", "break-even")


def describe(r: CostRow) -> str:
    """'c7a.large · OpenVINO 2026.4.1 · int8 · dense [measured]' (batch when above 1)."""
    batch = f" · batch {r.batch}" if r.batch and r.batch > 1 else ""
    return f"{r.instance} · {engine_label(r.backend, r.engine_version)} · {r.precision} · {r.variant}{batch} [{kind_label(r)}]"


def gpu_name(r: CostRow) -> str:
    """'a T4 (g4dn.xlarge)'."""
    m = re.search(r"NVIDIA (\S+)", r.vcpu_or_gpu or "")
    return f"{'an' if m and m.group(1)[0] in 'AEFHILMNORSX' else 'a'} {m.group(1)} ({r.instance})" if m else r.instance


def monthly(r: CostRow | None) -> str:
    if r is None or r.usd_per_month_at_target is None:
        return "–"
    return f"{_money(r.usd_per_month_at_target)} ({r.instances_at_target} x)"


def break_even_cell(be: BreakEven | None) -> str:
    if be is None:
        return "–"
    if be.gpu_cheaper_above_qps is None:
        return f"GPU never cheaper (to {be.within_qps:,.0f} req/s)"
    if be.gpu_cheaper_above_qps == 0:
        return "GPU cheaper at any rate"
    tail = "" if be.stays_cheaper else f" (to {be.gpu_cheaper_until_qps:,.4g}, then they alternate)"
    return f"GPU cheaper above {be.gpu_cheaper_above_qps:,.4g} req/s{tail}"


def ratio_cell(a: ModelAnswer) -> str:
    ratio = a.ratio
    if ratio is None:
        return "–"
    return f"CPU {ratio:.2f}x cheaper" if ratio >= 1 else f"GPU {1 / ratio:.2f}x cheaper"


def answer_rows(analysis: CostAnalysis, answers: list[ModelAnswer]) -> list[dict]:
    """The answer table, one row per model (ANSWER_COLUMNS)."""
    out = []
    for a in answers:
        cpu = describe(a.cpu) + (" (isa mismatch)" if a.cpu.isa_mismatch else "") if a.cpu else f"none: {a.cpu_why}"
        gpu = describe(a.gpu) if a.gpu else f"none: {a.gpu_why}"
        latency = "; ".join(f"{side} {latency_label(r, analysis.sla_ms)}" for side, r in (("CPU", a.cpu), ("GPU", a.gpu))
                            if r is not None)
        if a.miss is not None and a.cpu is None:
            latency = (f"CPU best {a.miss.row.sla_percentile} {a.miss.latency_ms:.3g} ms > {analysis.sla_ms:g}"
                       + (f"; {latency}" if latency else ""))
        quality = "; ".join(f"{side} {quality_label(r)}" for side, r in (("CPU", a.cpu), ("GPU", a.gpu)) if r is not None)
        out.append(dict(zip(ANSWER_COLUMNS, (a.model, cpu, gpu, monthly(a.cpu), monthly(a.gpu), ratio_cell(a),
                                             latency or "–", quality or "–", break_even_cell(a.break_even)))))
    return out


def answer_sentences(analysis: CostAnalysis, answers: list[ModelAnswer]) -> list[str]:
    """One sentence (or two) per model."""
    if not answers:
        return ["No priced row: no record of a model maps to a priced instance type (see the sections below)."]
    return [model_sentence(analysis, a) for a in answers]


def model_sentence(analysis: CostAnalysis, a: ModelAnswer) -> str:
    rate = f"{analysis.qps:g} req/s"
    if a.cpu and a.gpu:
        ratio, gpu = a.ratio, gpu_name(a.gpu)
        costs = (f"(${a.cpu.usd_per_month_at_target:,.2f}/month for {a.cpu.instances_at_target} x {a.cpu.instance} "
                 f"against ${a.gpu.usd_per_month_at_target:,.2f}/month for {a.gpu.instances_at_target} x {a.gpu.instance})")
        head = (f"CPU costs {ratio:.1f}x less than {gpu} at {rate} {costs}" if ratio >= 1
                else f"{gpu[0].upper() + gpu[1:]} costs {1 / ratio:.1f}x less than CPU at {rate} {costs}")
        be = a.break_even
        if be.gpu_cheaper_above_qps is None:
            tail = f"the GPU does not win below {be.within_qps:,.0f} req/s"
        elif be.gpu_cheaper_above_qps == 0:
            tail = "the GPU is cheaper at any rate"
        else:
            tail = f"the GPU wins above {be.gpu_cheaper_above_qps:,.4g} req/s"
        text = f"{a.model}: {head}; {tail}."
    elif a.cpu:
        text = f"{a.model}: CPU {describe(a.cpu)} at {monthly(a.cpu)} a month at {rate}; no GPU option: {a.gpu_why}."
    elif a.gpu:
        text = f"{a.model}: {gpu_name(a.gpu)} at {monthly(a.gpu)} a month at {rate}; no CPU option: {a.cpu_why}."
    else:
        text = f"{a.model}: no eligible option at {rate}: CPU: {a.cpu_why}; GPU: {a.gpu_why}."
    if a.cpu and a.cpu.isa_mismatch:
        match = f"; that CPU matches {a.cpu.cpu_match}" if a.cpu.cpu_match else ""
        text += (f" CPU measured on a CPU with {a.cpu.measured_isa} and priced as {a.cpu.instance} "
                 f"({a.cpu.instance_isa}): isa mismatch, so the CPU figure is for another CPU than the one priced{match}.")
    if a.miss is not None:
        m = a.miss
        text += (f" The closest CPU row, {describe(m.row)}, misses the {analysis.sla_ms:g} ms SLA by {m.over_ms:.3g} ms "
                 f"({m.row.sla_percentile} {m.latency_ms:.3g} ms)")
        text += (": what would meet it: " + "; ".join(m.fixes) + ".") if m.fixes else "."
    return text


def quality_sentence(r: CostRow) -> str:
    """Which quality a chosen row holds, from where, against which baseline."""
    if r.quality_source == BASELINE:
        acc = f", accuracy {r.accuracy:.4g}" + (f" on {r.quality_task}" if r.quality_task else "") if r.accuracy is not None else ""
        return f"the dense fp32 baseline itself (drop 0{acc})"
    if r.quality_status == UNKNOWN:
        return f"quality unknown ({r.quality_note})"
    if r.quality_source == REFERENCE:
        return f"quality {r.quality_note}"
    ci = f" (95% interval {r.accuracy_ci95[0]:.3g}-{r.accuracy_ci95[1]:.3g})" if r.accuracy_ci95 else ""
    where = {ENGINE: "measured on the engine", MANIFEST: "from the variant manifest, measured in torch when it was made"}
    task = f" on {r.quality_task}" if r.quality_task else ""
    text = f"accuracy {r.accuracy:.4g}{ci}{task}, {where.get(r.quality_source, r.quality_source)}"
    drop = r.accuracy_drop or 0.0
    gap = f"{drop:.3g} points below" if drop > 0 else ("equal to" if drop == 0 else f"{-drop:.3g} points above")
    return f"{text}; {gap} {r.quality_baseline}"
