"""The cost report as one self-contained HTML page: templates/cost.html.j2 rendered by Jinja2 with autoescaping on,
so every string from records, prices and titles is escaped; plots are inline data: URIs. The page opens with the
answer table and the $/month chart (the first screen at 1400 x 900), then one sentence per model."""

from __future__ import annotations

import functools

from ..cost.analysis import CostAnalysis
from ..cost.answer import ModelAnswer
from .cost_answer import ANSWER_COLUMNS, answer_rows, answer_sentences
from .cost_content import (
    NO_BREAK_EVEN,
    break_even_lines,
    display_rows,
    issue_sections,
    method_lines,
    pareto_lines,
    price_age_line,
    row_kinds,
    source_lines,
    summary_line,
)
from .cost_plots import ANSWER_CHART_CAPTION

# column widths in percent (the tables have a fixed layout, so the page never scrolls sideways)
ANSWER_WIDTHS = (8, 19, 18, 8, 8, 7, 13, 10, 9)
TABLE_WIDTHS = (9, 12, 10, 6, 10, 7, 11, 7, 6, 4, 7, 11)


@functools.lru_cache(maxsize=1)
def environment():
    """The Jinja2 environment over harness/results/report/templates (autoescape on, undefined names are errors)."""
    import jinja2  # lazy: only HTML reports need it

    return jinja2.Environment(loader=jinja2.PackageLoader("harness.results.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def render_html(analysis: CostAnalysis, answers: list[ModelAnswer], title: str = "Cost report",
                preface: list[str] | None = None, chart: str | None = None, plots: dict[str, str] | None = None) -> str:
    """chart: the answer chart as base64 PNG; plots: {caption: base64 PNG}, shown after the break-even section."""
    rows = display_rows(analysis)
    return environment().get_template("cost.html.j2").render(
        title=title,
        summary=summary_line(analysis),
        prices=price_age_line(analysis) + ".",
        answer_columns=ANSWER_COLUMNS,
        answer_rows=answer_rows(analysis, answers),
        answer_widths=ANSWER_WIDTHS,
        widths=TABLE_WIDTHS,
        chart=chart,
        chart_caption=ANSWER_CHART_CAPTION,
        sentences=answer_sentences(analysis, answers),
        preface=preface or [],
        columns=list(rows[0]) if rows else [],
        rows=list(zip(rows, row_kinds(analysis))),
        break_even=break_even_lines(analysis) or [NO_BREAK_EVEN],
        pareto=pareto_lines(analysis),
        plots=plots or {},
        issues=issue_sections(analysis),
        method=method_lines(analysis),
        sources=source_lines(analysis),
    )
