"""Tables of rows (dicts): fixed-width text for the terminal, and Markdown for reports.

Both layouts format cells the same way (None and NaN as "-", floats to a readable precision) and
right-align columns whose values are all numbers.
"""

from __future__ import annotations

import re
import sys


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return "(no rows)"
    columns = columns or _columns(rows)
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = _numeric(rows, columns)

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells]
    return "\n".join(out)


def print_table(rows: list[dict], columns: list[str] | None = None, file=None) -> None:
    print(format_table(rows, columns), file=file or sys.stdout)


def format_markdown_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table; every header and cell goes through escape_markdown."""
    if not rows:
        return "(no rows)"
    columns = columns or _columns(rows)
    numeric = _numeric(rows, columns)
    out = ["| " + " | ".join(escape_markdown(c) for c in columns) + " |",
           "|" + "".join("---:|" if num else "---|" for num in numeric)]
    out += ["| " + " | ".join(escape_markdown(_fmt(r.get(c))) for c in columns) + " |" for r in rows]
    return "\n".join(out)


def escape_markdown(text) -> str:
    """Text that stays one table cell or one list item and shows as written, with no raw HTML: whitespace
    runs become one space; `\\` and `|` are backslash-escaped; a `<` that could open a tag, comment or
    autolink (before a letter, `/`, `!` or `?`) and a `&` that could start an entity become `&lt;` and
    `&amp;`. Other characters stay as they are (`p99 <= 100 ms` reads the same in the file)."""
    one_line = " ".join(str(text).split())
    one_line = _ENTITY_START.sub("&amp;", one_line)
    one_line = _TAG_START.sub("&lt;", one_line)
    return one_line.replace("\\", "\\\\").replace("|", "\\|")


_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY_START = re.compile(r"&(?=#?[A-Za-z0-9]+;)")


def _columns(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r))


def _numeric(rows: list[dict], columns: list[str]) -> list[bool]:
    return [all(_is_num(r.get(c)) for r in rows if r.get(c) is not None) for c in columns]


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:
            return "-"
        if abs(v) >= 100:
            return f"{v:,.1f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.4g}"
    return str(v)
