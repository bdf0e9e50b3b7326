"""The cost report as Markdown: every user string escaped (harness.foundation.tables.escape_markdown), tables
through harness.foundation.tables.format_markdown_table; the answer table, the chart (cost.png beside it) and one
sentence per model first."""

from __future__ import annotations

from harness.foundation.tables import escape_markdown, format_markdown_table

from ..cost.analysis import CostAnalysis
from ..cost.answer import ModelAnswer
from . import cost_content as content
from .cost_answer import answer_rows, answer_sentences
from .cost_plots import ANSWER_CHART_CAPTION


def _bullets(lines: list[str]) -> list[str]:
    return [f"- {escape_markdown(x)}" for x in lines]


def render_markdown(analysis: CostAnalysis, answers: list[ModelAnswer], title: str = "Cost report",
                    preface: list[str] | None = None, chart_file: str | None = None) -> str:
    terms = f"{content.summary_line(analysis)} {content.price_age_line(analysis)}."
    parts = [f"# {escape_markdown(title)}", "", escape_markdown(terms), ""]
    table = answer_rows(analysis, answers)
    if table:
        parts += [format_markdown_table(table), ""]
    if chart_file:
        parts += [f"![{ANSWER_CHART_CAPTION}]({chart_file})", ""]
    parts += _bullets(answer_sentences(analysis, answers)) + [""]
    if preface:
        parts += ["## Verdict", ""] + _bullets(preface) + [""]
    parts += ["## All options (cheapest first; every column in cost.csv)", "",
              format_markdown_table(content.display_rows(analysis)), ""]
    break_even = content.break_even_lines(analysis) or [content.NO_BREAK_EVEN]
    parts += ["## Break-even: cheapest eligible CPU vs GPU", ""] + _bullets(break_even) + [""]
    pareto = content.pareto_lines(analysis)
    if pareto:
        parts += ["## Pareto front: accuracy vs $ per 1M", ""] + _bullets(pareto) + [""]
    for heading, lines in content.issue_sections(analysis).items():
        if lines:
            parts += [f"## {escape_markdown(heading)}", ""] + _bullets(lines) + [""]
    parts += ["## Method", ""] + _bullets(content.method_lines(analysis)) + [""]
    parts += ["## Sources", ""] + _bullets(content.source_lines(analysis)) + [""]
    return "\n".join(parts)
