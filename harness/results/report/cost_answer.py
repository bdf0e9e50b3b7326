"""The answer a cost report opens with: per model, in a few sentences, the cheapest eligible option at the SLA
and the target rate (the lowest monthly fleet cost at that rate, then the lowest $ per item; what quality it
holds against which baseline), the cheapest eligible option of the other device beside it with the break-even
rate between the two, and the cheaper rows that were not chosen and why; or, when no option is eligible, why
not. Plain strings; the renderers escape them.
"""

from __future__ import annotations

from ..cost.analysis import CostAnalysis
from ..cost.quality import ENGINE, MANIFEST, OVER_BUDGET, REFERENCE, UNKNOWN
from ..cost.rows import MEASURED, CostRow
from .cost_content import quality_label


def answer_lines(analysis: CostAnalysis) -> list[str]:
    """One paragraph per model, for the first purchase option (on-demand unless only spot was asked for)."""
    option = analysis.purchase_options[0]
    models = sorted({r.model for r in analysis.rows})
    if not models:
        return ["No priced row: no record of a model maps to a priced instance type (see the sections below)."]
    return [_model_answer(analysis, model, option) for model in models]


def _terms(analysis: CostAnalysis) -> str:
    return f"p99 <= {analysis.sla_ms:g} ms and {analysis.qps:g} requests/s"


def describe(r: CostRow) -> str:
    """'c7a.large, deepsparse 1.8.0, fp32, bert-base-90, batch 1 [measured]'."""
    engine = r.backend + (f" {r.engine_version}" if r.engine_version else "")
    batch = f", batch {r.batch}" if r.batch is not None else ""
    return f"{r.instance}, {engine}, {r.precision}, {r.variant}{batch} [{r.measured_or_reference}]"


def fleet(r: CostRow, analysis: CostAnalysis) -> str:
    return (f"${r.usd_per_million:.4g} per 1M items; {r.instances_at_target} x {r.instance} = "
            f"${r.usd_per_month_at_target:,.2f}/month at {analysis.qps:g} requests/s")


def quality_sentence(r: CostRow) -> str:
    """Which quality a chosen row holds, from where, against which baseline."""
    if r.quality_status == UNKNOWN:
        return f"quality unknown ({r.quality_note})"
    if r.quality_source == REFERENCE:
        return f"quality {r.quality_note}; baseline: {r.quality_baseline}"
    ci = f" (95% interval {r.accuracy_ci95[0]:.3g}-{r.accuracy_ci95[1]:.3g})" if r.accuracy_ci95 else ""
    where = {ENGINE: "measured on the engine", MANIFEST: "from the variant manifest, measured in torch when it was made"}
    task = f" on {r.quality_task}" if r.quality_task else ""
    text = f"accuracy {r.accuracy:.4g}{ci}{task}, {where.get(r.quality_source, r.quality_source)}"
    if r.quality_baseline == "itself (dense fp32)":
        return text + "; it is the dense fp32 baseline itself"
    drop = r.accuracy_drop or 0.0
    gap = f"{drop:.3g} points below" if drop > 0 else ("equal to" if drop == 0 else f"{-drop:.3g} points above")
    return f"{text}; {gap} {r.quality_baseline}"


def _model_answer(analysis: CostAnalysis, model: str, option: str) -> str:
    best = analysis.cheapest(model, option, at_target=True)
    if best is None:
        why, _ = _why_none(analysis, model, option)
        return f"{model}: no eligible option at {_terms(analysis)}: {why}"
    text = [f"{model}: the cheapest eligible option at {_terms(analysis)} is {describe(best)} at {fleet(best, analysis)}; "
            f"{quality_sentence(best)}."]
    other = "gpu" if best.device == "cpu" else "cpu"
    alt = analysis.cheapest(model, option, other, at_target=True)
    label = "Best GPU option beside it" if other == "gpu" else "Cheapest eligible CPU option beside it"
    named = None
    if alt is None:
        why, named = _why_none(analysis, model, option, other)
        text.append(f"No eligible {other.upper()} option: {why}")
    else:
        cpu, gpu = (best, alt) if other == "gpu" else (alt, best)
        text.append(f"{label}: {describe(alt)} at {fleet(alt, analysis)}; {quality_sentence(alt)}; "
                    f"break-even between the two: {analysis.break_even_between(cpu, gpu).describe()}.")
    text += _not_chosen(analysis, model, option, best, named)
    return " ".join(text)


def _candidates(analysis: CostAnalysis, model: str, option: str, device: str | None = None) -> list[CostRow]:
    return [r for r in analysis.rows if r.model == model and r.purchase_option == option
            and r.measured_or_reference in (MEASURED, REFERENCE) and (device is None or r.device == device)]


def _monthly(r: CostRow) -> tuple:
    return (r.usd_per_month_at_target, r.usd_per_million)


def _why_none(analysis: CostAnalysis, model: str, option: str, device: str | None = None) -> tuple[str, CostRow | None]:
    """(why no row of the model (on the device) is eligible, the row the text names as left out, or None)."""
    rows = _candidates(analysis, model, option, device)
    what = f"{device.upper()} row" if device else "row"
    if not rows:
        return f"no {what} (measured or reference) for {model}.", None
    if not any(r.quality_status != UNKNOWN for r in rows):
        why = (f"no {what} of known quality: run the dense fp32 model and its variants with --task (for example "
               "--task sst2) to measure accuracy on the engine, or pass --allow-unknown-quality.")
    elif not any(r.quality_passes for r in rows):
        why = (f"every {what} of known quality is beyond the {analysis.gate.max_drop_points:g}-point budget "
               "(--max-quality-drop), and the others are of unknown quality.")
    elif not any(r.usd_per_million is not None for r in rows):
        return f"no {what} both meets p99 <= {analysis.sla_ms:g} ms and has a price in {analysis.region}.", None
    else:
        why = f"no {what} of acceptable quality meets p99 <= {analysis.sla_ms:g} ms with a price in {analysis.region}."
    left_out = [r for r in rows if r.usd_per_million is not None and not r.quality_passes]
    if not left_out:
        return why, None
    measured = [r for r in left_out if r.measured_or_reference == MEASURED]
    r = min(measured or left_out, key=_monthly)
    return (f"{why} The cheapest {'measured ' if measured else ''}{what} within the SLA, {describe(r)} at "
            f"${r.usd_per_million:.4g} per 1M, is not chosen: {r.quality_note}."), r


def _not_chosen(analysis: CostAnalysis, model: str, option: str, best: CostRow, named: CostRow | None) -> list[str]:
    """The cheapest priced row cheaper than the answer at the target rate that was left out for its quality (unless
    already named), and how many more."""
    cheaper = sorted((r for r in _candidates(analysis, model, option) if r.usd_per_million is not None
                      and _monthly(r) < _monthly(best) and not r.quality_passes), key=_monthly)
    shown = [r for r in cheaper if r is not named]
    if not shown:
        return []
    r = shown[0]
    why = "beyond the quality budget" if r.quality_status == OVER_BUDGET else f"quality {quality_label(r)}"
    more = f" ({len(shown) - 1} more cheaper rows are left out for their quality.)" if len(shown) > 1 else ""
    return [f"Not chosen though cheaper: {describe(r)} at ${r.usd_per_million:.4g} per 1M, {why}: {r.quality_note}.{more}"]
