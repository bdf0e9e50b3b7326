"""Cost reports for procurement: analyse records against prices, then write OUT/cost.md, OUT/cost.html
(plots embedded as base64 PNG) and OUT/cost.csv, each file atomically (harness.foundation.fsutil).

Entry points (the CLI, the demo and the fleet call these the same way):
    write_cost_report(records, out_dir, sla_ms, qps, region, quotes=None, ...) -> {"markdown", "html", "csv"}
    write_seed_example(records, out_dir, ...) -> the same, for the seed's question (report.seed)
Both take max_quality_drop (accuracy points against the dense fp32 baseline, default 1.0) and
allow_unknown_quality (harness.results.cost.quality): rows beyond the budget or of unknown quality are shown, never chosen.
This module is where the price book and the catalog are loaded; the analysis itself (harness.results.cost) and
the renderers (cost_markdown, cost_html, cost_csv, cost_plots) read no files.
"""

from __future__ import annotations

from pathlib import Path

from harness.contracts import RunRecord
from harness.foundation.fsutil import atomic_write_text

from ..cost.analysis import CostAnalysis, analyze
from ..cost.catalog import load_catalog
from ..cost.quality import DEFAULT_MAX_QUALITY_DROP
from .cost_csv import render_csv
from .cost_html import render_html
from .cost_markdown import render_markdown
from .cost_plots import render_plots
from .seed import SEED, seed_options, seed_verdict


def price_book(quotes=None, book=None):
    """book if given; else quotes: None (the book in force, read from disk), a PriceBook, or PriceQuotes."""
    from harness.pricing import PriceBook, PriceLayer, current_date, load_price_book

    if book is not None:
        return book
    if quotes is None:
        return load_price_book()
    if isinstance(quotes, PriceBook):
        return quotes
    quotes = list(quotes)
    dates = sorted(q.as_of for q in quotes) or [current_date().isoformat()]
    return PriceBook.from_layers([(PriceLayer("given", "<quotes passed in>", dates[-1].split("/")[-1], len(quotes)), quotes)])


def cost_analysis(records: list[RunRecord], sla_ms: float, qps: float, region: str, quotes=None, *, book=None,
                  **options) -> CostAnalysis:
    """Load the price book (see price_book) and the catalog, then analyze(); options go to analyze()."""
    models = {r.config.model for r in records} | {m for m, _ in options.get("reference_workloads") or ()}
    return analyze(records, sla_ms, qps, region, price_book(quotes, book), load_catalog(models), **options)


def write_analysis(analysis: CostAnalysis, out_dir, title: str = "Cost report",
                   preface: list[str] | None = None) -> dict[str, Path]:
    out = Path(out_dir)
    paths = {"markdown": out / "cost.md", "html": out / "cost.html", "csv": out / "cost.csv"}
    atomic_write_text(paths["markdown"], render_markdown(analysis, title, preface))
    atomic_write_text(paths["html"], render_html(analysis, title, preface, plots=render_plots(analysis)))
    atomic_write_text(paths["csv"], render_csv(analysis))
    return paths


def write_cost_report(
    records: list[RunRecord],
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
    max_quality_drop: float = DEFAULT_MAX_QUALITY_DROP,
    allow_unknown_quality: bool = False,
) -> dict[str, Path]:
    """Analyse records against prices and write DIR/cost.md, DIR/cost.html, DIR/cost.csv."""
    analysis = cost_analysis(
        records, sla_ms, qps, region, quotes, book=book,
        purchase_options=purchase_options, gpu_reference=gpu_reference, project_to=project_to,
        instances=instances, models=models, reference_workloads=reference_workloads, within_qps=within_qps,
        max_quality_drop=max_quality_drop, allow_unknown_quality=allow_unknown_quality,
    )
    return write_analysis(analysis, out_dir, title=title, preface=preface)


def seed_example(records: list[RunRecord], sla_ms: float = SEED.sla_ms, qps: float = SEED.qps,
                 region: str = SEED.region, quotes=None, *, book=None, project_to=(),
                 gpu_reference: bool = True, max_quality_drop: float = DEFAULT_MAX_QUALITY_DROP,
                 allow_unknown_quality: bool = False) -> tuple[CostAnalysis, list[str]]:
    """(the analysis of the seed's comparison, the verdict lines on the seed's claim)."""
    analysis = cost_analysis(records, sla_ms, qps, region, quotes, book=book, gpu_reference=gpu_reference,
                             project_to=project_to, max_quality_drop=max_quality_drop,
                             allow_unknown_quality=allow_unknown_quality, **seed_options(records))
    return analysis, seed_verdict(analysis)


def write_seed_example(records: list[RunRecord], out_dir, sla_ms: float = SEED.sla_ms, qps: float = SEED.qps,
                       region: str = SEED.region, quotes=None, *, book=None, project_to=(),
                       gpu_reference: bool = True, max_quality_drop: float = DEFAULT_MAX_QUALITY_DROP,
                       allow_unknown_quality: bool = False) -> dict[str, Path]:
    """The seed's comparison (report.seed) written like a cost report, its verdict after the answer."""
    analysis, verdict = seed_example(records, sla_ms, qps, region, quotes, book=book, project_to=project_to,
                                     gpu_reference=gpu_reference, max_quality_drop=max_quality_drop,
                                     allow_unknown_quality=allow_unknown_quality)
    return write_analysis(analysis, out_dir, title=SEED.title, preface=verdict)
