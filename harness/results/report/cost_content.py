"""What a cost report says, as plain strings: the main table's display rows and the text sections.

The Markdown and HTML renderers lay these out, each escaping them its own way; nothing here escapes.
"""

from __future__ import annotations

from harness.pricing import current_date

from ..cost.analysis import CostAnalysis
from ..cost.quality import BASELINE, OK, OVER_BUDGET, UNKNOWN
from ..cost.quality import REFERENCE as REFERENCE_SOURCE
from ..cost.rows import MEASURED, NOT_MEASURED, REFERENCE, CostRow

ENGINE_NAMES = {"torch": "PyTorch", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO", "deepsparse": "DeepSparse",
                "torch-cuda": "PyTorch CUDA", "onnxruntime-cuda": "ONNX Runtime CUDA"}

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


def engine_label(backend: str, version: str | None) -> str:
    """'OpenVINO 2026.4.1' for openvino '2026.4.1-22982-e213a147257-releases/2026/4' (the full string is in the CSV)."""
    short = (version or "").split("-")[0].split("+")[0].strip()
    return f"{ENGINE_NAMES.get(backend, backend)} {short}".strip()


def kind_label(r: CostRow) -> str:
    """measured | published | derived | estimate | not measured."""
    return r.reference_grade if r.measured_or_reference == REFERENCE and r.reference_grade else r.measured_or_reference


def latency_label(r: CostRow, sla_ms: float) -> str:
    """'9.6 ms p99 <= 100' / '251 ms p50 > 100' / 'avg 2 ms (published)': what was compared with the SLA."""
    if r.sla_latency_ms is None:
        return _sla(r.sla_met)
    pct = r.sla_percentile or "p99"
    sign = "<=" if r.sla_met else (">" if r.sla_met is False else "?")
    return f"{pct} {_num(r.sla_latency_ms, 3)} ms {sign} {sla_ms:g}"


def price_age_line(analysis: CostAnalysis, today=None) -> str:
    """'prices: bundled aws-2026-12-05.json, as of 2026-12-05 (3 days old)'."""
    today = today or current_date()
    if not analysis.price_layers:
        return "prices: passed in"
    newest = max(analysis.price_layers, key=lambda layer: layer.as_of)
    days = newest.age_days(today)
    return f"prices: {newest.kind} {newest.path.rsplit('/', 1)[-1]}, as of {newest.as_of} ({days} day{'s' * (days != 1)} old)"


def summary_line(analysis: CostAnalysis) -> str:
    return analysis.query.describe()


def quality_label(r: CostRow) -> str:
    """The quality cell: baseline, ok, budget exceeded, or unknown with its short reason (and "allowed" under the flag);
    assumed reference qualities say so."""
    if r.measured_or_reference == NOT_MEASURED:
        return "–"
    if r.quality_source == BASELINE:
        return "baseline (drop 0)"
    if r.quality_status != UNKNOWN:
        if r.quality_source == REFERENCE_SOURCE and r.quality_status == OK:
            return "assumed <= 1 pt" if r.precision == "int8" else "assumed drop 0"
        drop = f", {r.accuracy_drop:.2g} pt" if r.accuracy_drop is not None else ""
        return r.quality_status + drop
    reason = r.quality_note.split(":", 1)[0] if ":" in r.quality_note else ""
    return (f"unknown: {reason}" if reason else "unknown") + (", allowed" if r.quality_passes else "")


def instance_label(r: CostRow) -> str:
    """'c7a.large' or 'c7a.large (isa mismatch)'."""
    return r.instance + (" (isa mismatch)" if r.isa_mismatch else "")


TABLE_COLUMNS = ("model", "variant", "engine", "precision", "instance", "kind", "latency vs SLA", "throughput/s",
                 "$/1M", "fleet", "$/month", "quality")


