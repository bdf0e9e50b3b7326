"""The table printers: fixed-width text and Markdown, with the same cell formatting."""

from __future__ import annotations

from harness.foundation.tables import escape_markdown, format_markdown_table, format_table

ROWS = [{"name": "a", "ms": 1.5, "n": 3}, {"name": "b|c", "ms": None, "n": 12}]


def test_format_table_layout():
    assert format_table(ROWS).splitlines() == [
        "name    ms   n",
        "----  ----  --",
        "a     1.50   3",
        "b|c      -  12",
    ]
    assert format_table([]) == "(no rows)"


def test_markdown_table_formats_like_the_text_table_and_right_aligns_numbers():
    assert format_markdown_table(ROWS).splitlines() == [
        "| name | ms | n |",
        "|---|---:|---:|",
        "| a | 1.50 | 3 |",
        "| b\\|c | - | 12 |",
    ]
    assert format_markdown_table(ROWS, ["n", "name"]).splitlines()[2] == "| 3 | a |"
    assert format_markdown_table([]) == "(no rows)"


def test_escape_markdown_stops_tags_pipes_and_line_breaks():
    assert escape_markdown("<script>x</script>") == "&lt;script>x&lt;/script>"
    assert escape_markdown("a | b\nc\\") == "a \\| b c\\\\"
    assert escape_markdown("&lt;") == "&amp;lt;"  # shows as typed, not as '<'
    assert escape_markdown("<!-- x --> <?php <a:b>") == "&lt;!-- x --> &lt;?php &lt;a:b>"
    assert escape_markdown("p99 <= 100 ms > 90 ms; R&D") == "p99 <= 100 ms > 90 ms; R&D"  # nothing to open: as written
