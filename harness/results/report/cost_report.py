"""Cost reports for procurement: analyse records against prices for one CostQuery, then write OUT/cost.md,
OUT/cost.html (plots embedded as base64 PNG), OUT/cost.png (the answer chart) and OUT/cost.csv, each file atomically
(harness.foundation.fsutil).

Entry points (the CLI, the demo and the fleet call these the same way):
    write_cost_report(records, out_dir, query, *, book=None, title=..., preface=None) -> {"markdown", "html", "csv", ...}
    write_seed_example(records, out_dir, query=None, *, book=None) -> the same, for the seed's question (report.seed)
The query (harness.results.cost.query.CostQuery) holds the SLA, rate, region, quality budget, prices and instance
types; `book` replaces the price book the query names (tests, fleets that loaded one). This module is where the price
book and the catalogue are loaded; the analysis (harness.results.cost) and the renderers read no files.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from harness.contracts import RunRecord
from harness.foundation.fsutil import atomic_write_bytes, atomic_write_text
from harness.pricing import PriceBook, PriceLayer, current_date, load_price_book

from ..cost.analysis import CostAnalysis, analyze
from ..cost.answer import answers
from ..cost.catalog import CostCatalog, load_catalog
from ..cost.query import CostQuery
from .cost_answer import answer_sentences
from .cost_csv import render_csv
from .cost_html import render_html
from .cost_markdown import render_markdown
from .cost_plots import answer_chart_png, render_plots
from .seed import SEED, SeedVerdict, seed_query, seed_verdict


def price_book(query: CostQuery, book=None, quotes=None) -> PriceBook:
    """`book` if given; else PriceQuotes given as one layer; else the book in force for the query's prices."""
    if book is not None:
        return book
    if quotes is not None:
        quotes = list(quotes)
        dates = sorted(q.as_of for q in quotes) or [current_date().isoformat()]
        layer = PriceLayer("given", "<quotes passed in>", dates[-1].split("/")[-1], len(quotes))
        return PriceBook.from_layers([(layer, quotes)])
    return load_price_book(snapshot_dir=query.snapshot_dir, prices_csv=query.prices_csv)


def checkpoint_architectures(records: list[RunRecord]) -> dict[str, str]:
    """{model: model_type} from the config.json of checkpoints that still exist here (the GPU family of a brought
    model); a checkpoint that is gone leaves its model to be matched by name."""
    out = {}
    for r in records:
        directory = r.config.checkpoint
        if not directory or r.config.model in out:
            continue
        try:
            model_type = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(model_type, str):
            out[r.config.model] = model_type
    return out


def cost_catalog(records: list[RunRecord], query: CostQuery, book: PriceBook) -> CostCatalog:
    models = {r.config.model for r in records} | {m for m, _ in query.reference_workloads or ()}
    return load_catalog(models, checkpoint_architectures(records), getattr(book, "hardware", ()))


def cost_analysis(records: list[RunRecord], query: CostQuery, *, book=None,
                  quotes=None) -> tuple[CostAnalysis, CostCatalog]:
    """(the analysis, the catalogue it read): the price book and the catalogue loaded, then analyze()."""
    book = price_book(query, book, quotes)
    catalog = cost_catalog(records, query, book)
    return analyze(records, query, book, catalog), catalog


def write_analysis(analysis: CostAnalysis, out_dir, title: str = "Cost report", preface: list[str] | None = None,
                   catalog: CostCatalog | None = None, echo=None) -> dict[str, Path]:
    """Write the report's files; echo (print, say): also give it the answer, one sentence per model."""
    out = Path(out_dir)
    found = answers(analysis, catalog)
    for line in answer_sentences(analysis, found) if echo else ():
        echo(f"- {line}")
    chart = answer_chart_png(analysis)
    paths = {"markdown": out / "cost.md", "html": out / "cost.html", "csv": out / "cost.csv"}
    if chart is not None:
        paths["png"] = out / "cost.png"
        atomic_write_bytes(paths["png"], chart)
    atomic_write_text(paths["markdown"], render_markdown(analysis, found, title, preface,
                                                         "cost.png" if chart is not None else None))
    atomic_write_text(paths["html"], render_html(analysis, found, title, preface,
                                                 base64.b64encode(chart).decode("ascii") if chart else None,
                                                 plots=render_plots(analysis)))
    atomic_write_text(paths["csv"], render_csv(analysis))
    return paths


def write_cost_report(records: list[RunRecord], out_dir, query: CostQuery, *, book=None, quotes=None,
                      title: str = "Cost report", preface: list[str] | None = None, echo=None) -> dict[str, Path]:
    """Analyse records against prices and write DIR/cost.md, DIR/cost.html, DIR/cost.png and DIR/cost.csv."""
    analysis, catalog = cost_analysis(records, query, book=book, quotes=quotes)
    return write_analysis(analysis, out_dir, title=title, preface=preface, catalog=catalog, echo=echo)


def seed_example(records: list[RunRecord], query: CostQuery | None = None, *, book=None) -> tuple[CostAnalysis, SeedVerdict]:
    """(the analysis of the seed's comparison, the verdict on the seed's claim); query: the terms asked for."""
    analysis, _ = cost_analysis(records, seed_query(records, query), book=book)
    return analysis, seed_verdict(analysis)


def write_seed_example(records: list[RunRecord], out_dir, query: CostQuery | None = None, *, book=None,
                       notes: list[str] | None = None) -> tuple[dict[str, Path], SeedVerdict]:
    """The seed's comparison (report.seed) written like a cost report, its verdict after the answer."""
    analysis, catalog = cost_analysis(records, seed_query(records, query), book=book)
    verdict = seed_verdict(analysis)
    paths = write_analysis(analysis, out_dir, title=SEED.title, preface=list(notes or []) + list(verdict.lines),
                           catalog=catalog)
    return paths, verdict
