"""The cost report as one self-contained HTML page: templates/cost.html.j2 rendered by Jinja2 with
autoescaping on, so every string from records, prices and titles is escaped; plots are inline data: URIs."""

from __future__ import annotations

import functools

from ..cost.analysis import CostAnalysis
from .cost_answer import answer_lines
from .cost_content import (
    NO_BREAK_EVEN,
    break_even_lines,
    display_rows,
    issue_sections,
    method_lines,
    pareto_lines,
    row_kinds,
    source_lines,
    summary_line,
)


@functools.lru_cache(maxsize=1)
def environment():
    """The Jinja2 environment over harness/results/report/templates (autoescape on, undefined names are errors)."""
    import jinja2  # lazy: only HTML reports need it

    return jinja2.Environment(loader=jinja2.PackageLoader("harness.results.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def render_html(analysis: CostAnalysis, title: str = "Cost report", preface: list[str] | None = None,
                plots: dict[str, str] | None = None) -> str:
    """plots: {caption: base64 PNG}, shown after the break-even section."""
    rows = display_rows(analysis)
    return environment().get_template("cost.html.j2").render(
        title=title,
        summary=summary_line(analysis),
        answer=answer_lines(analysis),
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
