"""Cost reports for procurement: Markdown, self-contained HTML (plots embedded as base64 PNG), CSV.

Entry points (the CLI and the demo call these the same way):
    write_cost_report(records, out_dir, sla_ms, qps, region, quotes=None, ...) -> {"markdown", "html", "csv"}
    write_seed_example(records, out_dir, ...) -> same, for the seed's t4g.xlarge vs g4dn.xlarge question

COST_CSV_SCHEMA_VERSION history (cost.csv; first line `# schema_version: N`, then the header):
  1 - first version: the columns in CSV_COLUMNS.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import io
from pathlib import Path

from ..cost import ESTIMATE, MEASURED, REFERENCE, CostAnalysis, analyze

COST_CSV_SCHEMA_VERSION = 1
CSV_COLUMNS = (
    "model", "variant", "backend", "backend_version", "precision", "instance", "region", "purchase_option",
    "usd_per_hour", "price_source", "price_date", "vcpu_or_gpu", "batch", "seq_len", "throughput_per_s", "p50_ms",
    "p99_ms", "sla_met", "usd_per_million", "usd_per_month_at_target", "measured_or_reference",
)
SEED_INSTANCES = ("c7a.large", "t4g.xlarge", "g4dn.xlarge")
SEED_CLAIM = ("Seed (2022-10-24): \"Predicting on 4-Core CPU should save 2x to 4x costs with more device availability "
              "in contrast to T4 GPU on Ohio\" (g4dn.xlarge $0.526/h vs t4g.xlarge $0.1344/h).")


# ----------------------------------------------------------------------------------------------------------------
# entry points


def _book(quotes, book):
    """quotes: None (the book in force), a PriceBook, or an iterable of PriceQuote."""
    from ..pricing import PriceBook, PriceLayer, load_price_book

    if book is not None:
        return book
    if quotes is None:
        return load_price_book()
    if isinstance(quotes, PriceBook):
        return quotes
    quotes = list(quotes)
    dates = sorted(q.as_of for q in quotes) or [_dt.date.today().isoformat()]
    return PriceBook.from_layers([(PriceLayer("given", "<quotes passed in>", dates[-1].split("/")[-1], len(quotes)), quotes)])


def write_cost_report(
    records: list[dict],
    out_dir,
    sla_ms: float,
    qps: float,
    region: str,
    quotes=None,
    *,
    book=None,
    purchase_options=("on-demand",),
    gpu_reference: bool = True,
    project_to=(),
    instances=None,
    models=None,
    reference_workloads=None,
    within_qps: float | None = None,
    title: str = "Cost report",
    preface: list[str] | None = None,
) -> dict[str, Path]:
    """Analyse records against prices and write DIR/cost.md, DIR/cost.html, DIR/cost.csv."""
    analysis = analyze(
        records, sla_ms, qps, region, _book(quotes, book),
        purchase_options=purchase_options, gpu_reference=gpu_reference, project_to=project_to,
        instances=instances, models=models, reference_workloads=reference_workloads, within_qps=within_qps,
    )
    return write_analysis(analysis, out_dir, title=title, preface=preface)


def write_analysis(analysis: CostAnalysis, out_dir, title: str = "Cost report", preface: list[str] | None = None) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "cost.md", "html": out / "cost.html", "csv": out / "cost.csv"}
    paths["markdown"].write_text(render_markdown(analysis, title, preface), encoding="utf-8")
    paths["html"].write_text(render_html(analysis, title, preface, plots=render_plots(analysis)), encoding="utf-8")
    write_csv(analysis, paths["csv"])
    return paths


def write_seed_example(
    records: list[dict],
    out_dir,
    sla_ms: float = 100.0,
    qps: float = 50.0,
    region: str = "us-east-2",
    quotes=None,
    *,
    book=None,
    project_to=(),
    gpu_reference: bool = True,
) -> dict[str, Path]:
    """The seed's comparison: BERT-base dense and pruned on c7a.large (measured, this machine's closest type),
    t4g.xlarge (not measured, or a labelled estimate with project_to), g4dn.xlarge (measured GPU records,
    else the published T4 figures, labelled reference)."""
    seq_lens = sorted({r.config.seq_len for r in records if r.config.model == "bert-base"}) or [128]
    analysis = analyze(
        records, sla_ms, qps, region, _book(quotes, book),
        gpu_reference=gpu_reference, project_to=project_to, instances=SEED_INSTANCES, models=("bert-base",),
        reference_workloads=[("bert-base", s) for s in seq_lens],
    )
    return write_analysis(analysis, out_dir, title="Seed example: BERT-base on CPU vs a T4 GPU", preface=seed_verdict(analysis))


def seed_verdict(analysis: CostAnalysis) -> list[str]:
    """Lines comparing our numbers with the seed's claim, whichever way they come out."""
    lines = [SEED_CLAIM]
    rows = [r for r in analysis.rows if r.purchase_option == "on-demand"]
    cpu = [r for r in rows if r.instance == "c7a.large" and r.measured_or_reference == MEASURED and r.usd_per_million is not None]
    gpu = [r for r in rows if r.instance == "g4dn.xlarge" and r.usd_per_million is not None]
    t4g = [r for r in rows if r.instance == "t4g.xlarge"]
    if not t4g:
        lines.append("t4g.xlarge: not measured here (no record declares it); no cost is shown for it. "
                     "`--project-to t4g.xlarge` gives a labelled, low-confidence estimate.")
    if not cpu:
        lines.append(f"No measured c7a.large record meets p99 <= {analysis.sla_ms:g} ms with a price in "
                     f"{analysis.region}: nothing measured to compare with the seed's claim.")
        return lines
    if not gpu:
        lines.append(f"No g4dn.xlarge row (measured or reference) is priced in {analysis.region}: no GPU side to compare.")
        return lines
    gpu_best = {}  # the cheapest g4dn.xlarge row per precision: fp32 CPU vs fp16 and int8 GPU, both said
    for r in sorted(gpu, key=lambda r: r.usd_per_million):
        gpu_best.setdefault(r.precision, r)
    for variant in sorted({r.variant for r in cpu}, key=lambda v: (v != "dense", v)):
        c = min((r for r in cpu if r.variant == variant), key=lambda r: r.usd_per_million)
        parts = []
        for g in gpu_best.values():
            ratio = g.usd_per_million / c.usd_per_million
            verdict = f"CPU {ratio:.2f}x cheaper" if ratio >= 1 else f"GPU {1 / ratio:.2f}x cheaper"
            parts.append(f"vs g4dn.xlarge {g.backend} {g.precision} batch {g.batch} [{g.measured_or_reference}] "
                         f"${g.usd_per_million:.4g} per 1M ({verdict} per item; {g.instances_at_target} x g4dn.xlarge = "
                         f"${g.usd_per_month_at_target:,.2f}/month at {analysis.qps:g} req/s)")
        lines.append(
            f"BERT-base {variant} on c7a.large [measured] ({c.backend}, {c.precision}, batch {c.batch}): ${c.usd_per_million:.4g} "
            f"per 1M at {c.throughput_per_s:.4g}/s within p99 <= {analysis.sla_ms:g} ms; {c.instances_at_target} x c7a.large = "
            f"${c.usd_per_month_at_target:,.2f}/month at {analysis.qps:g} req/s; " + "; ".join(parts) + "."
        )
    for r in rows:  # variants measured on c7a.large that no configuration serves within the SLA
        if r.instance == "c7a.large" and r.measured_or_reference == MEASURED and r.sla_met is False \
                and r.variant not in {c.variant for c in cpu}:
            lines.append(f"BERT-base {r.variant} on c7a.large [measured] ({r.backend}, {r.precision}): {r.capacity_basis}; "
                         "no cost per item.")
    g = next(iter(gpu_best.values()))
    if g.measured_or_reference == REFERENCE:
        lines.append("The g4dn.xlarge figure is a published reference (NVIDIA TensorRT demo, excludes host-device copies: "
                     "an upper bound), not a measurement.")
    return lines