def display_rows(analysis: CostAnalysis) -> list[dict]:
    """The full table, 12 columns, as ordered dicts of display strings (shared by Markdown and HTML); everything else
    is in the CSV. Rows that may not be chosen say why in the quality cell."""
    out = []
    for r in analysis.rows:
        option = f" ({r.purchase_option})" if len(analysis.purchase_options) > 1 else ""
        out.append(dict(zip(TABLE_COLUMNS, (
            r.model, r.variant, engine_label(r.backend, r.engine_version), r.precision, instance_label(r) + option,
            kind_label(r), latency_label(r, analysis.sla_ms), _num(r.throughput_per_s) or "–",
            _money(r.usd_per_million), _num(r.instances_at_target) or "–", _money(r.usd_per_month_at_target),
            quality_label(r) + ("" if r.eligible else "; not eligible"),
        ))))
    return out


def row_kinds(analysis: CostAnalysis) -> list[str]:
    """Each full-table row's CSS classes: its kind (measured, reference, derived, estimate, not-measured), and
    "ineligible" when it may not be chosen."""
    return [r.measured_or_reference.replace(" ", "-") + (" derived" if r.reference_grade == "derived" else "")
            + ("" if r.eligible else " ineligible") for r in analysis.rows]


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
        "or derived reference; estimates are never chosen. The answer, the verdicts, \"cheapest\" and the break-even "
        "use eligible rows only; the others are shown with the reason.",
        "Baseline: the dense fp32 model of a model and checkpoint is its own quality baseline: its rows on every engine "
        "whose parity passed have drop 0 by definition, accuracy measured or not (quality source baseline). Variants "
        "and other precisions are judged against the dense fp32 record with accuracy measured on the engine on the "
        "same task and split (and data file); the same engine's record first, else any engine's (fp32 engines agree "
        "on top-1 within parity). accuracy_drop = (baseline accuracy - row accuracy) x 100 points; without both "
        "accuracies the quality stays unknown.",
        "Quality sources: baseline = the dense fp32 row itself; engine = measured on the engine that was timed "
        "(--task), with a Wilson 95% interval; manifest = the pruned variant's manifest, measured in torch when the "
        "variant was made, known only when the same manifest gives the dense accuracy to compare with; teacher = top-1 "
        "agreement with the dense fp32 model on generated inputs: agreement, never accuracy, so quality unknown; "
        "reference = a published (or derived) GPU figure of the dense weights: fp32/fp16/bf16 of the same weights is "
        "the model (drop 0, assumed); int8 is held to MLPerf's target of 99% of fp32 accuracy, at most 1 point whatever "
        "the accuracy, so eligible under a budget of 1 point or more (assumed); none = nothing measured.",
        "GPU figures: published ones (NVIDIA TensorRT demo, MLPerf) where the model has them; otherwise derived from "
        "its family's published figure scaled by GFLOPs per inference at the row's sequence length (the harness counts "
        "FLOPs), labelled 'derived: scaled by GFLOPs from ...'; this assumes the GPU runs both models equally "
        "efficiently, which flatters small models. A measured GPU record (torch-cuda) replaces them.",
        "ISA: a CPU row measured on a CPU whose instruction set differs from the priced instance's (AVX2 measured, "
        "priced as a type with AVX-512 VNNI) is marked 'isa mismatch': its numbers are real but for another CPU, so its "
        "cost on the priced type is a guess; the answer names the type that matches the measuring CPU.",
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
    groups: dict[tuple, set[str]] = {}
    for r in analysis.rows:
        if r.isa_mismatch:
            groups.setdefault((r.instance, r.instance_isa, r.measured_isa, r.cpu_match), set()).add(r.model)
    mismatched = [f"{inst} ({inst_isa}): rows of {', '.join(sorted(models))} were measured on a CPU with "
                  f"{measured or 'no recorded ISA'}" + (f"; that CPU matches {match}" if match else "")
                  for (inst, inst_isa, measured, match), models in sorted(groups.items(), key=str)]
    return {
        "ISA mismatch (measured on another CPU than the one priced)": mismatched,
        "No GPU figure": list(analysis.no_gpu_figure),
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
        if r.measured_or_reference == NOT_MEASURED or r.quality_status == OK or r.quality_source == BASELINE:
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
