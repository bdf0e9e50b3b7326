"""The cost report as Markdown: every user string escaped (harness.foundation.tables.escape_markdown), tables
through harness.foundation.tables.format_markdown_table."""

from __future__ import annotations

from harness.foundation.tables import escape_markdown, format_markdown_table

from ..cost.analysis import CostAnalysis
from .cost_answer import answer_lines
from .cost_content import (
    NO_BREAK_EVEN,
    break_even_lines,
    display_rows,
    issue_sections,
    method_lines,
    pareto_lines,
    source_lines,
    summary_line,
)


def _bullets(lines: list[str]) -> list[str]:
    return [f"- {escape_markdown(x)}" for x in lines]


def render_markdown(analysis: CostAnalysis, title: str = "Cost report", preface: list[str] | None = None) -> str:
    parts = [f"# {escape_markdown(title)}", "", "## Answer", "", escape_markdown(summary_line(analysis)), ""]
    parts += _bullets(answer_lines(analysis)) + [""]
    if preface:
        parts += ["## Verdict", ""] + _bullets(preface) + [""]
    parts += ["## Cost per configuration (cheapest first)", "", format_markdown_table(display_rows(analysis)), ""]
    parts += ["## Break-even: cheapest eligible CPU vs GPU", ""] + _bullets(break_even_lines(analysis) or [NO_BREAK_EVEN]) + [""]
    pareto = pareto_lines(analysis)
    if pareto:
        parts += ["## Pareto front: accuracy vs $ per 1M", ""] + _bullets(pareto) + [""]
    for heading, lines in issue_sections(analysis).items():
        if lines:
            parts += [f"## {escape_markdown(heading)}", ""] + _bullets(lines) + [""]
    parts += ["## Method", ""] + _bullets(method_lines(analysis)) + [""]
    parts += ["## Sources", ""] + _bullets(source_lines(analysis)) + [""]
    return "\n".join(parts)