# ----------------------------------------------------------------------------------------------------------------
# formatting helpers


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


def _sources(analysis: CostAnalysis) -> list[str]:
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


def _method_lines(analysis: CostAnalysis) -> list[str]:
    return [
        f"SLA: call latency p99 <= {analysis.sla_ms:g} ms (p90, then p50, when the sample count cannot support p99; "
        "each row says which). Server-scenario records use the highest rate whose p99 stayed within the SLA.",
        "$/1M = $/h / (throughput within the SLA x 3600) x 1e6; fleet = ceil(target / throughput); $/month = fleet x $/h x 730 h.",
        "Per model, variant, backend, precision and instance, the best batch/threads/streams configuration within the SLA is shown.",
        "A measurement maps to an instance type only when its record declares machine.instance_type; others are listed as unmapped.",
        "Kinds: measured = our records; reference = published GPU figures (cited, never measured here); "
        "estimate = scaled from a measured instance, labelled with how.",
    ]


def _break_even_lines(analysis: CostAnalysis) -> list[str]:
    out = []
    for b in analysis.break_even:
        out.append(
            f"{b.model} ({b.purchase_option}, {b.scope}): CPU {b.cpu.instance} {b.cpu.variant} {b.cpu.backend} {b.cpu.precision} "
            f"(${b.cpu.usd_per_million:.4g}/1M, {_num(b.cpu.throughput_per_s)}/s per instance) vs GPU {b.gpu.instance} "
            f"{b.gpu.backend} {b.gpu.precision} [{b.gpu.measured_or_reference}] (${b.gpu.usd_per_million:.4g}/1M, "
            f"{_num(b.gpu.throughput_per_s)}/s per instance): {b.break_even.describe()}."
        )
    return out


