"""The cost report's plots as base64 PNG, for embedding in HTML (matplotlib's object API: no pyplot
global state, no display needed). Each plot is drawn only when there is something to show."""

from __future__ import annotations

import base64
import io

from ..cost.analysis import CostAnalysis
from ..cost.arithmetic import pareto_front  # noqa: F401  (importable from here, where the plot marks it)
from ..cost.quality import UNKNOWN
from ..cost.rows import ESTIMATE, MEASURED, REFERENCE


def render_plots(analysis: CostAnalysis) -> dict[str, str]:
    """{caption: base64 PNG}: latency vs sparsity, $/1M per instance, accuracy vs $/1M."""
    plots: dict[str, str] = {}
    for caption, draw in (("Latency vs sparsity per backend (measured records)", _latency_vs_sparsity),
                          ("$ per 1M items per instance", _cost_per_instance),
                          ("Accuracy vs $ per 1M (Pareto front)", _accuracy_vs_cost)):
        fig = draw(analysis)
        if fig is not None:
            plots[caption] = _png(fig)
    return plots


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # lazy: matplotlib costs ~0.5 s to import; only HTML reports need it

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot()


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _latency_vs_sparsity(analysis: CostAnalysis):
    """p50 per call against sparsity per (model, backend, instance, precision), measured rows, batch 1 where available."""
    measured = [r for r in analysis.candidates
                if r.measured_or_reference == MEASURED and r.sparsity is not None and r.p50_ms is not None]
    if not any((r.sparsity or 0) > 0 for r in measured):
        return None
    pool = [r for r in measured if r.batch == 1] or measured
    series: dict[tuple, dict[float, float]] = {}
    for r in pool:
        s = series.setdefault((r.model, r.backend, r.instance, r.precision), {})
        s[r.sparsity] = min(r.p50_ms, s.get(r.sparsity, float("inf")))
    fig, ax = _figure(7, 4)
    for (model, backend, inst, prec), pts in sorted(series.items()):
        xs = sorted(pts)
        ax.plot([100 * x for x in xs], [pts[x] for x in xs], marker="o", label=f"{model} {backend} {prec} ({inst})")
    ax.axhline(analysis.sla_ms, color="red", linestyle="--", linewidth=1, label=f"SLA {analysis.sla_ms:g} ms")
    ax.set_xlabel("sparsity (%)")
    ax.set_ylabel("p50 latency per call (ms)")
    ax.set_title("Latency vs sparsity (measured" + (", batch 1)" if pool[0].batch == 1 else ")"))
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def _cost_per_instance(analysis: CostAnalysis):
    """Horizontal bars of $/1M, the 30 cheapest priced rows, coloured by kind."""
    priced = sorted((r for r in analysis.rows if r.usd_per_million is not None), key=lambda r: r.usd_per_million)[:30]
    if not priced:
        return None
    colors = {MEASURED: "tab:blue", REFERENCE: "tab:orange", ESTIMATE: "tab:gray"}
    fig, ax = _figure(8, 0.35 * len(priced) + 1.5)
    labels = [f"{r.instance}: {r.model} {r.variant} {r.backend} {r.precision} b{r.batch}{_eligibility(r)}" for r in priced]
    values = [r.usd_per_million for r in priced]
    bars = ax.barh(range(len(priced)), values, color=[colors[r.measured_or_reference] for r in priced])
    for bar, r in zip(bars, priced):
        if not r.eligible:
            bar.set_hatch("//")
            bar.set_alpha(0.45)
    ax.set_yticks(range(len(priced)), labels, fontsize=7)
    ax.invert_yaxis()
    if max(values) / min(values) > 100:
        ax.set_xscale("log")
    ax.set_xlabel(f"$ per 1M items within p99 <= {analysis.sla_ms:g} ms ({analysis.region})")
    ax.set_title("Cost per million items (blue measured, orange reference, grey estimate; hatched: not eligible)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _eligibility(r) -> str:
    if not r.eligible:
        return " (not eligible)"
    return " (quality unknown, allowed)" if r.quality_status == UNKNOWN else ""


def _accuracy_vs_cost(analysis: CostAnalysis):
    """Accuracy against $/1M for the rows with a measured accuracy, per model and task: eligible rows filled,
    the others hollow, and the Pareto front's points ringed, joined and labelled."""
    groups = analysis.pareto()
    if not groups:
        return None
    fig, ax = _figure(8, 4.5)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
    costs = []
    for i, ((model, task), (rows, front)) in enumerate(groups.items()):
        color = colors[i % len(colors)]
        name = f"{model} ({task or 'task not recorded'})"
        for eligible in (True, False):
            pts = [r for r in rows if r.eligible == eligible]
            if pts:
                ax.scatter([r.usd_per_million for r in pts], [r.accuracy for r in pts], s=28, zorder=2,
                           color=color if eligible else "none", edgecolors=color,
                           label=f"{name}: {'eligible' if eligible else 'not eligible'}")
        ax.plot([r.usd_per_million for r in front], [r.accuracy for r in front], color=color, linewidth=1.5, zorder=3,
                marker="o", markersize=9, markerfacecolor="none", markeredgecolor="black", label=f"{name}: Pareto front")
        for r in front:
            ax.annotate(f"{r.variant} {r.backend} {r.instance}", (r.usd_per_million, r.accuracy), fontsize=6,
                        xytext=(4, 4), textcoords="offset points")
        costs += [r.usd_per_million for r in rows]
    if max(costs) / min(costs) > 100:
        ax.set_xscale("log")
    ax.set_xlabel(f"$ per 1M items within p99 <= {analysis.sla_ms:g} ms ({analysis.region}, {analysis.purchase_options[0]})")
    ax.set_ylabel("accuracy (measured)")
    ax.set_title("Accuracy vs cost: the Pareto front (no cheaper row is more accurate)")
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3)
    return fig
