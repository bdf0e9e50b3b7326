"""The cost report's plots as base64 PNG, for embedding in HTML (matplotlib's object API: no pyplot
global state, no display needed). Each plot is drawn only when there is something to show."""

from __future__ import annotations

import base64
import io

from ..cost.analysis import CostAnalysis
from ..cost.arithmetic import fleet_size, is_positive, usd_per_month
from ..cost.rows import MEASURED, REFERENCE, CostRow

ANSWER_CHART_CAPTION = "$/month at the target rate per option"
MAX_BARS_PER_MODEL = 4


def render_plots(analysis: CostAnalysis) -> dict[str, str]:
    """{caption: base64 PNG} of the plots below the tables: latency vs sparsity, accuracy vs $/1M (the answer chart
    is answer_chart_png, drawn once and placed first)."""
    plots: dict[str, str] = {}
    for caption, draw in (("Latency vs sparsity per backend (measured records)", _latency_vs_sparsity),
                          ("Accuracy vs $ per 1M (Pareto front)", _accuracy_vs_cost)):
        fig = draw(analysis)
        if fig is not None:
            plots[caption] = _png(fig)
    return plots


def chart_options(analysis: CostAnalysis) -> list[tuple[CostRow, float, str]]:
    """(row, $/month at the target rate, style) per bar of the answer chart: per model the cheapest eligible row of each
    CPU instance type and of each GPU model (CPU measured, GPU published or derived), and measured CPU rows that miss the
    SLA ("miss", priced as if the SLA were ignored) when no CPU row of the model meets it; the cheapest first, at most
    MAX_BARS_PER_MODEL, the model's cheapest CPU and GPU options always among them."""
    option = analysis.purchase_options[0]
    out = []
    for model in sorted({r.model for r in analysis.rows}):
        rows = [r for r in analysis.rows if r.model == model and r.purchase_option == option]
        best: dict[str, CostRow] = {}
        for r in sorted((r for r in rows if r.eligible), key=lambda r: (r.usd_per_month_at_target, r.usd_per_million)):
            best.setdefault(r.vcpu_or_gpu.split(" ", 1)[1] if r.device == "gpu" else r.instance, r)
        bars = [(r, r.usd_per_month_at_target, _style(r)) for r in best.values()]
        if not any(r.device == "cpu" for r in best.values()):
            missed = [r for r in rows if r.device == "cpu" and r.measured_or_reference == MEASURED and r.sla_met is False
                      and r.usd_per_hour and is_positive(r.throughput_per_s)]
            for r in sorted(missed, key=lambda r: r.sla_latency_ms or 0)[:2]:
                bars.append((r, usd_per_month(fleet_size(analysis.qps, r.throughput_per_s), r.usd_per_hour), "miss"))
        bars.sort(key=lambda b: b[1])
        first = {next((b for b in bars if (b[0].device == d)), None) for d in ("cpu", "gpu")} - {None}
        keep = [b for b in bars if b in first] + [b for b in bars if b not in first]
        out += sorted(keep[:MAX_BARS_PER_MODEL], key=lambda b: b[1])
    return out


def _style(r: CostRow) -> str:
    if r.device == "gpu":
        return "derived" if r.reference_grade == "derived" else ("published" if r.measured_or_reference == REFERENCE
                                                                 else "gpu measured")
    return "isa mismatch" if r.isa_mismatch else "measured"


_STYLES = {"measured": dict(facecolor="tab:blue"), "isa mismatch": dict(facecolor="tab:blue", hatch="..", alpha=0.7),
           "gpu measured": dict(facecolor="tab:red"), "published": dict(facecolor="tab:orange"),
           "derived": dict(facecolor="tab:orange", hatch="//", alpha=0.6), "miss": dict(facecolor="lightgrey")}
_LEGEND = {"measured": "CPU, measured", "isa mismatch": "CPU, measured on another CPU (isa mismatch)",
           "gpu measured": "GPU, measured", "published": "GPU, published figure", "derived": "GPU, derived by GFLOPs",
           "miss": "misses the SLA (priced as if it did not)"}


def answer_chart_png(analysis: CostAnalysis) -> bytes | None:
    """Horizontal bars of $/month at the target rate, grouped by model; None when nothing is priced."""
    bars = chart_options(analysis)
    if not bars:
        return None
    from matplotlib.patches import Patch

    fig, ax = _figure(10, 0.24 * len(bars) + 0.9)
    labels = [f"{r.model}: {r.instance} {r.precision} {r.backend}" for r, _, _ in bars]
    for i, (r, value, style) in enumerate(bars):
        ax.barh(i, value, edgecolor="black", linewidth=0.4, **_STYLES[style])
        ax.text(value, i, f" ${value:,.0f} ({fleet_size(analysis.qps, r.throughput_per_s)}x)", va="center", fontsize=8)
    ax.set_yticks(range(len(bars)), labels, fontsize=8)
    ax.invert_yaxis()
    values = [v for _, v, _ in bars]
    if max(values) / max(min(values), 1e-9) > 50:
        ax.set_xscale("log")
    ax.set_xlim(right=max(values) * (3 if ax.get_xscale() == "log" else 1.25))
    ax.set_xlabel(f"$/month at {analysis.qps:g} req/s, p99 <= {analysis.sla_ms:g} ms ({analysis.region}, "
                  f"{analysis.purchase_options[0]}, 730 h)", fontsize=8)
    used = list(dict.fromkeys(style for _, _, style in bars))
    ax.legend(handles=[Patch(edgecolor="black", linewidth=0.4, label=_LEGEND[s], **_STYLES[s]) for s in used],
              fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(3, len(used)), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(axis="x", labelsize=8)
    return _png_bytes(fig)


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # lazy: matplotlib costs ~0.5 s to import; only HTML reports need it

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot()


def _png_bytes(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _png(fig) -> str:
    return base64.b64encode(_png_bytes(fig)).decode("ascii")


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