def _issue_lines(analysis: CostAnalysis) -> dict[str, list[str]]:
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


# ----------------------------------------------------------------------------------------------------------------
# Markdown


def _md_cell(v) -> str:
    return " ".join(str(v).split()).replace("|", "\\|")


def md_table(rows: list[dict]) -> str:
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    out = ["| " + " | ".join(_md_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_md_cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def render_markdown(analysis: CostAnalysis, title: str = "Cost report", preface: list[str] | None = None) -> str:
    parts = [f"# {_md_cell(title)}", "",
             f"Region {analysis.region}; SLA p99 <= {analysis.sla_ms:g} ms; target {analysis.qps:g} requests/s; "
             f"purchase options: {', '.join(analysis.purchase_options)}.", ""]
    if preface:
        parts += ["## Verdict", ""] + [f"- {_md_cell(x)}" for x in preface] + [""]
    parts += ["## Cost per configuration (cheapest first)", "", md_table(display_rows(analysis)), ""]
    be = _break_even_lines(analysis)
    parts += ["## Break-even: cheapest CPU vs GPU", ""]
    parts += [f"- {_md_cell(x)}" for x in be] if be else ["- no model has both a priced CPU row and a priced GPU row within the SLA"]
    parts.append("")
    for heading, lines in _issue_lines(analysis).items():
        if lines:
            parts += [f"## {heading}", ""] + [f"- {_md_cell(x)}" for x in lines] + [""]
    parts += ["## Method", ""] + [f"- {x}" for x in _method_lines(analysis)] + [""]
    parts += ["## Sources", ""] + [f"- {_md_cell(x)}" for x in _sources(analysis)] + [""]
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------------------------
# CSV


def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)


def csv_records(analysis: CostAnalysis) -> list[dict]:
    out = []
    for r in analysis.rows:
        d = {c: getattr(r, c) for c in CSV_COLUMNS if c not in ("vcpu_or_gpu", "sla_met")}
        d["vcpu_or_gpu"] = r.vcpu_or_gpu
        d["sla_met"] = "unknown" if r.sla_met is None else r.sla_met
        out.append({c: _csv_value(d[c]) for c in CSV_COLUMNS})
    return out


def write_csv(analysis: CostAnalysis, path) -> Path:
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write(f"# schema_version: {COST_CSV_SCHEMA_VERSION}\n")
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        w.writerows(csv_records(analysis))
    return path


# ----------------------------------------------------------------------------------------------------------------
# plots (matplotlib through its object API: no pyplot global state, no display needed)


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render_plots(analysis: CostAnalysis) -> dict[str, str]:
    """{caption: base64 PNG}. Each plot only when there is something to show."""
    from matplotlib.figure import Figure  # lazy: matplotlib costs ~0.5 s to import; only HTML reports need it

    plots: dict[str, str] = {}

    # 1. latency vs sparsity per backend (measured, batch 1 where available)
    measured = [r for r in analysis.candidates if r.measured_or_reference == MEASURED and r.sparsity is not None and r.p50_ms is not None]
    if any((r.sparsity or 0) > 0 for r in measured):
        pool = [r for r in measured if r.batch == 1] or measured
        series: dict[tuple, dict[float, float]] = {}
        for r in pool:
            s = series.setdefault((r.model, r.backend, r.instance, r.precision), {})
            s[r.sparsity] = min(r.p50_ms, s.get(r.sparsity, float("inf")))
        fig = Figure(figsize=(7, 4))
        ax = fig.add_subplot()
        for (model, backend, inst, prec), pts in sorted(series.items()):
            xs = sorted(pts)
            ax.plot([100 * x for x in xs], [pts[x] for x in xs], marker="o", label=f"{model} {backend} {prec} ({inst})")
        ax.axhline(analysis.sla_ms, color="red", linestyle="--", linewidth=1, label=f"SLA {analysis.sla_ms:g} ms")
        ax.set_xlabel("sparsity (%)")
        ax.set_ylabel("p50 latency per call (ms)")
        ax.set_title("Latency vs sparsity (measured" + (", batch 1)" if pool and pool[0].batch == 1 else ")"))
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        plots["Latency vs sparsity per backend (measured records)"] = _png(fig)

    # 2. $/1M per instance
    priced = sorted((r for r in analysis.rows if r.usd_per_million is not None), key=lambda r: r.usd_per_million)[:30]
    if priced:
        colors = {MEASURED: "tab:blue", REFERENCE: "tab:orange", ESTIMATE: "tab:gray"}
        fig = Figure(figsize=(8, 0.35 * len(priced) + 1.5))
        ax = fig.add_subplot()
        labels = [f"{r.instance}: {r.model} {r.variant} {r.backend} {r.precision} b{r.batch}" for r in priced]
        ax.barh(range(len(priced)), [r.usd_per_million for r in priced], color=[colors[r.measured_or_reference] for r in priced])
        ax.set_yticks(range(len(priced)), labels, fontsize=7)
        ax.invert_yaxis()
        values = [r.usd_per_million for r in priced]
        if max(values) / min(values) > 100:
            ax.set_xscale("log")
        ax.set_xlabel(f"$ per 1M items within p99 <= {analysis.sla_ms:g} ms ({analysis.region})")
        ax.set_title("Cost per million items (blue measured, orange reference, grey estimate)")
        ax.grid(axis="x", alpha=0.3)
        plots["$ per 1M items per instance"] = _png(fig)

    # 3. accuracy vs $/1M with the Pareto front
    known = [r for r in analysis.rows if r.accuracy is not None and r.usd_per_million is not None]
    if known:
        front = pareto_front([(r.usd_per_million, r.accuracy) for r in known])
        fig = Figure(figsize=(7, 4))
        ax = fig.add_subplot()
        ax.scatter([r.usd_per_million for r in known], [r.accuracy for r in known], color="tab:blue")
        for r in known:
            ax.annotate(f"{r.variant} {r.backend} {r.instance}", (r.usd_per_million, r.accuracy), fontsize=6)
        ax.plot([p[0] for p in front], [p[1] for p in front], color="tab:green", drawstyle="steps-post", label="Pareto front")
        ax.set_xlabel("$ per 1M items")
        ax.set_ylabel("accuracy")
        ax.set_title("Accuracy vs cost")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        plots["Accuracy vs $ per 1M (Pareto front)"] = _png(fig)
    return plots


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(cost, quality) points not dominated by a cheaper-or-equal point of higher-or-equal quality; by cost."""
    front = []
    best_q = float("-inf")
    for cost, q in sorted(points, key=lambda p: (p[0], -p[1])):
        if q > best_q:
            front.append((cost, q))
            best_q = q
    return front


# ----------------------------------------------------------------------------------------------------------------
# HTML (self-contained: inline CSS, images as data: URIs, every user string escaped)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:8px 0 20px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2}
tr.reference td{background:#fff7ec} tr.estimate td{background:#f4f4f4;font-style:italic}
tr.not-measured td{color:#777}
td.bad{color:#b00020;font-weight:600;white-space:nowrap}
td.how{min-width:340px;font-size:11px;color:#444}
figure{margin:12px 0 24px} figcaption{font-size:13px;color:#555}
img{max-width:100%}
"""


def _e(v) -> str:
    return html.escape(str(v), quote=True)


def html_table(rows: list[dict], row_classes: list[str] | None = None) -> str:
    if not rows:
        return "<p>(no rows)</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{_e(row_classes[i])}"' if row_classes else ""
        cells = "".join(f'<td{_cell_class(c, r.get(c))}>{_e(r.get(c, ""))}</td>' for c in cols)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell_class(column: str, value) -> str:
    if value == "NOT met":
        return ' class="bad"'
    if column == "how":
        return ' class="how"'
    return ""


def _ul(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{_e(x)}</li>" for x in lines) + "</ul>"


def render_html(analysis: CostAnalysis, title: str = "Cost report", preface: list[str] | None = None,
                plots: dict[str, str] | None = None) -> str:
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body>", f"<h1>{_e(title)}</h1>",
        f"<p>Region {_e(analysis.region)}; SLA p99 &le; {_e(f'{analysis.sla_ms:g}')} ms; target {_e(f'{analysis.qps:g}')} "
        f"requests/s; purchase options: {_e(', '.join(analysis.purchase_options))}.</p>",
    ]
    if preface:
        parts += ["<h2>Verdict</h2>", _ul(preface)]
    parts += ["<h2>Cost per configuration (cheapest first)</h2>",
              html_table(display_rows(analysis), [r.measured_or_reference.replace(" ", "-") for r in analysis.rows])]
    be = _break_even_lines(analysis)
    parts += ["<h2>Break-even: cheapest CPU vs GPU</h2>",
              _ul(be or ["no model has both a priced CPU row and a priced GPU row within the SLA"])]
    for caption, b64 in (plots or {}).items():
        parts.append(f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{b64}"><figcaption>{_e(caption)}</figcaption></figure>')
    for heading, lines in _issue_lines(analysis).items():
        if lines:
            parts += [f"<h2>{_e(heading)}</h2>", _ul(lines)]
    parts += ["<h2>Method</h2>", _ul(_method_lines(analysis)), "<h2>Sources</h2>", _ul(_sources(analysis)), "</body></html>"]
    return "\n".join(parts)
