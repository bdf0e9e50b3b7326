"""What a cost report says, as plain strings: the main table's display rows and the text sections.

The Markdown and HTML renderers lay these out, each escaping them its own way; nothing here escapes.
"""

from __future__ import annotations

from ..cost.analysis import CostAnalysis
from ..cost.quality import OK, OVER_BUDGET, UNKNOWN
from ..cost.quality import REFERENCE as REFERENCE_SOURCE
from ..cost.rows import MEASURED, NOT_MEASURED, CostRow

NO_BREAK_EVEN = ("no model has both an eligible CPU row and an eligible GPU row (priced, within the SLA, quality "
                 "within the budget)")


def _num(v, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def _sla(v) -> str:
    return {True: "met", False: "NOT met", None: "unknown"}[v]


def _money(v, prefix="$") -> str:
    if v is None:
        return "–"
    return f"{prefix}{v:,.2f}" if abs(v) >= 100 else f"{prefix}{v:.4g}"


def summary_line(analysis: CostAnalysis) -> str:
    return (f"Region {analysis.region}; SLA p99 <= {analysis.sla_ms:g} ms; target {analysis.qps:g} requests/s; "
            f"purchase options: {', '.join(analysis.purchase_options)}; quality: {analysis.gate.describe()}.")


def quality_label(r: CostRow) -> str:
    """The quality cell: ok, budget exceeded, or unknown with its short reason (and "allowed" under the flag)."""
    if r.measured_or_reference == NOT_MEASURED:
        return "–"
    if r.quality_status != UNKNOWN:
        return r.quality_status + (" (assumed)" if r.quality_source == REFERENCE_SOURCE and r.quality_status == OK else "")
    reason = r.quality_note.split(":", 1)[0] if ":" in r.quality_note else ""
    return (f"unknown: {reason}" if reason else "unknown") + (", allowed" if r.quality_passes else "")


def display_rows(analysis: CostAnalysis) -> list[dict]:
    """The main table, as ordered dicts of display strings (shared by Markdown and HTML): what a row costs and
    whether it may be chosen first, then how it was measured."""
    out = []
    for r in analysis.rows:
        out.append({
            "model": r.model,
            "variant": r.variant,
            "backend": r.backend,
            "engine version": r.engine_version or "",
            "precision": r.precision,
            "instance": r.instance,
            "option": r.purchase_option,  # dropped below when the report has one option only
            "$/1M": _money(r.usd_per_million),
            f"fleet @ {analysis.qps:g}/s": _num(r.instances_at_target) or "–",
            "$/month": _money(r.usd_per_month_at_target),
            "eligible": "yes" if r.eligible else "no",
            "accuracy": _num(r.accuracy) or "–",
            "drop (points)": "–" if r.accuracy_drop is None else f"{r.accuracy_drop:.3g}",
            "quality source": r.quality_source,
            "quality": quality_label(r),
            "SLA": _sla(r.sla_met),
            "kind": r.measured_or_reference,
            "hardware": r.vcpu_or_gpu,
            "$/h": f"${r.usd_per_hour:.6g}" if r.usd_per_hour is not None else r.price_source,
            "batch": _num(r.batch),
            "seq": _num(r.seq_len),
            "throughput/s": _num(r.throughput_per_s),
            "p50 ms": _num(r.p50_ms),
            "p99 ms": _num(r.p99_ms),
            "how": r.capacity_basis,
        })
    if len(analysis.purchase_options) == 1:
        for d in out:
            d.pop("option")
    return out


def row_kinds(analysis: CostAnalysis) -> list[str]:
    """Each main-table row's CSS classes: its kind (measured, reference, estimate, not-measured), and
    "ineligible" when it may not be chosen."""
    return [r.measured_or_reference.replace(" ", "-") + ("" if r.eligible else " ineligible") for r in analysis.rows]


def source_lines(analysis: CostAnalysis) -> list[str]:
    lines = []
    for layer in analysis.price_layers:
        lines.append(f"prices: {layer.kind} {layer.path} (as of {layer.as_of}, {layer.n_quotes} quotes)")
    seen = set()
    for r in analysis.rows:
        if r.usd_per_hour is not None:
            s = f"price {r.instance} {r.region} {r.purchase_option}: {r.price_source}, as of {r.price_date}"
            if s not in seen:
                seen.add(s)
                lines.append(s)
    for r in analysis.rows:
        if r.measured_or_reference != MEASURED and r.citation and r.citation not in seen:
            seen.add(r.citation)
            lines.append(f"{r.measured_or_reference}: {r.citation}")
    return lines


def method_lines(analysis: CostAnalysis) -> list[str]:
    return [
        f"SLA: call latency p99 <= {analysis.sla_ms:g} ms (p90, then p50, when the sample count cannot support p99; "
        "each row says which). Server-scenario records use the highest rate whose p99 stayed within the SLA.",
        "$/1M = $/h / (throughput within the SLA x 3600) x 1e6; fleet = ceil(target / throughput); $/month = fleet x $/h x 730 h.",
        "Per model, variant, backend, precision and instance, the best batch/threads/streams configuration within the SLA is shown.",
        "A measurement maps to an instance type only when its record declares machine.instance_type; others are listed as unmapped.",
        "Kinds: measured = our records; reference = published GPU figures (cited, never measured here); "
        "estimate = scaled from a measured instance, labelled with how.",
        "Engine versions are in their own column (engine version), as the record's effective engine reported them.",
    ] + quality_method_lines(analysis)


def quality_method_lines(analysis: CostAnalysis) -> list[str]:
    """How quality gates the choice (harness.results.cost.quality holds the same rule)."""
    budget = analysis.gate.max_drop_points
    return [
        f"Quality gate: a row may be chosen (eligible) only when its accuracy is at most {budget:g} accuracy points "
        "(--max-quality-drop) below its baseline's, it meets the SLA, it is priced, and it is measured or a published "
        "reference; estimates are never chosen. The Answer, the verdicts, \"cheapest\" and the break-even use eligible rows "
        "only; the others are shown with the reason.",
        "Baseline: the dense fp32 record (no variant, fp32) of the same model and checkpoint with accuracy measured "
        "on the engine on the same task and split (and data file); the same engine's record first, else any engine's "
        "(fp32 engines agree on top-1 within parity). accuracy_drop = (baseline accuracy - row accuracy) x 100 "
        "points. A dense fp32 row with measured accuracy is its own baseline (drop 0).",
        "Quality sources: engine = measured on the engine that was timed (--task), with a Wilson 95% interval; "
        "manifest = the pruned variant's manifest, measured in torch when the variant was made, not on the engine, "
        "known only when the same manifest gives the dense accuracy to compare with; teacher = top-1 agreement with "
        "the dense fp32 model on generated inputs: agreement, never accuracy, so quality unknown; reference = a "
        "published dense GPU figure, assumed to meet MLPerf's target (int8 within 1% of fp32 accuracy, fp16 equal to "
        "fp32), so known only when a dense fp32 baseline with measured accuracy exists for the model, and eligible "
        "only when that worst case fits the budget; none = nothing measured.",
        "Latency-only rows: a zoo model run without --checkpoint has seeded random weights, a random classifier whose "
        "accuracy means nothing; with no --task such rows say \"latency-only\" and are never chosen.",
        "Rows of unknown quality are never chosen" + (
            "; this report was made with --allow-unknown-quality, so they are chosen here, each labelled "
            "\"allowed\" in the quality column." if analysis.gate.allow_unknown else " (--allow-unknown-quality lets them be)."),
        "Pareto front: per model and task, the rows with a measured accuracy that no cheaper-or-equal row beats on "
        "accuracy (accuracy-vs-$/1M plot and list).",
    ]


def pareto_lines(analysis: CostAnalysis) -> list[str]:
    """One line per (model, task): the Pareto front of accuracy against $/1M, cheapest first."""
    out = []
    for (model, task), (_, front) in analysis.pareto().items():
        points = "; ".join(f"{r.variant} {r.backend} {r.precision} on {r.instance}: {_money(r.usd_per_million)}/1M, "
                           f"accuracy {r.accuracy:.4g}" + ("" if r.eligible else f" ({quality_label(r)}, not eligible)")
                           for r in front)
        out.append(f"{model} ({task or 'task not recorded'}): {points}.")
    return out


def _quality_tag(r: CostRow) -> str:
    """' [quality unknown: ..., allowed]' for a row chosen without known quality, else ''."""
    return f" [quality {quality_label(r)}]" if r.quality_status == UNKNOWN else ""


def break_even_lines(analysis: CostAnalysis) -> list[str]:
    out = []
    for b in analysis.break_even:
        out.append(
            f"{b.model} ({b.purchase_option}, {b.scope}): CPU {b.cpu.instance} {b.cpu.variant} {b.cpu.backend} {b.cpu.precision} "
            f"(${b.cpu.usd_per_million:.4g}/1M, {_num(b.cpu.throughput_per_s)}/s per instance){_quality_tag(b.cpu)} vs GPU "
            f"{b.gpu.instance} {b.gpu.backend} {b.gpu.precision} [{b.gpu.measured_or_reference}] (${b.gpu.usd_per_million:.4g}/1M, "
            f"{_num(b.gpu.throughput_per_s)}/s per instance){_quality_tag(b.gpu)}: {b.break_even.describe()}."
        )
    return out


def issue_sections(analysis: CostAnalysis) -> dict[str, list[str]]:
    """{heading: lines} of what the table leaves out or cannot price; empty sections are left to the renderer."""
    def rec(s):
        return f"{s.model}/{s.variant}/{s.backend} on {s.instance or '(no instance type)'} [record {s.record_id}]: {s.reason}"

    no_price = sorted({f"{r.price_source} ({r.model}/{r.variant}/{r.backend})" for r in analysis.rows if r.usd_per_hour is None})
    not_met = [f"{r.model}/{r.variant}/{r.backend}/{r.precision} on {r.instance}: {r.capacity_basis}"
               for r in analysis.rows if r.sla_met is False]
    unknown, over = _quality_issues(analysis)
    allowed = " (allowed by --allow-unknown-quality)" if analysis.gate.allow_unknown else " (shown, never chosen)"
    return {
        "Quality unknown" + allowed: unknown,
        f"Beyond the {analysis.gate.max_drop_points:g}-point quality budget (shown, never chosen)": over,
        "Not measured": list(analysis.not_measured),
        "No price (excluded from $ columns)": no_price,
        "SLA not met (excluded from $ columns)": not_met,
        "Unmapped records (no instance type; never mapped silently)": [rec(s) for s in analysis.unmapped],
        "Skipped records": [rec(s) for s in analysis.skipped],
    }


def _quality_issues(analysis: CostAnalysis) -> tuple[list[str], list[str]]:
    """(one line per configuration of unknown quality, one per configuration beyond the budget), instances merged."""
    seen: dict[tuple, list[str]] = {}
    for r in analysis.rows:
        if r.measured_or_reference == NOT_MEASURED or r.quality_status == OK:
            continue
        key = (r.quality_status, r.model, r.variant, r.backend, r.precision,
               r.quality_note + (f" (baseline: {r.quality_baseline})" if r.quality_baseline else ""))
        if r.instance not in seen.setdefault(key, []):
            seen[key].append(r.instance)
    unknown, over = [], []
    for (status, model, variant, backend, precision, note), instances in seen.items():
        line = f"{model}/{variant}/{backend}/{precision} on {', '.join(instances)}: {note}"
        (over if status == OVER_BUDGET else unknown).append(line)
    return unknown, over
