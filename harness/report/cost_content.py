"""What a cost report says, as plain strings: the main table's display rows and the text sections.

The Markdown and HTML renderers lay these out, each escaping them its own way; nothing here escapes.
"""

from __future__ import annotations

from ..cost.analysis import CostAnalysis
from ..cost.rows import MEASURED

NO_BREAK_EVEN = "no model has both a priced CPU row and a priced GPU row within the SLA"


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
            f"purchase options: {', '.join(analysis.purchase_options)}.")


def display_rows(analysis: CostAnalysis) -> list[dict]:
    """The main table, as ordered dicts of display strings (shared by Markdown and HTML)."""
    out = []
    for r in analysis.rows:
        out.append({
            "model": r.model,
            "variant": r.variant,
            "backend": r.backend + (f" {r.backend_version}" if r.backend_version else ""),
            "precision": r.precision,
            "instance": r.instance,
            "option": r.purchase_option,  # dropped below when the report has one option only
            "hardware": r.vcpu_or_gpu,
            "$/h": f"${r.usd_per_hour:.6g}" if r.usd_per_hour is not None else r.price_source,
            "batch": _num(r.batch),
            "seq": _num(r.seq_len),
            "throughput/s": _num(r.throughput_per_s),
            "p50 ms": _num(r.p50_ms),
            "p99 ms": _num(r.p99_ms),
            "SLA": _sla(r.sla_met),
            "$/1M": _money(r.usd_per_million),
            f"fleet @ {analysis.qps:g}/s": _num(r.instances_at_target) or "–",
            "$/month": _money(r.usd_per_month_at_target),
            "kind": r.measured_or_reference,
            "accuracy": _num(r.accuracy),
            "how": r.capacity_basis,
        })
    if len(analysis.purchase_options) == 1:
        for d in out:
            d.pop("option")
    if all(r.accuracy is None for r in analysis.rows):
        for d in out:
            d.pop("accuracy")
    return out


def row_kinds(analysis: CostAnalysis) -> list[str]:
    """Each main-table row's kind as a CSS class name: measured, reference, estimate, not-measured."""
    return [r.measured_or_reference.replace(" ", "-") for r in analysis.rows]


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
    ]


def break_even_lines(analysis: CostAnalysis) -> list[str]:
    out = []
    for b in analysis.break_even:
        out.append(
            f"{b.model} ({b.purchase_option}, {b.scope}): CPU {b.cpu.instance} {b.cpu.variant} {b.cpu.backend} {b.cpu.precision} "
            f"(${b.cpu.usd_per_million:.4g}/1M, {_num(b.cpu.throughput_per_s)}/s per instance) vs GPU {b.gpu.instance} "
            f"{b.gpu.backend} {b.gpu.precision} [{b.gpu.measured_or_reference}] (${b.gpu.usd_per_million:.4g}/1M, "
            f"{_num(b.gpu.throughput_per_s)}/s per instance): {b.break_even.describe()}."
        )
    return out


def issue_sections(analysis: CostAnalysis) -> dict[str, list[str]]:
    """{heading: lines} of what the table leaves out or cannot price; empty sections are left to the renderer."""
    def rec(s):
        return f"{s.model}/{s.variant}/{s.backend} on {s.instance or '(no instance type)'} [record {s.record_id}]: {s.reason}"

    no_price = sorted({f"{r.price_source} ({r.model}/{r.variant}/{r.backend})" for r in analysis.rows if r.usd_per_hour is None})
    not_met = [f"{r.model}/{r.variant}/{r.backend}/{r.precision} on {r.instance}: {r.capacity_basis}"
               for r in analysis.rows if r.sla_met is False]
    return {
        "Not measured": list(analysis.not_measured),
        "No price (excluded from $ columns)": no_price,
        "SLA not met (excluded from $ columns)": not_met,
        "Unmapped records (no instance type; never mapped silently)": [rec(s) for s in analysis.unmapped],
        "Skipped records": [rec(s) for s in analysis.skipped],
    }
